"""The paper's neural baselines (Chapfuwa et al., CHIL 2021, Appendix C and SM D.4): IPM-regularised
AFT-Weibull, AFT-log-Normal and the deterministic semi-supervised regression (SR).

All three share CSA's encoder ``r = Phi(x)`` (:class:`pyrocsa.core.nn.Encoder`, two layers of 100 units) and
its balancing term ``alpha * IPM(Phi(x) | a=1, Phi(x) | a=0)`` (:func:`pyrocsa.core.ipm.wasserstein_ipm`),
with one head per arm (twin networks ``h_0``, ``h_1`` on ``r``: a hidden block of ``head_hidden`` units, then
a linear output). The paper's decoder figure is not in the text; one hidden layer of 100 units per arm is our
choice.

AFT models (:class:`AFTModel`, a :class:`pyro.nn.PyroModule`). Each arm's head outputs the parameters of
the event-time law on the duration unit, with a fitted time scale ``s`` (mean training duration) so that
the networks see O(1) numbers:

* log-Normal: ``T_a | x ~ LogNormal(log s + mu_a(r), sigma_a(r))``,
  log S(y) = log(1 - Phi(z)) = ``log_ndtr(-z)``, z = (log y - loc) / sigma;
* Weibull: ``T_a | x ~ Weibull(scale = s exp(m_a(r)), concentration = k_a(r))``, log S(y) = -(y/scale)^k.

``sigma`` and ``k`` are ``softplus(.) + 1e-3`` (initialised at 1). The Weibull is :class:`Weibull`, pyro's
Weibull with its density computed on the log scale (torch's gives NaN gradients far below the scale,
which stopped IPM-regularised fits). The likelihood (eq. 21) is written with
Pyro sample sites: events through ``pyro.sample("t", law.mask(delta), obs=y)`` and censored subjects through
``pyro.factor("censored", (1 - delta) log S(y))``; the training loss is
``-log p(trace) / M + alpha * IPM`` per minibatch of M subjects (:class:`AFTLoss`). Without outcomes the
model samples the potential outcomes at sites ``"t0"`` and ``"t1"`` (one draw of each arm's law), which
:class:`pyro.infer.Predictive` vectorises over samples.

SR (:class:`SRModel`): ``t_a = s exp(h_a(r))``, deterministic; trained with the accuracy objective of
eq. (22), ``delta |y - t| + (1 - delta) max(0, y - t)`` on the scaled time, plus ``alpha * IPM``
(:class:`SRLoss`). Its potential outcomes are ``pyro.deterministic`` sites, so ``num_samples`` draws are
identical copies (mean COV 0, as in the paper's tables).

The estimators (:class:`AFTWeibull`, :class:`AFTLogNormal`, :class:`SR`) follow :class:`pyrocsa.CSA`'s
conventions: ``fit(df, duration_col, event_col, treatment_col, val_df=None, covariates=None)`` (a
stratified 15% of ``df`` held out for early stopping when ``val_df`` is None), training
through :func:`pyrocsa.core.training.fit_module` (Adam, minibatches of 200, early stopping on the validation
loss), and ``sample_potential_outcomes(df, num_samples, seed)`` returning
:class:`pyrocsa.core.outcomes.PotentialOutcomes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.nn import PyroModule
from torch import nn

from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.device import resolve_device
from pyrocsa.core.ipm import wasserstein_ipm
from pyrocsa.core.nn import MLP, Encoder
from pyrocsa.core.sampling import predictive_draws
from pyrocsa.core.training import fit_module
from pyrocsa.csa.losses import event_loss
from pyrocsa.data.frame import SurvivalData, covariate_frame, observed_frame, validation_split
from pyrocsa.errors import ArgumentError, DataError, check_positive_int, check_seed, renamed_argument

__all__ = ["Weibull", "AFTModel", "SRModel", "AFTLoss", "SRLoss", "log_survival", "AFTWeibull",
           "AFTLogNormal", "SR", "NeuralBaseline", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("weibull", "lognormal")
_LOG_CLAMP = 30.0   # guard on log-scale outputs (exp(30) time scales), never reached in a sane fit
_MIN_SHAPE = 1e-3   # floor of the Weibull concentration / log-normal sigma
_SOFTPLUS_ONE = float(np.log(np.e - 1.0))  # softplus(_SOFTPLUS_ONE) = 1
_MAX_LOG_CUMHAZ = 80.0  # exp(80) ~ 5.5e34 < float32 max: guard on the Weibull cumulative hazard


class Weibull(dist.Weibull):
    """:class:`pyro.distributions.Weibull` with its log density computed on the log scale.

    torch's Weibull scores a value through its transforms (Exponential -> power -> affine), whose Jacobian
    divides two powers that underflow to 0 for values far below the scale, giving NaN gradients. Here
    log f(y) = log k - log y + k u - exp(k u), u = log y - log scale, with the cumulative hazard exp(k u)
    capped at exp(80) (reached only by absurd parameters). Sampling is on the log scale too,
    log T = log scale + log(E) / k with E ~ Exponential(1), kept inside float range: torch's
    ``scale * E^(1/k)`` underflows to exactly 0 when k is small (k = 0.02: 12% of draws), which is not an
    event time. Mean and the rest are torch's.
    """

    def rsample(self, sample_shape=()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        e = torch.empty(shape, dtype=self.scale.dtype, device=self.scale.device).exponential_()
        finfo = torch.finfo(self.scale.dtype)
        log_t = self.scale.log() + e.log() / self.concentration
        return log_t.clamp(min=float(np.log(finfo.tiny)) + 1.0, max=float(np.log(finfo.max)) - 1.0).exp()

    def sample(self, sample_shape=()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_cumulative_hazard(self, value: torch.Tensor) -> torch.Tensor:
        """log H(y) = k (log y - log scale), capped at 80."""
        return (self.concentration * (value.log() - self.scale.log())).clamp(max=_MAX_LOG_CUMHAZ)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_h = self.log_cumulative_hazard(value)
        return self.concentration.log() - value.log() + log_h - log_h.exp()


def log_survival(law, y: torch.Tensor) -> torch.Tensor:
    """log S(y) = log P(T > y) of a :class:`Weibull` or :class:`pyro.distributions.LogNormal` law,
    elementwise.

    Weibull: -(y / scale)^concentration (computed as -exp(k (log y - log scale))). LogNormal:
    log(1 - Phi(z)) = ``torch.special.log_ndtr(-z)`` with z = (log y - loc) / scale, stable far in the
    upper tail (where 1 - Phi(z) underflows).
    """
    if isinstance(law, Weibull):
        return -law.log_cumulative_hazard(y).exp()
    if isinstance(law, torch.distributions.Weibull):
        return -(y / law.scale).pow(law.concentration)
    if isinstance(law, torch.distributions.LogNormal):
        z = (y.log() - law.loc) / law.scale
        return torch.special.log_ndtr(-z)
    raise ArgumentError(f"log_survival: unsupported law {type(law).__name__} (Weibull or LogNormal)")


class _Head(nn.Module):
    """One arm's head h_a: r (..., k) -> (..., n_out) through ``hidden`` blocks and a linear layer."""

    def __init__(self, r_dim: int, hidden, n_out: int, dropout: float, batch_norm: bool):
        super().__init__()
        self.body = MLP(r_dim, hidden, dropout, batch_norm)
        self.out = nn.Linear(self.body.out_dim, n_out)

    def forward(self, r):
        return self.out(self.body(r))


def _check_common(n_features, time_scale):
    if int(n_features) < 1:
        raise ArgumentError(f"n_features must be >= 1, got {n_features}")
    if not (np.isfinite(time_scale) and time_scale > 0):
        raise ArgumentError(f"time_scale must be a positive number, got {time_scale}")


class AFTModel(PyroModule):
    """Neural AFT model (Weibull or log-Normal) with the CSA encoder and twin per-arm heads.

    Parameters
    ----------
    n_features : number of preprocessed covariates p.
    distribution : ``"weibull"`` or ``"lognormal"``.
    encoder_hidden : encoder widths (paper: (100, 100)); head_hidden : widths of each arm's head.
    dropout, batch_norm : regularisation of every hidden layer (paper: 0.2, on).
    time_scale : s, in the duration unit (the estimator sets it to the mean training duration).

    ``forward(x, a=None, y=None, delta=None)``: x (N, p); with outcomes (a, y, delta: (N,) floats, y in the
    duration unit) it scores the factual outcomes (sites ``"t"`` and ``"censored"``); without, it samples
    ``"t0"`` and ``"t1"`` (N,) in the duration unit. Returns a dict with ``"r"`` (N, k) and the sampled or
    observed sites' values.
    """

    def __init__(self, n_features: int, distribution: str = "weibull", encoder_hidden=(100, 100),
                 head_hidden=(100,), dropout: float = 0.2, batch_norm: bool = True, time_scale: float = 1.0):
        super().__init__()
        _check_common(n_features, time_scale)
        if distribution not in DISTRIBUTIONS:
            raise ArgumentError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.distribution = distribution
        self.encoder = Encoder(int(n_features), encoder_hidden, dropout, batch_norm)
        k = self.encoder.out_dim
        self.heads = nn.ModuleList([_Head(k, head_hidden, 2, dropout, batch_norm) for _ in range(2)])
        for head in self.heads:  # start at log-scale 0 (time scale s) and shape 1 (exponential / sigma 1)
            nn.init.zeros_(head.out.bias)
            with torch.no_grad():
                head.out.bias[1] = _SOFTPLUS_ONE
        self.register_buffer("log_time_scale", torch.tensor(float(time_scale)).log())

    @property
    def time_scale(self) -> float:
        return float(self.log_time_scale.exp())

    def arm_params(self, r: torch.Tensor, arm: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-location in the duration unit, shape) of arm ``arm`` for representations r (N, k): for the
        log-Normal (loc, sigma), for the Weibull (log scale, concentration); each (N,)."""
        out = self.heads[arm](r)
        loc = out[..., 0].clamp(-_LOG_CLAMP, _LOG_CLAMP) + self.log_time_scale
        shape = nn.functional.softplus(out[..., 1]) + _MIN_SHAPE
        return loc, shape

    def law(self, loc: torch.Tensor, shape: torch.Tensor):
        """The event-time law with log-location ``loc`` and shape ``shape`` (batch shape of the inputs)."""
        if self.distribution == "lognormal":
            return dist.LogNormal(loc, shape)
        return Weibull(loc.exp(), shape)

    def arm_law(self, r: torch.Tensor, arm: int):
        """Arm ``arm``'s law of T_a | x for representations r (N, k): batch shape (N,)."""
        return self.law(*self.arm_params(r, arm))

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None, y: torch.Tensor | None = None,
                delta: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x.dim() != 2:
            raise DataError(f"x must be (N, p), got shape {tuple(x.shape)}")
        if (y is None) != (delta is None) or (y is not None and a is None):
            raise ArgumentError("pass a, y and delta together (factual likelihood) or none of y, delta")
        r = self.encoder(x)
        out = {"r": r}
        with pyro.plate("subjects", x.shape[0], dim=-1):
            if y is None:
                out["t0"] = pyro.sample("t0", self.arm_law(r, 0))
                out["t1"] = pyro.sample("t1", self.arm_law(r, 1))
                return out
            treated = a > 0.5
            p0, p1 = self.arm_params(r, 0), self.arm_params(r, 1)
            law = self.law(torch.where(treated, p1[0], p0[0]), torch.where(treated, p1[1], p0[1]))
            observed = delta > 0.5
            out["t"] = pyro.sample("t", law.mask(observed), obs=y)
            pyro.factor("censored", torch.where(observed, torch.zeros_like(y), log_survival(law, y)))
        return out


class SRModel(PyroModule):
    """Deterministic regression t_a = s exp(h_a(Phi(x))) (the paper's SR baseline).

    ``forward(x)`` records ``"t0"``, ``"t1"`` (N,) as ``pyro.deterministic`` sites (duration unit) and
    returns them with ``"r"``; ``times(x)`` is the plain-torch version used in training.
    """

    def __init__(self, n_features: int, encoder_hidden=(100, 100), head_hidden=(100,), dropout: float = 0.2,
                 batch_norm: bool = True, time_scale: float = 1.0):
        super().__init__()
        _check_common(n_features, time_scale)
        self.encoder = Encoder(int(n_features), encoder_hidden, dropout, batch_norm)
        k = self.encoder.out_dim
        self.heads = nn.ModuleList([_Head(k, head_hidden, 1, dropout, batch_norm) for _ in range(2)])
        for head in self.heads:
            nn.init.zeros_(head.out.bias)
        self.register_buffer("log_time_scale", torch.tensor(float(time_scale)).log())

    @property
    def time_scale(self) -> float:
        return float(self.log_time_scale.exp())

    def times(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"r": (N, k), "t0", "t1": (N,)} with times in the duration unit."""
        r = self.encoder(x)
        out = {"r": r}
        for arm in (0, 1):
            log_t = self.heads[arm](r)[..., 0].clamp(-_LOG_CLAMP, _LOG_CLAMP) + self.log_time_scale
            out[f"t{arm}"] = log_t.exp()
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 2:
            raise DataError(f"x must be (N, p), got shape {tuple(x.shape)}")
        out = self.times(x)
        with pyro.plate("subjects", x.shape[0], dim=-1):
            for site in ("t0", "t1"):
                out[site] = pyro.deterministic(site, out[site])
        return out


class AFTLoss:
    """``loss(model, x, a, y, delta) -> (total, components)``: -log p(trace of the factual sites) / M +
    alpha * IPM, M the minibatch size; components ``nll``, ``ipm``, ``total`` (floats)."""

    def __init__(self, alpha: float = 1.0):
        if not alpha >= 0:
            raise ArgumentError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)

    def __call__(self, model, x, a, y, delta):
        trace = poutine.trace(model).get_trace(x, a, y, delta)
        nll = -trace.log_prob_sum() / x.shape[0]
        total, comps = nll, {"nll": float(nll.detach())}
        if self.alpha > 0:
            ipm = wasserstein_ipm(trace.nodes["_RETURN"]["value"]["r"], a)
            total = total + self.alpha * ipm
            comps["ipm"] = float(ipm.detach())
        comps["total"] = float(total.detach())
        return total, comps


class SRLoss:
    """Eq. (22) on the scaled time (y / s, t / s), averaged over the minibatch, + alpha * IPM; components
    ``event`` (the accuracy loss), ``ipm``, ``total``."""

    def __init__(self, alpha: float = 1.0):
        if not alpha >= 0:
            raise ArgumentError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)

    def __call__(self, model, x, a, y, delta):
        out = model.times(x)
        scale = model.time_scale
        t = torch.where(a > 0.5, out["t1"], out["t0"]) / scale
        ys = y / scale
        acc = event_loss(t, ys, delta).mean()  # the paper's eq. (8)/(22), shared with CSALoss('paper')
        total, comps = acc, {"event": float(acc.detach())}
        if self.alpha > 0:
            ipm = wasserstein_ipm(out["r"], a)
            total = total + self.alpha * ipm
            comps["ipm"] = float(ipm.detach())
        comps["total"] = float(total.detach())
        return total, comps


# ---------------------------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------------------------
class NeuralBaseline(CounterfactualSurvivalModel):
    """Shared fitting and sampling of the neural baselines (see the module docstring).

    Parameters
    ----------
    alpha : IPM weight (>= 0).
    seed : seeds weights, minibatches and draws; None = not seeded.
    hidden : encoder widths (paper: (100, 100)); head_hidden : widths of each arm's head.
    dropout : dropout on every hidden layer (paper: 0.2).
    max_epochs, patience, batch_size, lr : optimisation (Adam, early stopping on the validation loss).
    clip_norm : gradient-norm clipping; device : "cpu", "cuda" or None (auto); verbose : progress bar.

    Fitted attributes: ``model_``, ``data_`` (training :class:`SurvivalData`), ``preprocessor_``,
    ``history_``, ``time_scale_`` (mean training duration), ``alpha_``.
    """

    _sites = ("t0", "t1")

    def __init__(self, alpha: float = 1.0, seed: int | None = 0, hidden=(100, 100), head_hidden=(100,),
                 dropout: float = 0.2, max_epochs: int = 300, patience: int = 30, batch_size: int = 200,
                 lr: float = 1e-3, clip_norm: float = 10.0, device=None, verbose: bool = True):
        if not (isinstance(alpha, (int, float)) and alpha >= 0):
            raise ArgumentError(f"alpha must be a number >= 0, got {alpha!r}")
        for arg, v in (("max_epochs", max_epochs), ("batch_size", batch_size), ("patience", patience)):
            if int(v) < 1:
                raise ArgumentError(f"{arg} must be >= 1, got {v}")
        if not 0 <= dropout < 1:
            raise ArgumentError(f"dropout must be in [0, 1), got {dropout}")
        if not lr > 0:
            raise ArgumentError(f"lr must be > 0, got {lr}")
        self.alpha, self.seed = float(alpha), seed
        self.hidden = tuple(int(h) for h in hidden)
        self.head_hidden = tuple(int(h) for h in head_hidden)
        self.dropout, self.max_epochs, self.patience = float(dropout), int(max_epochs), int(patience)
        self.batch_size, self.lr, self.clip_norm = int(batch_size), float(lr), clip_norm
        self.device, self.verbose = device, bool(verbose)
        self.fitted_ = False

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha!r}, seed={self.seed!r})"

    def _new_model(self, n_features: int, time_scale: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None):
        """Fit on ``df`` (never modified); early stopping on ``val_df`` (default: a stratified 15% of
        ``df``). Returns ``self``."""
        train_df, val_df = validation_split(df, event_col, treatment_col, val_df, seed=self.seed)
        train = SurvivalData.from_frame(train_df, duration_col, event_col, treatment_col,
                                        covariates=covariates, treated_value=treated_value)
        valid = train.transform(val_df, require_outcome=True)
        self.time_scale_ = float(train.y.mean())
        if self.seed is not None:
            torch.manual_seed(self.seed)
        model = self._new_model(train.x.shape[1], self.time_scale_)
        history = fit_module(model, self._loss(), (train.x, train.a, train.y, train.delta),
                             (valid.x, valid.a, valid.y, valid.delta), batch_size=self.batch_size, lr=self.lr,
                             max_epochs=self.max_epochs, patience=self.patience, clip_norm=self.clip_norm,
                             seed=self.seed, device=self.device, verbose=self.verbose, desc=self.name)
        self.model_ = model.to(resolve_device(self.device)).eval()
        self.history_, self.alpha_ = history, self.alpha
        self.data_, self.preprocessor_ = train, train.preprocessor
        self.max_duration_ = float(train.y.max())
        self.duration_col_, self.event_col_, self.treatment_col_ = duration_col, event_col, treatment_col
        self.treated_value_ = train.treated_value
        self.n_train_, self.n_valid_ = len(train), len(valid)
        self.fitted_ = True
        return self

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None,
                                  chunk_size: int | None = None, batch_size: int | None = None):
        """Draw potential times for each row of ``df`` through ``pyro.infer.Predictive`` (sites "t0",
        "t1"), ``chunk_size`` subjects at a time (default 4096;
        ``batch_size=`` is its deprecated name). Returns :class:`pyrocsa.core.outcomes.PotentialOutcomes` with
        arrays (num_samples, len(df)) in the duration unit; ``observed`` is set when ``df`` has the outcome
        columns."""
        num_samples = check_positive_int(num_samples, "num_samples")
        seed = check_seed(seed)
        self._check_fitted()
        batch_size = renamed_argument(chunk_size, batch_size, "chunk_size", "batch_size",
                                      f"{type(self).__name__}.sample_potential_outcomes")
        batch_size = 4096 if batch_size is None else batch_size
        if int(batch_size) < 1:
            raise ArgumentError(f"chunk_size must be >= 1, got {batch_size}")
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        data = self.data_.transform(df, require_outcome=False)
        draws = predictive_draws(self.model_, data.x, self._sites, int(num_samples), seed, int(batch_size))
        from pyrocsa.core.outcomes import PotentialOutcomes

        return PotentialOutcomes(draws["t0"], draws["t1"], index=df.index,
                                 observed=observed_frame(self.data_, df),
                                 covariates=covariate_frame(self.preprocessor_, df), model_name=self.name,
                                 follow_up=getattr(self, "max_duration_", None), copy=False)


class _AFTBase(NeuralBaseline):
    distribution = "weibull"

    def _new_model(self, n_features, time_scale):
        return AFTModel(n_features, self.distribution, encoder_hidden=self.hidden,
                        head_hidden=self.head_hidden, dropout=self.dropout, time_scale=time_scale)

    def _loss(self):
        return AFTLoss(self.alpha)


class AFTWeibull(_AFTBase):
    """IPM-regularised neural AFT with a Weibull law per arm (paper's AFT-Weibull); see
    :class:`NeuralBaseline` for the parameters."""

    name = "AFT-Weibull"
    distribution = "weibull"


class AFTLogNormal(_AFTBase):
    """IPM-regularised neural AFT with a log-normal law per arm (paper's AFT-log-Normal); see
    :class:`NeuralBaseline` for the parameters."""

    name = "AFT-log-Normal"
    distribution = "lognormal"


class SR(NeuralBaseline):
    """The paper's deterministic semi-supervised regression with the accuracy objective (eq. 22) and the
    IPM; ``num_samples`` draws are identical copies. See :class:`NeuralBaseline` for the parameters."""

    name = "SR"

    def _new_model(self, n_features, time_scale):
        return SRModel(n_features, encoder_hidden=self.hidden, head_hidden=self.head_hidden,
                       dropout=self.dropout, time_scale=time_scale)

    def _loss(self):
        return SRLoss(self.alpha)
