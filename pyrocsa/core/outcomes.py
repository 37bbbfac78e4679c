"""Samples of potential outcomes and the estimands computed on them.

:class:`PotentialOutcomes` holds S draws of the potential event times T0, T1 (and optionally censoring
times C0, C1) of N subjects, arrays of shape (S, N) in the duration unit, as returned by every pyrocsa
estimator's ``sample_potential_outcomes``.  Its methods are thin wrappers over the plain functions in
:mod:`pyrocsa.estimands`; metrics live in :mod:`pyrocsa.metrics`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pyrocsa.core import estimands as _est
from pyrocsa.errors import ArgumentError, DataError, renamed_argument

#: ite() / ate() warn when more than this share of either arm's draws lies beyond the longest follow-up
_EXTRAPOLATION_SHARE = 0.10

__all__ = ["PotentialOutcomes"]

_OBSERVED_COLS = ("time", "event", "treatment")


class PotentialOutcomes:
    """S samples of the potential outcomes of N subjects.

    Parameters
    ----------
    t0, t1 : array (S, N)
        Draws of the event time under control (A=0) and treatment (A=1); finite and > 0.
    index : sequence of N labels, optional
        Subject labels (default: ``observed.index``, else ``covariates.index``, else 0..N-1).
    c0, c1 : array (S, N), optional
        Draws of the censoring times under each arm (CSA-INFO).
    chains : int
        The S draws are ``chains`` equal consecutive blocks, one per ensemble member (S % chains == 0).
    observed : DataFrame, optional
        One row per subject (same index), columns ``time`` (> 0), ``event`` (0/1), ``treatment`` (0/1).
    covariates : DataFrame, optional
        Numeric covariates, one row per subject (same index); stored as ArviZ ``constant_data``.
    model_name : str, optional
        Name of the model that produced the samples.
    follow_up : float, optional
        The longest duration the model was fitted on (duration unit). Draws beyond it come from the model's
        extrapolated tail, so :meth:`ite` and :meth:`ate` (expected-lifetime differences) warn when more
        than 10% of either arm's draws lie beyond it; RMST and survival differences inside follow-up do not
        depend on the tail. The estimators set it.
    copy : bool
        Copy the arrays (default). ``copy=False`` keeps float64 arrays as given (no second copy of
        S x N x 4 draws: 6.4 GB at 200 x 1M); the estimators use it for the draws they just made.

    Attributes: ``t0``, ``t1``, ``c0``, ``c1`` (float64 arrays; copies unless ``copy=False``),
    ``index`` (pd.Index), ``num_samples`` (S), ``n_subjects`` (N), ``chains``, ``observed``, ``covariates``,
    ``model_name``, ``follow_up``.
    """

    def __init__(self, t0, t1, index=None, c0=None, c1=None, chains: int = 1,
                 observed: pd.DataFrame | None = None, covariates: pd.DataFrame | None = None,
                 model_name: str | None = None, follow_up: float | None = None, copy: bool = True):
        self._copy = bool(copy)
        self.t0 = self._own(_est.as_samples(t0, "t0"))
        self.t1 = self._own(_est.as_samples(t1, "t1"))
        if self.t0.shape != self.t1.shape:
            raise DataError(f"t0 and t1 must have the same shape (num_samples, N); got {self.t0.shape} "
                             f"and {self.t1.shape}")
        self.c0 = self._optional(c0, "c0")
        self.c1 = self._optional(c1, "c1")
        s, n = self.t0.shape
        if not isinstance(chains, (int, np.integer)) or chains < 1:
            raise ArgumentError(f"chains must be a positive integer; got {chains!r}")
        if s % chains:
            raise ArgumentError(f"chains={chains} does not divide num_samples={s} into equal blocks")
        self.chains = int(chains)
        self.model_name = model_name
        if follow_up is not None:
            if isinstance(follow_up, bool) or not isinstance(follow_up, (int, float, np.number)) \
                    or not np.isfinite(follow_up) or follow_up <= 0:
                raise ArgumentError(f"follow_up must be a finite number > 0 or None, got {follow_up!r}")
            follow_up = float(follow_up)
        self.follow_up = follow_up
        self.index = self._resolve_index(index, observed, covariates, n)
        self.observed = self._check_observed(observed)
        self.covariates = self._check_covariates(covariates)

    # -- validation --------------------------------------------------------------------------------------
    def _own(self, arr: np.ndarray) -> np.ndarray:
        """The validated array, copied unless ``copy=False`` (then shared with the caller's float64 array:
        for a caller that hands over arrays it will not touch again)."""
        return arr.copy() if self._copy else arr

    def _optional(self, x, name):
        if x is None:
            return None
        arr = self._own(_est.as_samples(x, name))
        if arr.shape != self.t0.shape:
            raise DataError(f"{name} must have the shape of t0 {self.t0.shape}; got {arr.shape}")
        return arr

    @staticmethod
    def _resolve_index(index, observed, covariates, n) -> pd.Index:
        if index is None:
            for name, frame in (("observed", observed), ("covariates", covariates)):
                if isinstance(frame, pd.DataFrame):
                    if len(frame) != n:
                        raise DataError(f"{name} has {len(frame)} rows, t0 has N={n} subjects")
                    return frame.index.copy()
            return pd.RangeIndex(n, name="subject")
        idx = pd.Index(index)
        if len(idx) != n:
            raise ArgumentError(f"index has length {len(idx)}, t0 has N={n} subjects")
        if not idx.is_unique:
            raise ArgumentError("index labels must be unique (one per subject)")
        return idx

    def _aligned(self, frame, name) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
        if len(frame) != self.n_subjects:
            raise DataError(f"{name} has {len(frame)} rows, t0 has N={self.n_subjects} subjects")
        if not frame.index.equals(self.index):
            raise ArgumentError(f"{name}.index must equal the subjects' index (same labels, same order)")
        return frame.copy()

    def _check_observed(self, observed):
        if observed is None:
            return None
        obs = self._aligned(observed, "observed")
        missing = [c for c in _OBSERVED_COLS if c not in obs.columns]
        if missing:
            raise DataError(f"observed is missing column(s) {missing}; needs {list(_OBSERVED_COLS)}")
        obs = obs[list(_OBSERVED_COLS)]
        for col in _OBSERVED_COLS:
            v = pd.to_numeric(obs[col], errors="coerce").to_numpy(dtype=float)
            if not np.all(np.isfinite(v)):
                raise ArgumentError(f"observed['{col}'] has missing, non-numeric or infinite value(s)")
            if col == "time" and np.any(v <= 0):
                raise ArgumentError("observed['time'] must be > 0")
            if col != "time" and not np.all(np.isin(v, (0.0, 1.0))):
                raise ArgumentError(f"observed['{col}'] must be 0/1")
            obs[col] = v
        return obs

    def _check_covariates(self, covariates):
        if covariates is None:
            return None
        cov = self._aligned(covariates, "covariates")
        bad = [c for c in cov.columns if not pd.api.types.is_numeric_dtype(cov[c])]
        if bad:
            raise DataError(f"covariates must be numeric; non-numeric column(s) {bad}")
        return cov.astype(float)

    # -- basic properties ----------------------------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return self.t0.shape[0]

    @property
    def n_subjects(self) -> int:
        return self.t0.shape[1]

    def __len__(self) -> int:
        return self.n_subjects

    def __repr__(self) -> str:
        extra = "".join(f", {n}" for n in ("c0", "c1") if getattr(self, n) is not None)
        name = f"{self.model_name!r}, " if self.model_name else ""
        return (f"PotentialOutcomes({name}num_samples={self.num_samples}, n_subjects={self.n_subjects}, "
                f"chains={self.chains}{extra})")

    def _series(self, values, name) -> pd.Series:
        return pd.Series(values, index=self.index, name=name)

    def _observed_times(self):
        return None if self.observed is None else self.observed["time"].to_numpy()

    # -- estimands ---------------------------------------------------------------------------------------
    def _warn_extrapolation(self, what: str) -> None:
        """Warn when the expected lifetime rests on the extrapolated tail (``follow_up``)."""
        if self.follow_up is None:
            return
        beyond = [float(np.mean(t > self.follow_up)) for t in (self.t0, self.t1)]
        if max(beyond) > _EXTRAPOLATION_SHARE:
            warnings.warn(f"{what}: {beyond[0]:.0%} (A=0) and {beyond[1]:.0%} (A=1) of the draws lie beyond "
                          f"the longest follow-up ({self.follow_up:.4g}), where they come from the model's "
                          "extrapolated tail; the expected lifetime is then an extrapolation -- read "
                          "rmst_difference() or survival_difference() inside follow-up instead",
                          UserWarning, stacklevel=3)

    def ite(self) -> np.ndarray:
        """ITE(x) = E[T1 - T0 | x], the per-subject mean over samples of t1 - t0: (N,), duration unit.
        Warns when the draws rest on the tail beyond ``follow_up``."""
        self._warn_extrapolation("ite()")
        return _est.ite(self.t0, self.t1)

    def ate(self) -> float:
        """Average of :meth:`ite` over subjects (warns as :meth:`ite`)."""
        self._warn_extrapolation("ate()")
        return _est.ate(self.t0, self.t1)

    def rmst_difference(self, horizon: float) -> np.ndarray:
        """Per-subject E[min(T1, h) - min(T0, h) | x] for horizon h: (N,), duration unit."""
        return _est.rmst_difference(self.t0, self.t1, horizon)

    def rmst_ate(self, horizon: float) -> float:
        """Mean over subjects of :meth:`rmst_difference`."""
        return float(_est.rmst_difference(self.t0, self.t1, horizon).mean())

    def survival_difference(self, times) -> np.ndarray:
        """S1(t | x) - S0(t | x) from the empirical survival of the samples: (N, len(times))."""
        return _est.survival_difference(self.t0, self.t1, times)

    def ite_hdi(self, level: float | None = None, prob: float | None = None) -> pd.DataFrame:
        """Per-subject highest-density interval of the ITE samples t1 - t0 (``arviz.hdi``) at ``level``
        (default 0.9; ``prob`` is its deprecated name): DataFrame with columns mean, lower, upper indexed by
        subject."""
        from pyrocsa.core.inference_data import hdi

        level = renamed_argument(level, prob, "level", "prob", "PotentialOutcomes.ite_hdi")
        d = self.t1 - self.t0
        bounds = hdi(d, level=0.9 if level is None else level, chains=self.chains)
        return pd.DataFrame({"mean": d.mean(axis=0), "lower": bounds[:, 0], "upper": bounds[:, 1]},
                            index=self.index)

    def hazard_ratio(self, times=None, level: float | None = None, n_boot: int = 200, seed: int | None = 0,
                     individual: bool = False, use_observed_events: bool = False,
                     summary: str | None = None, point: str | None = None, ci: float | None = None, **kwargs):
        """Nonparametric population hazard ratio HR(t) of the paper (SM B.2), by default its marginal reading.

        ``individual=False``: population HR(t) from the survival curves of both arms
        (:func:`pyrocsa.estimands.population_hazard_ratio`; read its docstring for every choice), summarised
        over the grid (``summary``, default the geometric mean). The grid defaults to the distinct observed
        times when ``observed`` is set.

        ``point`` chooses the curves:

        * ``"draws"`` (default): the survival of all S x N draws of each arm, i.e. the model's marginal
          potential-outcome survival ``mean_x S_a(t | x)``; the reading a trialist's marginal Cox HR
          estimates (on the ACTG trial it lies inside the trial's Cox interval);
        * ``"median"``: the paper's recipe, the Kaplan-Meier of the per-subject *median* draws. It fails
          under heavy censoring: when most subjects' medians lie beyond follow-up (ACTG: about 75% of
          patients event-free at the end), the few medians inside the grid describe the frailest subjects
          only and the HR is far off (0.17 on ACTG against the trial's Cox 0.49). Kept to reproduce the
          paper; ``use_observed_events=True`` (eq. 19 verbatim: the observed event indicators applied to
          both arms) needs it and selects it when ``point`` is not given;
        * ``"mean"``: as ``"median"`` with per-subject means.

        Returns a dict with ``hr``, ``lower``, ``upper`` (bootstrap CI over subjects), ``times``, ``curve``,
        ``curve_lower``, ``curve_upper`` and more.

        ``individual=True``: HR(t | x) per subject from a Gaussian KDE of its samples
        (:func:`pyrocsa.estimands.individual_hazard_ratio`); returns a dict with ``times``, ``curve``
        (DataFrame subject x time), ``hr`` (Series, per-subject median over time).
        """
        if individual:
            if point is not None:
                raise ArgumentError("point= applies to the population HR only (individual=False)")
            res = _est.individual_hazard_ratio(self.t0, self.t1, times=times,
                                               summary=summary or "median", **kwargs)
            res["curve"] = pd.DataFrame(res["curve"], index=self.index,
                                        columns=pd.Index(res["times"], name="time"))
            res["hr"] = self._series(res["hr"], "hazard_ratio")
            return res
        events = None
        if use_observed_events:
            if self.observed is None:
                raise DataError("use_observed_events=True needs `observed` (columns time, event, treatment)")
            if point == "draws":
                raise ArgumentError("use_observed_events=True applies event indicators to per-subject point "
                                 "predictions: use point='median' (the paper's eq. 19) or 'mean', not "
                                 "'draws'")
            events = self.observed["event"].to_numpy()
            point = point or "median"
        point = point or "draws"
        level = renamed_argument(level, ci, "level", "ci", "PotentialOutcomes.hazard_ratio")
        return _est.population_hazard_ratio(self.t0, self.t1, times=times, events=events,
                                            observed_times=self._observed_times(), level=level, n_boot=n_boot,
                                            seed=seed, summary=summary or "geometric_mean", point=point,
                                            **kwargs)

    def adjusted_survival(self, times=None, level: float = 0.95) -> pd.DataFrame:
        """Plug-in adjusted survival curves ``S_a(t) = mean_x P(T_a > t | x)`` of both arms with a pointwise
        band (over ensemble members when ``chains > 1``, else over draws): DataFrame indexed by ``time``
        with columns ``arm0``, ``arm0_lower``, ``arm0_upper``, ``arm1``, ..., ``difference`` (+ band).
        See :func:`pyrocsa.core.estimands.plugin_adjusted_survival`; for influence-function bands use
        :class:`pyrocsa.DoublyRobust`."""
        return _est.plugin_adjusted_survival(self, times=times, level=level)

    # -- export --------------------------------------------------------------------------------------------
    def to_inference_data(self):
        """ArviZ container (posterior_predictive / observed_data / constant_data); see
        :func:`pyrocsa.core.inference_data.to_inference_data`."""
        from pyrocsa.core.inference_data import to_inference_data

        return to_inference_data(self)
