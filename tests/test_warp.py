"""The step baseline under each CSA head (pyrocsa.csa.warp): exact maps, the Cox model it makes with
identity layers, and its fit from data with a known hazard."""

import warnings

import numpy as np
import pytest
import torch

import pyrocsa
from pyrocsa.csa.distributions import FlowTime
from pyrocsa.csa.warp import MAX_PIECES, MIN_PER_PIECE, HazardWarp, fit_warp
from pyrocsa.data.simulate import simulate_programme_trial
from pyrocsa.errors import ArgumentError, FitWarning


def _warp(knots, rates):
    pad = MAX_PIECES - len(rates)
    k = torch.tensor(list(knots) + [knots[-1]] * pad, dtype=torch.float64)
    r = torch.tensor(list(np.log(rates)) + [np.log(rates[-1])] * pad, dtype=torch.float64)
    return HazardWarp(k, r)


def _cum_hazard(t, knots, rates):
    edges = np.concatenate([[0.0], knots, [np.inf]])
    pieces = zip(rates, edges[:-1], edges[1:])
    return sum(r * np.clip(np.minimum(t, hi) - lo, 0, None) for r, lo, hi in pieces)


def test_the_warp_is_log_of_the_inverse_cumulative_hazard_with_its_exact_jacobian():
    knots, rates = [0.5, 1.0, 2.5], [0.2, 1.0, 0.05, 0.4]
    w = _warp(knots, rates)
    t = torch.tensor([1e-6, 0.1, 0.5, 0.7, 1.0, 1.3, 2.5, 4.0, 50.0], dtype=torch.float64)
    u = w.inv(t.log())
    # u = log Lambda(t), Lambda by hand
    assert torch.allclose(u.exp(), torch.tensor(_cum_hazard(t.numpy(), knots, rates)), rtol=1e-12)
    assert torch.allclose(w(u), t.log(), rtol=1e-12, atol=1e-12)
    # d log t / du from autograd against the closed form, away from the knots (a kink there)
    s = torch.tensor([-8.0, -2.0, -1.2, -0.3, 0.2, 1.5], dtype=torch.float64, requires_grad=True)
    y = w(s)
    grad = torch.autograd.grad(y.sum(), s)[0]
    assert torch.allclose(grad.log(), w.log_abs_det_jacobian(s.detach(), y.detach()), atol=1e-12)


def test_with_identity_layers_the_head_is_a_cox_model_with_the_step_baseline():
    # log Lambda(T) = loc + log E: S(t | x) = exp(-Lambda(t) exp(-loc)), hazard ratio exp(-loc)
    knots, rates = [0.5, 1.0, 2.5], [0.2, 1.0, 0.05, 0.4]
    loc = torch.tensor([-0.7, 0.0, 0.9], dtype=torch.float64)
    law = FlowTime(loc, torch.ones(3, dtype=torch.float64), warp=_warp(knots, rates))
    t = torch.tensor([0.3, 1.2, 4.0], dtype=torch.float64)
    expected = np.exp(-_cum_hazard(t.numpy(), knots, rates) * np.exp(-loc.numpy()))
    assert np.allclose(law.log_survival(t).exp().numpy(), expected, rtol=1e-10)
    # the density integrates to the survival: P(0.3 < T <= 1.2) for subject 0
    grid = torch.linspace(0.3, 1.2, 20001, dtype=torch.float64)
    dens = law.log_prob(grid[:, None].expand(-1, 3))[:, 0].exp()
    assert torch.trapezoid(dens, grid).item() == pytest.approx(expected[0] - np.exp(-_cum_hazard(
        np.array([1.2]), knots, rates)[0] * np.exp(0.7)), rel=1e-5)  # the density jumps at the knots


def test_fit_warp_finds_a_fivefold_jump_and_uses_the_predictor():
    # hazard 0.2 before t = 1 and 1.0 after, times a Cox risk exp(0.8 x); 4000 subjects, censoring at 3
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.standard_normal(n)
    e = rng.exponential(size=n) / np.exp(0.8 * x)  # Lambda(T) exp(0.8 x) ~ Exp(1)
    t = np.where(e < 0.2, e / 0.2, 1.0 + (e - 0.2) / 1.0)
    c = np.minimum(3.0, rng.uniform(0.5, 6.0, n))
    y, d = np.minimum(t, c), (t <= c).astype(float)
    knots, log_rates, pieces = fit_warp(y, d, eta=0.8 * x)
    assert pieces == 32 and d.sum() >= MIN_PER_PIECE * 32
    knots, rates = knots.numpy()[:pieces - 1], log_rates.exp().numpy()[:pieces]
    edges = np.concatenate([[0.0], knots, [np.inf]])
    before = rates[edges[1:] <= 1.0]
    after = rates[edges[:-1] >= 1.0]
    # each rate rests on ~1/32 of ~3000 events: SE of a log-rate ~ 0.18; the means over pieces are tighter
    assert before.size >= 3 and after.size >= 10
    assert np.exp(np.mean(np.log(before))) == pytest.approx(0.2, rel=0.15)
    assert np.exp(np.mean(np.log(after))) == pytest.approx(1.0, rel=0.15)
    # without the predictor the rates are the marginal hazard's, which falls after the jump (frailty)
    _, marginal, _ = fit_warp(y, d)
    late = marginal.exp().numpy()[:pieces][edges[:-1] >= 2.0]
    assert late.mean() < 0.8 * rates[edges[:-1] >= 2.0].mean()


def test_too_few_observed_times_give_no_warp_and_the_pieces_keep_ten_times_each():
    rng = np.random.default_rng(1)
    y = rng.exponential(size=400)
    assert fit_warp(y[:19], np.ones(19)) is None
    assert fit_warp(y, np.r_[np.ones(19), np.zeros(381)]) is None
    assert fit_warp(y[:250], np.ones(250))[2] == 24  # 250 >= 10 * 24, < 10 * 32
    assert fit_warp(y[:20], np.ones(20))[2] == 2


def test_auto_refits_a_programme_trial_with_steps_that_the_flows_alone_miss():
    # hazard x5 at day 90 (control) / 180 (treated), weak covariates, 600 patients: the held-back trial's
    # failure. Cohort seed 1, measured: the smooth flows leave the control arm's simultaneous band (ratio
    # 1.14, sup |mean S - KM| 0.096) and fit would warn; baseline="auto" refits with steps: sup 0.033 /
    # 0.029, simultaneous ratios 0.82 / 0.35. The KM's own 95% half-width is ~0.055 at S = 0.5 here.
    sim = simulate_programme_trial(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        model = pyrocsa.CSA(seed=0, verbose=False, baseline="auto").fit(sim.frame, "time", "event",
                                                                         "treatment")
    assert model.baseline_ == "steps" and not model.smooth_check_.inside
    assert model.start_["t0"]["pieces"] >= 16 and model.start_["t1"]["pieces"] >= 16
    check = model.check(sim.frame)
    for arm in (0, 1):
        a = check.arms[arm]
        assert np.abs(a.model - a.km).max() < 0.045 and a.simultaneous_ratio < 1.0
    # the default (smooth) warns, and names the remedy
    with pytest.warns(FitWarning, match=r"arm 0 .* refit with baseline='steps' \(or 'auto'\)$"):
        smooth = pyrocsa.CSA(seed=0, verbose=False).fit(sim.frame, "time", "event", "treatment")
    assert smooth.baseline_ == "smooth" and smooth.start_["t0"]["pieces"] == 0
    a = smooth.check(sim.frame).arms[0]
    assert np.abs(a.model - a.km).max() > 0.07


def test_auto_keeps_the_smooth_fit_where_it_is_inside_the_band():
    # cohort seed 2 (300 patients, 5 epochs): the smooth fit stays inside both simultaneous bands (ratios
    # 0.82 / 0.81 measured), so auto is the smooth fit itself, weight for weight
    sim = simulate_programme_trial(seed=2, n=300)
    auto = pyrocsa.CSA(seed=0, verbose=False, max_epochs=5, baseline="auto").fit(sim.frame, "time", "event",
                                                                                 "treatment")
    smooth = pyrocsa.CSA(seed=0, verbose=False, max_epochs=5).fit(sim.frame, "time", "event", "treatment")
    assert auto.baseline_ == "smooth" and auto.smooth_check_ is None and auto.fit_check_.inside
    for a, b in zip(auto.model_.state_dict().values(), smooth.model_.state_dict().values()):
        assert torch.equal(a, b)


def test_baseline_argument_is_checked():
    with pytest.raises(ArgumentError, match="baseline must be one of"):
        pyrocsa.CSA(baseline="breslow")
    with pytest.raises(ArgumentError, match="objective='likelihood'"):
        pyrocsa.CSA(baseline="steps", objective="paper")


def test_auto_says_so_when_the_step_refit_does_not_help_either():
    # cohort seed 7, model seed 7 (measured): both fits leave the control arm's simultaneous band at day 1,
    # where durations rounded to whole days put several deaths on one day (ratios 1.14 smooth, 1.12 steps):
    # the smooth fit is kept and the warning says what was tried
    sim = simulate_programme_trial(seed=7)
    with pytest.warns(FitWarning, match=r"arm 0 .*\(a refit with step baselines left it too, simultaneous "
                                        r"ratio \d\.\d\d: the smooth fit is kept\)$"):
        model = pyrocsa.CSA(seed=7, verbose=False, baseline="auto").fit(sim.frame, "time", "event",
                                                                         "treatment")
    assert model.baseline_ == "smooth" and model.smooth_check_ is None and not model.fit_check_.inside
