"""Shared test configuration.

Slow statistical checks are marked ``@pytest.mark.slow``; they run in full only with ``--runslow``.
Each slow check has a short version that CI runs (same assertion, smaller data / fewer epochs, with a
tolerance widened to match).
"""

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow statistical checks")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _torch_threads():
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
