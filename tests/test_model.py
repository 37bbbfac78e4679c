"""The CSA Pyro model: site names and shapes, the trace's log-likelihood, conditioning, sub-model use,
vectorised sampling, gradients."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive

from pyrocsa.csa.distributions import FlowTime, RightCensored
from pyrocsa.csa.model import CSAModel


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def small_model(p=3, informative=True, **kw):
    torch.manual_seed(0)
    m = CSAModel(p, informative, hidden=(8, 8), flow_layers=2, log_time_loc=math.log(100.0),
                 log_time_scale=0.8, **kw)
    # move the zero-initialised heads off the identity so that the arms and subjects differ
    for heads in [m.event_heads] + ([m.censor_heads] if informative else []):
        for h in heads:
            torch.nn.init.normal_(h.out.weight, std=0.3)
            torch.nn.init.normal_(h.out.bias, std=0.3)
    return m


@pytest.mark.parametrize("informative", [True, False])
def test_sites_and_shapes(informative):
    m = small_model(informative=informative).eval()
    x, a = torch.randn(7, 3), torch.tensor([0, 1, 1, 0, 1, 0, 0.0])
    tr = poutine.trace(m).get_trace(x, a)
    for s in ("t0", "t1"):
        assert tr.nodes[s]["type"] == "sample" and isinstance(tr.nodes[s]["fn"], FlowTime)
        assert tr.nodes[s]["value"].shape == (7,) and (tr.nodes[s]["value"] > 0).all()
    assert tr.nodes["representation"]["value"].shape == (7, 8)
    v = {k: tr.nodes[k]["value"] for k in ("t0", "t1", "t")}
    assert torch.equal(v["t"], torch.where(a > 0.5, v["t1"], v["t0"]))
    assert ({"c0", "c1", "c"} <= set(tr.nodes)) == informative
    assert "subjects" in tr.nodes
    assert "t" not in poutine.trace(m).get_trace(x).nodes


def test_trace_log_likelihood_is_the_right_censored_likelihood():
    """Scoring data: each arm's site scores only its own rows, events by log f, censored rows by log S; the
    censoring sites mirror it. The trace's log_prob_sum is the hand-computed sum."""
    m = small_model().eval()
    x = torch.randn(6, 3)
    a = torch.tensor([0, 1, 1, 0, 1, 0.0])
    y = torch.tensor([50.0, 80.0, 120.0, 30.0, 200.0, 90.0])
    d = torch.tensor([1, 0, 1, 1, 0, 0.0])
    tr = poutine.trace(m).get_trace(x, a, y, d)
    r = m.representation(x)
    expected = 0.0
    for i in range(6):
        arm = int(a[i])
        for kind, observed in (("t", d[i]), ("c", 1 - d[i])):
            law = m.time_dist(r, x, arm, kind)
            lp = law.log_prob(y)[i] if observed > 0.5 else law.log_survival(y)[i]
            expected += float(lp)
    assert float(tr.log_prob_sum()) == pytest.approx(expected, rel=1e-5)
    for s in ("t0", "t1", "c0", "c1"):
        fn = tr.nodes[s]["fn"]
        assert tr.nodes[s]["is_observed"] and isinstance(getattr(fn, "base_dist", fn), RightCensored)
    # the mask: arm 0's site counts the rows that received arm 0 only
    tr.compute_log_prob()
    lp0 = tr.nodes["t0"]["log_prob"]
    assert (lp0[a > 0.5] == 0).all() and (lp0[a < 0.5] != 0).all()


def test_conditioning_a_potential_outcome_and_predictive_shapes():
    m = small_model().eval()
    x = torch.randn(9, 3)
    pred = Predictive(m, num_samples=13, return_sites=["t0", "t1", "c0", "c1"], parallel=True)(x)
    assert set(pred) == {"t0", "t1", "c0", "c1"}
    for v in pred.values():
        assert v.shape == (13, 9) and torch.isfinite(v).all() and (v > 0).all()
    # condition t1 on given values: the trace holds them and scores them under arm 1's law
    fixed = torch.full((9,), 42.0)
    tr = poutine.trace(poutine.condition(m, {"t1": fixed})).get_trace(x)
    assert torch.equal(tr.nodes["t1"]["value"], fixed)
    law = m.time_dist(m.representation(x), x, 1)
    assert torch.allclose(tr.nodes["t1"]["fn"].log_prob(fixed), law.log_prob(fixed))


def test_user_model_can_call_csa_as_submodel():
    csa = small_model().eval()
    x, a = torch.randn(6, 3), torch.ones(6)

    def user_model(x, a, obs=None):
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
        out = csa(x, a)
        with pyro.plate("rows", x.shape[0]):
            return pyro.sample("score", dist.Normal(out["t1"].log() + shift, 1.0), obs=obs)

    tr = poutine.trace(user_model).get_trace(x, a)
    assert {"shift", "t0", "t1", "c0", "c1", "t", "score"} <= set(tr.nodes)
    loc = tr.nodes["score"]["fn"].loc
    assert torch.allclose(loc, tr.nodes["t1"]["value"].log() + tr.nodes["shift"]["value"])
    # poutine.do on the potential outcome: downstream sites see the intervened value
    tr2 = poutine.trace(poutine.do(user_model, {"t1": torch.full((6,), 10.0)})).get_trace(x, a)
    assert torch.allclose(tr2.nodes["score"]["fn"].loc, math.log(10.0) + tr2.nodes["shift"]["value"])


def test_gradients_of_the_likelihood_reach_every_parameter():
    m = small_model().train()
    x = torch.randn(10, 3)
    a = torch.tensor([0, 1] * 5, dtype=torch.float32)
    y = torch.linspace(20, 300, 10)
    d = torch.tensor([1, 0] * 5, dtype=torch.float32)
    tr = poutine.trace(m).get_trace(x, a, y, d)
    (-tr.log_prob_sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="n_features"):
        CSAModel(0)
    with pytest.raises(ValueError, match="log_time_scale"):
        CSAModel(2, log_time_scale=0.0)
    with pytest.raises(ValueError, match="flow_layers"):
        CSAModel(2, flow_layers=-1)
    m = small_model(informative=False)
    with pytest.raises(ValueError, match="censoring"):
        m.time_dist(m.representation(torch.randn(2, 3)), torch.randn(2, 3), 0, "c")
    with pytest.raises(ValueError, match="scoring"):
        m(torch.randn(2, 3), duration=torch.ones(2))
    with pytest.raises(ValueError, match=r"\(N, p\)"):
        m(torch.randn(3))
