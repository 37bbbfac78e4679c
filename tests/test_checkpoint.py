"""Saved models (:mod:`pyrocsa.core.checkpoint`): every broken directory raises one ModelFileError that
names the directory and the problem (never torch's or json's own message), and saving is atomic."""

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from pyrocsa import CSA, Ensemble
from pyrocsa.core.checkpoint import FORMAT_VERSION
from pyrocsa.errors import ModelFileError

TINY = dict(hidden=(8,), flow_layers=1, max_epochs=2, batch_size=64, verbose=False)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"age": rng.normal(50, 10, n), "sex": rng.integers(0, 2, n),
                         "time": rng.exponential(100, n) + 1, "event": rng.integers(0, 2, n),
                         "treatment": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def saved(frame, tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CSA(**TINY).fit(frame, "time", "event", "treatment")
    return model, model.save(tmp_path_factory.mktemp("ckpt") / "model")


class Payload:
    """An arbitrary object: reading it back would need weights_only=False (running pickled code)."""


def _copy(saved, tmp_path, name="m"):
    dst = tmp_path / name
    shutil.copytree(saved[1], dst)
    return dst


def _edit_config(d, fn):
    cfg = json.loads((d / "config.json").read_text())
    fn(cfg)
    (d / "config.json").write_text(json.dumps(cfg))


def _load_fails(d, *fragments, cls=CSA):
    with pytest.raises(ModelFileError) as info:
        cls.load(d)
    msg = str(info.value)
    assert str(d) in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert "weights_only" not in msg and "Traceback" not in msg
    # the low-level error is not chained into the traceback (torch's would advise weights_only=False)
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return msg


def test_round_trip_and_format_version(saved, frame):
    model, path = saved
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == FORMAT_VERSION and cfg["class"] == "CSA"
    assert sorted(v["int"] for v in cfg["fitted"]["treatment_levels"]) == [0, 1]
    loaded = CSA.load(path)
    a = model.sample_potential_outcomes(frame, num_samples=3, seed=2)
    b = loaded.sample_potential_outcomes(frame, num_samples=3, seed=2)
    np.testing.assert_array_equal(a.t1, b.t1)


def test_summary_of_a_loaded_model_counts_the_training_events(saved, tmp_path, capsys):
    """A loaded model keeps no training rows; its summary still reports the training events it was fitted
    on (not 0), and a file written before the count was saved says so instead of inventing one."""
    model, path = saved
    assert model.n_events_ == int(model.data_.delta.sum()) > 0
    loaded = CSA.load(path)
    assert loaded.n_events_ == model.n_events_
    loaded.print_summary()
    assert f"events (train) = {model.n_events_}" in capsys.readouterr().out
    old = _copy(saved, tmp_path)
    _edit_config(old, lambda cfg: cfg["fitted"].pop("n_events"))
    CSA.load(old).print_summary()
    assert "events (train) = not recorded" in capsys.readouterr().out


def test_missing_directory_and_files(saved, tmp_path):
    _load_fails(tmp_path / "nowhere", "missing")
    for f in ("config.json", "preprocessing.json", "weights.pt"):
        d = _copy(saved, tmp_path, f"no_{f}")
        (d / f).unlink()
        _load_fails(d, f, "missing")


def test_truncated_and_corrupt_weights(saved, tmp_path):
    d = _copy(saved, tmp_path, "trunc")
    raw = (d / "weights.pt").read_bytes()
    (d / "weights.pt").write_bytes(raw[: len(raw) // 2])
    _load_fails(d, "weights.pt", "not a readable weights file")
    d = _copy(saved, tmp_path, "garbage")
    (d / "weights.pt").write_bytes(b"\x00" * 64)
    _load_fails(d, "weights.pt")


def test_weights_holding_pickled_objects_are_refused(saved, tmp_path):
    d = _copy(saved, tmp_path, "pickle")
    torch.save({"x": Payload()}, d / "weights.pt")
    _load_fails(d, "weights.pt")


def test_wrong_shape_missing_and_extra_weights(saved, tmp_path):
    d = _copy(saved, tmp_path, "shape")
    state = torch.load(d / "weights.pt", weights_only=True)
    name, first = next((k, v) for k, v in state.items() if v.dim() == 2)
    state[name] = torch.zeros(first.shape[0] + 1, first.shape[1])
    torch.save(state, d / "weights.pt")
    _load_fails(d, name, "shape")

    d = _copy(saved, tmp_path, "keys")
    state = torch.load(d / "weights.pt", weights_only=True)
    state.pop(name)
    state["bogus.weight"] = torch.zeros(2)
    torch.save(state, d / "weights.pt")
    _load_fails(d, "missing", "unexpected", "bogus.weight")

    d = _copy(saved, tmp_path, "nan")
    state = torch.load(d / "weights.pt", weights_only=True)
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, d / "weights.pt")
    _load_fails(d, name, "non-finite")


def test_invalid_json_unknown_parameter_and_bad_fields(saved, tmp_path):
    d = _copy(saved, tmp_path, "json")
    (d / "config.json").write_text("{not json")
    _load_fails(d, "config.json", "not valid JSON")

    d = _copy(saved, tmp_path, "unknown")
    _edit_config(d, lambda c: c["params"].update(bogus=1))
    _load_fails(d, "unknown parameter", "bogus")

    d = _copy(saved, tmp_path, "badparam")
    _edit_config(d, lambda c: c["params"].update(objective="nope"))
    _load_fails(d, "invalid parameters", "objective")

    d = _copy(saved, tmp_path, "version")
    _edit_config(d, lambda c: c.update(format_version=99))
    _load_fails(d, "format_version", "99")

    d = _copy(saved, tmp_path, "class")
    _edit_config(d, lambda c: c.update({"class": "CoxTLearner"}))
    _load_fails(d, "class")

    d = _copy(saved, tmp_path, "nfeat")
    _edit_config(d, lambda c: c["fitted"].update(n_features=7))
    _load_fails(d, "n_features")

    d = _copy(saved, tmp_path, "scale")
    _edit_config(d, lambda c: c["fitted"].update(time_scale_="big"))
    _load_fails(d, "time_scale_")

    d = _copy(saved, tmp_path, "pre")
    (d / "preprocessing.json").write_text(json.dumps({"columns": ["age"], "numeric": [["age", {"fill": 0}]],
                                                      "categorical": [], "dropped": []}))
    _load_fails(d, "preprocessing.json", "age")


def test_ensemble_member_names_cannot_escape_the_directory(saved, tmp_path):
    d = tmp_path / "ens"
    d.mkdir()
    shutil.copytree(saved[1], tmp_path / "outside")
    cfg = json.loads((saved[1] / "config.json").read_text())
    params = {"n_members": 1, "seed": 0, "bootstrap": True, "n_jobs": None,
              "estimator": {"class": "CSA", "params": cfg["params"]}}
    (d / "config.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "class": "Ensemble",
                                               "params": params, "members": ["../outside"]}))
    _load_fails(d, "members", cls=Ensemble)
    # a single model's class never reads an ensemble directory
    cfg_csa = {"format_version": FORMAT_VERSION, "class": "CSA", "params": cfg["params"], "members": ["m"]}
    (d / "config.json").write_text(json.dumps(cfg_csa))
    _load_fails(d, "lists ensemble members", "pyrocsa.Ensemble.load")


def test_save_is_atomic_and_replaces_only_models(saved, tmp_path, monkeypatch):
    model, _ = saved
    target = model.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(ModelFileError, match="No space left"):
        model.save(target)
    monkeypatch.undo()
    # the previous model is untouched and no temporary directory is left behind
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    CSA.load(target)
    model.save(target)  # replacing a saved model works
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

    other = tmp_path / "notes"
    other.mkdir()
    (other / "important.txt").write_text("keep me")
    with pytest.raises(ModelFileError, match="not a saved pyrocsa model"):
        model.save(other)
    assert (other / "important.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="not a directory"):
        model.save(tmp_path / "file")


def test_directories_of_the_old_generators_ask_for_a_refit(saved, tmp_path):
    """format 1 (pyrocsa 0.1, noise-MLP generators without a density) cannot be loaded into the exact-density
    model: one named error that says to refit, never a torch shape error."""
    d = _copy(saved, tmp_path, "v1")
    _edit_config(d, lambda c: c.update(format_version=1))
    _load_fails(d, "refit")


def test_step_baselines_round_trip_and_format_4_reads_as_the_smooth_model(tmp_path):
    from pyrocsa.data.simulate import simulate_programme_trial

    frame = simulate_programme_trial(seed=0, n=300).frame
    steps = CSA(**TINY, baseline="steps").fit(frame, "time", "event", "treatment")
    assert steps.baseline_ == "steps"
    loaded = CSA.load(steps.save(tmp_path / "steps"))
    assert loaded.baseline_ == "steps" and loaded.baseline == "steps"
    np.testing.assert_allclose(loaded.predict_rmst(frame, 300.0, treatment=0),
                               steps.predict_rmst(frame, 300.0, treatment=0), rtol=1e-6)
    # a directory written before the step baselines (format 4: no warp buffers, no baseline parameter) is
    # the smooth model it was
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smooth = CSA(**TINY, baseline="smooth").fit(frame, "time", "event", "treatment")
    d = smooth.save(tmp_path / "smooth")
    state = torch.load(d / "weights.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if ".warp_" not in k}, d / "weights.pt")

    def to_4(cfg):
        cfg["format_version"] = 4
        del cfg["params"]["baseline"]

    _edit_config(d, to_4)
    old = CSA.load(d)
    assert old.baseline_ == "smooth" and old.baseline == "smooth"
    np.testing.assert_allclose(old.predict_rmst(frame, 300.0, treatment=1),
                               smooth.predict_rmst(frame, 300.0, treatment=1), rtol=1e-6)
