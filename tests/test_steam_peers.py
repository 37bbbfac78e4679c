"""The peer generators of benchmarks/steam_survival.py are optional (arfpy, SDV: ``pyrocsa[peers]``): when a
package is absent the peer is skipped with the reason, and the benchmark still runs the rest."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds benchmarks/
from benchmarks import steam_survival as bench  # noqa: E402


@pytest.fixture
def no_peers(monkeypatch):
    for mod in ("arfpy", "sdv"):
        monkeypatch.setitem(sys.modules, mod, None)  # `import arfpy` now raises ImportError


def test_absent_peer_packages_are_skipped_with_a_reason(no_peers):
    for peer in bench.PEERS:
        reason = bench.JointPeer.available(peer)
        assert reason is not None and "pyrocsa[peers]" in reason
    skipped = {}
    raw = bench.run_dataset("actg", 0, ["arf", "ctgan", "bootstrap"], ["weibull"], 1, ["cox-t"],
                            skipped=skipped)
    assert set(skipped) == {"arf", "ctgan"} and "arfpy" in skipped["arf"] and "sdv" in skipped["ctgan"]
    assert raw.empty


def test_present_peer_package_is_not_skipped():
    pytest.importorskip("sdv")
    assert bench.JointPeer.available("sdv-copula") is None


def test_leaf_size_is_named_in_the_row_label():
    assert bench.job_label("steam", "default", "trees", None) == "STEAM-survival (default)"
    assert bench.job_label("steam", "default", "trees", 20) == "STEAM-survival (default, trees leaf 20)"
    assert bench.job_label("steam-privacy", "weibull", "trees", 5) == \
        "STEAM-survival (weibull, trees leaf 5), privacy=0.05"
    assert bench.job_label("generic", None, "trees", 20) == "generic (trees leaf 20 on X, A, Y, delta)"
    with pytest.raises(ValueError, match="unknown generator"):
        bench.job_label("nope", None, "trees", None)


def test_resume_measures_only_the_missing_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "sdmetrics_check", lambda *a: {})  # ~15 s, and not what is tested here
    out = tmp_path / "r.md"
    common = ["--generators", "bootstrap", "--datasets", "actg", "--learners", "cox-t", "--out", str(out)]
    bench.main(["--runs", "1", *common])
    first = pd.read_csv(out.with_suffix(".csv"))
    assert list(first.run) == [0]
    bench.main(["--runs", "2", "--resume", *common])
    both = pd.read_csv(out.with_suffix(".csv"))
    assert list(both.run) == [0, 1]
    # split 0 was kept, not measured again: its timing is the first run's, to the last digit
    assert both.loc[0, "seconds"] == first.loc[0, "seconds"]
    assert "2 runs" in out.read_text()
