"""Issue 17: every bad input a named error. One test per failure class found by the review of 2026-12-01;
each of them failed on the code before the fix (raw AttributeError / numpy / torch errors, silent
acceptance, or a wrong message).

CSA fits here are tiny (2 epochs, 8 units): these tests check validation and persistence, not fit quality.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from pyrocsa import CSA, SurvivalData
from pyrocsa.errors import ArgumentError, DataError, ModelFileError, PyrocsaError

TINY = dict(hidden=(8,), flow_layers=1, max_epochs=2, batch_size=64, verbose=False)


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(50, 10, n), "sex": rng.integers(0, 2, n),
                         "time": rng.exponential(100, n) + 1, "event": rng.integers(0, 2, n),
                         "treatment": rng.integers(0, 2, n)})


def _fit(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CSA(**TINY).fit(df, "time", "event", "treatment", **kw)


def test_error_hierarchy_keeps_builtin_exceptions_working():
    assert issubclass(DataError, ValueError) and issubclass(ArgumentError, ValueError)
    assert issubclass(ModelFileError, ValueError) and issubclass(ModelFileError, OSError)
    assert all(issubclass(c, PyrocsaError) for c in (DataError, ArgumentError, ModelFileError))


# -- data: named errors --------------------------------------------------------------------------------------
def test_duplicate_column_names_are_named_at_fit_and_at_predict():
    df = _frame()
    dup = df.set_axis(["age", "age", "time", "event", "treatment"], axis=1)
    with pytest.raises(DataError, match="duplicate column name.*'age'"):
        SurvivalData.from_frame(dup, "time", "event", "treatment")
    with pytest.raises(DataError, match="duplicate column name.*'age'"):
        CSA(**TINY).fit(dup, "time", "event", "treatment")
    model = _fit(df)
    with pytest.raises(DataError, match="duplicate column name.*'age'"):
        model.sample_potential_outcomes(pd.concat([df, df[["age"]]], axis=1), num_samples=2)


def test_empty_frame_is_named_at_fit_and_from_frame():
    empty = _frame().iloc[:0]
    with pytest.raises(DataError, match="no rows"):
        CSA(**TINY).fit(empty, "time", "event", "treatment")
    with pytest.raises(DataError, match="no rows"):
        SurvivalData.from_frame(empty, "time", "event", "treatment")


@pytest.mark.parametrize("scale, message", [(1e37, "float32"), (1e-45, "too small for float32")])
def test_durations_outside_float32_are_rejected_naming_the_column(scale, message):
    df = _frame()
    df["time"] = df["time"] * scale
    with pytest.raises(DataError, match=f"duration column 'time'.*{message}"):
        SurvivalData.from_frame(df, "time", "event", "treatment")


@pytest.mark.parametrize("roles, message", [
    (("time", "treatment", "treatment"), "event_col and treatment_col are both 'treatment'"),
    (("treatment", "event", "treatment"), "duration_col and treatment_col are both 'treatment'"),
    (("time", "time", "treatment"), "duration_col and event_col are both 'time'"),
])
def test_one_column_in_two_roles_is_rejected(roles, message):
    df = _frame()
    df["treatment"] = df["treatment"] + 1  # arms coded 1/2: a valid duration column, too
    with pytest.raises(DataError, match=message):
        SurvivalData.from_frame(df, *roles, treated_value=2)


def test_covariate_listing_an_outcome_column_names_its_role():
    with pytest.raises(DataError, match="'event' is also event_col"):
        SurvivalData.from_frame(_frame(), "time", "event", "treatment", covariates=["age", "event"])
    with pytest.raises(DataError, match="listed more than once"):
        SurvivalData.from_frame(_frame(), "time", "event", "treatment", covariates=["age", "age"])
    with pytest.raises(DataError, match=r"did you mean \['age'\]"):
        SurvivalData.from_frame(_frame(), "time", "event", "treatment", covariates="age")


def test_an_arm_with_a_single_row_is_reported_as_such():
    df = _frame()
    df["treatment"] = 0
    df.loc[0, "treatment"] = 1
    with pytest.raises(DataError, match="treated arm has a single row"):
        SurvivalData.from_frame(df, "time", "event", "treatment")


def test_num_samples_must_be_a_positive_integer():
    model = _fit(_frame())
    for bad in (2.5, 0, -3, True, "10", None):
        with pytest.raises(ArgumentError, match="num_samples must be a positive integer"):
            model.sample_potential_outcomes(_frame(), num_samples=bad)
    assert model.sample_potential_outcomes(_frame(), num_samples=3.0).t0.shape == (3, 60)  # integral float
    with pytest.raises(ArgumentError, match="seed"):
        model.sample_potential_outcomes(_frame(), num_samples=2, seed=1.5)


# -- saved models --------------------------------------------------------------------------------------------
def test_non_string_column_names_survive_save_and_load(tmp_path):
    df = _frame().set_axis([0, 1, "time", "event", "treatment"], axis=1)
    model = _fit(df)
    loaded = CSA.load(model.save(tmp_path / "m"))
    assert loaded.preprocessor_.columns_ == [0, 1]
    a = model.sample_potential_outcomes(df, num_samples=4, seed=1)
    b = loaded.sample_potential_outcomes(df, num_samples=4, seed=1)
    np.testing.assert_array_equal(a.t0, b.t0)
    np.testing.assert_array_equal(a.t1, b.t1)


def test_text_treatment_survives_save_and_load_for_one_patient(tmp_path):
    df = _frame()
    df["treatment"] = np.where(df["treatment"] == 1, "drug", "placebo")
    model = _fit(df, treated_value="drug")
    loaded = CSA.load(model.save(tmp_path / "m"))
    one = df.iloc[[3]]  # a single patient, outcome columns included: one treatment label only
    po = loaded.sample_potential_outcomes(one, num_samples=4, seed=0)
    assert po.t0.shape == (4, 1)
    assert po.observed["treatment"].iloc[0] == float(one["treatment"].iloc[0] == "drug")
    with pytest.raises(DataError, match="not seen when fitting"):
        loaded.sample_potential_outcomes(one.assign(treatment="other"), num_samples=4)


def test_numeric_treated_value_matches_float_arms():
    df = _frame()
    df["treatment"] = df["treatment"].astype(float) + 1.0  # arms 1.0 / 2.0
    data = SurvivalData.from_frame(df, "time", "event", "treatment", treated_value=2)
    np.testing.assert_array_equal(data.a.numpy(), (df["treatment"] == 2.0).to_numpy(float))
    with pytest.raises(DataError, match="treated_value='drug' is not one of"):
        SurvivalData.from_frame(df, "time", "event", "treatment", treated_value="drug")
