"""STEAM-style synthetic survival cohorts (Amad et al., NeurIPS 2025, adapted to censored outcomes) and the
metrics that judge them: covariate fidelity, treatment-mechanism fidelity (JSD_pi), outcome-mechanism
fidelity (U_PEHE on RMST differences, censoring-mechanism distance, hazard-ratio agreement) and privacy
(distance to closest record).
"""

from . import metrics
from .cohort import GenericCohort, SyntheticCohort, WeibullOutcomeModel
from .covariates import GaussianCopula, IndependentMarginals, SequentialTrees
from .treatment import PropensityModel

__all__ = ["SyntheticCohort", "GenericCohort", "WeibullOutcomeModel", "GaussianCopula", "SequentialTrees",
           "IndependentMarginals", "PropensityModel", "metrics"]
