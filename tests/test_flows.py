"""The exact-density time laws: 1-D planar layers, FlowTime and RightCensored against closed forms and
numerical integration."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

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


def test_identity_flow_is_the_lognormal_aft():
    f64 = dict(dtype=torch.float64)
    loc, scale = torch.tensor([0.2, 1.5, -0.5], **f64), torch.tensor([0.7, 1.1, 0.3], **f64)
    law = FlowTime(loc, scale, [])
    ref = torch.distributions.LogNormal(loc, scale)
    t = torch.tensor([[0.5, 3.0, 0.2], [2.0, 10.0, 1.0]], **f64)
    assert torch.allclose(law.log_prob(t), ref.log_prob(t), atol=1e-5, rtol=1e-5)
    assert torch.allclose(law.cdf(t), ref.cdf(t), atol=1e-6)
    assert torch.allclose(law.log_survival(t), torch.log1p(-ref.cdf(t)), atol=1e-5)
    # zero-initialised planar parameters are the identity too (raw 0 -> c = 0)
    law0 = FlowTime(loc, scale, [planar_params(torch.zeros(3, 3, **f64))])
    assert torch.allclose(law0.log_prob(t), ref.log_prob(t), atol=1e-5, rtol=1e-5)


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
    loc, scale = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])
    law = FlowTime(loc, scale, [])
    y = torch.tensor([2.0, 2.0])
    lp = RightCensored(law, torch.tensor([1.0, 0.0])).log_prob(y)
    z = math.log(2.0)
    log_f = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - math.log(2.0)
    log_s = math.log(0.5 * math.erfc(z / math.sqrt(2)))
    assert lp.tolist() == pytest.approx([log_f, log_s], abs=1e-5)


def test_log_survival_is_stable_far_in_the_tail():
    law = FlowTime(torch.tensor([0.0]), torch.tensor([0.1]), [])
    ls = law.log_survival(torch.tensor([math.exp(3.0)]))  # 30 standard deviations out
    assert torch.isfinite(ls).all() and float(ls) < -400


def test_rmst_is_the_integral_of_the_survival_function():
    """FlowTime.rmst (Simpson's rule) against adaptive quadrature of the exact survival function. Simpson is
    fourth order: at the default 257 points its error here (a law with much of its mass near 0, where S
    bends sharply) is ~1e-4 of the value; 16x finer (4097 points) cuts it 16^4-fold, below 1e-8."""
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
        assert float(law.rmst(horizon, num_points=4097)[i]) == pytest.approx(ref, abs=1e-8)
