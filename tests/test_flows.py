"""The exact-density time laws: 1-D planar layers, FlowTime and RightCensored against closed forms and
numerical integration."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from pyrocsa.core.tail import fit_tail, window_times
from pyrocsa.csa.distributions import FlowTime, RightCensored
from pyrocsa.csa.flows import PlanarLayer, planar_params


def _layers(n, k, seed=0, spread=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [planar_params(torch.randn(n, 3, generator=g, dtype=dtype) * spread) for _ in range(k)]


def test_planar_layer_is_the_planar_map_and_increasing():
    c, w, m = torch.tensor([0.7, -0.9, 3.0]), torch.tensor([0.5, 2.0, 0.1]), torch.tensor([0.0, 1.0, -2.0])
    layer = PlanarLayer(c, w, m)
    x = torch.tensor([0.3, -1.2, 4.0])
    u, b = c / w, -w * m  # the textbook parameters y = x + u tanh(w x + b), with u w = c > -1
    assert torch.allclose(layer(x), x + u * torch.tanh(w * x + b))
    grid = torch.linspace(-10, 10, 2001).unsqueeze(-1).expand(-1, 3)
    assert (layer(grid).diff(dim=0) > 0).all()


@pytest.mark.parametrize("spread", [0.5, 2.0, 5.0])
def test_planar_inverse_to_1e6_including_extreme_slopes(spread):
    n = 4000
    c, w, m = planar_params(torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
                            * spread)
    layer = PlanarLayer(c, w, m)
    x = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(14)) * 4
    assert (layer.inv(layer(x)) - x).abs().max() < 1e-6
    # float32 too: the root is found in float64 and returned in the input dtype. Rounding y to float32
    # (relative 6e-8) moves the root by about 6e-8 |y| / (dy/dx), and a layer with c near -1 has slope
    # near 0.001, so the forward error is bounded after scaling by the local slope (64 ulp of slack).
    layer32 = PlanarLayer(c.float(), w.float(), m.float())
    x32 = x.float()
    y32 = layer32(x32)
    slope = layer.log_abs_det_jacobian(x, layer(x)).exp()
    forward = (layer32.inv(y32).double() - x).abs() * slope
    assert (forward < 64 * 6e-8 * (1 + y32.double().abs())).all()


def test_planar_log_det_matches_autograd_and_inverse_gradient_is_implicit():
    c, w, m = (v.requires_grad_() for v in planar_params(torch.randn(50, 3, dtype=torch.float64)))
    layer = PlanarLayer(c, w, m)
    x = torch.randn(50, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    (dydx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    assert torch.allclose(layer.log_abs_det_jacobian(x, y), dydx.log())
    # d x / d y of the inverse = 1 / f'(x), and d x / d theta = -(d f / d theta) / f'(x)
    y0 = y.detach().requires_grad_()
    xi = layer.inv(y0)
    (dxdy,) = torch.autograd.grad(xi.sum(), y0, retain_graph=True)
    assert torch.allclose(dxdy, 1 / dydx.detach(), rtol=1e-8)
    (dxdm,) = torch.autograd.grad(xi.sum(), m, retain_graph=True)
    (dfdm,) = torch.autograd.grad(layer(x.detach()).sum(), m)
    assert torch.allclose(dxdm, -dfdm / dydx.detach(), rtol=1e-6)


def test_identity_flow_is_the_weibull_aft():
    # -g is the minimum extreme-value law, so log T = loc - scale * g makes T Weibull with shape 1 / scale
    # and scale exp(loc)
    f64 = dict(dtype=torch.float64)
    loc, scale = torch.tensor([0.2, 1.5, -0.5], **f64), torch.tensor([0.7, 1.1, 0.3], **f64)
    law = FlowTime(loc, scale, [])
    ref = torch.distributions.Weibull(loc.exp(), 1.0 / scale)
    t = torch.tensor([[0.5, 3.0, 0.2], [2.0, 10.0, 1.0]], **f64)
    assert torch.allclose(law.log_prob(t), ref.log_prob(t), atol=1e-10, rtol=1e-10)
    assert torch.allclose(law.cdf(t), ref.cdf(t), atol=1e-12)
    assert torch.allclose(law.log_survival(t), torch.log1p(-ref.cdf(t)), atol=1e-10)
    assert torch.allclose(law.icdf(ref.cdf(t)), t, rtol=1e-9)
    # zero-initialised planar parameters are the identity too (raw 0 -> c = 0), outer layers included
    ident = [planar_params(torch.zeros(3, 3, **f64))]
    law0 = FlowTime(loc, scale, ident, ident)
    assert torch.allclose(law0.log_prob(t), ref.log_prob(t), atol=1e-10, rtol=1e-10)
    # the standardisation: shift and spread act on log-time
    lawz = FlowTime((loc - 0.3) / 2.0, scale / 2.0, [], [], shift=0.3, spread=2.0)
    assert torch.allclose(lawz.log_prob(t), ref.log_prob(t), atol=1e-10, rtol=1e-10)


def test_constant_scale_with_outer_layers_is_a_cox_model():
    # identity conditional layers and a common scale: log H(t | x) = log H0(t) - loc(x) / scale, whatever
    # the outer layers, so the hazard ratio between two subjects is exp(-(loc1 - loc0) / scale) at all t
    f64 = dict(dtype=torch.float64)
    outer = _layers(1, 3, seed=5, spread=1.0)
    outer = [tuple(v[0] for v in layer) for layer in outer]  # one shared set of outer layers
    loc = torch.tensor([0.0, 0.8], **f64)
    law = FlowTime(loc, torch.full((2,), 0.6, **f64), [], outer)
    t = torch.logspace(-1.5, 1.5, 25, dtype=torch.float64).unsqueeze(-1).expand(-1, 2)
    log_h = torch.log(-law.log_survival(t))
    assert torch.allclose(log_h[:, 1] - log_h[:, 0], torch.full((25,), -0.8 / 0.6, **f64), atol=1e-9)


def test_density_integrates_to_the_cdf_and_survival_is_its_complement():
    loc = torch.tensor([0.3, -0.4], dtype=torch.float64)
    scale = torch.tensor([0.8, 1.3], dtype=torch.float64)
    law = FlowTime(loc, scale, _layers(2, 4, seed=3, spread=1.5))
    for i in range(2):
        def pdf(t, i=i):
            v = torch.full((2,), float(t), dtype=torch.float64)
            return float(law.log_prob(v)[i].exp())
        for t in (0.3, 1.0, 4.0):
            mass, _ = integrate.quad(pdf, 0.0, t, limit=200)
            v = torch.full((2,), t, dtype=torch.float64)
            assert mass == pytest.approx(float(law.cdf(v)[i]), abs=1e-6)
            assert math.exp(float(law.log_survival(v)[i])) == pytest.approx(1 - mass, abs=1e-6)
        total, _ = integrate.quad(pdf, 0.0, np.inf, limit=400)
        assert total == pytest.approx(1.0, abs=1e-6)


def test_icdf_inverts_cdf_and_samples_follow_the_law():
    layers = _layers(1, 3, seed=5, spread=1.0, dtype=torch.float32)
    law = FlowTime(torch.tensor([0.5]), torch.tensor([0.6]), layers)
    q = torch.tensor([[0.05], [0.5], [0.95]])
    assert torch.allclose(law.cdf(law.icdf(q)), q, atol=1e-5)
    draws = law.sample((20000,))
    u = law.cdf(draws).ravel().numpy()
    # PIT of 20000 draws: Kolmogorov-Smirnov distance below its 0.1% critical value (1.95 / sqrt(n))
    ks = np.max(np.abs(np.sort(u) - (np.arange(1, u.size + 1) - 0.5) / u.size))
    assert ks < 1.95 / np.sqrt(u.size)


def test_right_censored_log_prob_hand_example():
    # loc = log 2, scale 1/2: T is Weibull with scale 2 and shape 2, S(t) = exp(-(t / 2)^2), and at t = 3
    # f = (2 / 2) (3 / 2) exp(-(3 / 2)^2)
    loc, scale = torch.full((2,), math.log(2.0)), torch.full((2,), 0.5)
    law = FlowTime(loc, scale, [])
    y = torch.tensor([3.0, 3.0])
    lp = RightCensored(law, torch.tensor([1.0, 0.0])).log_prob(y)
    log_f = math.log(1.5) - 2.25
    log_s = -2.25
    assert lp.tolist() == pytest.approx([log_f, log_s], abs=1e-5)


def test_log_survival_is_stable_far_in_the_tail():
    law = FlowTime(torch.tensor([0.0]), torch.tensor([0.1]), [])
    ls = law.log_survival(torch.tensor([math.exp(3.0)]))  # 30 standard deviations out
    assert torch.isfinite(ls).all() and float(ls) < -400


def test_rmst_is_the_integral_of_the_survival_function():
    """FlowTime.rmst (Simpson's rule) against adaptive quadrature of the exact survival function. At the
    default 257 points its error here (a law with much of its mass near 0) is below 3e-4 of the value. Near
    t = 0 a Weibull-type survival bends as 1 - (t / lambda)^k with k = 1 / scale < 1 here, a cusp where
    Simpson's rule converges as h^(1 + k), not h^4: 16x finer (4097 points) still cuts the error by more
    than 16^1.7 ~ 110-fold, so below 1e-6 of the value."""
    loc = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)
    scale = torch.tensor([0.8, 1.3, 0.5], dtype=torch.float64)
    law = FlowTime(loc, scale, _layers(3, 4, seed=7, spread=1.2))
    horizon = 3.0
    rmst = law.rmst(horizon)
    assert rmst.shape == (3,)
    for i in range(3):
        def surv(t, i=i):
            v = torch.full((3,), max(float(t), 1e-30), dtype=torch.float64)
            return math.exp(float(law.log_survival(v)[i]))
        ref, _ = integrate.quad(surv, 0.0, horizon, limit=200)
        assert float(rmst[i]) == pytest.approx(ref, rel=3e-4)
        assert float(law.rmst(horizon, num_points=4097)[i]) == pytest.approx(ref, rel=1e-6)


# -- the end-of-follow-up piece (pyrocsa.core.tail) ------------------------------------------------------
def _ended(end=6.0, n=5, seed=3):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(n, generator=g, dtype=torch.float64)
    scale = torch.rand(n, generator=g, dtype=torch.float64) + 0.3
    layers = _layers(n, 2, seed=seed)
    outer = [planar_params(torch.randn(3, generator=g, dtype=torch.float64) * 2) for _ in range(2)]
    args = (loc, scale, layers, outer, 1.0, 0.7)
    return FlowTime(*args, end=end), FlowTime(*args), n


def test_end_piece_is_the_flow_within_follow_up_and_the_tail_rule_after_it():
    ended, flow, n = _ended()
    inside = torch.tensor([0.2, 1.0, 3.0, 5.9, 6.0], dtype=torch.float64).unsqueeze(-1).expand(-1, n)
    # the same maps, composed once more (float64 rounding only)
    assert torch.allclose(ended.log_prob(inside), flow.log_prob(inside), rtol=1e-12, atol=1e-12)
    assert torch.allclose(ended.log_survival(inside), flow.log_survival(inside), rtol=1e-12, atol=1e-12)
    # past the end: H(t) is the tail rule fitted to the flow's own H over the window of follow-up
    cum_h = lambda law, t: -law.log_survival(torch.full((n,), t, dtype=torch.float64))  # noqa: E731
    window = torch.stack([cum_h(flow, float(t)) for t in window_times(6.0)], -1)
    piece = fit_tail(6.0, window, cum_h(flow, 6.0))
    for t in (6.5, 12.0, 60.0):
        expected = piece.cum_hazard(torch.full((n,), t, dtype=torch.float64))
        # log H grows like b (t - end) (up to ~70 here): the slope, fitted to H read through Newton
        # inversions (float64 precision ~1e-12), is within 1e-7 relative, so log H within ~1e-5
        assert torch.allclose(cum_h(ended, t).log(), expected.log(), atol=1e-4)


def test_end_piece_continues_a_weibull_flow_exactly():
    # identity layers: the flow is Weibull (shape 1 / (spread * scale)); the tail rule picks the Weibull
    # family with that shape and the law past the end is the flow's own
    loc = torch.tensor([-0.5, 0.0, 0.7], dtype=torch.float64)
    scale = torch.tensor([0.4, 1.0, 1.8], dtype=torch.float64)
    ended = FlowTime(loc, scale, shift=0.3, spread=0.9, end=4.0)
    flow = FlowTime(loc, scale, shift=0.3, spread=0.9)
    t = torch.tensor([4.5, 9.0, 30.0], dtype=torch.float64).unsqueeze(-1).expand(-1, 3)
    # the shape is found by golden section to ~1e-8 relative: log S = -H within 1e-6 relative
    assert not ended.transforms[1].knots()[1].gompertz.any()
    assert torch.allclose(ended.log_survival(t), flow.log_survival(t), rtol=1e-6)
    assert torch.allclose(ended.log_prob(t), flow.log_prob(t), rtol=1e-6)


def test_end_piece_density_integrates_to_one_and_matches_its_survival():
    ended, _, n = _ended()
    for i in range(n):
        def f(s, i=i):
            return float(ended.log_prob(torch.full((n,), s, dtype=torch.float64))[i].exp())
        total = integrate.quad(f, 0, 6.0, limit=200)[0] + integrate.quad(f, 6.0, np.inf, limit=200)[0]
        assert abs(total - 1.0) < 1e-7
        tail = integrate.quad(f, 10.0, np.inf, limit=200)[0]
        s10 = float(ended.log_survival(torch.full((n,), 10.0, dtype=torch.float64))[i].exp())
        assert abs(tail - s10) < 1e-7


def test_end_piece_draws_follow_the_law_past_the_end():
    ended, _, n = _ended()
    torch.manual_seed(0)
    draws = ended.sample((100_000,))
    for t in (6.0, 10.0, 20.0):
        p = ended.log_survival(torch.full((n,), t, dtype=torch.float64)).exp()
        empirical = (draws > t).double().mean(0)
        # binomial standard error of a proportion from 1e5 draws; 5 SE
        assert ((empirical - p).abs() <= 5 * (p * (1 - p) / 1e5).sqrt() + 1e-12).all()
    # and icdf inverts the survival function past the end too
    q = torch.full((n,), 0.97, dtype=torch.float64)
    assert torch.allclose(ended.cdf(ended.icdf(q)), q, atol=1e-9)


def test_end_must_be_a_positive_time():
    loc, scale = torch.zeros(2), torch.ones(2)
    with pytest.raises(ValueError, match="end must be a positive time"):
        FlowTime(loc, scale, end=0.0)
    assert FlowTime(loc, scale, end=float("inf")).log_prob(torch.ones(2)).isfinite().all()
