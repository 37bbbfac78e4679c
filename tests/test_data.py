"""The data layer: validation (ValueError naming the column), preprocessing fitted on train only, splits."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from pyrocsa.data import MIN_ROWS, Preprocessor, SurvivalData, stratified_split
from pyrocsa.datasets import ACTG_BASELINE, load_actg
from pyrocsa.errors import DataError


def make_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(40, 8, n),
        "smoker": rng.integers(0, 2, n),
        "site": rng.choice(["a", "b", "c"], n),
        "arm": np.tile([0, 1], n // 2),
        "time": rng.exponential(300, n) + 1.0,
        "status": rng.integers(0, 2, n),
    })
    df.loc[3, "age"] = np.nan
    df.loc[5, "site"] = None
    df.loc[0, "status"] = 1
    return df


def build(df, **kw):
    return SurvivalData.from_frame(df, "time", "status", "arm", **kw)


# ---- happy path -----------------------------------------------------------------------------------------
def test_tensors_shapes_and_dtypes():
    df = make_frame()
    d = build(df)
    n = len(df)
    assert d.x.shape == (n, 1 + 1 + 3)  # age, smoker, site one-hot (a, b, c)
    for t in (d.x, d.a, d.y, d.delta):
        assert t.dtype.is_floating_point and str(t.dtype) == "torch.float32"
    np.testing.assert_array_equal(d.a.numpy(), df["arm"].to_numpy())
    np.testing.assert_allclose(d.y.numpy(), df["time"].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(d.delta.numpy(), df["status"].to_numpy())
    assert np.isfinite(d.x.numpy()).all()
    assert d.index.equals(df.index)


def test_one_hot_for_categoricals():
    df = make_frame()
    d = build(df)
    assert d.feature_names == ["age", "smoker", "site=a", "site=b", "site=c"]
    onehot = d.x.numpy()[:, 2:]
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    expected = (df["site"].fillna(df["site"].mode()[0]).to_numpy()[:, None] == np.array(["a", "b", "c"]))
    np.testing.assert_array_equal(onehot, expected.astype(np.float32))
    # an unseen level in new data encodes as all zeros
    new = df.iloc[:3].copy()
    new["site"] = ["zz", "a", "b"]
    x_new = d.transform(new).x.numpy()
    np.testing.assert_array_equal(x_new[0, 2:], 0.0)


def test_bool_event_and_bool_treatment_accepted():
    df = make_frame()
    df["status"] = df["status"].astype(bool)
    df["arm"] = df["arm"].astype(bool)
    d = build(df)
    np.testing.assert_array_equal(d.delta.numpy(), df["status"].to_numpy(dtype=float))
    np.testing.assert_array_equal(d.a.numpy(), df["arm"].to_numpy(dtype=float))


def test_string_treatment_needs_treated_value():
    df = make_frame()
    df["arm"] = np.where(df["arm"] == 1, "drug", "placebo")
    with pytest.raises(ValueError, match="arm.*treated_value"):
        build(df)
    d = build(df, treated_value="drug")
    np.testing.assert_array_equal(d.a.numpy(), (df["arm"] == "drug").to_numpy(dtype=float))
    with pytest.raises(ValueError, match="treated_value='other'.*arm"):
        build(df, treated_value="other")


def test_user_frame_is_never_modified():
    df = make_frame()
    df["arm"] = np.where(df["arm"] == 1, "drug", "placebo")
    before = copy.deepcopy(df)
    d = build(df, treated_value="drug")
    d.transform(df)
    d.transform(df.drop(columns=["time", "status"]))
    stratified_split(df, "status", "arm")
    pd.testing.assert_frame_equal(df, before)


# ---- bad input: each case raises ValueError naming the column ---------------------------------------------
@pytest.mark.parametrize("col", ["time", "status", "arm"])
def test_missing_column(col):
    df = make_frame().drop(columns=[col])
    with pytest.raises(ValueError, match=f"'{col}'"):
        build(df)


def test_missing_covariate_column():
    with pytest.raises(ValueError, match="nope"):
        build(make_frame(), covariates=["age", "nope"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -3.0, 0.0])
def test_bad_duration(bad):
    df = make_frame()
    df.loc[7, "time"] = bad
    with pytest.raises(ValueError, match="duration column 'time'"):
        build(df)


def test_non_numeric_duration():
    df = make_frame()
    df["time"] = df["time"].astype(str)
    with pytest.raises(ValueError, match="duration column 'time'.*numeric"):
        build(df)


@pytest.mark.parametrize("bad", [2, -1, 0.5, np.nan])
def test_bad_event(bad):
    df = make_frame()
    df["status"] = df["status"].astype(float)
    df.loc[4, "status"] = bad
    with pytest.raises(ValueError, match="event column 'status'"):
        build(df)


def test_text_event_rejected():
    df = make_frame()
    df["status"] = np.where(df["status"] == 1, "dead", "alive")
    with pytest.raises(ValueError, match="event column 'status'"):
        build(df)


def test_treatment_with_three_values():
    df = make_frame()
    df.loc[:9, "arm"] = 2
    with pytest.raises(ValueError, match="treatment column 'arm'.*exactly two values"):
        build(df)


def test_treatment_missing_value():
    df = make_frame()
    df["arm"] = df["arm"].astype(float)
    df.loc[2, "arm"] = np.nan
    with pytest.raises(ValueError, match="treatment column 'arm'.*missing"):
        build(df)


def test_one_arm_empty():
    df = make_frame()
    df["arm"] = 1
    with pytest.raises(ValueError, match="treatment column 'arm'"):
        build(df)


def test_no_events():
    df = make_frame()
    df["status"] = 0
    with pytest.raises(ValueError, match="event column 'status'.*no events"):
        build(df)


def test_too_few_rows():
    df = make_frame().iloc[: MIN_ROWS - 1]
    with pytest.raises(ValueError, match="too few rows"):
        build(df)


def test_not_a_dataframe():
    with pytest.raises(ValueError, match="DataFrame"):
        SurvivalData.from_frame(make_frame().to_numpy(), "time", "status", "arm")


def test_duplicate_index_rejected():
    df = make_frame()
    df.index = [0] * len(df)
    with pytest.raises(ValueError, match="duplicate"):
        build(df)


def test_outcome_column_as_covariate_rejected():
    with pytest.raises(ValueError, match="'time'"):
        build(make_frame(), covariates=["age", "time"])


@pytest.mark.parametrize("kind", ["containers", "too_many_levels", "datetime", "all_missing", "inf"])
def test_covariate_that_cannot_be_encoded(kind):
    df = make_frame()
    n = len(df)
    if kind == "containers":
        df["bad"] = [[i, i + 1] for i in range(n)]
    elif kind == "too_many_levels":
        df["bad"] = [f"id{i}" for i in range(n)]
    elif kind == "datetime":
        df["bad"] = pd.date_range("2020-01-01", periods=n)
    elif kind == "all_missing":
        df["bad"] = np.nan
    else:
        df["bad"] = np.linspace(0, 1, n)
        df.loc[1, "bad"] = np.inf
    with pytest.raises(ValueError, match="'bad'"):
        build(df)


def test_covariate_determining_treatment_exactly():
    df = load_actg()
    with pytest.raises(ValueError, match="'treat'.*'arms'"):
        SurvivalData.from_frame(df, "days", "cens", "arms", covariates=ACTG_BASELINE + ["treat"])
    d = SurvivalData.from_frame(df, "days", "cens", "arms", covariates=ACTG_BASELINE)
    assert d.x.shape == (1054, len(ACTG_BASELINE))


def test_non_numeric_value_in_new_data():
    df = make_frame()
    d = build(df)
    new = df.iloc[:4].copy()
    new["age"] = new["age"].astype(object)
    new.loc[new.index[0], "age"] = "old"
    with pytest.raises(ValueError, match="'age'.*non-numeric"):
        d.transform(new)


# ---- preprocessing ----------------------------------------------------------------------------------------
def test_constant_column_dropped_with_warning():
    df = load_actg()
    with pytest.warns(UserWarning, match="zprior"):
        d = SurvivalData.from_frame(df, "days", "cens", "arms", covariates=ACTG_BASELINE + ["zprior"])
    assert "zprior" not in d.feature_names
    assert d.x.shape[1] == len(ACTG_BASELINE)
    assert "zprior" not in d.covariates


def test_standardisation_fitted_on_train_only():
    df = make_frame(n=200, seed=1)
    df.loc[150:, "age"] += 30.0  # the "test" rows are shifted: their own mean differs a lot
    train, test = df.iloc[:150], df.iloc[150:]
    d = build(train)
    st = d.preprocessor.numeric_["age"]
    age_train = train["age"]
    assert st["mean"] == pytest.approx(age_train.fillna(age_train.median()).mean())
    assert st["sd"] == pytest.approx(age_train.fillna(age_train.median()).std(ddof=0))
    x_test = d.transform(test).x.numpy()
    expected = (test["age"].to_numpy() - st["mean"]) / st["sd"]
    np.testing.assert_allclose(x_test[:, 0], expected, rtol=1e-5)
    # the shift survives: the test rows are ~30/8 train SDs above the training mean, not re-centred at 0
    assert x_test[:, 0].mean() > 2.5
    # a missing value in new data gets the *training* median
    new = test.iloc[:2].copy()
    new.loc[new.index[0], "age"] = np.nan
    x_new = d.transform(new).x.numpy()
    assert x_new[0, 0] == pytest.approx((age_train.median() - st["mean"]) / st["sd"], rel=1e-5)


def test_training_rows_standardised():
    df = make_frame(n=200, seed=2)
    x = build(df).x.numpy()
    # numeric columns have mean 0, sd 1 on the training data (float32: tolerance 1e-5)
    np.testing.assert_allclose(x[:, :2].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x[:, :2].std(axis=0), 1.0, atol=1e-5)


def test_transform_single_new_subject():
    df = make_frame()
    d = build(df)
    one = df.iloc[[4]].drop(columns=["time", "status"])
    out = d.transform(one)
    assert out.x.shape == (1, d.x.shape[1])
    np.testing.assert_allclose(out.x.numpy()[0], d.x.numpy()[4], rtol=1e-6)
    assert out.a.numpy()[0] == df["arm"].iloc[4]


def test_transform_new_subjects_all_in_one_arm_string_labels():
    df = make_frame()
    df["arm"] = np.where(df["arm"] == 1, "drug", "placebo")
    d = build(df, treated_value="drug")
    new = df[df["arm"] == "placebo"].iloc[:3]
    np.testing.assert_array_equal(d.transform(new).a.numpy(), 0.0)
    bad = new.copy()
    bad["arm"] = "surgery"  # a label never seen in training
    with pytest.raises(ValueError, match="treatment column 'arm'"):
        d.transform(bad)


def test_preprocessor_round_trip():
    df = make_frame()
    d = build(df)
    pre = Preprocessor.from_dict(d.preprocessor.to_dict())
    np.testing.assert_array_equal(pre.transform(df), d.x.numpy())


def test_transform_missing_covariate_column():
    df = make_frame()
    d = build(df)
    with pytest.raises(ValueError, match="site"):
        d.transform(df.drop(columns=["site"]))


# ---- split ------------------------------------------------------------------------------------------------
def test_stratified_split_proportions_and_reproducibility():
    df = make_frame(n=1000, seed=3)
    s = stratified_split(df, "status", "arm", seed=7)
    all_pos = np.concatenate([s["train"], s["valid"], s["test"]])
    np.testing.assert_array_equal(np.sort(all_pos), np.arange(len(df)))  # a partition
    n = len(df)
    # rounding happens per stratum (4 strata): each part is within 4 rows of its share
    assert abs(len(s["train"]) - 0.70 * n) <= 4
    assert abs(len(s["valid"]) - 0.15 * n) <= 4
    assert abs(len(s["test"]) - 0.15 * n) <= 4
    # every (event, treatment) stratum keeps its share in every part (to one row of rounding)
    strata = df["status"].astype(str) + "|" + df["arm"].astype(str)
    for part, frac in (("train", 0.70), ("valid", 0.15), ("test", 0.15)):
        got = strata.iloc[s[part]].value_counts()
        for key, total in strata.value_counts().items():
            assert abs(got.get(key, 0) - frac * total) <= 1.0
    s2 = stratified_split(df, "status", "arm", seed=7)
    for k in s:
        np.testing.assert_array_equal(s[k], s2[k])
    s3 = stratified_split(df, "status", "arm", seed=8)
    assert not np.array_equal(s["test"], s3["test"])


def test_stratified_split_bad_fractions():
    df = make_frame()
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(df, "status", "arm", fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="'nope'"):
        stratified_split(df, "nope", "arm")


def test_no_warning_for_clean_frame():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(make_frame())


def test_transform_numeric_treatment_new_data():
    df = make_frame()
    d = build(df)
    new = df.iloc[:4].copy()
    new["arm"] = 1.0  # float labels, one arm only: fine
    np.testing.assert_array_equal(d.transform(new).a.numpy(), 1.0)
    val = df.iloc[:12][df["arm"].iloc[:12] == 0]  # a validation frame with outcomes but one arm
    assert d.transform(val, require_outcome=True).a.sum() == 0
    new["arm"] = 2  # a treatment code never seen in training
    with pytest.raises(ValueError, match="treatment column 'arm'.*not seen"):
        d.transform(new)


def _with_zero_durations():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time": rng.uniform(1, 10, 40).round(1), "event": rng.integers(0, 2, 40),
                       "treatment": np.tile([0, 1], 20), "x": rng.normal(size=40)})
    df.loc[[3, 8, 11], "time"] = 0.0
    df.loc[[3, 8, 11], "event"] = 1
    return df


def test_zero_durations_are_an_error_by_default_naming_the_option():
    df = _with_zero_durations()
    with pytest.raises(DataError,
                       match=r"duration column 'time' has 3 zero value\(s\).*zero_durations='shift'"):
        SurvivalData.from_frame(df, "time", "event", "treatment")
    bad = df.assign(time=df.time.where(df.index != 5, -1.0))
    with pytest.raises(DataError, match="1 negative value"):
        SurvivalData.from_frame(bad, "time", "event", "treatment", zero_durations="shift")
    with pytest.raises(DataError, match="zero_durations must be one of"):
        SurvivalData.from_frame(df, "time", "event", "treatment", zero_durations="drop")


def test_zero_durations_shift_to_half_the_smallest_positive_duration():
    df = _with_zero_durations()
    before = df.copy()
    smallest = df.time[df.time > 0].min()
    with pytest.warns(UserWarning, match=rf"3 duration\(s\) of 0 in df set to {smallest / 2:g} \(half the "
                                         "smallest positive duration"):
        data = SurvivalData.from_frame(df, "time", "event", "treatment", zero_durations="shift")
    y = data.y.numpy()
    assert np.allclose(y[[3, 8, 11]], smallest / 2) and np.allclose(np.delete(y, [3, 8, 11]),
                                                                    np.delete(df.time.to_numpy(), [3, 8, 11]))
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched


def test_zero_durations_through_fit():
    from pyrocsa.baselines import CoxTLearner

    df = _with_zero_durations()
    with pytest.raises(DataError, match="zero value"):
        CoxTLearner().fit(df, "time", "event", "treatment")
    with pytest.warns(UserWarning, match="duration\\(s\\) of 0"):
        model = CoxTLearner().fit(df, "time", "event", "treatment", zero_durations="shift")
    assert model.data_.y.min() > 0 and df.time.min() == 0
    import pyrocsa

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=pyrocsa.errors.FitWarning)
        with pytest.warns(UserWarning, match="in df set to"):
            csa = pyrocsa.CSA(flow_layers=0, max_epochs=2, verbose=False).fit(
                df, "time", "event", "treatment", zero_durations="shift")
    assert csa.data_.y.min() > 0
    with pytest.raises(DataError, match="zero_durations='shift'"):
        pyrocsa.CSA(flow_layers=0, max_epochs=2, verbose=False).fit(df, "time", "event", "treatment")
