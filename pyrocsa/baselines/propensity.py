"""Propensity score P(A=1 | X=x) by logistic regression, and the balancing weights built from it.

The CSA paper (Chapfuwa et al., CHIL 2021, section 5 and Appendix C) approximates the unknown propensity
with "a simple linear logistic model" ``e_hat = sigma(x' w)`` and weights the Cox partial likelihood
(its eq. 20) with one of three "normalised" schemes:

* IPW (inverse probability weighting): ``w_i = a_i / e_i + (1 - a_i) / (1 - e_i)``;
* OW  (overlap weights):               ``w_i = a_i (1 - e_i) + (1 - a_i) e_i``;
* uniform (the RCT assumption):        ``w_i = 1``.

The paper does not say which normalisation it uses. pyrocsa's default, ``normalize="arm"``, rescales the
weights *within each arm* so that they sum to the arm's size (mean 1 in each arm, hence mean 1 overall).
This is the normalisation of the Hajek ("normalised IPW", Cao et al. 2009) and overlap-weight (Li et al.
2018) estimators, which divide by the sum of the weights in each arm; for IPW it equals the *stabilised*
weight ``P(A=a) / P(A=a | x)`` with both probabilities estimated in-sample, which keeps the pseudo-population
at the observed arm sizes so that robust (sandwich) confidence intervals of a weighted Cox model are not
inflated. ``normalize="mean"`` only rescales all weights to mean 1 (this leaves a weighted Cox estimate
unchanged) and ``normalize=None`` returns the raw weights.

Evidence for the choice: on actg-Synthetic, a CoxPH-OW fit with ``normalize="arm"`` and model-based
(non-robust) standard errors gives 0.60 (0.53, 0.68), exactly the paper's Table 1 entry, whereas raw
weights give the same HR with interval (0.48, 0.74). (pyrocsa's CoxPHWeighted defaults to the robust
sandwich interval, (0.52, 0.69) there, which is the valid one for estimated weights.)

Covariates are preprocessed by :class:`pyrocsa.data.SurvivalData` (imputation, one-hot, standardisation),
exactly as for every other pyrocsa model.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from pyrocsa.data.frame import Preprocessor, SurvivalData
from pyrocsa.errors import ArgumentError, DataError

__all__ = ["PropensityModel", "make_classifier", "ipw_weights", "overlap_weights", "normalize_weights",
           "NORMALIZATIONS"]

#: accepted values of ``normalize``
NORMALIZATIONS = ("arm", "mean", None)


def make_classifier(spec, C: float = 1.0, max_iter: int = 1000):
    """``"logistic"`` -> ``LogisticRegression(C=C, max_iter=max_iter)``; an object with fit/predict_proba
    is returned unchanged (and copied before it is fitted)."""
    if isinstance(spec, str):
        if spec == "logistic":
            return LogisticRegression(C=C, max_iter=max_iter)
        raise ArgumentError(f"propensity_model={spec!r}: expected 'logistic' or an object with fit(X, a) and "
                         "predict_proba(X)")
    if not (callable(getattr(spec, "fit", None)) and callable(getattr(spec, "predict_proba", None))):
        raise ArgumentError(f"propensity_model: {type(spec).__name__} has no fit(X, a) / predict_proba(X)")
    return spec


def _is_vector(v) -> bool:
    return isinstance(v, (np.ndarray, pd.Series, list, tuple))


class PropensityModel:
    """Propensity score ``P(A=1 | x)`` on the preprocessed covariates (median/mode imputation, one-hot,
    standardisation) -- pyrocsa's one propensity model (the Cox weights, DoublyRobust and STEAM use it).

    Parameters
    ----------
    classifier : ``"logistic"`` (sklearn ``LogisticRegression``, default) or any object with ``fit(X, a)``
        and ``predict_proba(X)`` returning P(A = 1) (shape (N,)) or sklearn's (N, 2) class probabilities
        (fitted on a copy: the object passed in is not modified).
    C : inverse L2 penalty of the logistic regression (covariates are standardised, so the default 1.0 is
        a mild shrinkage that only matters under near-separation).
    clip : None (no clipping, as in the paper) or a float ``c`` in [0, 0.5): predictions are clipped to
        ``[c, 1 - c]`` (e.g. 0.01 to bound IPW weights by 100).
    max_iter : iterations of the lbfgs solver.

    Two ways to fit, one model:

    * ``fit(df, treatment_col, covariates=None, ...)`` -- from a frame with a treatment column (labels read
      as :class:`pyrocsa.data.SurvivalData` reads them); then ``predict_proba(df)``; ``propensity_`` holds
      the in-sample propensities;
    * ``fit(covariates, a)`` -- a frame of covariates only and the 0/1 treatment (the STEAM form); then
      ``predict(covariates)`` and ``sample(covariates, rng)``.

    Fitted attributes: ``preprocessor_``, ``model_`` (the fitted classifier), ``data_`` (the
    :class:`SurvivalData`, frame form only), ``propensity_`` (frame form).
    """

    def __init__(self, classifier="logistic", C: float = 1.0, clip: float | None = None,
                 max_iter: int = 1000):
        if not (np.isfinite(C) and C > 0):
            raise ArgumentError(f"C must be a positive finite number, got {C!r}")
        if clip is not None and not (0.0 <= float(clip) < 0.5):
            raise ArgumentError(f"clip must be None or a number in [0, 0.5), got {clip!r}")
        self.C = float(C)
        self.clip = None if clip is None else float(clip)
        self.max_iter = int(max_iter)
        self.classifier = make_classifier(classifier, C=self.C, max_iter=self.max_iter)

    def fit(self, df: pd.DataFrame, treatment_col=None, covariates: list[str] | None = None,
            treated_value=None, duration_col: str | None = None, event_col: str | None = None
            ) -> PropensityModel:
        """Fit ``P(A=1 | x)``: ``fit(df, treatment_col, ...)`` (``duration_col``/``event_col`` are only
        excluded from the default covariates, every other column) or ``fit(covariates, a)`` with ``a`` the
        (N,) 0/1 treatment. Returns ``self``."""
        steam_form = _is_vector(treatment_col)
        if steam_form:
            x, a = self._fit_covariates(df, treatment_col)
            self.data_ = None
        else:
            data = SurvivalData.from_frame(df, duration_col, event_col, treatment_col, covariates=covariates,
                                           treated_value=treated_value, require_outcome=False)
            self.data_, self.preprocessor_ = data, data.preprocessor
            x, a = data.x.numpy(), data.a.numpy().astype(int)
        self.model_ = copy.deepcopy(self.classifier)
        self.model_.fit(self._as_design(x), a)
        self.fitted_ = True
        if not steam_form:
            self.propensity_ = self._predict_x(x)
        return self

    def _fit_covariates(self, covariates: pd.DataFrame, a) -> tuple[np.ndarray, np.ndarray]:
        a = np.asarray(a, dtype=float)
        if a.ndim != 1 or len(a) != len(covariates):
            raise DataError(f"a must have shape ({len(covariates)},), got {a.shape}")
        if not np.isin(a, [0.0, 1.0]).all():
            raise ArgumentError("a must be 0/1")
        if len(np.unique(a)) < 2:
            raise DataError("a: both arms must be present to fit a propensity model")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropping constant covariate")
            self.preprocessor_ = Preprocessor().fit(covariates, list(covariates.columns))
        return self.preprocessor_.transform(covariates), a.astype(int)

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError("PropensityModel is not fitted: call fit(df, treatment_col=...) or "
                               "fit(covariates, a) first")

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Propensity ``e_hat(x) = P(A=1 | x)`` for every row of ``df``: array (N,) in [0, 1].

        Only the covariate columns are needed; the fitted preprocessing is re-applied."""
        self._check_fitted()
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        return self._predict_x(self.preprocessor_.transform(df))

    def predict(self, covariates: pd.DataFrame) -> np.ndarray:
        """:meth:`predict_proba` (the STEAM name): P(A = 1 | x) for each row, shape (N,), in [0, 1]."""
        return self.predict_proba(covariates)

    def sample(self, covariates: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """A ~ Bernoulli(pi(x)): (N,) int array of 0/1."""
        return (rng.uniform(size=len(covariates)) < self.predict(covariates)).astype(int)

    def _as_design(self, x: np.ndarray) -> np.ndarray:
        # the frame form fits on float64, the covariates form on the preprocessor's float32 matrix (each as
        # before the two classes were merged, so that their propensities are unchanged to the last digit)
        return np.asarray(x, dtype=np.float64) if self.data_ is not None else x

    def _predict_x(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        p = np.asarray(self.model_.predict_proba(self._as_design(x)), dtype=float)
        if p.ndim == 2:
            p = p[:, -1]
        if p.shape != (n,) or not np.all(np.isfinite(p)) or (p < 0).any() or (p > 1).any():
            raise DataError("propensity_model.predict_proba returned values that are not probabilities of "
                             f"shape ({n},) or ({n}, 2)")
        if self.clip is not None:
            p = np.clip(p, self.clip, 1.0 - self.clip)
        return p


def _check_a_e(a, e, open_interval: bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float).ravel()
    e = np.asarray(e, dtype=float).ravel()
    if a.shape != e.shape:
        raise DataError(f"a and e must have the same length, got {a.shape[0]} and {e.shape[0]}")
    if a.size == 0:
        raise ArgumentError("a and e are empty")
    if not np.isin(a, [0.0, 1.0]).all():
        raise ArgumentError("a (treatment) must contain only 0 and 1")
    if not np.isfinite(e).all():
        raise DataError("e (propensity) has NaN or inf values")
    if open_interval and ((e <= 0).any() or (e >= 1).any()):
        n_bad = int(((e <= 0) | (e >= 1)).sum())
        raise ArgumentError(f"e (propensity) must lie strictly in (0, 1) for IPW; found {n_bad} "
                         "value(s) at 0 or 1 (use PropensityModel(clip=...))")
    if (e < 0).any() or (e > 1).any():
        raise ArgumentError("e (propensity) must lie in [0, 1]")
    return a, e


def normalize_weights(w, a, normalize: str | None = "arm") -> np.ndarray:
    """Rescale weights ``w`` (N,): ``"arm"`` -> each arm's weights sum to its size; ``"mean"`` -> mean 1
    overall; ``None`` -> unchanged. Returns a new array."""
    if normalize not in NORMALIZATIONS:
        raise ArgumentError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    w = np.array(w, dtype=float).ravel()
    a = np.asarray(a, dtype=float).ravel()
    if normalize is None:
        return w
    if normalize == "mean":
        total = w.sum()
        if not total > 0:
            raise ArgumentError("weights sum to zero; they cannot be normalised")
        return w * (w.size / total)
    for arm in (0.0, 1.0):
        m = a == arm
        if not m.any():
            continue
        total = w[m].sum()
        if not total > 0:
            raise DataError(f"the weights of arm {int(arm)} sum to zero; they cannot be normalised")
        w[m] *= m.sum() / total
    return w


def ipw_weights(a, e, normalize: str | None = "arm") -> np.ndarray:
    """Inverse probability weights ``a/e + (1-a)/(1-e)`` (N,), normalised (see module docstring).

    ``a``: treatment (N,) in {0, 1}; ``e``: propensity P(A=1|x) (N,) strictly inside (0, 1)."""
    a, e = _check_a_e(a, e, open_interval=True)
    return normalize_weights(a / e + (1.0 - a) / (1.0 - e), a, normalize)


def overlap_weights(a, e, normalize: str | None = "arm") -> np.ndarray:
    """Overlap weights ``a(1-e) + (1-a)e`` (N,), normalised (see module docstring).

    ``a``: treatment (N,) in {0, 1}; ``e``: propensity P(A=1|x) (N,) in [0, 1]."""
    a, e = _check_a_e(a, e, open_interval=False)
    return normalize_weights(a * (1.0 - e) + (1.0 - a) * e, a, normalize)
