"""The peer generators of benchmarks/steam_survival.py are optional (arfpy, SDV: ``pyrocsa[peers]``): when a
package is absent the peer is skipped with the reason, and the benchmark still runs the rest."""

import sys
from pathlib import Path

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
