"""pyrocsa: counterfactual survival analysis (CSA / CSA-INFO, Chapfuwa et al., CHIL 2021) as Pyro models.

Layout: one-way layers, lowest first (data -> shared core -> the CSA model -> baselines -> evaluation ->
STEAM -> reports). A module imports only from its own layer or the layers below it, never above, and no two
modules import each other (``tests/test_layout.py`` walks every import, function-level ones included):

0. :mod:`pyrocsa.errors`     -- named errors and argument checks
1. :mod:`pyrocsa.data`       -- frames -> tensors: validation, :class:`Preprocessor`, :class:`SurvivalData`,
   splits (``data.frame``); the ACTG files (``data.actg``); the Gompertz-Cox simulator (``data.simulate``);
   the authors' actg-Synthetic preset (``data.actg_synthetic``)
2. :mod:`pyrocsa.core`       -- shared by every estimator: the contract (``core.base``), nets and the IPM
   (``core.nn``, ``core.ipm``), the training loop (``core.training``, ``core.device``,
   ``core.distributed``, ``core.streaming``), sampling (``core.sampling``), :class:`PotentialOutcomes` and its
   estimands (``core.outcomes``, ``core.estimands``, ``core.inference_data``), the generic
   :class:`Ensemble` (``core.ensemble``), the saved-model format (``core.checkpoint``) and the
   influence-function core of the doubly robust contrasts (``core.influence``)
3. :mod:`pyrocsa.csa`        -- the CSA model: planar flows (``csa.flows``), exact-density time laws
   (``csa.distributions``), the Pyro model (``csa.model``), objectives (``csa.losses``), alpha selection
   (``csa.alpha``) and the :class:`CSA` front (``csa.estimator``)
4. :mod:`pyrocsa.baselines`  -- CoxPH (uniform/IPW/OW), Cox/forest T-learners, neural AFT, SR; the one
   :class:`~pyrocsa.baselines.propensity.PropensityModel`
5. :mod:`pyrocsa.evaluation` -- metrics (``evaluation.metrics``) and :class:`DoublyRobust`
   (``evaluation.doubly_robust``)
6. :mod:`pyrocsa.steam`      -- STEAM-style synthetic cohorts and their metrics
7. :mod:`pyrocsa.reports`    -- plots (``reports.plotting``) and the command line (``reports.cli``)

Above every layer sit the public names: this package's ``CSA``, ``Ensemble``, ``SurvivalData``, ...
(``__all__``) and the stable namespaces :mod:`pyrocsa.datasets`, :mod:`pyrocsa.simulate`,
:mod:`pyrocsa.metrics`, :mod:`pyrocsa.estimands`, :mod:`pyrocsa.plotting` (plain re-exports of their layers'
public names). Nothing inside the layers imports them. ``python -m pyrocsa`` is the command line.
"""

from importlib import import_module

from pyrocsa.data.frame import Preprocessor, SurvivalData, stratified_split

__version__ = "0.3.0"

#: the layers, lowest first: a module under ``pyrocsa.<layer>`` may import ``pyrocsa.<other>`` only when
#: ``other`` comes no later in this tuple (checked by tests/test_layout.py)
LAYERS = ("errors", "data", "core", "csa", "baselines", "evaluation", "steam", "reports")

_LAZY = {
    "CSA": "pyrocsa.csa.estimator",
    "Ensemble": "pyrocsa.core.ensemble",
    "PotentialOutcomes": "pyrocsa.core.outcomes",
    "DoublyRobust": "pyrocsa.evaluation.doubly_robust",
}
#: namespaces reachable as attributes (``pyrocsa.metrics``) without an explicit import: the stable ones and
#: the layers
_NAMESPACES = frozenset({"datasets", "simulate", "metrics", "estimands", "plotting"}) | frozenset(LAYERS)

__all__ = ["SurvivalData", "Preprocessor", "stratified_split", "CSA", "Ensemble", "PotentialOutcomes",
           "DoublyRobust", "LAYERS", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _NAMESPACES:
        return import_module(f"pyrocsa.{name}")
    raise AttributeError(f"module 'pyrocsa' has no attribute {name!r}")
