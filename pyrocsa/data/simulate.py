"""The paper's Gompertz-Cox simulator (CSA, CHIL 2021, SM D.1) with exact ground truth.

Generative scheme (defaults = the authors' values, which reproduce the shipped actg-Synthetic file):

* covariates ``X``: the 23 ACTG 175 covariates in file order (:data:`pyrocsa.datasets.ACTG_COVARIATES`),
  raw units, missing ``cd496`` median-imputed; all 2139 rows, resampled with replacement when ``n != 2139``;
* propensity ``P(A=1|x) = (a + sigmoid(eta * z(x))) / b`` with ``z = (age - mean_age) + (cd40 - mean_cd40)``
  in raw units (``eta = -30``, ``a = 0.3``, ``b = 1.5``). On the raw scale the sigmoid is saturated, so the
  propensity is 0.2 or 0.867 according to the sign of ``z`` -- exactly what the authors' data show (the
  observed treated rates are 0.197 and 0.870 on the two sides; expected treated rate 55.90%, shipped 55.91%);
* potential event times, Gompertz-Cox with hazard ``lambda_a exp(x'beta_a) exp(g t)``,
  ``g = gompertz_shape``::

      T_a = (1/g) log(1 - g log U_a / (lambda_a exp(x'beta_a))),   U_a ~ Uniform(0, 1)

  (``g = 0.0055``, ``lambda_0 = lambda_1 = 6e-4``; ``U_0``, ``U_1`` independent), i.e. survival
  ``S_a(t|x) = exp(-k_a (exp(g t) - 1))`` with ``k_a = lambda_a exp(x'beta_a) / g``;
* censoring ``C ~ Normal(1000, 100)`` truncated to ``C > 0`` (the authors' notebook; the paper's text says
  log-normal), the same ``C`` under both arms; ``Y = min(T_A, C)``, ``event = 1{T_A <= C}``.

Time unit: days throughout. Everything random is drawn from independent child streams of ``seed`` (rows,
coefficients, treatment, event times, censoring), so two calls with the same seed that differ only in, say,
``confounding`` share the same covariates, event times and censoring times (common random numbers).

Exact ground truth (closed form through the exponential integral, ``e^k E_1(k) = U(1, 1, k)``)::

    E[T_a|x]        = U(1, 1, k_a) / g
    RMST_a(h|x)     = (U(1, 1, k_a) - exp(-k_a (w - 1)) U(1, 1, k_a w)) / g,   w = exp(g h)

where ``U`` is Tricomi's confluent hypergeometric function (:func:`scipy.special.hyperu`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from pyrocsa.data.actg import ACTG_COVARIATES, load_actg175
from pyrocsa.data.frame import MIN_ROWS, stratified_split
from pyrocsa.errors import ArgumentError, DataError, renamed_argument

__all__ = [
    "AUTHORS_BETA_0",
    "AUTHORS_BETA_1",
    "AUTHORS_PARAMS",
    "GompertzCox",
    "JumpHazard",
    "SimulatedCohort",
    "actg_propensity",
    "authors_gompertz_cox",
    "simulate",
    "simulate_hazard_jump",
    "simulate_programme_trial",
]

#: log-hazard coefficients of the control arm, raw ACTG units, in ACTG_COVARIATES order (authors' values)
AUTHORS_BETA_0 = np.array([
    1.148569e-02, 3.896347e-03, -3.337743e-02, -1.215442e-01, -6.036002e-01, 4.563380e-03, -5.217492e-02,
    1.414948e+00, 0.0, 9.294612e-06, 7.863787e-02, 4.756738e-01, -7.807835e-01, -1.766999e-01,
    1.622865e-01, 0.0, 1.551692e-01, 2.793350e-03, -6.417969e-03, -9.856514e-03, -1.127284e+00,
    2.247806e-04, 1.952943e-04,
])
#: log-hazard coefficients of the treated arm (authors' values)
AUTHORS_BETA_1 = np.array([
    0.0026987044, 0.0094957416, -0.2047708817, -0.0518243280, -0.2168722467, 0.0076266828, -0.0796099695,
    0.6258748940, 0.0, 0.0009670592, -1.0101809693, -0.4038655688, -1.5959739338, -0.0563572096,
    0.5244218189, 0.0, 0.2280296997, 0.0035548596, -0.0047974742, -0.0121293815, -1.0625208970,
    -0.0004266264, 0.0005844290,
])
#: the authors' scalar hyper-parameters (time in days)
#: (``"alpha"`` is the deprecated name of ``"gompertz_shape"``, kept as a key for pyrocsa 0.2 code)
AUTHORS_PARAMS = {"gompertz_shape": 0.0055, "alpha": 0.0055, "lambda_0": 6e-4, "lambda_1": 6e-4, "eta": -30.0,
                  "a": 0.3, "b": 1.5,
                  "censoring_mean": 1000.0, "censoring_sd": 100.0}

# default informative-censoring log-hazard coefficients, per standardised covariate (Weibull-Cox)
_INFO_GAMMA_0 = {"age": 0.3, "karnof": -0.4, "symptom": 0.3, "cd40": -0.3}
_INFO_GAMMA_1 = {"age": 0.3, "karnof": -0.4, "symptom": 0.3, "cd40": 0.3, "drugs": 0.5}
_DRAWN_LOG_RISK_LEVEL = -4.0  # mean x'beta of drawn coefficients (the authors' average is about -3.9)


def _scaled_exp1(x: np.ndarray) -> np.ndarray:
    """``e^x E_1(x)`` for x > 0 without overflow (= Tricomi U(1, 1, x))."""
    return special.hyperu(1.0, 1.0, x)


# ---------------------------------------------------------------------------------------------------------
# the outcome model
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GompertzCox:
    """Two-arm Gompertz-Cox model: hazard ``h_a(t|x) = lambda_a exp(log_risk_a) exp(gompertz_shape t)``.

    ``log_risk_0``, ``log_risk_1`` are (N,) arrays (``x'beta_a`` plus any nonlinear terms); times in days.
    ``gompertz_shape`` (1/day) was called ``alpha`` in pyrocsa 0.2 (``alpha`` is the IPM weight now; the
    attribute ``.alpha`` still reads it, with a deprecation warning).
    """

    gompertz_shape: float
    lambda_0: float
    lambda_1: float
    log_risk_0: np.ndarray
    log_risk_1: np.ndarray

    def __post_init__(self):
        if not (np.isfinite(self.gompertz_shape) and self.gompertz_shape > 0):
            raise DataError(f"gompertz_shape must be a positive finite number, got {self.gompertz_shape}")
        for name in ("lambda_0", "lambda_1"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ArgumentError(f"{name} must be a positive finite number, got {v}")
        for name in ("log_risk_0", "log_risk_1"):
            if not np.isfinite(np.asarray(getattr(self, name), dtype=float)).all():
                raise DataError(f"{name} has non-finite values")

    @property
    def alpha(self) -> float:
        """Deprecated name of :attr:`gompertz_shape`."""
        import warnings

        warnings.warn("GompertzCox.alpha is deprecated, use gompertz_shape", DeprecationWarning, stacklevel=2)
        return self.gompertz_shape

    def k(self) -> tuple[np.ndarray, np.ndarray]:
        """``k_a = lambda_a exp(log_risk_a) / gompertz_shape``, each (N,):
        ``S_a(t) = exp(-k_a (e^{gompertz_shape t} - 1))``."""
        return (self.lambda_0 * np.exp(np.asarray(self.log_risk_0, float)) / self.gompertz_shape,
                self.lambda_1 * np.exp(np.asarray(self.log_risk_1, float)) / self.gompertz_shape)

    def survival(self, times) -> tuple[np.ndarray, np.ndarray]:
        """(S0, S1), each (N, len(times)): ``S_a(t|x_i)`` at the given times (days, >= 0)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or np.isnan(t).any() or (t < 0).any():
            raise ArgumentError("times must be a 1-d array of non-negative numbers")
        growth = np.expm1(self.gompertz_shape * t)[None, :]
        return tuple(np.exp(-ka[:, None] * growth) for ka in self.k())

    def rmst(self, horizon: float | None = None, tau: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rmst0, rmst1), each (N,): ``RMST_a(h|x) = int_0^h S_a(t|x) dt`` in days, ``h = horizon``
        (``tau`` is its deprecated name)."""
        tau = renamed_argument(horizon, tau, "horizon", "tau", "GompertzCox.rmst")
        if tau is None:
            raise TypeError("GompertzCox.rmst() needs horizon")
        tau = float(tau)
        if not tau > 0:
            raise ArgumentError(f"horizon must be > 0, got {tau}")
        if np.isinf(tau):
            return self.expected_lifetime()
        w = np.exp(self.gompertz_shape * tau)
        out = []
        for ka in self.k():
            tail = np.exp(-ka * (w - 1.0)) * _scaled_exp1(ka * w)
            out.append((_scaled_exp1(ka) - tail) / self.gompertz_shape)
        return tuple(out)

    def expected_lifetime(self) -> tuple[np.ndarray, np.ndarray]:
        """(m0, m1), each (N,): ``E[T_a|x] = int_0^inf S_a(t|x) dt`` in days."""
        return tuple(_scaled_exp1(ka) / self.gompertz_shape for ka in self.k())

    def median(self) -> tuple[np.ndarray, np.ndarray]:
        """(med0, med1), each (N,): median potential event times in days."""
        return tuple(np.log1p(np.log(2.0) / ka) / self.gompertz_shape for ka in self.k())

    def sample(self, rng: np.random.Generator, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw (t0, t1) by inversion, independent across arms. Shapes (N,) or (size, N)."""
        out = []
        for ka in self.k():
            shape = ka.shape if size is None else (size,) + ka.shape
            e = rng.standard_exponential(shape)  # -log U
            out.append(np.log1p(e / ka) / self.gompertz_shape)
        return tuple(out)


def authors_gompertz_cox(x: np.ndarray) -> GompertzCox:
    """The authors' outcome model for raw ACTG covariates ``x`` (N, 23) in ACTG_COVARIATES order."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(AUTHORS_BETA_0):
        raise DataError(f"x must be (N, {len(AUTHORS_BETA_0)}), got {x.shape}")
    return GompertzCox(AUTHORS_PARAMS["gompertz_shape"], AUTHORS_PARAMS["lambda_0"],
                       AUTHORS_PARAMS["lambda_1"],
                       x @ AUTHORS_BETA_0, x @ AUTHORS_BETA_1)


def _propensity(z: np.ndarray, eta: float, a: float, b: float) -> np.ndarray:
    return (a + special.expit(eta * z)) / b


def actg_propensity(age, cd40, eta: float = -30.0, a: float = 0.3, b: float = 1.5,
                    mean_age: float | None = None, mean_cd40: float | None = None) -> np.ndarray:
    """The authors' propensity ``(a + sigmoid(eta((age - mean_age) + (cd40 - mean_cd40)))) / b``, raw units.

    The means default to those of the given arrays (the authors used the data's means).
    """
    age = np.asarray(age, dtype=float)
    cd40 = np.asarray(cd40, dtype=float)
    mean_age = age.mean() if mean_age is None else mean_age
    mean_cd40 = cd40.mean() if mean_cd40 is None else mean_cd40
    return _propensity((age - mean_age) + (cd40 - mean_cd40), eta, a, b)


# ---------------------------------------------------------------------------------------------------------
# the simulated cohort
# ---------------------------------------------------------------------------------------------------------
@dataclass
class SimulatedCohort:
    """A simulated cohort with its ground truth. N subjects; times in days.

    Attributes
    ----------
    frame : DataFrame: the covariates, then ``time`` (min(T_A, C)), ``event`` (int, 1 = event observed)
        and ``treatment`` (int, 1 = treated). Feed it to any model as-is.
    t0, t1 : (N,) potential event times. c0, c1 : (N,) potential censoring times (``inf`` = none).
    propensity : (N,) true P(A=1|x).
    split : ``{"train", "valid", "test"}`` -> positions, stratified by event x treatment (70/15/15).
    truth : the :class:`GompertzCox` outcome model (conditional survival, RMST, expected lifetime).
    covariates : covariate column names. source_rows : (N,) row positions in the covariate source.
    params : the settings used (for reports).
    """

    frame: pd.DataFrame
    t0: np.ndarray
    t1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    propensity: np.ndarray
    split: dict[str, np.ndarray]
    truth: GompertzCox
    covariates: list[str]
    source_rows: np.ndarray
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def treatment(self) -> np.ndarray:
        return self.frame["treatment"].to_numpy()

    def survival(self, times) -> tuple[np.ndarray, np.ndarray]:
        """(S0, S1), each (N, len(times)): true ``S_a(t|x)``."""
        return self.truth.survival(times)

    def rmst(self, horizon: float | None = None, tau: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rmst0, rmst1), each (N,): true ``RMST_a(horizon|x)`` in days (``tau``: deprecated name)."""
        return self.truth.rmst(renamed_argument(horizon, tau, "horizon", "tau", "SimulatedCohort.rmst"))

    def expected_lifetime(self) -> tuple[np.ndarray, np.ndarray]:
        """(m0, m1), each (N,): true ``E[T_a|x]`` in days."""
        return self.truth.expected_lifetime()

    def ite(self, kind: str = "expected", horizon: float | None = None, tau: float | None = None
            ) -> np.ndarray:
        """(N,) true individual effects in days:

        * ``"realised"``: t1 - t0 (the realised potential outcomes of this draw);
        * ``"expected"``: E[T_1|x] - E[T_0|x] (the conditional ITE);
        * ``"rmst"``: RMST_1(h|x) - RMST_0(h|x) (needs ``horizon`` = h; ``tau`` is its deprecated name).
        """
        tau = renamed_argument(horizon, tau, "horizon", "tau", "SimulatedCohort.ite")
        if kind == "realised":
            return self.t1 - self.t0
        if kind == "expected":
            m0, m1 = self.expected_lifetime()
            return m1 - m0
        if kind == "rmst":
            if tau is None:
                raise ArgumentError("horizon is required for kind='rmst'")
            r0, r1 = self.rmst(tau)
            return r1 - r0
        raise ArgumentError(f"kind must be 'realised', 'expected' or 'rmst', got {kind!r}")


def _covariate_source(covariates) -> tuple[pd.DataFrame, bool]:
    """Return (numeric, median-imputed copy of the source, is_default_actg)."""
    if covariates is None:
        df = load_actg175()[ACTG_COVARIATES].astype(float)
        return df.fillna(df.median()), True
    if isinstance(covariates, pd.DataFrame):
        df = covariates.copy()
        df.columns = [str(c) for c in df.columns]
    else:
        arr = np.asarray(covariates)
        if arr.ndim != 2:
            raise DataError(f"covariates must be a DataFrame or a 2-d array, got shape {arr.shape}")
        df = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
    if df.shape[1] == 0 or len(df) == 0:
        raise ArgumentError("covariates: empty covariate source")
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            df[col] = s.astype(float)
        elif not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"covariates: column '{col}' is not numeric (dtype {s.dtype}); encode it first")
    df = df.astype(float)
    if np.isinf(df.to_numpy()).any():
        bad = [c for c in df.columns if np.isinf(df[c]).any()]
        raise DataError(f"covariates: column(s) {bad} contain inf values")
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise DataError(f"covariates: column(s) {empty} have no non-missing values")
    clash = [c for c in df.columns if c in ("time", "event", "treatment")]
    if clash:
        raise DataError(f"covariates: column name(s) {clash} clash with the outcome columns")
    return df.fillna(df.median()), False


def _coef(value, p: int, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.shape != (p,):
        raise DataError(f"{name} must have length {p} (one per covariate), got shape {v.shape}")
    if not np.isfinite(v).all():
        raise DataError(f"{name} has non-finite values")
    return v


def _columns(requested, default, df: pd.DataFrame, name: str, count: int) -> list[str]:
    if requested is None:
        cols = list(default) if all(c in df.columns for c in default) else list(df.columns[:count])
    else:
        cols = [str(c) for c in requested]
        miss = [c for c in cols if c not in df.columns]
        if miss:
            raise DataError(f"{name}: column(s) {miss} not among the covariates")
    return cols


def _nonlinear_terms(z: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Arm-specific nonlinear log-risk terms of three standardised covariates (u, v, w):

    * control: sin(pi u) + 0.5 (v^2 - 1) + 0.5 u w
    * treated: -0.5 sin(pi u) + 0.5 (w^2 - 1) - 0.5 v w + tanh(2 v)

    Fewer than three columns: the missing ones count as 0.
    """
    vals = [z[c].to_numpy() for c in cols[:3]] + [np.zeros(len(z))] * (3 - min(3, len(cols)))
    u, v, w = vals
    f0 = np.sin(np.pi * u) + 0.5 * (v ** 2 - 1.0) + 0.5 * u * w
    f1 = -0.5 * np.sin(np.pi * u) + 0.5 * (w ** 2 - 1.0) - 0.5 * v * w + np.tanh(2.0 * v)
    return f0, f1


def simulate(n: int | None = None, seed: int = 0, *, covariates=None, beta_0=None, beta_1=None,
             gompertz_shape: float | None = None, lambda_0: float = AUTHORS_PARAMS["lambda_0"],
             lambda_1: float = AUTHORS_PARAMS["lambda_1"], eta: float = AUTHORS_PARAMS["eta"],
             a: float = AUTHORS_PARAMS["a"], b: float = AUTHORS_PARAMS["b"], confounding: float = 1.0,
             propensity_columns=None, standardise_propensity: bool = False, heterogeneity: float = 1.0,
             nonlinear: float = 0.0, nonlinear_columns=None, censoring: str = "normal",
             censoring_mean: float = AUTHORS_PARAMS["censoring_mean"],
             censoring_sd: float = AUTHORS_PARAMS["censoring_sd"], censoring_shape: float = 1.5,
             censoring_scale: float = 1200.0, censoring_beta_0=None, censoring_beta_1=None,
             max_followup="auto", fractions=(0.70, 0.15, 0.15), alpha: float | None = None
             ) -> SimulatedCohort:
    """Simulate a cohort from the paper's Gompertz-Cox scheme (module docstring) with ground truth.

    With the defaults this is the authors' actg-Synthetic generator (2139 ACTG rows, their betas and
    hyper-parameters). Its exact expected rates are 49.25% events and 55.90% treated (seeds 0..199: 49.3%
    and 55.9% on average, SD 0.9% and 0.8% per cohort) against the shipped file's 48.9% / 55.9%.

    Parameters
    ----------
    n : number of subjects; default the size of the covariate source. Otherwise rows of the source are
        resampled with replacement.
    seed : seed of all randomness.
    covariates : covariate source, a numeric DataFrame or (N, p) array (columns ``x0..``); default the 23
        ACTG 175 covariates (raw units, cd496 median-imputed). Missing values are median-imputed; the
        user's object is not modified. With a custom source and no ``beta_0``/``beta_1``, coefficients are
        drawn: on standardised covariates ``beta_0 ~ N(0, 1/p)``, ``beta_1 = beta_0 + N(0, 0.25/p)``,
        centred so that the average log-risk is -4 (the authors' is about -3.9).
    beta_0, beta_1 : (p,) log-hazard coefficients on the *raw* covariates (default: the authors').
    gompertz_shape, lambda_0, lambda_1 : Gompertz shape (1/day; default the authors' 0.0055) and arm scales
        (1/day). ``alpha`` is the deprecated name of ``gompertz_shape`` (``alpha`` is the IPM weight).
    eta, a, b : propensity ``(a + sigmoid(confounding * eta * z)) / b``; needs ``0 <= a`` and
        ``a + 1 <= b`` (overlap needs ``a > 0`` and ``a + 1 < b``). ``z`` is the centred sum of the
        ``propensity_columns`` (default age and cd40, else the first two columns), in raw units unless
        ``standardise_propensity``. Centring uses the source means.
    confounding : multiplies ``eta``; 0 gives a randomised trial with constant propensity ``(a + 0.5)/b``.
        On the raw scale ``z`` has SD ~120, so the authors' sigmoid is saturated: values below ~0.001 are
        needed for a graded propensity; with ``standardise_propensity=True`` try ``eta = -1`` and
        ``confounding`` in [0, 3].
    heterogeneity : scales the covariate-dependent part of the effect: the treated log-risk becomes
        ``lr_0 + heterogeneity * (lr_1 - lr_0)``. 0 leaves only the constant hazard ratio
        ``lambda_1 / lambda_0`` (none with the defaults); 1 is the authors'.
    nonlinear : strength of extra nonlinear log-risk terms of three standardised covariates
        (``nonlinear_columns``; default age, cd40, karnof, else the first three), different per arm so the
        effect is nonlinear and heterogeneous (see ``_nonlinear_terms``). 0 = the authors' linear model.
    censoring : ``"normal"`` -- ``C ~ N(censoring_mean, censoring_sd^2)`` truncated to ``C > 0``, shared by
        both arms (the authors'); ``"informative"`` -- Weibull-Cox ``C_a`` with shape ``censoring_shape``,
        scale ``censoring_scale`` days and log-hazard ``z'gamma_a`` on standardised covariates, different
        per arm (defaults depend on age, karnof, symptom, cd40 and, treated only, drugs; pass
        ``censoring_beta_0/1`` of length p to change them; drawn when the ACTG names are absent);
        ``"none"`` -- no random censoring.
    max_followup : administrative end of study (days): every censoring time is capped at it. ``"auto"``
        means 1500 days for ``"informative"`` and none otherwise; ``None`` = none.
    fractions : train/valid/test fractions of the stratified split.
    """
    # ---- argument checks -------------------------------------------------------------------------------
    if censoring not in ("normal", "informative", "none"):
        raise ArgumentError(f"censoring must be 'normal', 'informative' or 'none', got {censoring!r}")
    gompertz_shape = renamed_argument(gompertz_shape, alpha, "gompertz_shape", "alpha", "simulate")
    if gompertz_shape is None:
        gompertz_shape = AUTHORS_PARAMS["gompertz_shape"]
    for name, v in (("gompertz_shape", gompertz_shape), ("lambda_0", lambda_0), ("lambda_1", lambda_1)):
        if not (np.isfinite(v) and v > 0):
            raise ArgumentError(f"{name} must be a positive finite number, got {v}")
    for name, v in (("eta", eta), ("confounding", confounding), ("heterogeneity", heterogeneity),
                    ("nonlinear", nonlinear)):
        if not np.isfinite(v):
            raise ArgumentError(f"{name} must be finite, got {v}")
    if not (a >= 0 and b > 0 and a + 1 <= b):
        raise ArgumentError(f"propensity parameters need 0 <= a and a + 1 <= b so that (a + sigmoid)/b is a "
                         f"probability; got a={a}, b={b}")
    if censoring == "normal" and not (censoring_sd > 0 and np.isfinite(censoring_mean)):
        raise ArgumentError(f"censoring_sd must be > 0 and censoring_mean finite, got {censoring_mean}, "
                         f"{censoring_sd}")
    if censoring == "informative" and not (censoring_shape > 0 and censoring_scale > 0):
        raise DataError(f"censoring_shape and censoring_scale must be > 0, got {censoring_shape}, "
                         f"{censoring_scale}")
    if isinstance(max_followup, str):
        if max_followup != "auto":
            raise ArgumentError(f"max_followup must be a positive number, None or 'auto', got "
                                f"{max_followup!r}")
        max_followup = 1500.0 if censoring == "informative" else None
    if max_followup is not None and not (float(max_followup) > 0):
        raise ArgumentError(f"max_followup must be > 0, got {max_followup}")

    source, is_actg = _covariate_source(covariates)
    names = list(source.columns)
    p = len(names)
    if n is None:
        n = len(source)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < MIN_ROWS:
        raise ArgumentError(f"n must be an integer >= {MIN_ROWS}, got {n!r}")
    n = int(n)

    streams = np.random.SeedSequence(seed).spawn(5)
    rng_rows, rng_coef, rng_treat, rng_event, rng_cens = (np.random.default_rng(s) for s in streams)

    rows = np.arange(n) if n == len(source) else rng_rows.integers(0, len(source), size=n)
    x_df = source.iloc[rows].reset_index(drop=True)
    x = x_df.to_numpy(dtype=float)
    mean = source.mean().to_numpy()
    sd = source.std(ddof=0).to_numpy()
    sd_safe = np.where(sd > 0, sd, 1.0)
    z_df = pd.DataFrame((x - mean) / sd_safe, columns=names)

    # ---- outcome coefficients ---------------------------------------------------------------------------
    intercept = np.zeros(2)
    if beta_0 is None and beta_1 is None and is_actg:
        beta_0, beta_1 = AUTHORS_BETA_0.copy(), AUTHORS_BETA_1.copy()
    elif beta_0 is None or beta_1 is None:
        if beta_0 is not None or beta_1 is not None:
            raise ArgumentError("give both beta_0 and beta_1, or neither")
        b0_std = rng_coef.normal(0.0, 1.0 / np.sqrt(p), size=p) * (sd > 0)
        b1_std = (b0_std + rng_coef.normal(0.0, 0.5 / np.sqrt(p), size=p)) * (sd > 0)
        beta_0, beta_1 = b0_std / sd_safe, b1_std / sd_safe
        intercept = np.array([_DRAWN_LOG_RISK_LEVEL - mean @ beta_0, _DRAWN_LOG_RISK_LEVEL - mean @ beta_1])
    beta_0 = _coef(beta_0, p, "beta_0")
    beta_1 = _coef(beta_1, p, "beta_1")
    lr0 = intercept[0] + x @ beta_0
    lr1 = intercept[1] + x @ beta_1
    nl_cols: list[str] = []
    if nonlinear != 0.0:
        nl_cols = _columns(nonlinear_columns, ("age", "cd40", "karnof"), x_df, "nonlinear_columns", 3)
        f0, f1 = _nonlinear_terms(z_df, nl_cols)
        lr0 = lr0 + nonlinear * f0
        lr1 = lr1 + nonlinear * f1
    lr1 = lr0 + heterogeneity * (lr1 - lr0)
    if not (np.isfinite(lr0).all() and np.isfinite(lr1).all()):
        raise ArgumentError("the log-risk x'beta is not finite; check the covariates and coefficients")
    truth = GompertzCox(float(gompertz_shape), float(lambda_0), float(lambda_1), lr0, lr1)

    # ---- treatment ----------------------------------------------------------------------------------------
    pcols = _columns(propensity_columns, ("age", "cd40"), x_df, "propensity_columns", 2)
    zp = (z_df[pcols] if standardise_propensity else x_df[pcols] - source[pcols].mean()).sum(axis=1)
    propensity = _propensity(zp.to_numpy(), confounding * eta, a, b)
    treatment = (rng_treat.random(n) < propensity).astype(int)

    # ---- event and censoring times ----------------------------------------------------------------------
    t0, t1 = truth.sample(rng_event)
    if censoring == "normal":
        lo = (0.0 - censoring_mean) / censoring_sd
        c = stats.truncnorm.rvs(lo, np.inf, loc=censoring_mean, scale=censoring_sd, size=n,
                                random_state=rng_cens)
        c0 = c1 = c
    elif censoring == "informative":
        g0, g1 = _censoring_coefs(censoring_beta_0, censoring_beta_1, names, p, rng_coef)
        e = rng_cens.standard_exponential(n)
        c0 = censoring_scale * (e / np.exp(z_df.to_numpy() @ g0)) ** (1.0 / censoring_shape)
        c1 = censoring_scale * (e / np.exp(z_df.to_numpy() @ g1)) ** (1.0 / censoring_shape)
    else:
        c0 = c1 = np.full(n, np.inf)
    if max_followup is not None:
        c0 = np.minimum(c0, float(max_followup))
        c1 = np.minimum(c1, float(max_followup))
    c0, c1 = np.asarray(c0, float), np.asarray(c1, float)

    t_obs = np.where(treatment == 1, t1, t0)
    c_obs = np.where(treatment == 1, c1, c0)
    frame = x_df.copy()
    frame["time"] = np.minimum(t_obs, c_obs)
    frame["event"] = (t_obs <= c_obs).astype(int)
    frame["treatment"] = treatment
    split = stratified_split(frame, "event", "treatment", fractions=fractions, seed=seed)
    params = dict(n=n, seed=seed, gompertz_shape=gompertz_shape, lambda_0=lambda_0, lambda_1=lambda_1,
                  eta=eta, a=a, b=b, confounding=confounding, propensity_columns=pcols,
                  standardise_propensity=standardise_propensity, heterogeneity=heterogeneity,
                  nonlinear=nonlinear, nonlinear_columns=nl_cols, censoring=censoring,
                  censoring_mean=censoring_mean, censoring_sd=censoring_sd, max_followup=max_followup,
                  beta_0=beta_0, beta_1=beta_1, intercept=intercept, covariate_source="actg175" if is_actg
                  else "user")
    return SimulatedCohort(frame=frame, t0=t0, t1=t1, c0=c0, c1=c1, propensity=propensity, split=split,
                           truth=truth, covariates=names, source_rows=np.asarray(rows), params=params)


def _censoring_coefs(g0, g1, names: list[str], p: int, rng: np.random.Generator):
    if g0 is not None and g1 is not None:
        return _coef(g0, p, "censoring_beta_0"), _coef(g1, p, "censoring_beta_1")
    if g0 is not None or g1 is not None:
        raise ArgumentError("give both censoring_beta_0 and censoring_beta_1, or neither")
    keys = set(_INFO_GAMMA_0) | set(_INFO_GAMMA_1)
    if keys <= set(names):
        return (np.array([_INFO_GAMMA_0.get(c, 0.0) for c in names]),
                np.array([_INFO_GAMMA_1.get(c, 0.0) for c in names]))
    return rng.normal(0.0, 0.5 / np.sqrt(p), size=p), rng.normal(0.0, 0.5 / np.sqrt(p), size=p)


# ---------------------------------------------------------------------------------------------------------
# a baseline hazard that jumps at a fixed time
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JumpHazard:
    """Two-arm proportional-hazards model whose baseline hazard jumps at a fixed time:
    ``h_a(t|x) = exp(log_risk_a) * rate * (1 if t < jump_a else factor)``, so
    ``S_a(t|x) = exp(-exp(log_risk_a) * Lambda_a(t))`` with ``Lambda_a(t) = rate * t`` before ``jump_a`` and
    ``rate * (jump_a + factor * (t - jump_a))`` after. ``jump_0``, ``jump_1``, ``log_risk_0``,
    ``log_risk_1`` are (N,) arrays (the jump may depend on x); times in the cohort's unit."""

    rate: float
    factor: float
    jump_0: np.ndarray
    jump_1: np.ndarray
    log_risk_0: np.ndarray
    log_risk_1: np.ndarray

    def _arms(self):
        return ((np.asarray(self.jump_0, float), np.exp(np.asarray(self.log_risk_0, float))),
                (np.asarray(self.jump_1, float), np.exp(np.asarray(self.log_risk_1, float))))

    def _cumulative(self, t: np.ndarray, jump: np.ndarray) -> np.ndarray:
        return self.rate * np.where(t < jump, t, jump + self.factor * (t - jump))

    def survival(self, times) -> tuple[np.ndarray, np.ndarray]:
        """(S0, S1), each (N, len(times)): ``S_a(t|x_i)``."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or np.isnan(t).any() or (t < 0).any():
            raise ArgumentError("times must be a 1-d array of non-negative numbers")
        return tuple(np.exp(-r[:, None] * self._cumulative(t[None, :], s[:, None])) for s, r in self._arms())

    def rmst(self, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """(rmst0, rmst1), each (N,): ``int_0^horizon S_a(t|x) dt`` in closed form (two exponential
        pieces)."""
        h = float(horizon)
        if not h > 0:
            raise ArgumentError(f"horizon must be > 0, got {h}")
        out = []
        for s, r in self._arms():
            k1, k2 = r * self.rate, r * self.rate * self.factor
            first = np.minimum(s, h)
            before = -np.expm1(-k1 * first) / k1
            after = np.exp(-k1 * s) * -np.expm1(-k2 * np.maximum(h - s, 0.0)) / k2
            out.append(before + np.where(h > s, after, 0.0))
        return tuple(out)

    def expected_lifetime(self) -> tuple[np.ndarray, np.ndarray]:
        """(m0, m1), each (N,): ``E[T_a|x]``."""
        return tuple(-np.expm1(-r * self.rate * s) / (r * self.rate) + np.exp(-r * self.rate * s)
                     / (r * self.rate * self.factor) for s, r in self._arms())

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw (t0, t1), each (N,), by inversion of the cumulative hazard, independent across arms."""
        out = []
        for s, r in self._arms():
            cum = rng.standard_exponential(r.shape) / (r * self.rate)  # Lambda_a(T) / rate
            out.append(np.where(cum < s, cum, s + (cum - s) / self.factor))
        return tuple(out)


def simulate_hazard_jump(n: int = 2000, seed: int = 0, p: int = 10, rate: float = 0.15, factor: float = 5.0,
                         jump: float = 1.5, delay: float = 1.0, follow_up: float = 6.0,
                         fractions=(0.70, 0.15, 0.15)) -> SimulatedCohort:
    """A cohort whose baseline hazard rises ``factor``-fold at a fixed time (e.g. the end of a programme),
    with a treatment that delays the rise: the truth is a :class:`JumpHazard`.

    * covariates x_1..x_p standard normal (columns ``x1..``);
    * control: the hazard ``rate`` x risk rises ``factor``-fold at ``jump``; treated: at
      ``jump + delay * (1 + 0.5 tanh(2 x_4))`` (a heterogeneous delay);
    * the same nonlinear covariate effect on the log-risk in both arms:
      ``0.5 sin(pi x_1 / 2) + 0.3 (x_2^2 - 1) - 0.3 x_3``;
    * treatment: ``P(A=1|x) = expit(0.4 x_1 - 0.3 x_2)`` (mild confounding);
    * censoring: administrative at ``follow_up`` plus uniform dropout on [0.5, 2 follow_up].

    Returns a :class:`SimulatedCohort` (``truth.rmst(h)`` exact; ``t0``, ``t1`` the potential times)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < MIN_ROWS:
        raise ArgumentError(f"n must be an integer >= {MIN_ROWS}, got {n!r}")
    if not (isinstance(p, (int, np.integer)) and p >= 4):
        raise ArgumentError(f"p must be an integer >= 4 (x_1..x_4 enter the model), got {p!r}")
    for name, v in (("rate", rate), ("factor", factor), ("jump", jump), ("follow_up", follow_up)):
        if not (np.isfinite(v) and v > 0):
            raise ArgumentError(f"{name} must be a positive finite number, got {v}")
    if not (np.isfinite(delay) and delay >= 0):
        raise ArgumentError(f"delay must be a finite number >= 0, got {delay}")
    rng_x, rng_treat, rng_event, rng_cens = (np.random.default_rng(s)
                                             for s in np.random.SeedSequence([seed, 7]).spawn(4))
    x = rng_x.standard_normal((int(n), int(p)))
    x1, x2, x3, x4 = (x[:, j] for j in range(4))
    risk = 0.5 * np.sin(np.pi * x1 / 2) + 0.3 * (x2 ** 2 - 1) - 0.3 * x3
    jump_1 = jump + delay * (1 + 0.5 * np.tanh(2 * x4))
    truth = JumpHazard(float(rate), float(factor), np.full(int(n), float(jump)), jump_1, risk, risk)
    propensity = special.expit(0.4 * x1 - 0.3 * x2)
    treatment = (rng_treat.random(int(n)) < propensity).astype(int)
    t0, t1 = truth.sample(rng_event)
    c = np.minimum(float(follow_up), rng_cens.uniform(0.5, 2 * float(follow_up), int(n)))
    names = [f"x{j + 1}" for j in range(int(p))]
    frame = pd.DataFrame(x, columns=names)
    t_obs = np.where(treatment == 1, t1, t0)
    frame["time"] = np.minimum(t_obs, c)
    frame["event"] = (t_obs <= c).astype(int)
    frame["treatment"] = treatment
    split = stratified_split(frame, "event", "treatment", fractions=fractions, seed=seed)
    params = dict(n=int(n), seed=seed, p=int(p), rate=rate, factor=factor, jump=jump, delay=delay,
                  follow_up=follow_up)
    return SimulatedCohort(frame, t0, t1, c, c, propensity, split, truth, names, np.arange(int(n)), params)


def simulate_programme_trial(n: int = 600, seed: int = 0, p: int = 6, rate: float = 0.002,
                             factor: float = 5.0, jump: float = 90.0, delay: float = 90.0,
                             follow_up: float = 1000.0, strength: float = 1.0) -> SimulatedCohort:
    """A randomised trial in days whose hazard rises sharply when a programme ends, and covariates that
    explain little: the baseline hazard, not the covariates, carries the fit (design (h) of
    ``benchmarks/programme_trial.py``).

    * covariates x_1..x_p standard normal (columns ``x1..``);
    * log-risk ``strength * (0.25 x_1 - 0.2 x_2 + 0.15 (x_3^2 - 1))``, the same in both arms;
    * control: hazard ``rate`` per day x risk until day ``jump``, ``factor`` times that after; treated:
      the programme lasts ``delay`` days longer (the rise at ``jump + delay``);
    * treatment: P(A = 1) = 0.5, independent of x (randomised);
    * censoring: administrative at ``follow_up`` days plus uniform dropout on [100, 3 follow_up];
    * durations rounded to whole days (at least 1), as trial data are.

    With the defaults about 95% of the patients have an event and the unadjusted Cox HR is about 0.65.
    Returns a :class:`SimulatedCohort` (``truth`` a :class:`JumpHazard`; ``t0``, ``t1`` the unrounded
    potential times; every row in the training split, as a trial is analysed on all its rows)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < MIN_ROWS:
        raise ArgumentError(f"n must be an integer >= {MIN_ROWS}, got {n!r}")
    if not (isinstance(p, (int, np.integer)) and p >= 3):
        raise ArgumentError(f"p must be an integer >= 3 (x_1..x_3 enter the model), got {p!r}")
    for name, v in (("rate", rate), ("factor", factor), ("jump", jump), ("follow_up", follow_up)):
        if not (np.isfinite(v) and v > 0):
            raise ArgumentError(f"{name} must be a positive finite number, got {v}")
    for name, v in (("delay", delay), ("strength", strength)):
        if not (np.isfinite(v) and v >= 0):
            raise ArgumentError(f"{name} must be a finite number >= 0, got {v}")
    rng_x, rng_treat, rng_event, rng_cens = (np.random.default_rng(s)
                                             for s in np.random.SeedSequence([seed, 8]).spawn(4))
    n = int(n)
    x = rng_x.standard_normal((n, int(p)))
    risk = float(strength) * (0.25 * x[:, 0] - 0.2 * x[:, 1] + 0.15 * (x[:, 2] ** 2 - 1))
    truth = JumpHazard(float(rate), float(factor), np.full(n, float(jump)), np.full(n, float(jump + delay)),
                       risk, risk)
    treatment = (rng_treat.random(n) < 0.5).astype(int)
    t0, t1 = truth.sample(rng_event)
    c = np.minimum(float(follow_up), rng_cens.uniform(100.0, 3 * float(follow_up), n))
    names = [f"x{j + 1}" for j in range(int(p))]
    frame = pd.DataFrame(x, columns=names)
    t_obs = np.where(treatment == 1, t1, t0)
    frame["time"] = np.maximum(np.round(np.minimum(t_obs, c)), 1.0)
    frame["event"] = (t_obs <= c).astype(int)
    frame["treatment"] = treatment
    split = {"train": np.arange(n), "valid": np.arange(0), "test": np.arange(0)}
    params = dict(n=n, seed=seed, p=int(p), rate=rate, factor=factor, jump=jump, delay=delay,
                  follow_up=follow_up, strength=strength)
    return SimulatedCohort(frame, t0, t1, c, c, np.full(n, 0.5), split, truth, names, np.arange(n), params)
