"""Tree-based baseline: a T-learner random survival forest, in place of the paper's Surv-BART.

The CSA paper's tree baseline is Surv-BART (Sparapani et al., 2016), fitted separately on each arm
(T-learner) with no adjustment for selection bias or informative censoring (its Appendix C). Survival BART
is only maintained in R (``BART::surv.bart``); there is no maintained Python implementation, and calling R
would add a heavy dependency. pyrocsa therefore uses the closest maintained nonparametric tree ensemble for
survival in Python, the random survival forest (Ishwaran et al., 2008) of scikit-survival, in the same
T-learner form: one forest per arm on the preprocessed covariates, each giving a per-subject survival
function (the ensemble average of the leaves' Kaplan-Meier curves). Potential outcomes are drawn from these
curves by inverse transform with the same :class:`pyrocsa.baselines.cox.SurvivalCurves` helper as the Cox
T-learner (same Weibull tail beyond follow-up), and ``rmst`` integrates them exactly.

scikit-survival is a core requirement since pyrocsa 0.3 (CSA's lasso-Cox start uses it); the ``trees``
extra is kept for old install commands.
"""

from __future__ import annotations

import numpy as np

from pyrocsa.baselines.cox import SurvivalCurves, TLearnerBase
from pyrocsa.errors import ArgumentError

__all__ = ["RandomSurvivalForestTLearner"]

_INSTALL_HINT = ("RandomSurvivalForestTLearner needs scikit-survival: pip install 'pyrocsa[trees]' "
                 "(or pip install scikit-survival)")


def _import_rsf():
    try:
        from sksurv.ensemble import RandomSurvivalForest
        from sksurv.util import Surv
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return RandomSurvivalForest, Surv


class RandomSurvivalForestTLearner(TLearnerBase):
    """A scikit-survival :class:`~sksurv.ensemble.RandomSurvivalForest` per arm.

    Parameters
    ----------
    n_estimators : trees per arm.
    min_samples_leaf : smallest leaf (15, the survival default of randomForestSRC, keeps each leaf's
        Kaplan-Meier curve from being a single step).
    max_features : features tried at each split (sklearn convention; "sqrt" by default).
    max_depth : optional depth limit.
    random_state : seed of both forests (arm 1 uses ``random_state + 1``).
    n_jobs : parallel jobs of scikit-survival (1 by default).
    """

    name = "RSF T-learner"

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 15, max_features="sqrt",
                 max_depth: int | None = None, random_state: int = 0, n_jobs: int = 1):
        _import_rsf()
        if int(n_estimators) != n_estimators or n_estimators < 1:
            raise ArgumentError(f"n_estimators must be a positive integer, got {n_estimators!r}")
        if int(min_samples_leaf) != min_samples_leaf or min_samples_leaf < 1:
            raise ArgumentError(f"min_samples_leaf must be a positive integer, got {min_samples_leaf!r}")
        self.n_estimators, self.min_samples_leaf = int(n_estimators), int(min_samples_leaf)
        self.max_features, self.max_depth = max_features, max_depth
        self.random_state, self.n_jobs = int(random_state), n_jobs

    def _fit_arm(self, x, duration, event, seed):
        RandomSurvivalForest, Surv = _import_rsf()
        rsf = RandomSurvivalForest(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                   max_features=self.max_features, max_depth=self.max_depth,
                                   random_state=self.random_state + seed, n_jobs=self.n_jobs)
        return rsf.fit(x, Surv.from_arrays(event=event.astype(bool), time=duration))

    def _survival_arm(self, model, x, end_time):
        surv = model.predict_survival_function(x, return_array=True)
        return SurvivalCurves(np.asarray(model.unique_times_, dtype=float), surv, end_time=end_time)
