"""The ``pyrocsa`` command line: every command end to end on small data, and bad input.

Commands run in-process through ``pyrocsa.reports.cli.main(argv)`` with tiny training budgets (1-2 epochs):
these
tests check wiring, files and messages, not model quality (the benchmarks do that).
"""

import json
import subprocess
import sys

import arviz as az
import pandas as pd
import pytest

from pyrocsa.reports.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert main(["simulate", "--out", str(d / "sim.csv"), "--n", "240", "--seed", "1"]) == 0
    assert main(["simulate", "--out", str(d / "truth.csv"), "--n", "120", "--seed", "2", "--truth"]) == 0
    assert main(["fit", str(d / "sim.csv"), "--duration", "time", "--event", "event", "--treatment",
                 "treatment", "--out", str(d / "model"), "--epochs", "2", "--quiet"]) == 0
    return d


def test_simulate_writes_csv_with_truth(files):
    sim = pd.read_csv(files / "truth.csv")
    assert len(sim) == 120
    assert {"time", "event", "treatment", "true_t0", "true_t1", "propensity"} <= set(sim.columns)
    assert sim["time"].gt(0).all() and set(sim["event"].unique()) <= {0, 1}


def test_fit_writes_model_directory(files):
    # the default CSA is one model: config, preprocessing and weights
    cfg = json.loads((files / "model" / "config.json").read_text())
    assert "format_version" in cfg and cfg["class"] == "CSA" and "members" not in cfg
    assert (files / "model" / "weights.pt").exists() and (files / "model" / "preprocessing.json").exists()


def test_fit_reports_the_kaplan_meier_check(files, capsys):
    assert main(["fit", str(files / "sim.csv"), "--duration", "time", "--event", "event", "--treatment",
                 "treatment", "--out", str(files / "model_check"), "--epochs", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fit check on the training rows" in out
    assert "KM band, arm 0 = ratio" in out and "KM band, arm 1 = ratio" in out and "D-calibration p" in out


def test_fit_baseline_steps_is_saved_and_loaded(files):
    assert main(["fit", str(files / "sim.csv"), "--duration", "time", "--event", "event", "--treatment",
                 "treatment", "--out", str(files / "model_steps"), "--epochs", "2", "--baseline", "steps",
                 "--quiet"]) == 0
    cfg = json.loads((files / "model_steps" / "config.json").read_text())
    assert cfg["params"]["baseline"] == "steps"
    from pyrocsa import CSA

    assert CSA.load(files / "model_steps").baseline_ == "steps"


def test_predict_writes_ite_table_and_netcdf(files, capsys):
    out, nc = files / "pred.csv", files / "pred.nc"
    assert main(["predict", str(files / "model"), str(files / "truth.csv"), "--out", str(out), "--netcdf",
                 str(nc), "--num-samples", "20", "--horizon", "1000"]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 120
    assert {"ite_mean", "ite_lower", "ite_upper", "rmst_diff_1000"} <= set(pred.columns)
    assert (pred["ite_lower"] <= pred["ite_upper"]).all()
    idata = az.from_netcdf(nc)
    # 20 draws from the one saved model: one chain
    assert idata.posterior_predictive["t1"].shape == (1, 20, 120)


def test_evaluate_prints_metrics_and_json(files, capsys):
    js = files / "metrics.json"
    assert main(["evaluate", str(files / "model"), str(files / "truth.csv"), "--duration", "time", "--event",
                 "event", "--treatment", "treatment", "--true-t0", "true_t0", "--true-t1", "true_t1",
                 "--num-samples", "20", "--json", str(js)]) == 0
    got = json.loads(js.read_text())
    for key in ("c_index_arm0", "c_index_arm1", "d_calibration_p_value", "hr", "hr_draws",
                "pehe_expected_lifetime", "coverage90_t0"):
        assert key in got and got[key] == got[key]  # present and not NaN
    assert "c_index_arm0" in capsys.readouterr().out


def test_synthesize_writes_same_columns(files):
    out = files / "syn.csv"
    assert main(["synthesize", str(files / "sim.csv"), "--duration", "time", "--event", "event",
                 "--treatment", "treatment", "--n", "80", "--epochs", "1", "--out", str(out)]) == 0
    syn, real = pd.read_csv(out), pd.read_csv(files / "sim.csv")
    assert len(syn) == 80 and list(syn.columns) == list(real.columns)
    assert syn["time"].le(real["time"].max() + 1e-9).all()


def test_demo_writes_plots(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--num-samples", "10", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trial Cox HR" in out and "RMST@1000" in out
    for name in ("actg_rct.png", "actg_adjusted_survival.png", "actg_synthetic.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_the_parser_is_assembled_from_one_module_per_command():
    """build_parser() has exactly the six commands, each added by its module's add_parser and run by its
    run (the package's import paths stay those of the console script and the docs)."""
    import argparse
    import importlib

    from pyrocsa.reports import cli

    names = ["demo", "fit", "predict", "simulate", "synthesize", "evaluate"]
    modules = [importlib.import_module(f"pyrocsa.reports.cli.{n}") for n in names]
    assert list(cli.COMMANDS) == modules
    assert all(callable(m.add_parser) and callable(m.run) for m in modules)
    parser = cli.build_parser()
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(sub) == 1 and list(sub[0].choices) == names
    for name, module in zip(names, modules):
        assert sub[0].choices[name].prog == f"pyrocsa {name}"
        assert sub[0].choices[name].get_default("func") is module.run
    assert parser.parse_args(["simulate", "--out", "x.csv"]).func is modules[3].run
    assert cli.main is importlib.import_module("pyrocsa.reports.cli.app").main
    assert issubclass(cli.CLIError, Exception) and cli.DEMO_TIMES == (500.0, 1000.0)


@pytest.mark.parametrize("argv, message", [
    (["fit", "nope.csv", "--duration", "t", "--event", "e", "--treatment", "a", "--out", "m"],
     "does not exist"),
    (["predict", "no_model_dir", "x.csv", "--out", "p.csv"], "does not exist"),
    (["simulate", "--out", "x.csv", "--n", "0"], "--n must be a positive integer"),
])
def test_bad_input_exits_nonzero_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("pyrocsa: error:") and len(err.splitlines()) == 1


def test_bad_column_names_the_column(files, capsys):
    assert main(["fit", str(files / "sim.csv"), "--duration", "days", "--event", "event", "--treatment",
                 "treatment", "--out", str(files / "m2"), "--epochs", "1", "--quiet"]) == 2
    assert "'days'" in capsys.readouterr().err


def test_console_script_help_without_traceback():
    for cmd in ([], ["demo"], ["fit"], ["predict"], ["simulate"], ["synthesize"], ["evaluate"]):
        res = subprocess.run([sys.executable, "-m", "pyrocsa", *cmd, "--help"], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0 and "usage: pyrocsa" in res.stdout
    res = subprocess.run([sys.executable, "-m", "pyrocsa", "fit", "missing.csv", "--duration", "t",
                          "--event", "e", "--treatment", "a", "--out", "m"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr


# -- issue 17: validation before work, one line per failure, never a traceback ------------------------------
def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if not ln.startswith("pyrocsa: warning:")]
    assert len(lines) == 1 and lines[0].startswith("pyrocsa: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


FIT = ["--duration", "time", "--event", "event", "--treatment", "treatment"]


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if a command starts training."""
    from pyrocsa import CSA

    def fit(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")

    monkeypatch.setattr(CSA, "fit", fit)


def test_unwritable_out_is_found_before_training(files, tmp_path, capsys, no_training):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["fit", str(files / "sim.csv"), *FIT, "--out", str(blocker / "model"), "--epochs", "1"]) == 2
    _one_line_error(capsys, "--out", "is a file, not a directory")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("x")
    assert main(["fit", str(files / "sim.csv"), *FIT, "--out", str(notes), "--epochs", "1"]) == 2
    _one_line_error(capsys, "--out", "not a saved pyrocsa model")
    assert (notes / "keep.txt").read_text() == "x"


@pytest.mark.parametrize("content, message", [("", "is empty"), ("time,event,treatment\n", "no data rows"),
                                              ('a,b\n1,"2\n', "could not be parsed")])
def test_bad_csv_names_the_file(tmp_path, capsys, content, message, no_training):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    assert main(["fit", str(f), *FIT, "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, str(f), message)


@pytest.mark.parametrize("extra, message", [
    (["--event", "treatment"], "--event and --treatment both name column 'treatment'"),
    (["--covariates", "age,nope"], "--covariates 'nope'"),
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--alpha", "-1"], "--alpha must be a number >= 0, 'auto' or 'nn-proxy'"),
    (["--seed", "-2"], "--seed must be a non-negative integer"),
])
def test_bad_options_are_one_line_before_training(files, tmp_path, capsys, extra, message, no_training):
    argv = ["fit", str(files / "sim.csv"), *FIT, "--out", str(tmp_path / "m"), *extra]
    assert main(argv) == 2
    _one_line_error(capsys, message)


def test_non_finite_loss_is_one_line(files, tmp_path, capsys, monkeypatch):
    from pyrocsa import CSA

    def diverge(self, *args, **kwargs):  # what pyrocsa.core.training raises when a loss turns NaN
        raise RuntimeError("non-finite training loss (nan) at epoch 3; lower the learning rate")

    monkeypatch.setattr(CSA, "fit", diverge)
    assert main(["fit", str(files / "sim.csv"), *FIT, "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, "non-finite training loss", "training diverged")
    assert not (tmp_path / "m").exists()


def test_unexpected_errors_are_one_line_and_debug_shows_them(files, tmp_path, capsys, monkeypatch):
    from pyrocsa import CSA

    def bug(self, *args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(CSA, "fit", bug)
    argv = ["fit", str(files / "sim.csv"), *FIT, "--out", str(tmp_path / "m")]
    assert main(argv) == 1
    _one_line_error(capsys, "internal error: KeyError", "--debug")
    with pytest.raises(KeyError):
        main(argv + ["--debug"])
    with pytest.raises(KeyError):
        main(["--debug"] + argv)


def test_corrupt_model_directory_is_one_line(files, tmp_path, capsys):
    import shutil

    bad = tmp_path / "model"
    shutil.copytree(files / "model", bad)
    (bad / "weights.pt").write_bytes(b"truncated")
    assert main(["predict", str(bad), str(files / "truth.csv"), "--out", str(tmp_path / "p.csv"),
                 "--num-samples", "10"]) == 2
    line = _one_line_error(capsys, str(bad), "weights.pt")
    assert "weights_only" not in line


def test_fit_ensemble_size_saves_an_ensemble_that_predict_reads(files, tmp_path, capsys):
    """--ensemble-size K > 1 builds and saves a pyrocsa.Ensemble of K CSAs; predict reads it (the draws
    split over the members, one chain each) and refuses a --num-samples they cannot share; --stream refuses
    an ensemble (bootstrap resampling needs the rows in memory)."""
    m = tmp_path / "ens"
    assert main(["fit", str(files / "sim.csv"), *FIT, "--out", str(m), "--epochs", "1",
                 "--ensemble-size", "2", "--quiet"]) == 0
    cfg = json.loads((m / "config.json").read_text())
    assert cfg["class"] == "Ensemble" and cfg["params"]["n_members"] == 2 and len(cfg["members"]) == 2
    out, nc = tmp_path / "p.csv", tmp_path / "p.nc"
    assert main(["predict", str(m), str(files / "truth.csv"), "--out", str(out), "--netcdf", str(nc),
                 "--num-samples", "4"]) == 0
    assert len(pd.read_csv(out)) == 120
    assert az.from_netcdf(nc).posterior_predictive["t1"].shape == (2, 2, 120)
    capsys.readouterr()
    assert main(["predict", str(m), str(files / "truth.csv"), "--out", str(out), "--num-samples", "5"]) == 2
    _one_line_error(capsys, "not divisible by the 2 members")
    assert main(["fit", str(files / "sim.csv"), *FIT, "--out", str(tmp_path / "s"), "--stream",
                 "--ensemble-size", "2", "--quiet"]) == 2
    _one_line_error(capsys, "--stream cannot be combined with --ensemble-size 2")


def test_evaluate_with_a_text_treatment(files, tmp_path, capsys):
    sim = pd.read_csv(files / "sim.csv")
    sim["treatment"] = sim["treatment"].map({1: "drug", 0: "placebo"})
    sim.to_csv(tmp_path / "text.csv", index=False)
    one = sim.iloc[[0]]
    one.to_csv(tmp_path / "one.csv", index=False)
    assert main(["fit", str(tmp_path / "text.csv"), *FIT, "--treated-value", "drug", "--out",
                 str(tmp_path / "m"), "--epochs", "1", "--ensemble-size", "1", "--quiet"]) == 0
    js = tmp_path / "metrics.json"
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "text.csv"), *FIT, "--treated-value", "drug",
                 "--num-samples", "10", "--json", str(js)]) == 0
    got = json.loads(js.read_text())
    assert got["c_index_arm0"] == got["c_index_arm0"] and got["c_index_arm1"] == got["c_index_arm1"]
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "m"), str(tmp_path / "text.csv"), *FIT, "--treated-value",
                 "placebo", "--num-samples", "10"]) == 2
    _one_line_error(capsys, "--treated-value 'placebo' is not the model's treated arm 'drug'")
    # a one-patient file through the saved model (its treatment labels were saved with it)
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "one.csv"), "--out", str(tmp_path / "p.csv"),
                 "--num-samples", "10"]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 1


def test_console_script_never_prints_a_traceback(tmp_path):
    (tmp_path / "f").write_text("x")
    cases = [["fit", "missing.csv", *FIT, "--out", "m"],
             ["simulate", "--out", str(tmp_path / "f" / "x.csv")],
             ["predict", str(tmp_path / "f"), "x.csv", "--out", "p.csv"],
             ["fit", "--epochs", "many"]]
    import os
    from pathlib import Path

    import pyrocsa

    root = str(Path(pyrocsa.__file__).resolve().parent.parent)  # this checkout, from any working directory
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    for argv in cases:
        res = subprocess.run([sys.executable, "-m", "pyrocsa", *argv], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path, env=env)
        assert res.returncode == 2, (argv, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
