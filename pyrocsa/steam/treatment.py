"""Treatment-assignment step of a STEAM cohort: a propensity model ``pi(x) = P(A = 1 | X = x)`` fit on the
real (X, A) and sampled as ``A ~ Bernoulli(pi(x))`` for synthetic covariates.

The covariates are preprocessed with :class:`pyrocsa.data.Preprocessor` (median/mode imputation, one-hot,
standardisation, fitted on the real covariates). The classifier is pluggable: ``"logistic"`` (sklearn
``LogisticRegression``, the STEAM default) or any object with ``fit(X, a)`` and ``predict_proba(X)``
returning either P(A = 1) (shape (N,)) or sklearn's (N, 2) class probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from ..data import Preprocessor

__all__ = ["PropensityModel", "make_classifier"]


def make_classifier(spec):
    """``"logistic"`` -> ``LogisticRegression(max_iter=2000)``; an object with fit/predict_proba is
    returned unchanged."""
    if isinstance(spec, str):
        if spec == "logistic":
            return LogisticRegression(max_iter=2000)
        raise ValueError(f"propensity_model={spec!r}: expected 'logistic' or an object with fit(X, a) and "
                         "predict_proba(X)")
    if not (callable(getattr(spec, "fit", None)) and callable(getattr(spec, "predict_proba", None))):
        raise ValueError(f"propensity_model: {type(spec).__name__} has no fit(X, a) / predict_proba(X)")
    return spec


class PropensityModel:
    """Propensity score pi(x) on preprocessed covariates.

    Parameters
    ----------
    classifier : ``"logistic"`` or an object with ``fit(X, a)`` / ``predict_proba(X)``.
    """

    def __init__(self, classifier="logistic"):
        self.classifier = make_classifier(classifier)

    def fit(self, covariates: pd.DataFrame, a: np.ndarray) -> PropensityModel:
        """``covariates``: (N, p) frame of raw covariates; ``a``: (N,) 0/1 treatment."""
        a = np.asarray(a, dtype=float)
        if a.ndim != 1 or len(a) != len(covariates):
            raise ValueError(f"a must have shape ({len(covariates)},), got {a.shape}")
        if not np.isin(a, [0.0, 1.0]).all():
            raise ValueError("a must be 0/1")
        if len(np.unique(a)) < 2:
            raise ValueError("a: both arms must be present to fit a propensity model")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropping constant covariate")
            self.preprocessor_ = Preprocessor().fit(covariates, list(covariates.columns))
        self.classifier.fit(self.preprocessor_.transform(covariates), a.astype(int))
        return self

    def predict(self, covariates: pd.DataFrame) -> np.ndarray:
        """P(A = 1 | x) for each row: shape (N,), in [0, 1]."""
        if not hasattr(self, "preprocessor_"):
            raise RuntimeError("PropensityModel is not fitted: call fit(covariates, a) first")
        p = np.asarray(self.classifier.predict_proba(self.preprocessor_.transform(covariates)), dtype=float)
        if p.ndim == 2:
            p = p[:, -1]
        if p.shape != (len(covariates),) or not np.all(np.isfinite(p)) or (p < 0).any() or (p > 1).any():
            raise ValueError("propensity_model.predict_proba returned values that are not probabilities of "
                             f"shape ({len(covariates)},) or ({len(covariates)}, 2)")
        return p

    def sample(self, covariates: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """A ~ Bernoulli(pi(x)): (N,) int array of 0/1."""
        return (rng.uniform(size=len(covariates)) < self.predict(covariates)).astype(int)
