"""Survival plots show the follow-up by default; the extrapolated tail only on request, shaded."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pyrocsa.core.outcomes import PotentialOutcomes  # noqa: E402
from pyrocsa.reports import plotting  # noqa: E402


def _outcomes(follow_up=10.0, seed=0):
    # exponential draws with mean 8 and 12: about 30-45% of them lie beyond the follow-up of 10
    rng = np.random.default_rng(seed)
    n = 50
    t0, t1 = rng.exponential(8.0, (40, n)), rng.exponential(12.0, (40, n))
    observed = pd.DataFrame({"time": np.minimum(rng.exponential(8.0, n), follow_up),
                             "event": rng.integers(0, 2, n), "treatment": rng.integers(0, 2, n)})
    return PotentialOutcomes(t0, t1, observed=observed, follow_up=follow_up)


@pytest.mark.parametrize("plot", [plotting.plot_population_survival, plotting.plot_adjusted_survival])
def test_survival_plots_show_the_follow_up_by_default(plot):
    po = _outcomes()
    ax = plot(po)
    assert ax.get_xlim() == pytest.approx((0.0, 10.0))
    assert not any("extrapolated" in label for label in ax.get_legend_handles_labels()[1])
    # every drawn curve stays within the follow-up
    assert max(float(np.max(line.get_xdata())) for line in ax.get_lines()[:2]) <= 10.0 + 1e-12
    plt.close("all")


@pytest.mark.parametrize("plot", [plotting.plot_population_survival, plotting.plot_adjusted_survival])
def test_survival_plots_extrapolate_on_request_with_the_tail_shaded(plot):
    po = _outcomes()
    ax = plot(po, extrapolate=True)
    right = float(np.quantile(np.concatenate([po.t0.ravel(), po.t1.ravel()]), 0.99))
    assert right > 10.0
    assert ax.get_xlim() == pytest.approx((0.0, right))
    handles, labels = ax.get_legend_handles_labels()
    shade = [h for h, lbl in zip(handles, labels) if "beyond follow-up" in lbl]
    assert len(shade) == 1
    # the shaded span runs from the end of follow-up to the right edge
    ext = shade[0].get_window_extent()  # display units: compare with the data limits mapped the same way
    left_px, right_px = ax.transData.transform([(10.0, 0.0), (right, 0.0)])[:, 0]
    assert ext.x0 == pytest.approx(left_px, abs=0.5) and ext.x1 == pytest.approx(right_px, abs=0.5)
    plt.close("all")


def test_without_a_follow_up_the_curves_run_to_the_draws():
    po = _outcomes()
    bare = PotentialOutcomes(po.t0, po.t1)
    ax = plotting.plot_population_survival(bare)
    right = float(np.quantile(np.concatenate([po.t0.ravel(), po.t1.ravel()]), 0.99))
    assert float(np.max(ax.get_lines()[0].get_xdata())) == pytest.approx(right)
    plt.close("all")
