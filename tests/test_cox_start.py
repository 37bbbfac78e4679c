"""The lasso-Cox start of CSA's heads (pyrocsa.csa.cox_start) on data with known answers."""

import math

import numpy as np
import pytest
import torch

from pyrocsa.csa.cox_start import fit_start, lasso_cox, partial_log_likelihood
from pyrocsa.csa.model import CSAModel


def _brute_force_partial_likelihood(eta, time, event):
    return sum(eta[i] - math.log(np.exp(eta[time >= time[i]]).sum()) for i in range(len(time)) if event[i])


def test_partial_likelihood_matches_the_definition_with_ties():
    rng = np.random.default_rng(0)
    time = rng.integers(1, 15, 60).astype(float)  # many ties
    event = rng.integers(0, 2, 60).astype(float)
    eta = rng.normal(size=60)
    assert partial_log_likelihood(eta, time, event) == pytest.approx(
        _brute_force_partial_likelihood(eta, time, event), rel=1e-12)


def _cox_data(n, p, beta, seed, censor_rate=0.3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    t = rng.exponential(1.0, n) * np.exp(-(x @ beta))  # hazard exp(beta'x)
    c = rng.exponential(1.0 / censor_rate, n)
    return x, np.minimum(t, c), (t <= c).astype(float)


def test_lasso_keeps_the_signal_and_drops_most_noise():
    """p = 30 covariates, two with log hazard ratios 0.8 and -0.6, n = 800 (about 560 events): the
    unpenalised Cox SE of each coefficient is about 1 / sqrt(560) ~ 0.045, so both signals are ~15 SE from
    zero and must be kept, with the sign right and shrunk by less than half. Cross-validation may admit some
    noise covariates, but a lasso that kept most of the 28 would not be selecting."""
    beta = np.zeros(30)
    beta[:2] = [0.8, -0.6]
    x, time, event = _cox_data(800, 30, beta, seed=1)
    b, penalty, n_selected = lasso_cox(x, time, event, seed=0)
    assert b[0] > 0.4 and b[1] < -0.3
    assert n_selected == int((b != 0).sum()) and n_selected <= 2 + 10
    assert penalty > 0


def test_start_puts_each_head_at_its_cox_model():
    """After fit_start each event head is a linear transformation model around the lasso Cox fit (its
    network outputs are still zero; the baseline stage also moves the conditional layers' shared biases,
    so hazards need not be exactly proportional). On proportional-hazards data its log hazard ratio per
    unit of the covariate is then close to the true 0.7 at every time: with ~800 rows per arm the Cox SE is
    ~0.05; we allow 4 SE plus the lasso's shrinkage, 0.3 in all."""
    torch.manual_seed(0)
    beta = np.array([0.7, 0.0])
    x, time, event = _cox_data(2000, 2, beta, seed=2)
    a = np.random.default_rng(3).integers(0, 2, 2000).astype(float)
    t = [torch.as_tensor(v, dtype=torch.float32) for v in (x, a, time, event)]
    tr = tuple(v[:1600] for v in t)
    va = tuple(v[1600:] for v in t)
    model = CSAModel(2, informative_censoring=True, hidden=(16,), flow_layers=2,
                     log_time_loc=float(np.log(time).mean()), log_time_scale=float(np.log(time).std()))
    out = fit_start(model, tr, va, seed=0)
    assert set(out) == {"t0", "t1", "c0", "c1"}
    # the linear terms stay at the start in the joint fit; the rest of each head trains
    for _, _, head in model.heads():
        assert not any(True for _ in head.linear.parameters())
        assert set(dict(head.linear.named_buffers())) == {"weight", "bias"}
        assert head.outer.requires_grad and head.out.weight.requires_grad
    assert all(np.isfinite(v["valid_nll"]) for v in out.values())
    xs = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    times = torch.logspace(-1, 0.5, 9).unsqueeze(-1).expand(-1, 2)
    with torch.no_grad():
        r = model.representation(xs)
        for arm in (0, 1):
            law = model.time_dist(r, xs, arm)
            log_h = torch.log(-law.log_survival(times))
            log_hr = log_h[:, 1] - log_h[:, 0]
            assert float((log_hr - 0.7).abs().max()) < 0.3
            # the start's baseline matches the data: mean model survival vs the arm's Kaplan-Meier at the
            # median follow-up (KM SE there ~0.02 with ~800 rows; 0.06 is 3 SE)
            rows = tr[1] == arm
            med = float(tr[2][rows].median())
            xa = tr[0][rows]
            s_model = float(model.time_dist(model.representation(xa), xa, arm).log_survival(
                torch.full((len(xa),), med)).exp().mean())
            from lifelines import KaplanMeierFitter

            km = KaplanMeierFitter().fit(tr[2][rows].numpy(), tr[3][rows].numpy())
            assert abs(s_model - float(km.predict(med))) < 0.06


def test_a_head_without_enough_observed_times_keeps_its_zero_start():
    # no censoring at all: the censoring heads have nothing to fit and are left at zero
    x, time, _ = _cox_data(300, 2, np.array([0.5, 0.0]), seed=4)
    event = np.ones(300)
    a = np.arange(300) % 2
    t = tuple(torch.as_tensor(v, dtype=torch.float32) for v in (x, a, time, event))
    model = CSAModel(2, informative_censoring=True, hidden=(8,), flow_layers=1)
    out = fit_start(model, tuple(v[:240] for v in t), tuple(v[240:] for v in t))
    assert out["c0"]["valid_nll"] is None and out["c1"]["valid_nll"] is None
    assert float(model.censor_heads[0].linear.weight.detach().abs().sum()) == 0.0
    assert out["t0"]["valid_nll"] is not None
