"""Property-based tests of the data layer (hypothesis): random frames -- random column types (int, float,
bool, text, categorical, mixed object, datetime, nullable), NaN / inf / huge values in random places, role
collisions, duplicate and non-string column names -- either validate or raise a :class:`DataError`, never
another exception, and the input frame is never modified.

Bounded (a few hundred examples in all, no deadline) so the suite runs in seconds.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrocsa.data import Preprocessor, SurvivalData, stratified_split
from pyrocsa.errors import DataError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e39, 1e-300, 1e300]


def _binary(draw, n: int) -> list:
    """0/1 values, usually both present (a shuffled alternation), sometimes arbitrary."""
    if draw(st.integers(0, 7)):
        return draw(st.permutations([i % 2 for i in range(n)]))
    return draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))


def _placed(draw, values: list, pool) -> list:
    """``values`` with a few entries replaced by draws from ``pool`` (NaN, inf, huge ...)."""
    n = len(values)
    if n == 0 or not draw(st.booleans()):
        return values
    out = list(values)
    for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
        out[i] = draw(st.sampled_from(pool))
    return out


@st.composite
def column(draw, n: int, kind: str | None = None):
    kind = kind or draw(st.sampled_from(["int", "float", "bool", "text", "category", "object", "datetime",
                                         "Int64", "boolean", "binary", "constant"]))
    ints = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    if kind == "int":
        return pd.Series(ints, dtype="int64")
    if kind == "binary":
        return pd.Series([abs(v) % 2 for v in ints], dtype="int64")
    if kind == "constant":
        return pd.Series([draw(st.sampled_from([1, "a", 2.5]))] * n)
    if kind == "float":
        vals = [float(v) + 0.25 * i for i, v in enumerate(ints)]
        return pd.Series(_placed(draw, vals, SPECIAL), dtype="float64")
    if kind == "bool":
        return pd.Series([v > 0 for v in ints], dtype=bool)
    if kind == "text":
        vals = [f"level{abs(v) % 3}" for v in ints]
        return pd.Series(_placed(draw, vals, [None, np.nan, "", "x"]), dtype=object)
    if kind == "category":
        return pd.Series(pd.Categorical([f"c{abs(v) % 3}" if v != 0 else None for v in ints]))
    if kind == "object":  # mixed Python objects
        pool = [1, "a", 2.5, None, True, (1, 2), [1], {"k": 1}, b"x"]
        return pd.Series([pool[abs(v) % len(pool)] for v in ints], dtype=object)
    if kind == "datetime":
        return pd.Series(pd.to_datetime(["2020-01-01"] * n) + pd.to_timedelta(ints, unit="D"))
    if kind == "Int64":
        return pd.Series(_placed(draw, ints, [None]), dtype="Int64")
    if kind == "boolean":
        return pd.Series(_placed(draw, [v > 0 for v in ints], [None]), dtype="boolean")
    raise AssertionError(kind)


@st.composite
def outcome(draw, n: int):
    """A duration column: positive floats mostly, sometimes ints, text, bool, or special values."""
    kind = draw(st.sampled_from(["float"] * 4 + ["int", "int", "text", "bool", "Int64"]))
    base = draw(st.lists(st.floats(0.5, 500.0), min_size=n, max_size=n))
    if kind == "float":
        return pd.Series(_placed(draw, base, SPECIAL), dtype="float64")
    if kind == "int":
        return pd.Series([int(v) + 1 for v in base], dtype="int64")
    if kind == "text":
        return pd.Series([str(v) for v in base], dtype=object)
    if kind == "bool":
        return pd.Series([v > 100 for v in base], dtype=bool)
    return pd.Series(_placed(draw, [int(v) + 1 for v in base], [None, 0]), dtype="Int64")


@st.composite
def event(draw, n: int):
    kind = draw(st.sampled_from(["int", "int", "int", "bool", "float", "text", "boolean"]))
    vals = _binary(draw, n)
    if kind == "int":
        return pd.Series(_placed(draw, vals, [2, -1]), dtype="int64")
    if kind == "bool":
        return pd.Series([bool(v) for v in vals], dtype=bool)
    if kind == "float":
        return pd.Series(_placed(draw, [float(v) for v in vals], [np.nan, 0.5, np.inf]), dtype="float64")
    if kind == "text":
        return pd.Series([str(v) for v in vals], dtype=object)
    return pd.Series(_placed(draw, [bool(v) for v in vals], [None]), dtype="boolean")


@st.composite
def treatment(draw, n: int):
    """A treatment column and the treated_value that fits it."""
    kind = draw(st.sampled_from(["01", "01", "12", "text", "bool", "three", "float", "category"]))
    vals = _binary(draw, n)
    if kind == "01":
        return pd.Series(vals, dtype="int64"), None
    if kind == "12":
        return pd.Series([v + 1 for v in vals], dtype="int64"), 2
    if kind == "text":
        text = ["drug" if v else "placebo" for v in vals]
        return pd.Series(_placed(draw, text, [None]), dtype=object), "drug"
    if kind == "bool":
        return pd.Series([bool(v) for v in vals], dtype=bool), None
    if kind == "three":
        return pd.Series([v + (i % 3 == 0) for i, v in enumerate(vals)], dtype="int64"), None
    if kind == "category":
        return pd.Series(pd.Categorical(["b" if v else "a" for v in vals])), "b"
    return pd.Series(_placed(draw, [float(v) for v in vals], [np.nan, np.inf]), dtype="float64"), 1


NAMES = ["age", "sex", "x", 0, 1, 2.5, ("a", "b")]


@st.composite
def case(draw):
    """A frame and the from_frame arguments to try on it: mostly valid roles and labels, so that the
    draws reach the covariate encoding, with collisions, missing columns and wrong labels now and then."""
    clean = draw(st.booleans())  # half the cases: valid roles and outcomes, random covariates only
    n = draw(st.integers(4, 24) if clean else st.integers(0, 24))
    trt, right_tv = draw(treatment(n))
    if clean:
        time = pd.Series(draw(st.lists(st.floats(0.5, 500.0), min_size=n, max_size=n)), dtype="float64")
        cols = {"time": time, "event": pd.Series(_binary(draw, n), dtype="int64"), "treatment": trt}
    else:
        cols = {"time": draw(outcome(n)), "event": draw(event(n)), "treatment": trt}
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    covs = [draw(column(n)) for _ in names]
    labels = ["time", "event", "treatment"] + names
    series = list(cols.values()) + covs
    if not clean and draw(st.integers(0, 2)) == 0:  # a duplicated column name
        labels.append(draw(st.sampled_from(labels)))
        series.append(draw(column(n)))
    df = pd.concat([s.rename(i) for i, s in enumerate(series)], axis=1)
    df.columns = pd.Index(labels, dtype=object, tupleize_cols=False)
    if draw(st.booleans()):
        df = df.iloc[:, draw(st.permutations(list(range(df.shape[1]))))]
    pool = ["time", "event", "treatment", "missing"] + names
    roles = ["time", "event", "treatment"]
    if not clean and draw(st.integers(0, 2)) == 0:  # a collision or a missing column
        roles[draw(st.integers(0, 2))] = draw(st.sampled_from(pool))
    covariates = None
    if draw(st.integers(0, 2)) == 0:
        choices = names if clean or draw(st.booleans()) else pool
        covariates = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=4))
    wrong = [None, 1, 2, "drug", "b", True, "nope"]
    treated_value = right_tv if clean or draw(st.integers(0, 3)) else draw(st.sampled_from(wrong))
    min_rows = draw(st.sampled_from([1, 2] if clean else [1, 2, 2, 10]))
    return df, roles, covariates, treated_value, min_rows


def _call(df, roles, covariates, treated_value, min_rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "dropping constant covariate column(s)"
        warnings.simplefilter("error", RuntimeWarning)  # no silent overflow / invalid value
        return SurvivalData.from_frame(df, *roles, covariates=covariates, treated_value=treated_value,
                                       min_rows=min_rows)


@settings(SETTINGS, max_examples=300)
@given(case())
def test_from_frame_validates_or_raises_a_named_error_and_never_mutates(c):
    df, roles, covariates, treated_value, min_rows = c
    before = df.copy(deep=True)
    try:
        data = _call(df, roles, covariates, treated_value, min_rows)
    except DataError as err:
        assert str(err).strip()
    else:
        n = len(df)
        assert data.x.shape[0] == n and data.x.shape[1] == len(data.feature_names) >= 1
        for t in (data.x, data.a, data.y, data.delta):
            assert bool(t.isfinite().all())
        assert set(data.a.unique().tolist()) == {0.0, 1.0}
        assert set(data.delta.unique().tolist()) <= {0.0, 1.0}
        assert bool((data.y > 0).all())
        # re-applying the fitted preprocessing to the same frame gives the same design matrix
        again = data.transform(df, require_outcome=True)
        assert bool((again.x == data.x).all()) and bool((again.a == data.a).all())
        # and so does a preprocessor that went through JSON (column names keep their types)
        pre = Preprocessor.from_dict(json.loads(json.dumps(data.preprocessor.to_dict())))
        np.testing.assert_array_equal(pre.transform(df), data.x.numpy())
    pd.testing.assert_frame_equal(df, before)


@st.composite
def refit_case(draw):
    """A valid training frame and a new frame whose covariates may have other types or values."""
    n = draw(st.integers(12, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    train = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["a", "b", "c"], n),
                          "time": rng.exponential(10, n) + 0.1, "event": np.r_[1, rng.integers(0, 2, n - 1)],
                          "treatment": np.r_[0, 1, rng.integers(0, 2, n - 2)]})
    m = draw(st.integers(0, 6))
    new = train.iloc[:m].copy()
    if m and draw(st.booleans()):
        new["num"] = draw(column(m)).to_numpy()
    if m and draw(st.booleans()):
        new["cat"] = draw(column(m)).to_numpy()
    if m and draw(st.booleans()):
        new["treatment"] = draw(treatment(m))[0].to_numpy()
    if draw(st.integers(0, 4)) == 0:
        new = new.drop(columns=[draw(st.sampled_from(["num", "cat", "time", "event", "treatment"]))])
    return train, new


@SETTINGS
@given(refit_case())
def test_new_frames_are_transformed_or_rejected_by_name(c):
    train, new = c
    data = _call(train, ["time", "event", "treatment"], None, None, 10)
    before = new.copy(deep=True)
    for require_outcome in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                out = data.transform(new, require_outcome=require_outcome)
        except DataError as err:
            assert str(err).strip()
        else:
            assert out.x.shape == (len(new), data.x.shape[1]) and bool(out.x.isfinite().all())
    pd.testing.assert_frame_equal(new, before)


@SETTINGS
@given(case())
def test_stratified_split_partitions_or_raises_a_named_error(c):
    df, roles, _, _, _ = c
    before = df.copy(deep=True)
    try:
        parts = stratified_split(df, roles[1], roles[2])
    except DataError as err:
        assert str(err).strip()
    else:
        allpos = np.sort(np.concatenate(list(parts.values())))
        np.testing.assert_array_equal(allpos, np.arange(len(df)))
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("bad", [[1, 2], np.zeros((3, 2)), None, "frame.csv"])
def test_non_frames_are_named(bad):
    with pytest.raises(DataError, match="DataFrame"):
        SurvivalData.from_frame(bad, "time", "event", "treatment")
