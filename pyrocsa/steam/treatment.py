"""Treatment-assignment step of a STEAM cohort: a propensity model ``pi(x) = P(A = 1 | X = x)`` fit on the
real (X, A) and sampled as ``A ~ Bernoulli(pi(x))`` for synthetic covariates.

The model is pyrocsa's one :class:`pyrocsa.baselines.propensity.PropensityModel` (re-exported here and as
``pyrocsa.steam.PropensityModel``): ``PropensityModel(classifier).fit(covariates, a)``, ``predict``,
``sample``; the classifier is ``"logistic"`` (the STEAM default) or any object with ``fit(X, a)`` and
``predict_proba(X)``.
"""

from pyrocsa.baselines.propensity import PropensityModel, make_classifier

__all__ = ["PropensityModel", "make_classifier"]
