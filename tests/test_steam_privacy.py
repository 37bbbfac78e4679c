"""The privacy audit on cases with known answers.

Design: one cohort of pyrocsa.simulate (2139 rows, Gompertz-Cox outcomes, informative censoring) split
into three disjoint parts of the same process: real-train (850), real-holdout (440) and a "fresh draw"
(849). The fresh draw is what a generator that learnt the population -- and nothing about the individual
training patients -- would produce: every risk must be within its threshold. A "synthetic" set made of
training rows (an exact copy, or a bootstrap resample) is the worst release: every risk must exceed its
threshold. Tolerances: with 440 holdout rows the AUCs and attribute-inference advantages of the fresh draw
have a standard error near 0.02, so the fresh draw's values lie within 0.05 of chance with margin.
"""

import numpy as np
import pandas as pd
import pytest

from pyrocsa.errors import ArgumentError, DataError
from pyrocsa.simulate import simulate
from pyrocsa.steam import PrivacyReport, privacy_report
from pyrocsa.steam.metrics import evaluate_cohort

COV = ["age", "wtkg", "karnof", "cd40", "cd80", "drugs", "race", "gender", "str2", "symptom", "hemo", "homo"]
COLS = COV + ["time", "event", "treatment"]
QI = ["age", "wtkg", "race", "gender"]
METRICS = ["exact_copy_rate", "dcr_median_ratio", "dcr_p05_ratio", "mia_distance_auc", "mia_density_auc",
           "attribute_inference_time", "attribute_inference_event"]


@pytest.fixture(scope="module")
def parts():
    f = simulate(seed=0, censoring="informative").frame[COLS]
    perm = np.random.default_rng(0).permutation(len(f))
    return f.iloc[perm[:850]], f.iloc[perm[850:1290]], f.iloc[perm[1290:]]


def _report(train, holdout, syn, **kw):
    return privacy_report(train, holdout, syn, quasi_identifiers=QI, sensitive=["time", "event"], **kw)


def test_fresh_draw_passes_every_risk(parts):
    train, holdout, fresh = parts
    rep = _report(train, holdout, fresh)
    frame = rep.to_frame().set_index("metric")
    assert list(frame.index) == METRICS
    assert frame["passed"].all(), frame
    assert rep.passed
    assert frame.loc["exact_copy_rate", "value"] == 0.0
    for m in ("dcr_median_ratio", "dcr_p05_ratio"):  # as far from the training patients as new patients
        assert abs(frame.loc[m, "value"] - 1.0) < 0.1
    for m in ("mia_distance_auc", "mia_density_auc"):  # chance
        assert abs(frame.loc[m, "value"] - 0.5) < 0.05
    for m in ("attribute_inference_time", "attribute_inference_event"):
        assert abs(frame.loc[m, "value"]) < 0.05


@pytest.mark.parametrize("kind", ["copy", "bootstrap"])
def test_copies_of_training_rows_fail_every_risk(parts, kind):
    train, holdout, _ = parts
    syn = train.sample(frac=1.0, random_state=1) if kind == "copy" else \
        train.sample(len(train), replace=True, random_state=1)
    rep = _report(train, holdout, syn)
    frame = rep.to_frame().set_index("metric")
    assert not frame["passed"].any(), frame
    assert not rep.passed
    assert frame.loc["exact_copy_rate", "value"] == 1.0
    assert frame.loc["dcr_median_ratio", "value"] == 0.0
    # a copied training record sits at distance 0 from a synthetic row: the distance attack is perfect on
    # a full copy; a bootstrap copies 1 - 1/e ~ 63% of the records, AUC ~ 0.63 + 0.37 / 2 ~ 0.82
    expected = 1.0 if kind == "copy" else 1 - np.exp(-1) / 2
    assert frame.loc["mia_distance_auc", "value"] == pytest.approx(expected, abs=0.04)
    assert frame.loc["mia_density_auc", "value"] > 0.6


def test_near_copies_fail_distance_checks_but_not_exact_copy(parts):
    """Training rows with a small jitter on the continuous columns are no exact copies, yet the DCR and
    the membership attacks see them."""
    train, holdout, _ = parts
    syn = train.copy()
    rng = np.random.default_rng(2)
    for c in ("age", "wtkg", "cd40", "cd80", "time"):
        syn[c] = syn[c] + rng.normal(0, 0.01 * train[c].std(), len(syn))
    frame = _report(train, holdout, syn).to_frame().set_index("metric")
    assert frame.loc["exact_copy_rate", "passed"]
    assert not frame.loc["dcr_p05_ratio", "passed"]
    assert frame.loc["mia_distance_auc", "value"] > 0.9


def test_report_fields_printing_and_thresholds(parts, capsys):
    train, holdout, fresh = parts
    rep = privacy_report(train, holdout, fresh)  # no quasi-identifiers: no attribute-inference rows
    assert isinstance(rep, PrivacyReport)
    frame = rep.to_frame()
    assert list(frame.columns) == ["metric", "value", "threshold", "passed", "meaning"]
    assert list(frame["metric"]) == METRICS[:5]
    assert frame["meaning"].str.len().min() > 20
    assert rep.n_train == 850 and rep.n_holdout == 440 and rep.n_synthetic == 849
    assert rep.columns == COLS
    text = str(rep)
    assert "mia_distance_auc" in text and "attribute inference not assessed" in text
    rep.print_summary()
    assert "0.5 = chance" in capsys.readouterr().out
    strict = privacy_report(train, holdout, fresh, thresholds={"mia_distance_auc": 0.1})
    row = strict.to_frame().set_index("metric").loc["mia_distance_auc"]
    assert row["threshold"] == 0.1 and not row["passed"]
    d = rep.to_dict()
    assert d["privacy_passed"] is True and set(METRICS[:5]) <= set(d)


def test_inputs_are_not_modified(parts):
    train, holdout, fresh = parts
    copies = [f.copy() for f in parts]
    _report(train, holdout, fresh)
    for before, after in zip(copies, parts):
        pd.testing.assert_frame_equal(before, after)


def test_bad_input_names_the_argument(parts):
    train, holdout, fresh = parts
    with pytest.raises(DataError, match="synthetic_df.*'cd40'"):
        privacy_report(train, holdout, fresh.drop(columns="cd40"))
    with pytest.raises(DataError, match="holdout_df must be a pandas DataFrame"):
        privacy_report(train, holdout.to_numpy(), fresh)
    with pytest.raises(ArgumentError, match="quasi_identifiers.*'postcode'"):
        privacy_report(train, holdout, fresh, quasi_identifiers=["postcode"], sensitive=["time"])
    with pytest.raises(ArgumentError, match="pass both"):
        privacy_report(train, holdout, fresh, quasi_identifiers=["age"])
    with pytest.raises(ArgumentError, match="both quasi_identifiers and sensitive"):
        privacy_report(train, holdout, fresh, quasi_identifiers=["age"], sensitive=["age"])
    with pytest.raises(ArgumentError, match="thresholds: unknown metric 'auc'"):
        privacy_report(train, holdout, fresh, thresholds={"auc": 0.5})
    with pytest.raises(ArgumentError, match="tolerance"):
        _report(train, holdout, fresh, tolerance=2.0)
    bad = fresh.copy()
    bad.loc[bad.index[0], "time"] = np.nan
    with pytest.raises(DataError, match="synthetic_df: sensitive column 'time'"):
        _report(train, holdout, bad)


def test_evaluate_cohort_includes_the_audit(parts):
    train, holdout, fresh = parts
    res = evaluate_cohort(train, holdout, fresh, "time", "event", "treatment", COV, horizon=1000.0)
    for key in ("exact_copy_rate", "mia_distance_auc", "mia_density_auc", "attribute_inference_duration",
                "attribute_inference_event", "dcr_ratio_p05"):
        assert np.isfinite(res[key])
    assert res["privacy_passed"] is True
    assert res["exact_copy_rate"] == 0.0


# -- the privacy= knob of SyntheticCohort ---------------------------------------------------------------
def _knob_cohort(train, privacy, covariate_model="trees"):
    from pyrocsa.steam import SyntheticCohort

    return SyntheticCohort(covariate_model=covariate_model, outcome_model="weibull", privacy=privacy).fit(
        train, "time", "event", "treatment", covariates=COV)


def test_privacy_knob_enforces_its_minimum_distance(parts):
    """The documented rule, recomputed by brute force: the minimum distance is the q-quantile of the
    training rows' distances to their closest other training row (standardised covariates), and no
    synthetic covariate row is closer than that to any training row."""
    train, holdout, _ = parts
    model = _knob_cohort(train, 0.2)
    syn = model.sample(600, seed=3)
    pre = model.filter_.preprocessor_
    xt, xs = pre.transform(train).astype(float), pre.transform(syn).astype(float)
    dtt = np.sqrt(((xt[:, None, :] - xt[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dtt, np.inf)
    assert model.filter_.min_distance_ == pytest.approx(np.quantile(dtt.min(1), 0.2))
    dst = np.sqrt(((xs[:, None, :] - xt[None, :, :]) ** 2).sum(-1)).min(1)
    assert dst.min() >= model.filter_.min_distance_
    assert 0.3 < model.acceptance_rate_ < 1.0
    assert len(syn) == 600 and list(syn.columns) == list(train.columns)
    pd.testing.assert_frame_equal(syn, model.sample(600, seed=3))  # reproducible
    # without the knob, about 20% of the synthetic rows of the same generator are that close
    plain = _knob_cohort(train, None).sample(600, seed=3)
    dsp = np.sqrt(((pre.transform(plain)[:, None, :] - xt[None, :, :]) ** 2).sum(-1)).min(1)
    assert (dsp < model.filter_.min_distance_).mean() > 0.05


def test_privacy_knob_errors(parts):
    train, _, _ = parts
    from pyrocsa.steam import SyntheticCohort

    for bad in (0, 1.0, -0.1, "high", True):
        with pytest.raises(ArgumentError, match="privacy must be None or a quantile"):
            SyntheticCohort(outcome_model="weibull", privacy=bad).fit(train, "time", "event", "treatment",
                                                                      covariates=COV)

    class Copier:  # a "covariate model" that only ever returns training rows: nothing can be accepted
        def fit(self, df, columns):
            self.rows_ = df[columns].reset_index(drop=True)
            return self

        def sample(self, n, seed=None):
            return self.rows_.sample(n, replace=True, random_state=seed)

    model = _knob_cohort(train, 0.05, covariate_model=Copier())
    with pytest.raises(ArgumentError, match=r"privacy=0.05: only 0 of .* lower privacy"):
        model.sample(100, seed=0)
