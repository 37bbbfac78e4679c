"""Each patient's effect with its parameter uncertainty: the exact quadrature, the Laplace posterior's
Hessian, the Weibull AFT special case against lifelines, a small coverage check, and the API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import pyrocsa
from pyrocsa.csa import posterior as P
from pyrocsa.csa.model import CSAModel

H = 2.0  # RMST horizon of the simulated cohort (time units)


def _cohort(n, seed, p=3):
    """Weibull AFT per arm (shape 1.5) with linear log-scales: the exact S_a(t | x) is known."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p))
    a = (rng.random(n) < 0.5).astype(int)
    k = 1.5
    log_s0 = 0.3 + 0.5 * x[:, 0] - 0.3 * x[:, 1]
    log_s1 = log_s0 + 0.4 + 0.3 * x[:, 2]
    t0, t1 = (np.exp(ls) * rng.weibull(k, n) for ls in (log_s0, log_s1))
    c = np.minimum(4.0, rng.uniform(0.5, 8.0, n))
    t = np.where(a == 1, t1, t0)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    df["time"], df["event"], df["treatment"] = np.minimum(t, c), (t <= c).astype(int), a
    grid = np.linspace(0.0, H, 2001)
    rm = [np.trapezoid(np.exp(-(grid[None] / np.exp(ls)[:, None]) ** k), grid, axis=1)
          for ls in (log_s0, log_s1)]
    return df, rm[1] - rm[0]


@pytest.fixture(scope="module")
def fitted():
    df, _ = _cohort(500, 0)
    model = pyrocsa.CSA(hidden=(16,), flow_layers=2, max_epochs=15, patience=5, seed=0, verbose=False)
    return model.fit(df, "time", "event", "treatment"), df


def test_quadrature_rmst_matches_monte_carlo_draws(fitted):
    """RMST_a(h | x) by quadrature of the exact law at the fitted values vs E[min(T_a, h)] over 4000 of the
    model's own draws: every subject within 4.5 Monte-Carlo standard errors (for 2 x 20 subjects a false
    alarm has probability < 1e-3)."""
    model, df = fitted
    rows = df.iloc[:20]
    x = model._covariate_tensor(rows)
    r = model.model_.representation(x).detach()
    po = model.sample_potential_outcomes(rows, num_samples=4000, seed=1)
    for arm, draws in ((0, po.t0), (1, po.t1)):
        head = model.model_.event_heads[arm]
        law = P.law_draws(model.model_, head, r, x, P.head_vector(head)[None])
        exact = P.rmst(law, H)[0].numpy()
        clipped = np.minimum(draws, H)
        se = clipped.std(0, ddof=1) / np.sqrt(clipped.shape[0])
        assert np.all(np.abs(clipped.mean(0) - exact) < 4.5 * se + 1e-9)
        # and it is the same number as the estimator's own exact RMST (Simpson on the survival function)
        simpson = model.predict_rmst(rows, H, treatment=arm).to_numpy()
        np.testing.assert_allclose(exact, simpson, atol=1e-3 * H)
        # survival at a time: binomial standard error
        s_exact = P.survival(law, [1.0])[0, 0].numpy()
        s_mc = (draws > 1.0).mean(0)
        se = np.sqrt(np.clip(s_exact * (1 - s_exact), 1e-6, None) / draws.shape[0])
        assert np.all(np.abs(s_mc - s_exact) < 4.5 * se)


def test_hessian_matches_finite_differences_of_exact_gradients(fitted):
    """The structured Hessian (per-subject Hessians of the raw outputs, second-order planar inverses) against
    central differences of autograd gradients (exact first derivatives) along random directions."""
    model, df = fitted
    data = model.data_
    rows = data.a > 0.5
    x, y, d = data.x[rows][:60], data.y[rows][:60], data.delta[rows][:60]
    head = model.model_.event_heads[1]
    r = model.model_.representation(x).detach()
    hess = P.head_hessian(model.model_, head, r, x, y, d)
    theta = P.head_vector(head)

    def grad(th):
        th = th.clone().requires_grad_(True)
        law = P.law_draws(model.model_, head, r, x, th[None])
        nll = -law.censored_log_prob(y.double()[None], d.double()[None]).sum()
        return torch.autograd.grad(nll, th)[0]

    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(theta.shape, generator=gen, dtype=torch.float64)
        fd = (grad(theta + 1e-5 * v) - grad(theta - 1e-5 * v)) / 2e-5
        assert float((fd - hess @ v).norm() / fd.norm()) < 1e-4


def test_weibull_aft_posterior_sd_matches_lifelines():
    """With no representation (the head's hidden block outputs 0) and no flow layers, an arm's law is a
    Weibull AFT: log T = shift + spread (b_loc + beta' x) + spread exp(b_scale) W, W standard minimum-Gumbel.
    At the maximum likelihood the Laplace posterior's SDs (prior precision 1e-8: flat) are the inverse
    observed information's, which is what lifelines' WeibullAFTFitter reports as standard errors, in its
    parameterisation log lambda = shift + spread (b_loc + beta' x), log rho = -log spread - b_scale. Both
    are the same matrix at the same optimum, so they agree to the optimisers' tolerance: 1%."""
    from lifelines import WeibullAFTFitter

    df, _ = _cohort(400, 1)
    df = df[df.treatment == 1].reset_index(drop=True)
    x = torch.tensor(df[["x0", "x1", "x2"]].to_numpy(), dtype=torch.float64)
    y = torch.tensor(df.time.to_numpy(), dtype=torch.float64)
    d = torch.tensor(df.event.to_numpy(), dtype=torch.float64)
    shift, spread = float(y.log().mean()), float(y.log().std())
    model = CSAModel(3, informative_censoring=False, hidden=(1,), flow_layers=0, dropout=0.0,
                     log_time_loc=shift, log_time_scale=spread).double().eval()
    head = model.event_heads[1]
    with torch.no_grad():
        head.block.linear.weight.zero_()
        head.block.linear.bias.zero_()  # block(r) = LeakyReLU(0) = 0: no representation
    r = torch.zeros(len(y), 1, dtype=torch.float64)
    params = [head.out.bias, head.linear.weight]
    opt = torch.optim.LBFGS(params, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        nll = -model.time_dist(r, x, 1).censored_log_prob(y, d).sum()
        nll.backward()
        return nll

    opt.step(closure)
    post = P.HeadPosterior(P.head_vector(head), P.head_hessian(model, head, r, x, y, d), 1e-8)
    sd = post.sd.numpy()
    # theta = [W (2 x 1), b (2) interleaved per row as [W_c, b_c]] then beta (3)
    sd_bloc, sd_bscale, sd_beta = sd[1], sd[3], sd[4:7]

    aft = WeibullAFTFitter().fit(df[["x0", "x1", "x2", "time", "event"]], "time", "event")
    se = aft.standard_errors_
    np.testing.assert_allclose(spread * sd_beta, se.loc["lambda_"][["x0", "x1", "x2"]].to_numpy(), rtol=0.01)
    np.testing.assert_allclose(spread * sd_bloc, se.loc[("lambda_", "Intercept")], rtol=0.01)
    np.testing.assert_allclose(sd_bscale, se.loc[("rho_", "Intercept")], rtol=0.01)
    # and the fits are the same
    b = post.mean.numpy()
    np.testing.assert_allclose(spread * b[4:7], aft.params_.loc["lambda_"][["x0", "x1", "x2"]].to_numpy(),
                               atol=1e-3)


def test_intervals_cover_the_true_effect_on_a_small_design(fitted):
    """90% intervals of tau(x) = RMST_1 - RMST_0 at h = 2 on 300 fresh subjects of the simulated Weibull
    design. With a few hundred training rows and a short fit the model is biased, so this is a coarse check
    (the full study is benchmarks/effect_intervals.py): at least 70% covered, and intervals narrower than
    the spread of the true effects would make a useless interval."""
    model, _ = fitted
    test, truth = _cohort(300, 7)
    eff = model.predict_effect(test, horizon=H, level=0.9, num_draws=100)
    covered = ((eff.lower <= truth) & (truth <= eff.upper)).mean()
    width = (eff.upper - eff.lower).mean()
    assert covered >= 0.7
    assert width < 2 * 1.645 * truth.std() + 2 * np.abs(eff.estimate - truth).mean()


def test_api_shapes_seeds_and_errors(fitted):
    import arviz as az

    model, df = fitted
    rows = df.iloc[:7]
    eff = model.predict_effect(rows, horizon=H, num_draws=20)
    assert list(eff.columns) == ["estimate", "sd", "lower", "upper", "prob_benefit"]
    assert eff.index.equals(rows.index)
    assert (eff.lower <= eff.estimate).all() and (eff.estimate <= eff.upper).all()
    assert ((eff.prob_benefit >= 0) & (eff.prob_benefit <= 1)).all()
    pd.testing.assert_frame_equal(eff, model.predict_effect(rows, horizon=H, num_draws=20))
    assert not eff.equals(model.predict_effect(rows, horizon=H, num_draws=20, seed=5))
    at = model.predict_effect(rows, times=[0.5, 1.0, 1.5], num_draws=20)
    assert at.shape == (21, 5) and at.index.names == ["time", "subject"]
    assert np.allclose(at.index.get_level_values("time").unique(), [0.5, 1.0, 1.5])
    idata = model.effect_posterior(rows, horizon=H, num_draws=20)
    assert idata.posterior["tau"].dims == ("chain", "draw", "subject")
    assert idata.posterior["tau"].shape == (2, 10, 7)
    assert "r_hat" in az.summary(idata, var_names=["tau"]).columns
    ate = model.predict_ate(rows, horizon=H, num_draws=20)
    assert list(ate.index) == ["ate"] and ate.sd.iloc[0] > 0
    with pytest.raises(ValueError, match="not both"):
        model.predict_effect(rows, horizon=H, times=[1.0])
    with pytest.raises(ValueError, match="horizon"):
        model.predict_effect(rows, horizon=-1.0)
    # the default horizon is the longest training duration
    default = model.predict_effect(rows, num_draws=20)
    pd.testing.assert_frame_equal(default, model.predict_effect(rows, horizon=model.max_duration_,
                                                                 num_draws=20))


def test_posterior_survives_save_and_load(fitted, tmp_path):
    model, df = fitted
    model.save(tmp_path / "m")
    back = pyrocsa.CSA.load(tmp_path / "m")
    a = model.predict_effect(df.iloc[:10], horizon=H, num_draws=20)
    b = back.predict_effect(df.iloc[:10], horizon=H, num_draws=20)
    # the Hessian is stored in float32: the draws move by rounding only
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-3 * H)
    assert back.posterior_.prior_precision == model.posterior_.prior_precision


def test_ensemble_members_are_chains_and_cox_bootstraps(tmp_path):
    df, _ = _cohort(300, 3)
    ens = pyrocsa.Ensemble(pyrocsa.CSA(hidden=(8,), flow_layers=1, max_epochs=3, seed=0, verbose=False),
                           n_members=2, seed=0, n_jobs=1).fit(df, "time", "event", "treatment")
    idata = ens.effect_posterior(df.iloc[:5], horizon=H, num_draws=8)
    assert idata.posterior["tau"].shape == (2, 4, 5)
    # chain k is member k's own posterior
    own = ens.members_[1].effect_posterior(df.iloc[:5], horizon=H, num_draws=4, seed=0)
    assert own.posterior["tau"].shape == (2, 2, 5)
    back = pyrocsa.Ensemble.load(ens.save(tmp_path / "ens"))
    np.testing.assert_allclose(back.predict_effect(df.iloc[:5], horizon=H, num_draws=8).to_numpy(),
                               ens.predict_effect(df.iloc[:5], horizon=H, num_draws=8).to_numpy(),
                               atol=1e-3 * H)
    from pyrocsa.baselines.cox import CoxTLearner

    cox = CoxTLearner().fit(df, "time", "event", "treatment")
    eff = cox.predict_effect(df.iloc[:5], horizon=H, num_draws=4)
    point = cox.rmst(df.iloc[:5], H)["rmst_difference"]
    assert (eff.sd > 0).all() and np.all(np.abs(eff.estimate - point) < 4 * eff.sd + 0.05)


def test_plot_effects_shares(fitted):
    import matplotlib

    matplotlib.use("Agg")
    from pyrocsa.reports.plotting import plot_effects

    model, df = fitted
    eff = model.predict_effect(df.iloc[:40], horizon=H, num_draws=20)
    ax = plot_effects(eff)
    labels = ax.get_legend_handles_labels()[1]
    share = f"{(eff.prob_benefit > 0.95).mean():.0%}"
    assert any(label.startswith("P(benefit) > 0.95") and label.endswith(share) for label in labels)
    with pytest.raises(ValueError, match="several times"):
        plot_effects(model.predict_effect(df.iloc[:5], times=[1.0, 2.0], num_draws=8))


def test_survival_difference_is_zero_at_time_zero(fitted):
    model, df = fitted
    eff = model.predict_effect(df.iloc[:4], times=[0.0, 1.0], num_draws=8)
    at0 = eff.xs(0.0, level="time")
    assert (at0[["estimate", "sd", "lower", "upper"]].to_numpy() == 0).all()
    assert (eff.xs(1.0, level="time").sd > 0).all()
