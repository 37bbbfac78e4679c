"""The public-trial loaders (pyrocsa.data.trials): documented columns, the arms, nothing missing.

SurvSet (colon, pbc, veteran) and scikit-survival (gbsg2) are optional (``pyrocsa[trials]``): their trials
are skipped with the reason when the package is absent."""

import importlib.util

import numpy as np
import pytest

from pyrocsa.data.trials import TRIALS, load_trial

NEEDS = {"colon": "SurvSet", "pbc": "SurvSet", "veteran": "SurvSet", "gbsg2": "sksurv"}
#: rows and patients per arm (control, treated) in the published data
SIZES = {"colon": (312, 295), "pbc": (154, 158), "veteran": (69, 68), "rossi": (216, 216),
         "actg175": (532, 524), "gbsg2": (440, 246)}


@pytest.mark.parametrize("name", sorted(TRIALS))
def test_loader_returns_the_documented_columns(name):
    package = NEEDS.get(name)
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"trial '{name}' needs the optional package {package} (pip install 'pyrocsa[trials]')")
    trial = load_trial(name)
    f = trial.frame
    assert list(f.columns) == ["time", "event", "treatment", *trial.covariates]
    assert (trial.duration_col, trial.event_col, trial.treatment_col) == ("time", "event", "treatment")
    assert (f.time > 0).all() and set(f.event.unique()) <= {0, 1} and set(f.treatment.unique()) == {0, 1}
    assert not f.isna().any().any()
    assert tuple(np.bincount(f.treatment)) == SIZES[name]
    assert trial.dropped and all(isinstance(v, str) and v for v in trial.dropped.values())
    assert not set(trial.covariates) & set(trial.dropped)  # nothing both kept and dropped
    assert trial.randomised == (name != "gbsg2")


def test_unknown_trial_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        load_trial("nope")
