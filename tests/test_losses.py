"""The CSA objectives: the likelihood objective is the model trace's log-likelihood, the paper's losses
(eqs. 8-11) on hand examples, the IPM, and argument checks."""

import math

import pytest
import torch
from pyro import poutine

from pyrocsa.core.ipm import wasserstein_ipm
from pyrocsa.csa.losses import CSALoss, censoring_loss, event_loss, time_order_loss
from pyrocsa.csa.model import CSAModel

Y = torch.tensor([2.0, 2.0, 2.0, 2.0])
DELTA = torch.tensor([1.0, 1.0, 0.0, 0.0])


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def test_event_loss_hand_example():
    t = torch.tensor([1.0, 3.0, 1.0, 3.0])
    # events: |2-1| = 1, |2-3| = 1; censored at 2: t=1 is too early -> 1, t=3 is consistent -> 0
    assert torch.equal(event_loss(t, Y, DELTA), torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_censoring_loss_is_mirrored():
    c = torch.tensor([1.0, 3.0, 1.0, 3.0])
    # events (censoring time only known to exceed 2): c=1 -> 1, c=3 -> 0; censored: |2 - c| = 1
    assert torch.equal(censoring_loss(c, Y, DELTA), torch.tensor([1.0, 0.0, 1.0, 1.0]))


def test_time_order_loss_hand_example():
    t = torch.tensor([3.0, 1.0, 3.0, 1.0])
    c = torch.tensor([1.0, 3.0, 1.0, 3.0])
    # event: want t <= c (3 vs 1 -> 2; 1 vs 3 -> 0); censored: want c <= t (1 vs 3 -> 0; 3 vs 1 -> 2)
    assert torch.equal(time_order_loss(t, c, DELTA), torch.tensor([2.0, 0.0, 0.0, 2.0]))


def test_ipm_zero_for_identical_clouds_and_grows_with_shift():
    torch.manual_seed(0)
    r = torch.randn(40, 3)
    a = torch.tensor([1.0] * 20 + [0.0] * 20)
    same = torch.cat([r[:20], r[:20]])
    assert float(wasserstein_ipm(same, a)) < 1e-4
    vals = [float(wasserstein_ipm(torch.cat([r[:20] + s, r[20:]]), a)) for s in (0.0, 1.0, 3.0)]
    assert vals[0] < vals[1] < vals[2]


def _model(informative=True):
    torch.manual_seed(0)
    m = CSAModel(2, informative, hidden=(8,), flow_layers=2, log_time_loc=math.log(2.0), log_time_scale=0.5)
    for heads in [m.event_heads] + ([m.censor_heads] if informative else []):
        for h in heads:
            torch.nn.init.normal_(h.out.weight, std=0.3)
    return m.eval()


@pytest.mark.parametrize("informative", [True, False])
def test_likelihood_objective_is_the_negative_trace_log_likelihood(informative):
    m = _model(informative)
    x = torch.randn(4, 2)
    a = torch.tensor([1.0, 0.0, 1.0, 0.0])
    total, comps = CSALoss("likelihood", alpha=0.0)(m, x, a, Y, DELTA)
    trace = poutine.trace(m).get_trace(x, a, Y, DELTA)
    assert float(total) == pytest.approx(-float(trace.log_prob_sum()) / 4, rel=1e-6)
    assert ("censoring" in comps) == informative
    assert comps["factual"] == pytest.approx(comps["event"] + comps.get("censoring", 0.0), rel=1e-6)


def test_ipm_is_added_with_its_weight_and_left_out_of_factual():
    m = _model()
    x = torch.randn(4, 2) * 3
    a = torch.tensor([1.0, 0.0, 1.0, 0.0])
    _, plain = CSALoss("likelihood", alpha=0.0)(m, x, a, Y, DELTA)
    total, comps = CSALoss("likelihood", alpha=2.0)(m, x, a, Y, DELTA)
    assert comps["ipm"] > 0 and comps["factual"] == pytest.approx(plain["factual"], rel=1e-6)
    assert float(total) == pytest.approx(plain["factual"] + 2.0 * comps["ipm"], rel=1e-5)


def test_paper_objective_scores_one_reparameterised_draw_per_subject():
    m = _model().train()
    x = torch.randn(4, 2)
    a = torch.tensor([1.0, 0.0, 1.0, 0.0])
    torch.manual_seed(3)
    total, comps = CSALoss("paper", alpha=0.0)(m, x, a, Y, DELTA)
    assert set(comps) >= {"event", "censoring", "time_order", "factual", "total"}
    total.backward()
    assert all(p.grad is not None for p in m.event_heads.parameters())
    # the same draws by hand: the factual arm's rsample, divided by the time scale
    torch.manual_seed(3)
    r = m.representation(x)
    t = torch.where(a > 0.5, m.time_dist(r, x, 1).rsample(), m.time_dist(r, x, 0).rsample()) / m.time_scale
    assert comps["event"] == pytest.approx(float(event_loss(t, Y / m.time_scale, DELTA).mean()), rel=1e-5)


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="objective"):
        CSALoss("mse")
    with pytest.raises(ValueError, match="alpha"):
        CSALoss("paper", alpha=-1)
