"""STEAM-style synthetic survival cohorts (Amad et al., NeurIPS 2025, adapted to censored outcomes) and the
metrics that judge them: covariate fidelity, treatment-mechanism fidelity (JSD_pi), outcome-mechanism
fidelity (U_PEHE on RMST differences, censoring-mechanism distance, hazard-ratio agreement) and privacy
(exact copies, distance to closest record, membership- and attribute-inference attacks:
:func:`privacy_report`).
"""

from pyrocsa.baselines.propensity import PropensityModel
from pyrocsa.steam.cohort import GenericCohort, SyntheticCohort, WeibullOutcomeModel
from pyrocsa.steam.covariates import GaussianCopula, IndependentMarginals, SequentialTrees
from pyrocsa.steam.privacy import PrivacyReport, privacy_report

from . import metrics

__all__ = ["SyntheticCohort", "GenericCohort", "WeibullOutcomeModel", "GaussianCopula", "SequentialTrees",
           "IndependentMarginals", "PropensityModel", "metrics", "privacy_report", "PrivacyReport"]
