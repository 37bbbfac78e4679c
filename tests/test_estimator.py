"""pyrocsa.CSA: fit / sample / save / load, reproducibility, chunking, training-loop guards, bad input."""

import numpy as np
import pandas as pd
import pyro
import pytest
import torch
from pyro.infer import Predictive

import pyrocsa
from pyrocsa.core.training import fit_module, resolve_device
from pyrocsa.csa.estimator import CSA
from pyrocsa.csa.losses import CSALoss
from pyrocsa.csa.model import CSAModel

SMALL = dict(hidden=(16, 16), flow_layers=2, max_epochs=15, patience=15, lr=1e-2, batch_size=100,
             verbose=False)


@pytest.fixture(autouse=True)
def _one_thread():
    # the machine is shared: two intra-op threads under load make small nets many times slower
    torch.set_num_threads(1)
    yield


def simulate_exponential(n=400, seed=0):
    """Confounded exponential data: T_a ~ Exp(mean exp(1 + 0.6 a + 0.4 x0)), Exp censoring (mean 8).

    True ATE of expected lifetimes = E[exp(1 + 0.4 x0)] (e^0.6 - 1) = e^1.08 (e^0.6 - 1) ~ 2.46.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    a = rng.binomial(1, 1 / (1 + np.exp(-0.8 * x[:, 0])))
    mean0, mean1 = np.exp(1 + 0.4 * x[:, 0]), np.exp(1.6 + 0.4 * x[:, 0])
    t0, t1 = rng.exponential(mean0), rng.exponential(mean1)
    c = rng.exponential(8.0, size=n)
    t = np.where(a == 1, t1, t0)
    df = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    df["treatment"] = a
    df["time"] = np.maximum(np.minimum(t, c), 1e-3)
    df["event"] = (t <= c).astype(int)
    df.index = [f"s{i}" for i in range(n)]
    return df


@pytest.fixture(scope="module")
def data():
    return simulate_exponential()


@pytest.fixture(scope="module")
def fitted(data):
    torch.set_num_threads(1)
    return CSA(seed=0, alpha=1.0, **SMALL).fit(data, "time", "event", "treatment")


def test_fit_attributes_and_sampling(fitted, data):
    est = fitted
    # the draws know the longest training duration, beyond which ite() / ate() extrapolate
    assert fitted.sample_potential_outcomes(data.iloc[:5], num_samples=3, seed=0).follow_up == \
        pytest.approx(fitted.max_duration_)
    assert est.fitted_ and isinstance(est.model_, CSAModel) and est.model_.informative_censoring
    assert est.alpha_ == 1.0 and est.alpha_scores_ is None
    assert len(est.history_) >= 1 and {"epoch", "train_loss", "valid_loss", "train_event", "valid_censoring",
                                       "valid_factual", "valid_ipm"} <= set(est.history_[0])
    assert est.n_valid_ == pytest.approx(0.15 * len(data), abs=3)
    po = est.sample_potential_outcomes(data.iloc[:50], num_samples=30, seed=1)
    assert isinstance(po, pyrocsa.PotentialOutcomes)
    assert po.t0.shape == po.t1.shape == po.c0.shape == po.c1.shape == (30, 50)
    assert list(po.index) == list(data.index[:50])
    assert np.isfinite(po.t0).all() and (po.t1 > 0).all()
    assert po.observed is not None and set(po.observed.columns) >= {"time", "event", "treatment"}
    # new subjects need only the covariates
    po2 = est.sample_potential_outcomes(data[["x0", "x1", "x2"]].iloc[:5], num_samples=3, seed=0)
    assert po2.t0.shape == (3, 5) and po2.observed is None


def test_print_summary(fitted, capsys):
    fitted.print_summary()
    out = capsys.readouterr().out
    assert "CSA-INFO" in out and "alpha" in out and "valid loss" in out


@pytest.mark.parametrize("objective", ["likelihood", "paper"])
def test_short_fit_recovers_sign_and_size_of_the_effect(data, objective):
    # RMST difference at 5 time units (inside follow-up: censoring has mean 8), whose truth is exact:
    # RMST_a(5|x) = m_a (1 - exp(-5 / m_a)) for exponential T_a with mean m_a. Population value ~0.66.
    # A 15-epoch fit of a tiny net on 340 rows is rough: accept the right sign and a factor of 2.5.
    x0 = data["x0"].to_numpy()
    m0, m1 = np.exp(1 + 0.4 * x0), np.exp(1.6 + 0.4 * x0)
    truth = float(np.mean(m1 * (1 - np.exp(-5 / m1)) - m0 * (1 - np.exp(-5 / m0))))
    # the paper objective (dropout 0.2, one draw) learns more slowly: give it 30 epochs
    epochs = 15 if objective == "likelihood" else 30
    est = CSA(seed=0, objective=objective, **dict(SMALL, max_epochs=epochs, patience=epochs))
    est.fit(data, "time", "event", "treatment")
    po = est.sample_potential_outcomes(data, num_samples=100, seed=0)
    effect = float((np.minimum(po.t1, 5) - np.minimum(po.t0, 5)).mean())
    assert truth / 2.5 < effect < truth * 2.5, (effect, truth)


def test_seed_reproducibility_and_save_load_round_trip(fitted, data, tmp_path):
    again = CSA(seed=0, alpha=1.0, **SMALL).fit(data, "time", "event", "treatment")
    for (k, v), (_, w) in zip(fitted.model_.state_dict().items(), again.model_.state_dict().items()):
        assert torch.equal(v, w), k
    a = fitted.sample_potential_outcomes(data.iloc[:20], num_samples=10, seed=3)
    b = again.sample_potential_outcomes(data.iloc[:20], num_samples=10, seed=3)
    assert np.array_equal(a.t1, b.t1)
    path = fitted.save(tmp_path / "csa")
    assert {p.name for p in path.iterdir()} == {"config.json", "preprocessing.json", "weights.pt",
                                                "posterior.pt"}
    loaded = CSA.load(path)
    c = loaded.sample_potential_outcomes(data.iloc[:20], num_samples=10, seed=3)
    for s in ("t0", "t1", "c0", "c1"):
        assert np.array_equal(getattr(a, s), getattr(c, s))
    assert loaded.alpha_ == fitted.alpha_ and loaded.history_ == fitted.history_
    loaded.print_summary()
    # different seeds give different draws
    d = fitted.sample_potential_outcomes(data.iloc[:20], num_samples=10, seed=4)
    assert not np.array_equal(a.t1, d.t1)


def test_exact_survival_rmst_and_score_agree_with_the_draws(fitted, data):
    """predict_survival_function is the law the draws come from: the share of 4000 draws above t matches
    S(t | x) within 4 binomial SEs (sqrt(S(1-S)/4000) <= 0.008), and predict_rmst matches the mean of
    min(T, h) within 4 of its Monte-Carlo SEs."""
    sub = data.iloc[:5]
    times = np.array([0.5, 2.0, 5.0])
    po = fitted.sample_potential_outcomes(sub, num_samples=4000, seed=2)
    for arm, draws in ((0, po.t0), (1, po.t1)):
        surv = fitted.predict_survival_function(sub, times=times, treatment=arm)
        assert surv.shape == (3, 5) and list(surv.columns) == list(sub.index)
        emp = np.stack([(draws > t).mean(0) for t in times])
        assert np.all(np.abs(emp - surv.to_numpy()) < 4 * 0.008)
        rmst = fitted.predict_rmst(sub, 5.0, treatment=arm).to_numpy()
        capped = np.minimum(draws, 5.0)
        assert np.all(np.abs(capped.mean(0) - rmst) < 4 * capped.std(0) / np.sqrt(4000) + 1e-3)
    own = fitted.predict_survival_function(sub, times=times)  # each row's own arm
    a = sub["treatment"].to_numpy()
    s1 = fitted.predict_survival_function(sub, times=times, treatment=1).to_numpy()
    s0 = fitted.predict_survival_function(sub, times=times, treatment=0).to_numpy()
    assert np.allclose(own.to_numpy(), np.where(a == 1, s1, s0))
    # the fitted model scores its own data better than the same covariates with the outcomes shuffled
    # across subjects (the likelihood sees the covariate dependence it learned)
    shuffled = data.copy()
    perm = np.random.default_rng(0).permutation(len(data))
    shuffled[["time", "event"]] = data[["time", "event"]].to_numpy()[perm]
    assert np.isfinite(fitted.score(data)) and fitted.score(data) > fitted.score(shuffled)
    with pytest.raises(ValueError, match="treatment"):
        fitted.predict_survival_function(sub, treatment=2)


def test_weibull_fit_recovers_the_true_quantiles():
    """On Weibull data (shape 1.5, scale exp(0.5 x), independent censoring), a fitted CSA's conditional
    quartiles match the truth. Tolerance: with 1500 rows the MLE of a quantile of a smooth 1-covariate law
    has a relative SE of a few per cent; a neural fit (15 epochs) adds approximation error, so we accept a
    mean absolute relative error below 12% over a grid of x (a model that ignored x errs by > 25%)."""
    rng = np.random.default_rng(0)
    n = 1500
    x = rng.uniform(-1, 1, n)
    scale = np.exp(0.5 * x)
    t = scale * rng.weibull(1.5, n)
    c = rng.exponential(3.0, n)
    df = pd.DataFrame({"x": x, "treatment": rng.integers(0, 2, n), "time": np.minimum(t, c),
                       "event": (t <= c).astype(int)})
    est = CSA(seed=0, informative_censoring=False, hidden=(32,), flow_layers=2, max_epochs=60, patience=15,
              verbose=False).fit(df, "time", "event", "treatment")
    grid = pd.DataFrame({"x": np.linspace(-0.9, 0.9, 7)})
    errors = []
    for q in (0.25, 0.5, 0.75):
        true_q = np.exp(0.5 * grid["x"].to_numpy()) * (-np.log(1 - q)) ** (1 / 1.5)
        xg = torch.as_tensor(est.preprocessor_.transform(grid), dtype=torch.float32)
        r = est.model_.representation(xg)
        for arm in (0, 1):
            law = est.model_.time_dist(r, xg, arm)
            pred = law.icdf(torch.full((7,), q)).detach().numpy()
            errors.append(np.abs(pred / true_q - 1))
    assert np.mean(errors) < 0.12, np.mean(errors)


def test_get_set_params_round_trip_and_sklearn_clone():
    from sklearn.base import clone

    est = CSA(alpha=[0.0, 1.0], flow_layers=3, seed=5, verbose=False)
    assert est.get_params()["alpha"] == [0.0, 1.0] and est.get_params()["flow_layers"] == 3
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    est.set_params(lr=2e-3)
    assert est.lr == 2e-3
    with pytest.raises(ValueError, match="unknown"):
        est.set_params(noise_dim=3)
    paper = CSA.paper()
    assert (paper.objective, paper.dropout, paper.lr, paper.batch_size) == ("paper", 0.2, 3e-4, 200)
    assert CSA.paper(lr=1e-3).lr == 1e-3


def test_sampling_leaves_the_global_rng_alone(fitted, data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fitted.sample_potential_outcomes(data.iloc[:10], num_samples=5, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_draws_do_not_depend_on_chunking_or_other_rows_and_fresh_without_seed(fitted, data):
    sub = data.iloc[:60]
    big = fitted.sample_potential_outcomes(sub, num_samples=50, seed=0, chunk_size=10_000)
    small = fitted.sample_potential_outcomes(sub, num_samples=50, seed=0, chunk_size=13)
    # float32 network arithmetic in chunks of different size agrees to rounding
    assert np.allclose(small.t0, big.t0, rtol=1e-5) and np.allclose(small.c1, big.c1, rtol=1e-5)
    head = fitted.sample_potential_outcomes(sub.iloc[:7], num_samples=50, seed=0)
    assert np.allclose(head.t1, big.t1[:, :7], rtol=1e-5)
    fresh = [fitted.sample_potential_outcomes(sub, num_samples=5).t0 for _ in range(2)]
    assert not np.array_equal(*fresh)
    with pytest.raises(ValueError, match="num_samples"):
        fitted.sample_potential_outcomes(sub, num_samples=2.5)
    # the two arms share their base noise (the paper's single eps): ranks are preserved across arms
    assert (np.argsort(np.argsort(big.t0[:, 0])) == np.argsort(np.argsort(big.t1[:, 0]))).all()
    with pytest.warns(FutureWarning, match="chunk_size"):
        fitted.sample_potential_outcomes(sub.iloc[:3], num_samples=2, seed=0, batch_size=2)
    assert fitted._chunk_size(200) >= 1


def test_paper_objective_and_plain_csa(data):
    est = CSA(informative_censoring=False, objective="paper", alpha=0.0, seed=1, **SMALL)
    est.fit(data, "time", "event", "treatment")
    po = est.sample_potential_outcomes(data.iloc[:10], num_samples=4, seed=0)
    assert po.c0 is None and not est.model_.informative_censoring
    assert est.name == "CSA"


def test_weights_move_when_training_a_second_model_after_predictive():
    torch.manual_seed(0)
    x, a = torch.randn(60, 3), (torch.rand(60) > 0.5).float()
    y, d = torch.rand(60) + 0.5, torch.ones(60)
    first = CSAModel(3, hidden=(8,), flow_layers=1).eval()
    Predictive(first, num_samples=5, parallel=True)(x)  # registers the first model in the param store
    assert len(pyro.get_param_store()) > 0
    second = CSAModel(3, hidden=(8,), flow_layers=1)
    before = {k: v.clone() for k, v in second.state_dict().items()}
    fit_module(second, CSALoss("likelihood", alpha=0.1), (x, a, y, d), max_epochs=3, batch_size=30,
               verbose=False)
    moved = [k for k, v in second.state_dict().items() if "weight" in k and not torch.equal(v, before[k])]
    assert len(moved) >= 5
    w1, w2 = first.encoder.blocks[0].linear.weight, second.encoder.blocks[0].linear.weight
    assert w1.data_ptr() != w2.data_ptr()


def test_nan_loss_raises_naming_the_epoch():
    model = torch.nn.Linear(2, 1)
    calls = {"n": 0}

    def loss_fn(module, x):
        calls["n"] += 1
        out = module(x).mean()
        if calls["n"] > 4:  # 2 batches per epoch: epoch 3 goes bad
            out = out * float("nan")
        return out, {"total": float(out.detach())}

    with pytest.raises(RuntimeError, match="epoch 3"):
        fit_module(model, loss_fn, (torch.randn(20, 2),), batch_size=10, max_epochs=10, verbose=False)


def test_cpu_only_and_device_checks(data):
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device(None).type == "cpu"
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")
    est = CSA(seed=0, device="cpu", **dict(SMALL, max_epochs=1)).fit(data, "time", "event", "treatment")
    assert all(p.device.type == "cpu" for p in est.model_.parameters())


def test_bad_inputs(data):
    est = CSA(**SMALL)
    with pytest.raises(RuntimeError, match="not fitted"):
        est.sample_potential_outcomes(data)
    with pytest.raises(ValueError, match="duration_col='days'"):
        CSA(**SMALL).fit(data, "days", "event", "treatment", val_df=data)
    with pytest.raises(ValueError, match="treatment_col='arm'"):
        CSA(**SMALL).fit(data, "time", "event", "arm")
    with pytest.raises(ValueError, match="objective"):
        CSA(objective="mse")
    with pytest.raises(ValueError, match="alpha"):
        CSA(alpha=-1)
    with pytest.raises(ValueError, match="dropout"):
        CSA(dropout=1.5)
    with pytest.raises(ValueError, match="flow_layers"):
        CSA(flow_layers=-1)
    with pytest.raises(ValueError, match="alpha"):
        CSA(alpha=[])
    with pytest.raises(ValueError, match="batch_size"):
        CSA(batch_size=2.5)
    with pytest.raises(TypeError):
        CSA(noise_dim=100)  # the noise-MLP generator is gone
    with pytest.raises(ValueError, match="format_version|missing"):
        CSA.load("/nonexistent/dir")


def test_bad_inputs_at_sampling(fitted, data):
    with pytest.raises(ValueError, match="x1"):
        fitted.sample_potential_outcomes(data.drop(columns=["x1"]))
    with pytest.raises(ValueError, match="num_samples"):
        fitted.sample_potential_outcomes(data, num_samples=0)
    with pytest.raises(ValueError, match="DataFrame"):
        fitted.sample_potential_outcomes(data.to_numpy())
    original = data.copy()
    fitted.sample_potential_outcomes(data, num_samples=2)
    pd.testing.assert_frame_equal(data, original)  # never modified


def test_proxy_counterfactuals_are_nearest_neighbours_in_the_other_arm():
    from pyrocsa.csa.alpha import proxy_counterfactuals
    from pyrocsa.data import SurvivalData

    tr = pd.DataFrame({"x": [0.0, 1.0, 2.0, 10.0, 11.0, 12.0] * 2, "treatment": [0, 0, 0, 1, 1, 1] * 2,
                       "time": [1.0, 2, 3, 4, 5, 6] * 2, "event": [1, 0, 1, 0, 1, 1] * 2})
    train = SurvivalData.from_frame(tr, "time", "event", "treatment")
    va = pd.DataFrame({"x": [0.9, 11.8], "treatment": [1, 0], "time": [1.0, 1.0], "event": [1, 1]})
    valid = train.transform(va, require_outcome=True)
    y_cf, d_cf = proxy_counterfactuals(train, valid)
    # x = 0.9 (treated) -> nearest control x = 1.0 (time 2, censored); x = 11.8 (control) -> treated x = 12
    assert y_cf.tolist() == [2.0, 6.0] and d_cf.tolist() == [0.0, 1.0]


def test_alpha_grid_fits_each_and_keeps_the_best(data):
    """A grid (and "auto") scores each fit by the doubly robust effect score on the validation rows: the
    kept model's score, recomputed from its own RMST effects and the pseudo-outcomes, is the recorded one."""
    from pyrocsa.core.influence import rmst_difference_pseudo_outcomes
    from pyrocsa.csa.alpha import effect_score, selection_horizon
    from pyrocsa.data import stratified_split

    split = stratified_split(data, "event", "treatment", seed=0)
    tr, va = data.iloc[np.concatenate([split["train"], split["test"]])], data.iloc[split["valid"]]
    est = CSA(alpha=[10.0, 0.0], seed=0, **dict(SMALL, max_epochs=3))
    est.fit(tr, "time", "event", "treatment", val_df=va)
    assert set(est.alpha_scores_) == {0.0, 10.0}
    # the one-SE rule keeps the lowest score or a smaller alpha
    assert est.alpha_ <= min(est.alpha_scores_, key=est.alpha_scores_.get)
    assert all(np.isfinite(v) and v > 0 for v in est.alpha_scores_.values())
    valid = est.data_.transform(va, require_outcome=True)
    horizon = selection_horizon(est.data_)
    arrays = [tuple(v.double().numpy() for v in (d.x, d.y, d.delta, d.a)) for d in (est.data_, valid)]
    phi = rmst_difference_pseudo_outcomes(arrays[0], arrays[1], horizon)
    assert effect_score(est.model_, valid, phi, horizon) == pytest.approx(est.alpha_scores_[est.alpha_],
                                                                          rel=1e-6)
    # the score is the squared error of the model's RMST effects, as predict_rmst computes them
    tau = (est.predict_rmst(va, horizon, treatment=1) - est.predict_rmst(va, horizon, treatment=0)).to_numpy()
    assert np.mean((tau - phi) ** 2) == pytest.approx(est.alpha_scores_[est.alpha_], rel=1e-4)


def test_one_se_rule_keeps_the_smallest_alpha_the_data_cannot_tell_from_the_best():
    from pyrocsa.csa.alpha import one_se_choice

    rng = np.random.default_rng(0)
    base = 10.0 + rng.standard_normal(400)
    z = rng.standard_normal(400)
    z = (z - z.mean()) / z.std(ddof=1)  # exactly mean 0, SD 1: the paired SE is 1 / sqrt(400) = 0.05
    # alpha 1 lowers the mean error by 0.04 < 1 SE: the data cannot tell it from alpha 0, which is kept
    assert one_se_choice({0.0: base, 1.0: base - 0.04 + z}) == 0.0
    # by 0.06 > 1 SE: alpha 1 is kept
    assert one_se_choice({0.0: base, 1.0: base - 0.06 + z}) == 1.0
    # alpha 1 clearly better than 0; alpha 10 lower by 0.005, within the paired SE (~0.007): alpha 1 kept
    clear = {0.0: base, 1.0: base - 0.5 + 0.1 * z, 10.0: base - 0.505 + 0.1 * z[::-1]}
    assert one_se_choice(clear) == 1.0
    # a larger alpha that is clearly best is kept
    assert one_se_choice({0.0: base, 100.0: base - 2.0}) == 100.0


def test_alpha_auto_names_the_event_column_when_an_arm_has_no_events(data):
    from pyrocsa.errors import DataError

    df = data.copy()
    df.loc[df["treatment"] == 1, "event"] = 0
    with pytest.raises(DataError, match="event column 'event': arm 1 has 0 event"):
        CSA(alpha="auto", seed=0, **dict(SMALL, max_epochs=1)).fit(df, "time", "event", "treatment")


def test_alpha_nn_proxy_is_the_papers_rule(data):
    """alpha="nn-proxy": the paper's grid, scored by the factual + nearest-neighbour proxy loss."""
    from pyrocsa.csa.alpha import proxy_counterfactuals, validation_score
    from pyrocsa.csa.estimator import ALPHA_GRID
    from pyrocsa.data import stratified_split

    split = stratified_split(data, "event", "treatment", seed=0)
    tr, va = data.iloc[np.concatenate([split["train"], split["test"]])], data.iloc[split["valid"]]
    est = CSA(alpha="nn-proxy", seed=0, **dict(SMALL, max_epochs=2, hidden=(8,), flow_layers=1))
    est.fit(tr, "time", "event", "treatment", val_df=va)
    assert sorted(est.alpha_scores_) == sorted(ALPHA_GRID)
    assert est.alpha_ == min(est.alpha_scores_, key=est.alpha_scores_.get)
    valid = est.data_.transform(va, require_outcome=True)
    y_cf, d_cf = proxy_counterfactuals(est.data_, valid)
    score = validation_score(est.model_, est._loss(0.0), valid, y_cf, d_cf, seed=0)
    assert score == pytest.approx(est.alpha_scores_[est.alpha_], rel=1e-5)
    with pytest.raises(ValueError, match="nn-proxy"):
        CSA(alpha="proxy")


def test_defaults():
    est = CSA()
    assert (est.objective, est.flow_layers, est.dropout, est.alpha) == ("likelihood", 4, 0.2, 0.0)
    assert len(est.get_params()) <= 15


def test_auto_batch_size_rule():
    """256 rows until an epoch would take more than 128 steps, then n_train // 128, capped at 4096."""
    from pyrocsa.core.training import auto_batch_size
    assert [auto_batch_size(n) for n in (10, 900, 32_768, 32_895)] == [256, 256, 256, 256]
    assert auto_batch_size(65_536) == 512
    assert auto_batch_size(425_000) == 3320
    assert auto_batch_size(10**7) == 4096


def test_auto_batch_size_is_256_on_small_cohorts_and_scales_on_large(tmp_path):
    """The default ("auto") fits bit-identically to batch_size=256 below 32,768 training rows (so every
    measured figure in benchmarks/ stands), records the rows it used in batch_size_, survives save/load."""
    df = simulate_exponential(n=600, seed=3)
    tiny = dict(hidden=(8,), flow_layers=1, max_epochs=2, patience=3, verbose=False, seed=0, device="cpu")
    auto, fixed = CSA(**tiny), CSA(batch_size=256, **tiny)
    assert auto.get_params()["batch_size"] == "auto"
    auto.fit(df, "time", "event", "treatment")
    fixed.fit(df, "time", "event", "treatment")
    assert auto.batch_size_ == fixed.batch_size_ == 256
    for p, q in zip(auto.model_.parameters(), fixed.model_.parameters()):
        assert torch.equal(p, q)
    loaded = CSA.load(auto.save(tmp_path / "m"))
    assert loaded.get_params()["batch_size"] == "auto"
    big = simulate_exponential(n=40_000, seed=4)
    m = CSA(**dict(tiny, max_epochs=1)).fit(big, "time", "event", "treatment")
    assert m.n_train_ > 32_768 and m.batch_size_ == m.n_train_ // 128 > 256
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1 or 'auto'"):
        CSA(batch_size="big")


def test_sampling_never_inverts_the_flows_per_draw(fitted, data, monkeypatch):
    """Sampling runs the flows forward for every draw: Predictive's initialisation passes used to invert
    every layer by Newton root finding (a quarter of the sampling time) for values that are then
    recomputed. The only inversions left are the end-of-follow-up knots, one value per subject, knot and law
    (:class:`pyrocsa.csa.distributions.EndOfFollowUp`), never one per draw."""
    from pyrocsa.csa import flows

    sizes = []
    real = flows.PlanarLayer._root
    monkeypatch.setattr(flows.PlanarLayer, "_root", lambda self, y: sizes.append(y.numel()) or real(self, y))
    po = fitted.sample_potential_outcomes(data.iloc[:50], num_samples=8, seed=2)
    assert sizes and max(sizes) <= 50 and np.isfinite(po.t0).all()
    again = fitted.sample_potential_outcomes(data.iloc[:50], num_samples=8, seed=2)
    np.testing.assert_array_equal(po.t1, again.t1)
    calls = []
    monkeypatch.setattr(flows.PlanarLayer, "_root", lambda self, y: calls.append(1) or real(self, y))
    fitted.score(data.iloc[:50])  # scoring does invert (the exact likelihood): the spy sees it
    assert calls


def test_end_of_follow_up_is_the_longest_training_duration_and_no_training_row_reaches_it(fitted):
    """The laws' end piece starts at the largest training duration, so the likelihood that trained the
    model is the flows' own: scoring the training rows with and without the piece gives the same value."""
    import copy

    from pyrocsa.csa.losses import CSALoss

    model = fitted.model_
    assert float(model.end_of_follow_up) == pytest.approx(fitted.max_duration_)
    train = fitted.data_
    tensors = (train.x, train.a, train.y, train.delta)
    without = copy.deepcopy(model)
    without.end_of_follow_up.fill_(float("inf"))
    with torch.no_grad():
        ended, _ = CSALoss("likelihood").factual_terms(model.eval(), *tensors)
        flows_only, _ = CSALoss("likelihood").factual_terms(without.eval(), *tensors)
    for name in ended:
        assert float(ended[name]) == pytest.approx(float(flows_only[name]), rel=1e-5)
    # the paper's objective keeps the paper's flows everywhere
    assert not CSA(objective="paper")._new_model(3, end_of_follow_up=5.0).end_of_follow_up.isfinite()
