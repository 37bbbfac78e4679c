"""The CSA objectives: paper losses (eqs. 8-11) on hand examples, the sample CRPS, imputation, IPM, and
a generator trained with the CRPS objective recovering a known conditional law."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pyrocsa.ipm import wasserstein_ipm
from pyrocsa.losses import (
    CSALoss,
    censoring_loss,
    energy_score,
    event_loss,
    impute_above,
    selection_score,
    time_order_loss,
)
from pyrocsa.model import CSAModel
from pyrocsa.training import fit_module

Y = torch.tensor([2.0, 2.0, 2.0, 2.0])
DELTA = torch.tensor([1.0, 1.0, 0.0, 0.0])


@pytest.fixture(autouse=True)
def _one_thread():
    # the machine is shared: two intra-op threads under load make small nets many times slower
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


def test_energy_score_hand_example():
    draws = torch.tensor([[0.0], [1.0], [3.0]])
    # mean |T - 0| = 4/3; sum_{k != l} |T_k - T_l| = 2 * (1 + 3 + 2) = 12, / (2 * 3 * 2) = 1
    assert torch.allclose(energy_score(draws, torch.tensor([0.0])), torch.tensor([1.0 / 3.0]))
    assert torch.allclose(energy_score(draws, torch.tensor([1.0])), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="2 draws"):
        energy_score(draws[:1], torch.tensor([0.0]))


def test_energy_score_is_unbiased_for_the_normal_crps():
    # closed form: CRPS(N(0,1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1/sqrt(pi)
    torch.manual_seed(0)
    y = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    draws = torch.randn(4, 50000, 4)  # K = 4 draws, 50000 replicates, 4 targets
    es = energy_score(draws.reshape(4, -1), y.repeat(50000)).reshape(50000, 4).mean(0)
    yn = y.numpy()
    exact = yn * (2 * stats.norm.cdf(yn) - 1) + 2 * stats.norm.pdf(yn) - 1 / math.sqrt(math.pi)
    # per-replicate sd of ES with K=4 is < 1 here, so the mean over 50000 has sd < 0.005
    assert np.allclose(es.numpy(), exact, atol=0.02)


def test_selection_score_hand_example():
    draws = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0]])
    # censored at 2: pairs k != l: max(0,1) = 1 -> 1 (twice), max(0,3), max(1,3) = 3 -> 0; 2 / 6 = 1/3.
    # event at 0: the energy score 1/3 (hand example above). Mean over the two subjects: 1/3.
    score = selection_score(draws, torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert float(score) == pytest.approx(1.0 / 3.0)


def test_impute_above_picks_draws_above_the_censoring_time():
    draws = torch.tensor([[1.0, 5.0, 0.5], [4.0, 6.0, 0.2], [3.0, 0.1, 0.3]])
    y = torch.tensor([2.0, 5.5, 1.0])
    gen = torch.Generator().manual_seed(0)
    picks = torch.stack([impute_above(draws, y, gen) for _ in range(400)])
    # subject 0: 4 or 3, each about half the time; subject 1: only 6; subject 2: none above -> y
    assert set(picks[:, 0].tolist()) == {3.0, 4.0}
    assert 0.4 < float((picks[:, 0] == 4.0).float().mean()) < 0.6  # binomial sd 0.025
    assert torch.all(picks[:, 1] == 6.0) and torch.all(picks[:, 2] == 1.0)


def test_ipm_zero_for_identical_clouds_and_grows_with_shift():
    torch.manual_seed(0)
    r = torch.randn(40, 3)
    a = torch.tensor([1.0] * 20 + [0.0] * 20)
    same = torch.cat([r[:20], r[:20]])
    assert float(wasserstein_ipm(same, a)) < 1e-4
    vals = [float(wasserstein_ipm(torch.cat([r[:20] + s, r[20:]]), a)) for s in (0.0, 1.0, 3.0)]
    assert vals[0] < vals[1] < vals[2]


class _FixedModel(torch.nn.Module):
    """Stand-in exposing the model interface with fixed draws (time_scale 1)."""

    time_scale = 1.0

    def __init__(self, t0, t1, c0=None, c1=None, r=None):
        super().__init__()
        self.out = {"t0": t0, "t1": t1, "r": r if r is not None else torch.zeros(t0.shape[-1], 2)}
        if c0 is not None:
            self.out.update(c0=c0, c1=c1)

    def draw(self, x, num_draws):
        return self.out


def test_paper_loss_total_on_a_hand_example():
    a = torch.tensor([1.0, 0.0, 1.0, 0.0])
    t1 = torch.tensor([[1.0, 9.0, 1.0, 9.0]])  # used for subjects 0 and 2
    t0 = torch.tensor([[9.0, 3.0, 9.0, 3.0]])  # used for subjects 1 and 3
    c1 = torch.tensor([[3.0, 9.0, 1.0, 9.0]])
    c0 = torch.tensor([[9.0, 1.0, 9.0, 1.0]])
    model = _FixedModel(t0, t1, c0, c1)
    loss = CSALoss("paper", alpha=0.0)
    total, comps = loss(model, torch.zeros(4, 1), a, Y, DELTA)
    # factual t = [1, 3, 1, 3]; factual c = [3, 1, 1, 1]
    # event: [1, 1, 1, 0] -> 0.75; censoring: [0, 1, 1, 1] -> 0.75
    # order: events max(0, t - c) = [0, 2]; censored max(0, c - t) = [0, 0] -> 0.5
    assert comps["event"] == pytest.approx(0.75)
    assert comps["censoring"] == pytest.approx(0.75)
    assert comps["time_order"] == pytest.approx(0.5)
    assert float(total) == pytest.approx(2.0) and comps["total"] == pytest.approx(2.0)


def test_crps_loss_observed_events_equal_energy_score():
    a = torch.tensor([1.0, 0.0])
    t1 = torch.tensor([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]])
    t0 = torch.tensor([[5.0, 1.0], [5.0, 1.0], [5.0, 1.0]])
    model = _FixedModel(t0, t1)
    total, comps = CSALoss("crps", alpha=0.0, num_draws=3)(model, torch.zeros(2, 1), a,
                                                           torch.tensor([0.0, 1.0]), torch.ones(2))
    # subject 0: ES = 1/3 (hand example above); subject 1: a point mass at the target -> 0
    assert comps["event"] == pytest.approx(1.0 / 6.0)


def test_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="objective"):
        CSALoss("mse")
    with pytest.raises(ValueError, match="alpha"):
        CSALoss("paper", alpha=-1)
    with pytest.raises(ValueError, match="num_draws"):
        CSALoss("crps", num_draws=1)


def _lognormal_data(n, seed, censor=False):
    """log T ~ N(0.5 x, (0.25 + 0.25 (x + 1))^2), x ~ U(-1, 1); optional independent censoring."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    sd = 0.25 + 0.25 * (x[:, 0] + 1)
    t = torch.exp(0.5 * x[:, 0] + sd * torch.randn(n, generator=g))
    if censor:  # log C ~ N(0.6, 0.6^2), independent of T: about a third censored
        c = torch.exp(0.6 + 0.6 * torch.randn(n, generator=g))
        y, delta = torch.minimum(t, c), (t <= c).float()
    else:
        y, delta = t, torch.ones(n)
    return x, torch.zeros(n), y, delta


def _quantile_errors(n, epochs, censor, seed=0, censored="impute", **model_kw):
    from pyrocsa.losses import CensoringWeights

    torch.manual_seed(seed)
    model = CSAModel(1, informative_censoring=False, encoder_hidden=(32,), generator_hidden=(32, 32),
                     noise_dim=8, dropout=0.0, time_scale=1.0, **model_kw)
    train = _lognormal_data(n, seed, censor)
    valid = _lognormal_data(n // 4, seed + 1, censor)
    loss = CSALoss("crps", alpha=0.0, num_draws=8, censored=censored)
    if censored == "ipcw":
        _, a, y, delta = train
        loss.censoring_weights, loss.horizon = CensoringWeights(y, delta, a), float(y.max())
    fit_module(model, loss, train, valid, batch_size=200, lr=3e-3,
               max_epochs=epochs, patience=epochs, seed=seed, verbose=False)
    model.eval()
    errs = []
    with torch.no_grad():
        for xv in (-0.75, 0.75):
            r = model.encoder(torch.tensor([[xv]]))
            t0 = model.times(r, model.noise_dist("t").sample((4000, 1)), 0).squeeze(-1)
            qs = torch.quantile(t0.log(), torch.tensor([0.1, 0.5, 0.9])).numpy()
            sd = 0.25 + 0.25 * (xv + 1)
            true = 0.5 * xv + sd * stats.norm.ppf([0.1, 0.5, 0.9])
            errs.append(np.abs(qs - true) / sd)  # error in units of the true log-time sd
    return np.array(errs)


def test_crps_generator_recovers_lognormal_quantiles_short():
    # 2000 events, 40 epochs: the 10/50/90% log-time quantiles at x = -0.75 and 0.75 within 0.35 true sds
    # (sampling error of a quantile from 2000 points is ~0.05 sd; the rest is under-training slack). The
    # paper's objective would put the 10% and 90% quantiles on the median (errors 1.28 sd).
    errs = _quantile_errors(2000, 40, censor=False)
    assert errs.max() < 0.35, errs


def test_crps_generator_with_independent_censoring_short():
    # a third censored, independently of T. Measured at 40 epochs: the 10% and 50% quantiles within 0.5 sd
    # at both x; the upper tail where censoring is heavy (x = 0.75, 90% quantile; only ~14% of C exceed it)
    # is under-estimated (about 1 sd): the stochastic-EM imputation extends an under-dispersed tail only
    # slowly. Assert what holds (the slow test below checks the tail with 6000 subjects, 150 epochs).
    errs = _quantile_errors(2000, 40, censor=True)
    assert errs[:, :2].max() < 0.5, errs
    assert errs[0, 2] < 0.5, errs


@pytest.mark.slow
def test_crps_generator_recovers_lognormal_quantiles_with_censoring():
    # independent censoring (about a third censored), 6000 subjects, 150 epochs. Measured: every quantile
    # within 0.3 sd except the heavily censored upper tail (x = 0.75, 90%: 0.65 sd, down from ~1 sd at 40
    # epochs -- the stochastic-EM imputation converges slowly there). Bounds: 0.3 sd, and 0.8 sd for it.
    errs = _quantile_errors(6000, 150, censor=True)
    assert np.delete(errs.ravel(), 5).max() < 0.3, errs
    assert errs[1, 2] < 0.8, errs


def test_censoring_weights_and_ipcw_brier_hand_example():
    """G(t) = P(C > t): with censoring at 3 in one arm of 4 subjects, G(3-) = 1 and G(t >= 3) = 2/3 there."""
    from pyrocsa.losses import CensoringWeights, ipcw_brier_score

    y = torch.tensor([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0])
    delta = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    a = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    cw = CensoringWeights(y, delta, a, num_times=4)
    # arm 0: censoring KM drops at t=3 from 1 to 1 - 1/2 (2 at risk at 3) = 0.5; arm 1: no censoring
    assert torch.allclose(cw(y, a), torch.tensor([1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0]))
    # without censoring, the IPCW Brier score is the plain Brier score of S_i(t) = mean_k 1{T_k > t}
    draws = torch.tensor([[0.5, 2.5, 3.5, 5.0], [1.5, 1.5, 3.5, 3.0]])
    y1, d1, a1 = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.ones(4), torch.ones(4)
    cw1 = CensoringWeights(y1, d1, a1, num_times=3)
    grid = cw1.grid
    surv = (draws.unsqueeze(-1) > grid).float().mean(0)
    truth = (y1.unsqueeze(-1) > grid).float()
    expected = ((surv - truth) ** 2).mean()
    assert torch.isclose(ipcw_brier_score(draws, y1, d1, a1, cw1), expected)
    # a model that puts its mass on the observed times scores better than one shifted far beyond them
    assert ipcw_brier_score(y.unsqueeze(0).repeat(3, 1), y, delta, a, cw) < \
        ipcw_brier_score(10 * y.unsqueeze(0).repeat(3, 1), y, delta, a, cw)


def test_integrated_inverse_censoring_survival_hand_example():
    """W(t) = int_0^t du / G(u): G = 1 before 3 and 0.5 from 3 on (arm 0 above) -> W(2) = 2, W(5) = 3 + 4."""
    from pyrocsa.losses import CensoringWeights

    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    delta = torch.tensor([1.0, 1.0, 0.0, 1.0])
    cw = CensoringWeights(y, delta, torch.zeros(4))
    t = torch.tensor([[2.0, 5.0, 3.0, 0.5]], requires_grad=True)
    w = cw.integrated(t, torch.zeros(4))
    assert torch.allclose(w, torch.tensor([[2.0, 7.0, 3.0, 0.5]]))
    w.sum().backward()  # dW/dt = 1 / G(t)
    assert torch.allclose(t.grad, torch.tensor([[1.0, 2.0, 2.0, 1.0]]))


def test_ipcw_crps_hand_example_and_grid_integral():
    from pyrocsa.losses import CensoringWeights, ipcw_crps

    # no censoring (G = 1): the score is int_0^L (1{y > t} - S(t))^2 with S^2 from pairs; two draws 1 and 3,
    # y = 2, L = 4: pairs give min = 1, max = 3 -> int_0^2 1{3 <= t} + int_2^4 1{1 > t} = 0 + 0 = 0 ...
    y, d, a = torch.tensor([2.0, 2.0]), torch.ones(2), torch.zeros(2)
    cw = CensoringWeights(torch.tensor([1.0, 5.0]), torch.ones(2), torch.zeros(2))
    draws = torch.tensor([[1.0, 0.5], [3.0, 1.5]])
    # ... for subject 0 (draws 1, 3): the pair estimate of S(t)^2 and (1 - S(t))^2 is 0 on both sides: 0
    # subject 1 (draws 0.5, 1.5): int_0^2 1{1.5 <= t} dt = 0.5, and nothing after y: 0.5
    assert torch.allclose(ipcw_crps(draws, y, d, a, cw, horizon=4.0), torch.tensor([0.0, 0.5]))
    # a censored subject only scores the time it was seen alive: int_0^y 1{max <= t} / G(t) dt
    assert torch.allclose(ipcw_crps(draws, y, torch.zeros(2), a, cw, horizon=4.0), torch.tensor([0.0, 0.5]))
    # against a fine grid of the IPCW Brier score with censoring, on 300 subjects
    g = torch.Generator().manual_seed(0)
    n = 300
    t = -500 * torch.rand(n, generator=g).log()
    c = 1500 * torch.rand(n, generator=g)
    yy, dd, aa = torch.minimum(t, c), (t <= c).float(), (torch.rand(n, generator=g) > 0.5).float()
    w = CensoringWeights(yy, dd, aa)
    dr = -400 * torch.rand(4, n, generator=g).log()
    big_l = 1200.0
    grid = (torch.arange(24000) + 0.5) * big_l / 24000
    ginv = torch.stack([w._g(grid, arm, left=False) for arm in (0, 1)])[aa.long()]
    total = torch.zeros(n)
    for k in range(4):
        for m in range(4):
            if k != m:
                lo, hi = torch.minimum(dr[k], dr[m]), torch.maximum(dr[k], dr[m])
                risk = (yy[:, None] > grid).float() * (hi[:, None] <= grid).float() * ginv
                died = ((yy[:, None] <= grid) & (dd[:, None] > 0.5)).float() * w(yy, aa)[:, None]
                total += (risk + died * (lo[:, None] > grid).float()).sum(1) * big_l / 24000
    # the closed form and a 0.05-day grid agree to the grid's resolution (times are O(100) days)
    assert torch.allclose(ipcw_crps(dr, yy, dd, aa, w, big_l), total / 12, atol=0.5)


def test_ipcw_crps_is_proper_under_independent_censoring():
    """Mean score over many censored subjects: draws from the true law beat scaled laws (x0.7, x1.4).

    T ~ Exp(mean 500), C ~ U(0, 1500) independent: ~40% censored. The score's expectation differs between
    these laws by several standard errors at n = 20000 (measured gaps > 10 s.e.).
    """
    from pyrocsa.losses import CensoringWeights, ipcw_crps

    g = torch.Generator().manual_seed(1)
    n = 20000
    t = -500 * torch.rand(n, generator=g).log()
    c = 1500 * torch.rand(n, generator=g)
    y, d, a = torch.minimum(t, c), (t <= c).float(), torch.zeros(n)
    w = CensoringWeights(y, d, a)
    base = -500 * torch.rand(16, n, generator=g).log()
    scores = {f: ipcw_crps(base * f, y, d, a, w, float(y.max())) for f in (0.7, 1.0, 1.4)}
    se = float(scores[1.0].std() / n ** 0.5)
    assert float(scores[1.0].mean()) + 5 * se < float(scores[0.7].mean())
    assert float(scores[1.0].mean()) + 5 * se < float(scores[1.4].mean())


def test_ipcw_crps_needs_weights_and_horizon():
    loss = CSALoss("crps", censored="ipcw")
    model = CSAModel(1, informative_censoring=False, encoder_hidden=(4,), generator_hidden=(4, 4),
                     noise_dim=2)
    with pytest.raises(ValueError, match="censoring_weights"):
        loss(model, torch.zeros(4, 1), torch.zeros(4), torch.ones(4), torch.ones(4))
    with pytest.raises(ValueError, match="censored"):
        CSALoss("crps", censored="drop")


def test_ipcw_location_scale_generator_recovers_quantiles_with_censoring_short():
    # the default pairing (ipcw score, location-scale generator, softplus link) on the log-normal with a
    # third censored: 2000 subjects, 40 epochs. The law here has a covariate-dependent log-scale, which a
    # shared-scale generator cannot express, so use sigma(r); quantiles within 0.5 true sd (the same slack
    # as the imputation test above; measured max ~0.3).
    errs = _quantile_errors(2000, 40, censor=True, censored="ipcw", generator="location-scale",
                            shared_scale=False, link="exp")
    assert errs.max() < 0.5, errs


def _covariate_censored(n, seed):
    """T ~ Exp(mean 500) independent of x; C ~ Exp(mean 700 exp(-0.8 x0)): censoring depends on x."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    t = -500 * torch.rand(n, generator=g).log()
    c = -700 * torch.rand(n, generator=g).log() * torch.exp(-0.8 * x[:, 0])
    return x, torch.minimum(t, c), (t <= c).float(), (torch.rand(n, generator=g) > 0.5).float()


def test_cox_censoring_weights_recover_the_censoring_model_and_integrate_exactly():
    from pyrocsa.losses import CoxCensoringWeights

    x, y, d, a = _covariate_censored(1500, 0)
    w = CoxCensoringWeights(y, d, a, x)
    for arm in (0, 1):  # censoring log-hazard coefficient 0.8 on x0, 0 on x1 (s.e. ~0.05 at n ~ 750)
        beta = w.cox[arm][2].numpy()
        assert abs(beta[0] - 0.8) < 0.2 and abs(beta[1]) < 0.2, beta
    # W(t | x) = int_0^t du / G(u | x) in closed form against a 0.01-day trapezoid grid
    t = torch.tensor([[100.0, 400.0, 900.0]])
    got = w.integrated(t, a[:3], x[:3])
    grid = torch.linspace(0, 900, 90001)
    for j in range(3):
        inv = w._inv_g(grid.unsqueeze(-1), x[j:j + 1], int(a[j] > 0.5), left=False).squeeze(-1)
        keep = grid <= t[0, j]
        assert abs(float(got[0, j]) - float(torch.trapz(inv[keep], grid[keep]))) < 0.05
    # per-subject weights differ with x0, the Kaplan-Meier ones would not
    assert w(y[:50], a[:50], x[:50]).std() > 0.05


def test_cox_weighted_ipcw_crps_is_proper_under_covariate_dependent_censoring():
    """Draws from the true law score better than laws scaled by 0.75 and 1.33 when G depends on x. Paired
    differences over 20000 subjects on [0, 1000]: measured gaps 6.1 and 9.0 with standard errors 0.7, so a
    5-s.e. margin cannot pass by chance and fails if the weighting tilts the optimum."""
    from pyrocsa.losses import CoxCensoringWeights, ipcw_crps

    x, y, d, a = _covariate_censored(20000, 1)
    w = CoxCensoringWeights(y, d, a, x)
    g = torch.Generator().manual_seed(2)
    base = -500 * torch.rand(16, 20000, generator=g).log()
    truth = ipcw_crps(base, y, d, a, w, 1000.0, x)
    for f in (0.75, 1.33):
        diff = ipcw_crps(base * f, y, d, a, w, 1000.0, x) - truth
        assert float(diff.mean()) > 5 * float(diff.std() / 20000 ** 0.5), f
