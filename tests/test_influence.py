"""The doubly robust pseudo-outcomes of the individual RMST effect (pyrocsa.core.influence), which
``CSA(alpha="auto")`` scores models against, on simulated data whose true RMST effects are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from pyrocsa.core.influence import ArmSurvivalFit, rmst_difference_pseudo_outcomes

HORIZON = 8.0


def _cohort(n, seed):
    """Confounded exponential proportional-hazards arms (a Cox model per arm is right), Cox censoring and
    an administrative end at 20: x (n, 2), y, delta, a, and the true RMST effect at HORIZON (n,)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    a = (rng.random(n) < special.expit(0.8 * x[:, 0])).astype(float)
    rate = {arm: 0.12 * np.exp(0.5 * x[:, 0] - 0.3 * x[:, 1] + arm * (-0.6 + 0.4 * x[:, 1]))
            for arm in (0, 1)}
    t = np.where(a == 1, rng.exponential(1 / rate[1]), rng.exponential(1 / rate[0]))
    c = np.minimum(rng.exponential(1 / (0.05 * np.exp(0.4 * x[:, 0]))), 20.0)
    y, delta = np.minimum(t, c), (t <= c).astype(float)
    rmst = {arm: (1 - np.exp(-rate[arm] * HORIZON)) / rate[arm] for arm in (0, 1)}
    return (x, y, delta, a), rmst[1] - rmst[0]


@pytest.fixture(scope="module")
def pseudo():
    fit_rows, _ = _cohort(3000, seed=1)
    eval_rows, tau = _cohort(3000, seed=2)
    return rmst_difference_pseudo_outcomes(fit_rows, eval_rows, HORIZON), tau


def test_pseudo_outcomes_are_unbiased_for_the_individual_effect(pseudo):
    """mean(phi - tau) is 0 up to its standard error (4 SE: a false failure has probability 6e-5), and phi
    regressed on tau has slope 1 within 4 of its standard errors: E[phi | X] = tau(X)."""
    phi, tau = pseudo
    assert phi.shape == tau.shape and np.isfinite(phi).all()
    resid = phi - tau
    assert abs(resid.mean()) < 4 * resid.std(ddof=1) / np.sqrt(resid.size)
    slope, intercept = np.polyfit(tau, phi, 1)
    tc = tau - tau.mean()
    se_slope = resid.std(ddof=1) / np.sqrt((tc ** 2).sum())
    assert abs(slope - 1.0) < 4 * se_slope


def test_the_score_ranks_effects_by_their_error(pseudo):
    """D(tau) = mean (tau - phi)^2 is lower for the true effects than for a shifted copy (by b = 10 SE of
    the mean pseudo-outcome, so D(tau + b) - D(tau) = b^2 + 2 b mean(tau - phi) > 0 unless the residual mean
    is off by 5 SE) and than for the constant average effect (no heterogeneity)."""
    phi, tau = pseudo
    b = 10 * phi.std(ddof=1) / np.sqrt(phi.size)

    def score(candidate):
        return np.mean((candidate - phi) ** 2)

    assert score(tau) < score(tau + b)
    assert score(tau) < score(np.full_like(tau, tau.mean()))


def test_arm_survival_fit_of_the_event_time_matches_the_truth():
    """The per-arm Cox fit of the event time recovers S_a(t | x) of the simulation within 0.03 at the
    horizon (3000 rows: the SE of a Cox survival prediction there is about 0.01)."""
    (x, y, delta, a), _ = _cohort(3000, seed=3)
    fit = ArmSurvivalFit("cox", target="event").fit(x, y, delta, a)
    probe = np.array([[0.0, 0.0], [1.0, -1.0]])
    for arm in (0, 1):
        rate = 0.12 * np.exp(0.5 * probe[:, 0] - 0.3 * probe[:, 1] + arm * (-0.6 + 0.4 * probe[:, 1]))
        got = fit.survival(probe, np.array([HORIZON]), arm)[:, 0]
        np.testing.assert_allclose(got, np.exp(-rate * HORIZON), atol=0.03)


def test_bad_arguments_are_named():
    rows, _ = _cohort(200, seed=4)
    with pytest.raises(ValueError, match="horizon"):
        rmst_difference_pseudo_outcomes(rows, rows, 0.0)
    x, y, d, a = rows
    with pytest.raises(ValueError, match="covariates"):
        rmst_difference_pseudo_outcomes(rows, (x[:, :1], y, d, a), HORIZON)
    with pytest.raises(ValueError, match="arm 1 has no events"):
        rmst_difference_pseudo_outcomes((x, y, np.where(a == 1, 0.0, d), a), rows, HORIZON)
    with pytest.raises(ValueError, match="kind"):
        ArmSurvivalFit("weibull")
    with pytest.raises(ValueError, match="target"):
        ArmSurvivalFit("cox", target="death")
