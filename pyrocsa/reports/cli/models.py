"""The models the commands build and read: one CSA-INFO fit or an ensemble of them, and a saved model.

``--ensemble-size K`` (``demo``, ``fit``) wraps the CSA in a :class:`pyrocsa.core.ensemble.Ensemble` of K
bootstrap fits; ``predict`` and ``evaluate`` read either kind of model directory, and check that the
requested draws split evenly across its members.
"""

from __future__ import annotations

import json

from .errors import CLIError
from .files import _model_dir


def _csa(n_members: int, **config):
    """``CSA(**config)``, or for ``--ensemble-size K > 1`` an ``Ensemble`` of K such fits (bootstrap
    members seeded from the same seed)."""
    from pyrocsa.core.ensemble import Ensemble
    from pyrocsa.csa.estimator import CSA

    model = CSA(**config)
    if n_members == 1:
        return model
    return Ensemble(model, n_members=n_members, seed=config.get("seed", 0))


def _load_model(path: str, num_samples: int):
    """The model saved in ``path``: a CSA, or an Ensemble of them (``pyrocsa fit --ensemble-size K``)."""
    from pyrocsa.core.ensemble import Ensemble
    from pyrocsa.csa.estimator import CSA

    d = _model_dir(path)
    try:
        saved = json.loads((d / "config.json").read_text()).get("class")
    except (OSError, ValueError, AttributeError):
        saved = None  # CSA.load names the problem
    model = (Ensemble if saved == "Ensemble" else CSA).load(d)
    k = len(getattr(model, "members_", None) or []) or 1
    if num_samples % k:
        raise CLIError(f"--num-samples {num_samples} is not divisible by the {k} members of the model in "
                       f"'{path}' (draws are split evenly across them; use e.g. "
                       f"{k * max(1, num_samples // k)})")
    return model
