"""The CSA Pyro model: shapes, site names, sub-model use, the planar-flow noise, vectorised sampling."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Predictive

from pyrocsa.flows import PlanarFlow, PlanarTransform, planar_noise
from pyrocsa.model import CSAModel
from pyrocsa.nn import ArmGenerator, Encoder


@pytest.fixture(autouse=True)
def _one_thread():
    # the machine is shared: two intra-op threads under load make small nets many times slower
    torch.set_num_threads(1)
    yield


def small_model(p=3, informative=True, **kw):
    torch.manual_seed(0)
    kw.setdefault("noise_dim", 5)
    return CSAModel(p, informative, encoder_hidden=(8, 8), generator_hidden=(8, 12), time_scale=100.0, **kw)


@pytest.mark.parametrize("informative", [True, False])
def test_sites_and_shapes(informative):
    m = small_model(informative=informative).eval()
    x, a = torch.randn(7, 3), torch.tensor([0, 1, 1, 0, 1, 0, 0.0])
    tr = pyro.poutine.trace(m).get_trace(x, a)
    sites = {k: v["value"].shape for k, v in tr.nodes.items() if v["type"] == "sample"}
    assert sites["eps_t"] == (7, 5)
    for s in ("t0", "t1", "t"):
        assert sites[s] == (7,)
        assert (tr.nodes[s]["value"] > 0).all()
    # the factual site picks the received arm
    v = {k: tr.nodes[k]["value"] for k in ("t0", "t1", "t")}
    assert torch.equal(v["t"], torch.where(a > 0.5, v["t1"], v["t0"]))
    if informative:
        assert sites["eps_c"] == (7, 5) and sites["c0"] == (7,) and sites["c1"] == (7,) and sites["c"] == (7,)
    else:
        assert not {"eps_c", "c0", "c1", "c"} & set(sites)
    assert tr.nodes["subjects"]["type"] == "sample" or "subjects" in tr.nodes
    # without treatments there is no factual site
    tr2 = pyro.poutine.trace(m).get_trace(x)
    assert "t" not in tr2.nodes and "t1" in tr2.nodes


def test_user_model_can_call_csa_as_submodel():
    csa = small_model().eval()
    x, a = torch.randn(6, 3), torch.ones(6)

    def user_model(x, a, obs=None):
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
        out = csa(x, a)
        # a plate of the user's own (the CSA model's plate "subjects" was already entered and left)
        with pyro.plate("rows", x.shape[0]):
            return pyro.sample("score", dist.Normal(out["t1"].log() + shift, 1.0), obs=obs)

    tr = pyro.poutine.trace(user_model).get_trace(x, a)
    names = set(tr.nodes)
    assert {"shift", "eps_t", "t0", "t1", "c0", "c1", "t", "score"} <= names
    # "score" depends on "t1" downstream: its distribution's mean is log t1 + shift
    loc = tr.nodes["score"]["fn"].loc
    assert torch.allclose(loc, tr.nodes["t1"]["value"].log() + tr.nodes["shift"]["value"])
    # conditioning the noise fixes the potential times (the generator is a deterministic map of it)
    eps = tr.nodes["eps_t"]["value"]
    tr2 = pyro.poutine.trace(pyro.poutine.condition(user_model, {"eps_t": eps})).get_trace(x, a)
    assert torch.allclose(tr2.nodes["t1"]["value"], tr.nodes["t1"]["value"])


def test_predictive_is_vectorised_and_matches_plain_calls():
    m = small_model().eval()
    x = torch.randn(9, 3)
    pred = Predictive(m, num_samples=13, return_sites=["t0", "t1", "c0", "c1"], parallel=True)(x)
    assert set(pred) == {"t0", "t1", "c0", "c1"}
    for v in pred.values():
        assert v.shape == (13, 9) and torch.isfinite(v).all() and (v > 0).all()
    # eval mode: a (S, N, d) noise tensor gives the same times as S separate (N, d) calls
    r = m.encoder(x)
    eps = m.noise_dist("t").sample((4, 9))
    batched = m.times(r, eps, 1)
    looped = torch.stack([m.times(r, eps[s], 1) for s in range(4)])
    assert torch.allclose(batched, looped, rtol=1e-5, atol=1e-5)


def test_draw_shapes_and_gradients_reach_all_parameters():
    m = small_model().train()
    x = torch.randn(10, 3)
    out = m.draw(x, num_draws=4)
    assert out["r"].shape == (10, 8)
    for s in ("t0", "t1", "c0", "c1"):
        assert out[s].shape == (4, 10)
    (out["t0"].mean() + out["t1"].mean() + out["c0"].mean() + out["c1"].mean()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.event_flow.U.grad.abs().sum() > 0 and m.censor_flow.W.grad.abs().sum() > 0


def test_planar_transform_formula_and_noise_distribution():
    torch.manual_seed(1)
    flow = PlanarFlow(4, init_scale=0.5)
    eps = torch.rand(6, 4)
    expected = eps + torch.tanh(eps @ flow.W.T + flow.b) @ flow.U.T
    assert torch.allclose(PlanarTransform(flow)(eps), expected)
    d = planar_noise(flow)
    assert isinstance(d, dist.TransformedDistribution)
    assert d.event_shape == (4,) and d.has_rsample
    s = d.rsample((3, 5))
    assert s.shape == (3, 5, 4)
    s.sum().backward()
    assert flow.U.grad is not None and flow.b.grad is not None
    # with U = 0 the flow is the identity: the noise is Uniform(0, 1)^d
    with torch.no_grad():
        flow.U.zero_()
    u = planar_noise(flow).sample((20000,))
    assert u.min() >= 0 and u.max() <= 1
    assert abs(float(u.mean()) - 0.5) < 0.01  # sd of the mean = 0.29 / sqrt(80000) ~ 0.001
    with pytest.raises(NotImplementedError):
        d.log_prob(s.detach())


def test_encoder_and_generator_shapes():
    enc = Encoder(5, (7, 6), dropout=0.0).eval()
    assert enc(torch.randn(4, 5)).shape == (4, 6)
    assert enc(torch.randn(2, 4, 5)).shape == (2, 4, 6)
    gen = ArmGenerator(6, 3, (5, 9), early_noise=True).eval()
    assert gen(torch.randn(4, 6), torch.rand(2, 4, 3)).shape == (2, 4)
    with pytest.raises(ValueError, match="two widths"):
        ArmGenerator(6, 3, (5,))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="n_features"):
        CSAModel(0)
    with pytest.raises(ValueError, match="time_scale"):
        CSAModel(3, time_scale=0.0)
    m = small_model(informative=False)
    with pytest.raises(ValueError, match="censoring"):
        m.noise_dist("c")
    with pytest.raises(ValueError, match=r"\(N, p\)"):
        m(torch.randn(3))


def test_softplus_link_gives_positive_times_linear_in_the_output():
    m = small_model(link="softplus").eval()
    x = torch.randn(5, 3)
    r = m.encoder(x)
    eps = m.noise_dist("t").sample((2, 5))
    out = m.event_nets[1](r, eps)
    assert torch.allclose(m.times(r, eps, 1), torch.nn.functional.softplus(out) * 100.0, rtol=1e-5)
    with pytest.raises(ValueError, match="link"):
        CSAModel(3, link="log")


@pytest.mark.parametrize("link", ["exp", "softplus"])
def test_location_scale_generator_sites_and_structure(link):
    """generator="location-scale": same sites and shapes; with a shared scale, every subject's (inverse-link)
    time is mu_a(x) + sigma_a z(eps): for one noise draw, two subjects differ by a constant shift."""
    m = small_model(generator="location-scale", link=link).eval()
    x, a = torch.randn(6, 3), torch.tensor([0, 1, 1, 0, 1, 0.0])
    tr = pyro.poutine.trace(m).get_trace(x, a)
    for s in ("t0", "t1", "c0", "c1", "t", "c"):
        assert tr.nodes[s]["value"].shape == (6,) and (tr.nodes[s]["value"] > 0).all()
    with torch.no_grad():
        r = m.encoder(x)
        noise = m.noise_dist("t").sample((50, 6))
        t = m.times(r, noise[:, :1].expand(50, 6, -1).contiguous(), 1) / m.time_scale  # same eps per subject
        g = t.log() if link == "exp" else torch.log(torch.expm1(t))
        shift = g[:, 1:] - g[:, :1]
        assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-4)
        assert g[:, 0].std() > 1e-3  # and the noise does move the time
    # a per-subject scale breaks the constant shift only through sigma(x): still finite, positive times
    m2 = small_model(generator="location-scale", shared_scale=False).eval()
    assert (m2(x, a)["t"] > 0).all()
    with pytest.raises(ValueError, match="generator"):
        small_model(generator="mlp")


def test_location_scale_single_row_arm_trains():
    """Batch norm needs two rows: a minibatch with one treated subject must still train (location-scale
    heads see one row per subject, not per draw)."""
    m = small_model(generator="location-scale").train()
    x, a = torch.randn(5, 3), torch.tensor([1.0, 0, 0, 0, 0])
    out = m.draw_factual(x, a, num_draws=4)
    assert out["t"].shape == (4, 5) and torch.isfinite(out["t"]).all()


def test_linear_skip_adds_a_linear_term_of_the_covariates_to_the_location():
    """linear_skip=True: mu_a = MLP_a(r) + w_a^T x. Setting w_a shifts each subject's inverse-link time by
    exactly w_a^T x (same noise), the IPM still sees r only, and the skip weights get gradients."""
    m = small_model(generator="location-scale", link="exp", linear_skip=True).eval()
    x, a = torch.randn(6, 3), torch.tensor([0, 1, 1, 0, 1, 0.0])
    noise = m.noise_dist("t").sample((4, 6))
    with torch.no_grad():
        r, g = m.features(x)
        assert r.shape == (6, 8) and g.shape == (6, 11) and torch.equal(g[:, 8:], x)
        before, before0 = m.times(g, noise, 1).log(), m.times(g, noise, 0)
        w = torch.tensor([[0.5, -1.0, 2.0]])
        m.event_nets[1].skip.weight.copy_(w)
        after = m.times(g, noise, 1).log()
        assert torch.allclose(after - before, (x @ w.T).squeeze(-1).expand_as(after), atol=1e-5)
        assert torch.equal(m.times(g, noise, 0), before0)  # arm 0's own skip weights are still zero
    tr = pyro.poutine.trace(m).get_trace(x, a)
    assert tr.nodes["t"]["value"].shape == (6,)
    m.train()
    out = m.draw_factual(x, a, num_draws=3)
    assert out["r"].shape == (6, 8)
    out["t"].log().sum().backward()
    for arm in (0, 1):
        assert m.event_nets[arm].skip.weight.grad.abs().sum() > 0
    # the paper generator has no location: the flag is ignored there
    assert not small_model(generator="paper", linear_skip=True).linear_skip



def test_per_arm_error_law_gives_each_arm_its_own_shape():
    """error_law="per-arm": one NoiseShape per arm. With identical arm location/scale nets, the shared law
    gives identical t0 and t1 for the same noise, the per-arm law does not; gradients reach both laws."""
    shared = small_model(generator="location-scale", error_law="shared").eval()
    per_arm = small_model(generator="location-scale", error_law="per-arm").eval()
    assert isinstance(per_arm.event_shape, torch.nn.ModuleList) and len(per_arm.censor_shape) == 2
    x = torch.randn(5, 3)
    for m in (shared, per_arm):
        m.event_nets[1].load_state_dict(m.event_nets[0].state_dict())
        with torch.no_grad():
            out = m.draw(x, num_draws=3)
        same = torch.allclose(out["t0"], out["t1"])
        assert same == (m is shared)
    per_arm.train()
    out = per_arm.draw_factual(x, torch.tensor([0, 1, 0, 1, 1.0]), num_draws=4)
    out["t"].sum().backward()
    for law in per_arm.event_shape:
        assert law.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="error_law"):
        small_model(generator="location-scale", error_law="pooled")
