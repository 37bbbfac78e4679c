"""The package's one rule for a survival law beyond the end of follow-up: continue the hazard's trend.

No data speak about the hazard after ``t_end``, the largest training duration, yet an expected lifetime
(and a draw that lands past ``t_end``) needs a value there. Every model in pyrocsa continues a subject's
cumulative hazard ``H`` past ``t_end`` with a piece that is continuous at ``t_end`` and whose log hazard
keeps the trend the subject's hazard had during follow-up, in one of two time scales:

* Gompertz (log hazard linear in time, the law of adult mortality):
  ``h(t) = h_e exp(b (t - t_end))``, ``H(t) = H_e + h_e (exp(b (t - t_end)) - 1) / b``, ``b >= 0``;
* Weibull (log hazard linear in log time; rising or falling):
  ``h(t) = h_e (t / t_end)^(k - 1)``, ``H(t) = H_e + (h_e t_end / k) ((t / t_end)^k - 1)``,

with ``H_e = H(t_end)``. The trend is read from the subject's own cumulative hazard at
:data:`WINDOW_POINTS` times spread over :data:`WINDOW` ``= [t_end / 4, 3 t_end / 4]``: the later part of
follow-up, but not its last quarter, where few subjects remain at risk and a fitted curve (a flow's
smooth hazard, a Breslow step curve that stays flat after the last event) says little about the hazard's
trend. Each family, ``H(t) = A + h phi(t)`` with its trend ``b`` or ``k``, is fitted there by least squares
on the relative scale (each point's error over its own ``H``, so the small early values of a steep hazard
count as much as the late ones; ``A``, ``h`` in closed form, the trend by a grid and golden section), and
the family with the smaller residual continues the subject, its hazard at ``t_end`` carried along the
fitted trend from the window. A Gompertz law and a Weibull law are so continued exactly, whatever the
subject's hazard level.

Bounds: ``b t_end`` in :data:`GOMPERTZ_RATE_RANGE` (a hazard at most ``e^20`` times higher one follow-up
later), ``k`` in :data:`WEIBULL_SHAPE_RANGE`, and the log-log slope of ``H`` at ``t_end``, ``h_e t_end /
H_e``, at least :data:`MIN_LOG_SLOPE`, so a curve that is flat over the window still gets a positive
hazard and a finite expected lifetime.

The step-curve T-learners (:class:`pyrocsa.baselines.cox.SurvivalCurves`) and the flow time laws
(:class:`pyrocsa.csa.distributions.FlowTime`) both use :func:`fit_tail` and :class:`TailPiece`; within
follow-up the rule changes nothing. Tensors are float64 internally; times are in the duration unit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from pyrocsa.errors import ArgumentError

__all__ = ["TailPiece", "fit_tail", "window_times", "WINDOW", "WINDOW_POINTS",
           "GOMPERTZ_RATE_RANGE", "WEIBULL_SHAPE_RANGE", "MIN_LOG_SLOPE"]

#: the window of follow-up the trend is fitted on, as fractions of t_end
WINDOW = (0.25, 0.75)
#: number of equally spaced times in the window (both ends included)
WINDOW_POINTS = 8
#: the range of the Gompertz rate times the end of follow-up, b * t_end (dimensionless)
GOMPERTZ_RATE_RANGE = (0.0, 20.0)
#: the range of the Weibull shape k
WEIBULL_SHAPE_RANGE = (0.5, 5.0)
#: the smallest log-log slope h_e t_end / H_e of the continued cumulative hazard at t_end
MIN_LOG_SLOPE = 0.5

_GRID = 25  # coarse grid per family before the golden-section refinement
_GOLDEN_STEPS = 40  # golden-section steps: the bracket shrinks by 0.618^40 ~ 4e-9


def window_times(t_end: float) -> torch.Tensor:
    """The :data:`WINDOW_POINTS` times (float64, increasing, from ``WINDOW[0] t_end`` to ``WINDOW[1]
    t_end``) where a subject's cumulative hazard is read to fit its tail."""
    return float(t_end) * torch.linspace(WINDOW[0], WINDOW[1], WINDOW_POINTS, dtype=torch.float64)


def _expm1_ratio(z: torch.Tensor) -> torch.Tensor:
    """(e^z - 1) / z, 1 at z = 0."""
    small = z.abs() < 1e-8
    return torch.where(small, 1.0 + z / 2.0, torch.expm1(z) / torch.where(small, torch.ones_like(z), z))


def _log1p_ratio(u: torch.Tensor) -> torch.Tensor:
    """log(1 + u) / u for u >= 0, 1 at u = 0."""
    small = u.abs() < 1e-8
    return torch.where(small, 1.0 - u / 2.0, torch.log1p(u) / torch.where(small, torch.ones_like(u), u))


def _basis(gompertz: bool, slope: torch.Tensor, t: torch.Tensor, t_ref: float) -> torch.Tensor:
    """phi(t) with H(t) = A + h phi(t), h the hazard at ``t_ref``: slope (N, 1) (b t_ref or k), t (M,) ->
    (N, M)."""
    if gompertz:
        d = t - t_ref
        return d * _expm1_ratio(slope / t_ref * d)
    return (t_ref / slope) * torch.expm1(slope * torch.log(t / t_ref))


def _profile(gompertz, slope, cum_h, w, t, t_ref):
    """Weighted least-squares (A, h) of H(t) = A + h phi(t) at the trend ``slope`` (N, 1): the hazard h at
    ``t_ref`` and the residual sum of squares, each (N,)."""
    phi = _basis(gompertz, slope, t, t_ref)
    sw = w.sum(-1, keepdim=True)
    dphi = phi - (w * phi).sum(-1, keepdim=True) / sw
    dh = cum_h - (w * cum_h).sum(-1, keepdim=True) / sw
    num, den = (w * dphi * dh).sum(-1), (w * dphi * dphi).sum(-1)
    return num / den, (w * dh * dh).sum(-1) - num * num / den


def _fit_family(gompertz: bool, cum_h, w, t, t_ref):
    """The least-squares trend of one family: (slope, hazard at t_ref, residual), each (N,); the slope
    by a grid and a golden-section refinement around its best point."""
    lo, hi = GOMPERTZ_RATE_RANGE if gompertz else WEIBULL_SHAPE_RANGE
    if gompertz:  # the range is in units of t_end; t_ref = WINDOW[1] t_end
        lo, hi = lo * WINDOW[1], hi * WINDOW[1]
    grid = torch.linspace(lo, hi, _GRID, dtype=torch.float64)
    rss = torch.stack([_profile(gompertz, torch.full_like(cum_h[:, :1], float(s)), cum_h, w, t, t_ref)[1]
                       for s in grid], -1)
    best = rss.argmin(-1)
    a = grid[(best - 1).clamp(min=0)].clone()
    b = grid[(best + 1).clamp(max=_GRID - 1)].clone()
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)

    def f(s):
        return _profile(gompertz, s[:, None], cum_h, w, t, t_ref)[1]

    fc, fd = f(c), f(d)
    for _ in range(_GOLDEN_STEPS):
        left = fc < fd
        b = torch.where(left, d, b)
        a = torch.where(left, a, c)
        new_c, new_d = b - ratio * (b - a), a + ratio * (b - a)
        c, d = torch.where(left, new_c, d), torch.where(left, c, new_d)
        fc, fd = torch.where(left, f(new_c), fd), torch.where(left, fc, f(new_d))
    slope = (a + b) / 2.0
    h, rss = _profile(gompertz, slope[:, None], cum_h, w, t, t_ref)
    return slope, h, rss


class TailPiece:
    """The continuation past ``t_end`` of N subjects' cumulative hazards (see the module docstring).

    Attributes (float64 tensors of shape (N,)): ``cum_hazard_end`` (H_e > 0, finite), ``hazard_end`` (h_e
    > 0), ``gompertz`` (bool: the Gompertz family, else Weibull), ``slope`` (b t_end for Gompertz, k for
    Weibull); ``t_end`` (float).
    """

    def __init__(self, t_end: float, cum_hazard_end, hazard_end, gompertz, slope):
        self.t_end = float(t_end)
        self.cum_hazard_end, self.hazard_end = cum_hazard_end, hazard_end
        self.gompertz, self.slope = gompertz, slope

    def _args(self, like: torch.Tensor, rows=None):
        """The parameters, to broadcast against ``like`` (..., N), or those of subjects ``rows`` (an index
        of the shape of ``like``)."""
        params = (self.cum_hazard_end, self.hazard_end, self.slope, self.gompertz)
        if rows is not None:
            rows = torch.as_tensor(rows, dtype=torch.long)
            params = tuple(p[rows] for p in params)
        return tuple(p.to(like) for p in params[:3]) + (params[3].to(like.device),)

    def cum_hazard(self, t: torch.Tensor, rows=None) -> torch.Tensor:
        """H(t) for times ``t`` >= t_end of shape (..., N) (or of the subjects ``rows``, an index of the
        shape of ``t``)."""
        h_end, rate, slope, gompertz = self._args(t, rows)
        d = t - self.t_end
        gomp = rate * d * _expm1_ratio(slope / self.t_end * d)
        weib = rate * (self.t_end / slope) * torch.expm1(slope * torch.log(t / self.t_end))
        return h_end + torch.where(gompertz, gomp, weib)

    def time_at(self, cum_hazard: torch.Tensor, rows=None) -> torch.Tensor:
        """The time t >= t_end where H(t) = ``cum_hazard`` (>= H_e), shape (..., N) (or of ``rows``): the
        inverse of :meth:`cum_hazard`."""
        h_end, rate, slope, gompertz = self._args(cum_hazard, rows)
        excess = (cum_hazard - h_end).clamp_min(0.0) / rate  # the time a constant hazard h_e would take
        gomp = self.t_end + excess * _log1p_ratio(slope / self.t_end * excess)
        weib = self.t_end * torch.exp(torch.log1p(slope * excess / self.t_end) / slope)
        return torch.where(gompertz, gomp, weib)

    def log_hazard(self, t: torch.Tensor, rows=None) -> torch.Tensor:
        """log h(t) for times ``t`` >= t_end, shape (..., N) (or of ``rows``)."""
        _, rate, slope, gompertz = self._args(t, rows)
        gomp = slope / self.t_end * (t - self.t_end)
        weib = (slope - 1.0) * torch.log(t / self.t_end)
        return torch.log(rate) + torch.where(gompertz, gomp, weib)

    def survival_integral(self, horizon: float) -> np.ndarray:
        """``int_{t_end}^{horizon} exp(-H(t)) dt`` per subject (N,) (``horizon = inf``: the tail's share of
        the expected lifetime), in closed form through Tricomi's U(1, 1 + s, x) = x^-s e^x Gamma(s, x)
        (``scipy.special.hyperu``; s = 0 for Gompertz, 1/k for Weibull), without overflow at any hazard
        level. With w the growth of the trend term over [t_end, horizon] and c the hazard scale,

            Gompertz (c = h_e / b, w = e^{b (horizon - t_end)}):
                e^-H_e / b [U(1, 1, c) - e^{-c (w - 1)} U(1, 1, c w)],
            Weibull (s = 1 / k, c = h_e t_end / k, w = (horizon / t_end)^k):
                e^-H_e t_end / k [U(1, 1 + s, c) - e^{-c (w - 1)} w^s U(1, 1 + s, c w)],

        and e^-H_e (1 - e^{-h_e (horizon - t_end)}) / h_e for a Gompertz rate b t_end below 1e-6."""
        horizon = float(horizon)
        h_end, rate, slope = (p.detach().cpu().numpy().astype(float) for p in
                              (self.cum_hazard_end, self.hazard_end, self.slope))
        gompertz = self.gompertz.detach().cpu().numpy()
        out = np.zeros_like(h_end)
        if not horizon > self.t_end:
            return out
        span = horizon - self.t_end
        flat = gompertz & (slope < 1e-6)
        out[flat] = np.exp(-h_end[flat]) * -np.expm1(-rate[flat] * span) / rate[flat]
        for family, is_gompertz in ((gompertz & ~flat, True), (~gompertz, False)):
            if not family.any():
                continue
            if is_gompertz:
                b = slope[family] / self.t_end
                c, s, front = rate[family] / b, 0.0, np.exp(-h_end[family]) / b
                log_w = np.minimum(b * span, 700.0)
            else:
                k = slope[family]
                c, s, front = rate[family] * self.t_end / k, 1.0 / k, np.exp(-h_end[family]) * self.t_end / k
                log_w = np.minimum(k * math.log(horizon / self.t_end), 700.0)
            grow = np.expm1(log_w)  # w - 1
            # the far term e^{-c (w - 1)} w^s U(1, 1 + s, c w), U ~ 1 / (c w) when c (w - 1) is large: below
            # e^-745 it is zero in float64, and U is not evaluated at huge arguments
            log_front = -c * grow + s * log_w
            live = log_front > -745.0
            far = np.zeros_like(c)
            b_live = 1.0 + (s[live] if np.ndim(s) else s)
            far[live] = np.exp(log_front[live]) * special.hyperu(1.0, b_live, c[live] * (grow[live] + 1.0))
            out[family] = front * (special.hyperu(1.0, 1.0 + s, c) - far)
        return out


def fit_tail(t_end: float, cum_hazard_window: torch.Tensor, cum_hazard_end: torch.Tensor) -> TailPiece:
    """Fit the continuation past ``t_end`` of N cumulative hazards (module docstring).

    Parameters
    ----------
    t_end : the end of follow-up (> 0, duration unit).
    cum_hazard_window : (N, WINDOW_POINTS) H of each subject at :func:`window_times` ``(t_end)``,
        non-decreasing, >= 0.
    cum_hazard_end : (N,) H(t_end) of each subject, finite and > 0 (the callers handle subjects with no
        hazard, or no survival, at t_end).
    """
    t_end = float(t_end)
    if not (math.isfinite(t_end) and t_end > 0):
        raise ArgumentError(f"t_end must be a positive finite time, got {t_end!r}")
    with torch.no_grad():
        h_end = torch.as_tensor(cum_hazard_end, dtype=torch.float64).reshape(-1)
        window = torch.as_tensor(cum_hazard_window, dtype=torch.float64).reshape(len(h_end), WINDOW_POINTS)
        if not (torch.isfinite(h_end).all() and (h_end > 0).all()):
            raise ArgumentError("cum_hazard_end must be finite and > 0")
        t, t_ref = window_times(t_end), WINDOW[1] * t_end
        window = torch.minimum(window.clamp_min(0.0), h_end[:, None])
        # relative least squares: each point's error over its own H (floored at a thousandth of H_e)
        w = 1.0 / torch.maximum(window, 1e-3 * h_end[:, None]) ** 2
        (bg, hg, rg), (kw, hw, rw) = (_fit_family(g, window, w, t, t_ref) for g in (True, False))
        gompertz = rg <= rw
        # the trend carried from t_ref to t_end: the hazard there, and the Gompertz rate in units of t_end
        rate = torch.where(gompertz, hg * torch.exp(bg * (t_end - t_ref) / t_ref),
                           hw * (t_end / t_ref) ** (kw - 1.0))
        slope = torch.where(gompertz, bg * t_end / t_ref, kw)
        rate = torch.maximum(torch.nan_to_num(rate, nan=0.0), MIN_LOG_SLOPE * h_end / t_end)
    return TailPiece(t_end, h_end, rate, gompertz, slope)
