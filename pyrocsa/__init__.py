"""pyrocsa: counterfactual survival analysis (CSA / CSA-INFO, Chapfuwa et al., CHIL 2021) as Pyro models.

Layout (data -> model -> training -> sampling -> estimands/metrics -> reports):

* :mod:`pyrocsa.data`       -- validated frames -> tensors (:class:`SurvivalData`), splits
* :mod:`pyrocsa.datasets`   -- ACTG 175, the paper's actg subset and actg-Synthetic
* :mod:`pyrocsa.simulate`   -- the paper's Gompertz-Cox simulator with ground truth
* :mod:`pyrocsa.flows`, :mod:`pyrocsa.distributions` -- 1-D planar layers; exact-density time laws
  (``FlowTime``) and their right-censored likelihood (``RightCensored``)
* :mod:`pyrocsa.model`      -- the CSA / CSA-INFO Pyro model (encoder, per-arm conditional flows)
* :mod:`pyrocsa.losses`     -- the right-censored log-likelihood, the paper's objectives, the IPM
* :mod:`pyrocsa.training`   -- the optimisation loop (early stopping, clipping, history)
* :mod:`pyrocsa.distributed` -- data-parallel training (torch.distributed DDP; torchrun, ``--nproc``)
* :mod:`pyrocsa.streaming`   -- fitting from Parquet files larger than memory
* :mod:`pyrocsa.estimator`  -- :class:`CSA`, the lifelines-style front (:mod:`pyrocsa.ensemble`: K members)
* :mod:`pyrocsa.sampling`   -- chunked ``pyro.infer.Predictive`` sampling of potential outcomes
* :mod:`pyrocsa.outcomes`   -- :class:`PotentialOutcomes`: samples and their estimands
* :mod:`pyrocsa.estimands`, :mod:`pyrocsa.metrics` -- ITE, RMST, HR(t); C-index, PEHE, calibration
* :mod:`pyrocsa.doubly_robust` -- :class:`DoublyRobust`: cross-fitted AIPCW RMST / survival contrasts with
  influence-function intervals, adjusted survival curves
* :mod:`pyrocsa.baselines`  -- CoxPH (uniform/IPW/OW), neural AFT, SR, random survival forest
* :mod:`pyrocsa.steam`      -- STEAM-style synthetic cohorts and their metrics
* :mod:`pyrocsa.cli`, :mod:`pyrocsa.plotting` -- the front door
* :mod:`pyrocsa.errors`, :mod:`pyrocsa.checkpoint` -- named errors; the saved-model format (atomic, checked)
"""

from importlib import import_module

from .data import Preprocessor, SurvivalData, stratified_split

__version__ = "0.2.0"

_LAZY = {
    "CSA": "pyrocsa.estimator",
    "PotentialOutcomes": "pyrocsa.outcomes",
    "DoublyRobust": "pyrocsa.doubly_robust",
}

__all__ = ["SurvivalData", "Preprocessor", "stratified_split", "CSA", "PotentialOutcomes", "DoublyRobust",
           "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in ("datasets", "simulate", "metrics", "estimands", "baselines", "steam", "plotting", "errors",
                "checkpoint", "doubly_robust"):
        return import_module(f"pyrocsa.{name}")
    raise AttributeError(f"module 'pyrocsa' has no attribute {name!r}")
