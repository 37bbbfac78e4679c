"""Baselines of the CSA paper, all behind the :class:`pyrocsa.core.base.CounterfactualSurvivalModel`
interface.

* :class:`CoxPHWeighted` -- CoxPH-Uniform / CoxPH-IPW / CoxPH-OW marginal hazard ratios;
* :class:`CoxTLearner` -- a Cox model per arm, sampling potential outcomes from its survival functions;
* :class:`RandomSurvivalForestTLearner` -- a random survival forest per arm (scikit-survival), in place
  of the paper's Surv-BART;
* :class:`AFTWeibull`, :class:`AFTLogNormal` -- IPM-regularised neural AFT models (Pyro likelihoods);
* :class:`SR` -- the deterministic regression with CSA's accuracy objective + IPM;
* :class:`PropensityModel`, :func:`ipw_weights`, :func:`overlap_weights` -- the propensity weights.
"""

from pyrocsa.baselines.cox import CoxPHWeighted, CoxTLearner, SurvivalCurves
from pyrocsa.baselines.forest import RandomSurvivalForestTLearner
from pyrocsa.baselines.neural import SR, AFTLogNormal, AFTWeibull
from pyrocsa.baselines.propensity import PropensityModel, ipw_weights, overlap_weights

__all__ = ["CoxPHWeighted", "CoxTLearner", "SurvivalCurves", "RandomSurvivalForestTLearner",
           "AFTWeibull", "AFTLogNormal", "SR", "PropensityModel", "ipw_weights", "overlap_weights"]
