"""The ``pyrocsa`` command line: every command end to end on small data, and bad input.

Commands run in-process through ``pyrocsa.cli.main(argv)`` with tiny training budgets (1-2 epochs): these
tests check wiring, files and messages, not model quality (the benchmarks do that).
"""

import json
import subprocess
import sys

import arviz as az
import pandas as pd
import pytest

from pyrocsa.cli import main


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
    # the default CSA is an ensemble of 5: a config naming its members, and one model directory per member
    cfg = json.loads((files / "model" / "config.json").read_text())
    assert "format_version" in cfg
    assert cfg["members"] == [f"member_{k}" for k in range(5)]
    for name in cfg["members"]:
        assert (files / "model" / name / "weights.pt").exists()


def test_predict_writes_ite_table_and_netcdf(files, capsys):
    out, nc = files / "pred.csv", files / "pred.nc"
    assert main(["predict", str(files / "model"), str(files / "truth.csv"), "--out", str(out), "--netcdf",
                 str(nc), "--num-samples", "20", "--horizon", "1000"]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 120
    assert {"ite_mean", "ite_lower", "ite_upper", "rmst_diff_1000"} <= set(pred.columns)
    assert (pred["ite_lower"] <= pred["ite_upper"]).all()
    idata = az.from_netcdf(nc)
    # 20 draws from the 5 saved members: 5 chains (one per member) of 4 draws
    assert idata.posterior_predictive["t1"].shape == (5, 4, 120)


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
        res = subprocess.run([sys.executable, "-m", "pyrocsa.cli", *cmd, "--help"], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0 and "usage: pyrocsa" in res.stdout
    res = subprocess.run([sys.executable, "-m", "pyrocsa.cli", "fit", "missing.csv", "--duration", "t",
                          "--event", "e", "--treatment", "a", "--out", "m"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
