"""Baselines of the CSA paper that need no neural network.

* :class:`CoxPHWeighted` -- CoxPH-Uniform / CoxPH-IPW / CoxPH-OW marginal hazard ratios;
* :class:`CoxTLearner` -- a Cox model per arm, sampling potential outcomes from its survival functions;
* :class:`RandomSurvivalForestTLearner` -- a random survival forest per arm (needs scikit-survival,
  ``pip install pyrocsa[trees]``), in place of the paper's Surv-BART;
* :class:`PropensityModel`, :func:`ipw_weights`, :func:`overlap_weights` -- the propensity weights.
"""

from pyrocsa.baselines.cox import CoxPHWeighted, CoxTLearner, SurvivalCurves
from pyrocsa.baselines.forest import RandomSurvivalForestTLearner
from pyrocsa.baselines.propensity import PropensityModel, ipw_weights, overlap_weights

__all__ = ["CoxPHWeighted", "CoxTLearner", "SurvivalCurves", "RandomSurvivalForestTLearner",
           "PropensityModel", "ipw_weights", "overlap_weights"]
