"""The end-of-follow-up rule (pyrocsa.core.tail) on laws with known expected lifetimes."""

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.special import gamma, hyperu

from pyrocsa.core.tail import MIN_LOG_SLOPE, fit_tail, window_times
from pyrocsa.csa.distributions import FlowTime

T_END = 1200.0


def _fit(cum_hazard):
    """The tail fitted to the exact cumulative hazards ``cum_hazard(t)`` -> (N,) of N subjects."""
    window = torch.stack([torch.as_tensor(cum_hazard(float(t))) for t in window_times(T_END)], -1)
    return fit_tail(T_END, window, torch.as_tensor(cum_hazard(T_END)))


def _expected_lifetime(piece, survival, i):
    """int_0^t_end S_i (quadrature; its error bound) + the piece's closed-form tail integral."""
    inside, err = integrate.quad(lambda t: survival(t)[i], 0.0, T_END, epsabs=1e-10, epsrel=1e-12, limit=200)
    return inside + piece.survival_integral(np.inf)[i], err


def test_gompertz_law_is_continued_to_its_expected_lifetime():
    # S(t) = exp(-c (e^{g t} - 1)): E[T] = e^c E_1(c) / g = U(1, 1, c) / g; at t_end S is 0.93 to 0.06, so
    # 20-80% of the expected lifetime lies past follow-up
    g, c = 0.0055, np.array([1e-4, 3e-4, 1e-3, 4e-3])
    cum_hazard = lambda t: c * np.expm1(g * t)  # noqa: E731
    piece = _fit(cum_hazard)
    assert piece.gompertz.all()
    np.testing.assert_allclose(piece.slope.numpy(), g * T_END, rtol=1e-6)
    np.testing.assert_allclose(piece.hazard_end.numpy(), c * g * np.exp(g * T_END), rtol=1e-6)
    life = hyperu(1.0, 1.0, c) / g
    for i in range(len(c)):
        got, err = _expected_lifetime(piece, lambda t: np.exp(-cum_hazard(t)), i)
        # quadrature error + the trend's golden-section precision (1e-6 relative in b, far below a day)
        assert got == pytest.approx(life[i], abs=err + 1e-6 * life[i])


@pytest.mark.parametrize("shape", [0.7, 1.0, 1.4, 3.0])
def test_weibull_law_is_continued_to_its_expected_lifetime(shape):
    # S(t) = exp(-(t / lam)^k): E[T] = lam Gamma(1 + 1/k)
    lam = np.array([600.0, 1500.0, 4000.0])
    cum_hazard = lambda t: (t / lam) ** shape  # noqa: E731
    piece = _fit(cum_hazard)
    if shape != 1.0:  # (k = 1 is also the Gompertz law with b = 0: either family is exact)
        assert not piece.gompertz.any()
        np.testing.assert_allclose(piece.slope.numpy(), shape, rtol=1e-6)
    life = lam * gamma(1.0 + 1.0 / shape)
    for i in range(len(lam)):
        got, err = _expected_lifetime(piece, lambda t: np.exp(-cum_hazard(t)), i)
        assert got == pytest.approx(life[i], abs=err + 1e-5 * life[i])


def test_piece_is_continuous_invertible_and_its_hazard_is_the_derivative():
    gomp = lambda t: 1e-3 * np.expm1(0.004 * t)  # noqa: E731
    weib = lambda t: (t / 900.0) ** 0.8  # noqa: E731
    piece = _fit(lambda t: np.array([gomp(t), weib(t)]))
    assert piece.gompertz.tolist() == [True, False]
    t = torch.tensor([[T_END, T_END], [1500.0, 1500.0], [4000.0, 4000.0]], dtype=torch.float64)
    h = piece.cum_hazard(t)
    np.testing.assert_allclose(h[0].numpy(), [gomp(T_END), weib(T_END)], rtol=1e-12)
    np.testing.assert_allclose(piece.time_at(h).numpy(), t.numpy(), rtol=1e-9)
    step = 1e-3
    slope = (piece.cum_hazard(t + step) - piece.cum_hazard(t - step)) / (2 * step)
    np.testing.assert_allclose(piece.log_hazard(t).exp().numpy(), slope.numpy(), rtol=1e-6)
    # the closed-form integral against quadrature of exp(-H) over the piece, to a finite horizon
    for i in range(2):
        ref = integrate.quad(lambda s, i=i: float(torch.exp(-piece.cum_hazard(
            torch.tensor([s, s], dtype=torch.float64)))[i]), T_END, 3000.0, epsrel=1e-12, limit=200)[0]
        assert piece.survival_integral(3000.0)[i] == pytest.approx(ref, rel=1e-8)


def test_a_flat_window_still_gets_a_positive_hazard():
    # no hazard growth over the window (a step curve with no events there): the floor h_e t_end / H_e = 0.5
    piece = fit_tail(T_END, torch.full((1, len(window_times(T_END))), 0.3, dtype=torch.float64),
                     torch.tensor([0.3], dtype=torch.float64))
    assert float(piece.hazard_end[0]) == pytest.approx(MIN_LOG_SLOPE * 0.3 / T_END)
    assert np.isfinite(piece.survival_integral(np.inf)).all()


def test_bad_end_of_follow_up():
    with pytest.raises(ValueError, match="t_end"):
        fit_tail(0.0, torch.ones(1, len(window_times(1.0))), torch.ones(1))
    with pytest.raises(ValueError, match="cum_hazard_end"):
        fit_tail(1.0, torch.ones(1, len(window_times(1.0))), torch.zeros(1))


def test_a_law_whose_hazard_overflows_within_follow_up_still_scores_times_past_the_end():
    # scale 1e-4: H(t) = t^10000, inf in float64 inside follow-up (a posterior draw can be this extreme);
    # the end piece holds log H at a finite ceiling (S = exp(-e^50): certainly dead), so a time past the
    # end gets a finite, hugely negative log survival instead of an error
    f64 = dict(dtype=torch.float64)
    law = FlowTime(torch.tensor([0.0, 0.0], **f64), torch.tensor([1e-4, 1.0], **f64), end=2.0)
    out = law.log_survival(torch.tensor([3.0, 3.0], dtype=torch.float64))
    assert torch.isfinite(out).all() and out[0] < -1e20
    assert out[1].item() == pytest.approx(-3.0)  # the unit exponential (scale 1) is untouched
