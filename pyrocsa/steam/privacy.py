"""Privacy audit of a synthetic table against the real patients it was fit on.

The audit needs three frames with the same columns: ``train`` (the real patients the generator was fit
on), ``holdout`` (real patients from the same population that the generator never saw) and
``synthetic``. Every risk compares what the synthetic table reveals about *training* patients with what it
reveals about *holdout* patients: a generator that learnt the population and not the individuals treats
both alike, whatever the data set.

Risks (one row each in :meth:`PrivacyReport.to_frame`):

* ``exact_copy_rate`` -- share of synthetic rows identical to some training row on every audited column
  (covariates, treatment and outcome). Threshold: the rate at which the holdout's real patients coincide
  with a training patient (0 when any column is continuous), i.e. no more copies than chance produces
  (SDMetrics' ``NewRowSynthesis`` counts the same event).
* ``dcr_median_ratio``, ``dcr_p05_ratio`` -- distance to the closest record (DCR): Euclidean distance of
  each row to its nearest training row after the training preprocessing (median/mode imputation, one-hot,
  standardisation), median and 5th percentile for synthetic rows divided by the same for holdout rows.
  1 = synthetic rows are as far from the training patients as new patients are; below 1 = they sit closer
  (near copies). Threshold 0.9: the DCR comparison against a holdout of Platzer & Reutterer (Front. Big
  Data 2021, "holdout-based fidelity and privacy assessment") and SDMetrics' ``DCROverfittingProtection``,
  with the 10% slack used for the 5th percentile in synthcity-style DCR/NNDR audits.
* ``mia_distance_auc`` -- membership-inference attack (MIA) that scores a real record by minus its
  distance to the closest *synthetic* row (Chen et al., CCS 2020, "GAN-Leaks"; Stadler et al., USENIX
  Security 2022); ROC AUC of that score for training (members) vs holdout (non-members) records.
* ``mia_density_auc`` -- density-ratio attack in the style of DOMIAS (van Breugel et al., AISTATS 2023):
  score ``p_syn(x) / p_ref(x)`` with Gaussian kernel density estimates of the synthetic rows and of a
  reference set of real non-members (one half of the holdout; the other half are the non-member targets,
  and the halves swap roles; the AUC is their mean). It detects local over-density of the synthetic rows
  around training records, which a distance attack can miss.
  Both AUCs: 0.5 = the attacker does no better than chance (the convention of the MIA literature);
  threshold 0.55.
* ``attribute_inference_<column>`` -- for each ``sensitive`` column (e.g. the follow-up time and the event
  indicator), an attacker who knows a target's ``quasi_identifiers`` looks up the synthetic row nearest on
  them (training preprocessing) and guesses the target's sensitive value from it (the linkability /
  inference attack of Anonymeter, Giomi et al., PoPETs 2023). A guess is right when it equals the truth
  (discrete columns) or lies within ``tolerance`` (relative, default 5%) of it (continuous columns).
  Value: the attacker's *advantage*, success rate on training targets minus success rate on holdout
  targets (the same attack on patients not in the training data measures what the population-level
  pattern alone gives away). Threshold 0.05.

Differential privacy is not provided. It would take a DP mechanism at each of the three fitted steps of
:class:`pyrocsa.steam.SyntheticCohort` with the budget split between them by composition: a DP covariate
generator (e.g. marginal-based mechanisms such as AIM / PrivBayes, or DP-SGD training), a DP propensity
model (objective perturbation or DP-SGD) and CSA-INFO trained with DP-SGD (per-example gradient clipping
and noise, e.g. with Opacus); the sequential trees' donors, which copy real values, would have to go.

The thresholds are defaults a data-protection officer can override (``thresholds=``). With a holdout of
n rows the AUCs and advantages have a sampling standard error of roughly ``0.3 / sqrt(n)`` (about 0.015 at
n = 400): a value just above its threshold on a small holdout is not strong evidence of a leak, and a pass
is no proof of privacy -- no differential-privacy guarantee is given. Stronger audits (shadow-model
attacks, Anonymeter's singling-out risk) need packages that at the time of writing do not install beside
NumPy 2 / torch 2.13: ``pip install anonymeter`` (1.1.0) and ``pip install synthcity`` (0.2.12) both pull
``numpy==1.26.4`` (synthcity also ``torch==2.2.2``). SDMetrics 0.32 installs beside them and covers the
exact-copy and DCR comparisons (``NewRowSynthesis``, ``DCROverfittingProtection``) but no membership
attack; ``benchmarks/steam_survival.py`` uses it as an independent check of this module.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from pyrocsa.data.frame import Preprocessor, check_frame
from pyrocsa.errors import ArgumentError, DataError, check_seed

__all__ = ["PrivacyReport", "privacy_report", "DEFAULT_THRESHOLDS", "MinimumDistanceFilter"]

#: metric -> (threshold, "max" if the value must be <= threshold, "min" if >= threshold)
DEFAULT_THRESHOLDS = {
    "exact_copy_rate": (None, "max"),  # None: the holdout's own exact-match rate
    "dcr_median_ratio": (0.9, "min"),
    "dcr_p05_ratio": (0.9, "min"),
    "mia_distance_auc": (0.55, "max"),
    "mia_density_auc": (0.55, "max"),
    "attribute_inference": (0.05, "max"),
}

_MEANING = {
    "exact_copy_rate": "share of synthetic rows identical to a real training patient on every column "
                       "(threshold: the share of new real patients identical to one)",
    "dcr_median_ratio": "median distance of synthetic rows to the closest training patient / the same for "
                        "new real patients (1 = as far as new patients, < 1 = closer)",
    "dcr_p05_ratio": "5th percentile of that distance, synthetic / new patients (< 1: some synthetic rows "
                     "are near copies of training patients)",
    "mia_distance_auc": "membership attack by distance to the closest synthetic row: AUC for telling "
                        "training from new patients (0.5 = chance)",
    "mia_density_auc": "membership attack by density ratio synthetic / real reference (DOMIAS-style): AUC "
                       "for telling training from new patients (0.5 = chance)",
    "attribute_inference": "attacker who knows the quasi-identifiers guesses '{col}' from the nearest "
                           "synthetic row: success on training patients minus success on new patients",
}


@dataclass
class PrivacyReport:
    """Result of :func:`privacy_report`: one row per risk in :attr:`rows` (see the module docstring).

    Attributes: ``rows`` (list of dicts with ``metric``, ``value``, ``threshold``, ``passed``,
    ``meaning``), ``details`` (the distances and success rates behind the values), ``n_train``,
    ``n_holdout``, ``n_synthetic``, ``columns``, ``quasi_identifiers``, ``sensitive``.
    """

    rows: list
    details: dict = field(default_factory=dict)
    n_train: int = 0
    n_holdout: int = 0
    n_synthetic: int = 0
    columns: list = field(default_factory=list)
    quasi_identifiers: list | None = None
    sensitive: list | None = None

    @property
    def passed(self) -> bool:
        """True when every assessed risk is within its threshold."""
        return all(bool(r["passed"]) for r in self.rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per risk: ``metric``, ``value``, ``threshold``, ``passed`` (bool), ``meaning``."""
        return pd.DataFrame(self.rows, columns=["metric", "value", "threshold", "passed", "meaning"])

    def to_dict(self) -> dict:
        """``{metric: value}`` plus ``privacy_passed`` (all risks within their thresholds)."""
        out = {r["metric"]: r["value"] for r in self.rows}
        out["privacy_passed"] = self.passed
        return out

    def __str__(self) -> str:
        lines = [f"Privacy audit: {self.n_synthetic} synthetic rows vs {self.n_train} training and "
                 f"{self.n_holdout} holdout patients, {len(self.columns)} columns",
                 f"{'metric':<34} {'value':>8} {'threshold':>10}  result"]
        for r in self.rows:
            cmp = "<=" if DEFAULT_THRESHOLDS[_family(r["metric"])][1] == "max" else ">="
            lines.append(f"{r['metric']:<34} {r['value']:>8.3f} {cmp:>3}{r['threshold']:>7.3f}  "
                         f"{'pass' if r['passed'] else 'FAIL'}")
        if not self.quasi_identifiers:
            lines.append("attribute inference not assessed: pass quasi_identifiers= and sensitive=")
        lines.append("overall: " + ("every risk within its threshold" if self.passed else
                                    "AT LEAST ONE RISK ABOVE ITS THRESHOLD"))
        return "\n".join(lines)

    def print_summary(self) -> None:
        """Print :meth:`__str__` and each risk's meaning."""
        print(self)
        print()
        for r in self.rows:
            print(f"- {r['metric']}: {r['meaning']}")


def _family(metric: str) -> str:
    return "attribute_inference" if metric.startswith("attribute_inference") else metric


def _check_frames(frames: dict, columns: list[str]) -> None:
    for name, df in frames.items():
        check_frame(df, name, columns, min_rows=4)


def _column_list(value, name: str, columns: list[str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    value = list(value)
    if not value:
        raise ArgumentError(f"{name} must name at least one column (or be None)")
    bad = [c for c in value if c not in columns]
    if bad:
        raise ArgumentError(f"{name}: column(s) {bad} are not among the audited columns")
    return value


def _preprocess(train: pd.DataFrame, frames: list[pd.DataFrame], columns: list[str]) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropping constant covariate")
        pre = Preprocessor().fit(train, columns)
    out = [pre.transform(f).astype(float) for f in frames]
    if out[0].shape[1] == 0:
        raise DataError(f"columns {columns}: every one is constant on the training frame; nothing to audit")
    return out


def _row_keys(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One hashable key per row: numbers rounded to 9 significant digits, the rest as text, NaN as 'nan'."""
    parts = []
    for c in columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=float)
            parts.append(pd.Series(np.char.mod("%.9g", v), index=df.index))
        else:
            parts.append(s.astype(str))
    return pd.concat(parts, axis=1).astype(str).agg("\x1f".join, axis=1)


def _exact_rate(train, other, columns) -> float:
    keys = set(_row_keys(train, columns))
    return float(_row_keys(other, columns).isin(keys).mean())


def _nearest(reference: np.ndarray, query: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    nn = NearestNeighbors(n_neighbors=k).fit(reference)
    d, i = nn.kneighbors(query)
    return d[:, k - 1], i[:, k - 1]


def _ratio(s: float, h: float) -> float:
    if h > 0:
        return s / h
    return float("inf") if s > 0 else 1.0


def _log_kde(points: np.ndarray, query: np.ndarray, bandwidth: float) -> np.ndarray:
    """log of a Gaussian kernel density estimate (isotropic, ``bandwidth`` in standardised units), up to
    the normalising constant shared by every density with the same dimension and bandwidth."""
    out = np.empty(len(query))
    p2 = (points**2).sum(1)[None, :]
    step = max(1, int(2e7 // max(len(points), 1)))  # blocks of at most ~2e7 pairwise distances (160 MB)
    for lo in range(0, len(query), step):
        q = query[lo:lo + step]
        sq = ((q**2).sum(1)[:, None] + p2 - 2.0 * q @ points.T).clip(min=0.0)
        out[lo:lo + step] = logsumexp(-0.5 * sq / bandwidth**2, axis=1)
    return out - np.log(len(points))


def _density_attack(x_train, x_hold, x_syn, rng) -> tuple[float, float]:
    """DOMIAS-style AUC (mean over the two holdout halves as reference) and the KDE bandwidth."""
    d = x_syn.shape[1]
    perm = rng.permutation(len(x_hold))
    halves = (perm[: len(perm) // 2], perm[len(perm) // 2:])
    # Scott's rule for a standardised d-dimensional sample of the synthetic size
    bandwidth = float(len(x_syn) ** (-1.0 / (d + 4)))
    aucs = []
    for ref_idx, target_idx in (halves, halves[::-1]):
        members = x_train[rng.choice(len(x_train), size=min(len(x_train), len(target_idx)), replace=False)]
        targets = np.vstack([members, x_hold[target_idx]])
        label = np.r_[np.ones(len(members)), np.zeros(len(target_idx))]
        score = _log_kde(x_syn, targets, bandwidth) - _log_kde(x_hold[ref_idx], targets, bandwidth)
        aucs.append(roc_auc_score(label, score))
    return float(np.mean(aucs)), bandwidth


def _is_continuous(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
            and s.dropna().nunique() > 2)


def _inference(train, holdout, synthetic, qi, col, tolerance, rng) -> dict:
    x_train, x_hold, x_syn = _preprocess(train, [train, holdout, synthetic], qi)
    _, i_train = _nearest(x_syn, x_train)
    _, i_hold = _nearest(x_syn, x_hold)
    guess_t = synthetic[col].to_numpy()[i_train]
    guess_h = synthetic[col].to_numpy()[i_hold]
    true_t, true_h = train[col].to_numpy(), holdout[col].to_numpy()
    if _is_continuous(train[col]):
        def hit(g, t):
            g, t = np.asarray(g, float), np.asarray(t, float)
            return np.abs(g - t) <= tolerance * np.abs(t)
    else:
        def hit(g, t):
            return pd.Series(g).astype(str).to_numpy() == pd.Series(t).astype(str).to_numpy()
    s_train, s_hold = float(hit(guess_t, true_t).mean()), float(hit(guess_h, true_h).mean())
    return {"success_train": s_train, "success_holdout": s_hold, "advantage": s_train - s_hold}


def privacy_report(train_df: pd.DataFrame, holdout_df: pd.DataFrame, synthetic_df: pd.DataFrame,
                   quasi_identifiers=None, sensitive=None, columns=None, thresholds: dict | None = None,
                   tolerance: float = 0.05, seed: int | None = 0) -> PrivacyReport:
    """Audit ``synthetic_df`` for the privacy of the patients in ``train_df`` (see the module docstring).

    Parameters
    ----------
    train_df : the real patients the generator was fit on.
    holdout_df : real patients of the same population the generator never saw (e.g. the 20% of a split).
    synthetic_df : the synthetic rows to release.
    quasi_identifiers : columns an attacker may know about a target (age, sex, ...); with ``sensitive``,
        enables the attribute-inference rows. None: attribute inference is not assessed.
    sensitive : columns the attacker wants to learn (e.g. ``["days", "cens"]``); required with
        ``quasi_identifiers``.
    columns : the columns audited for copies, distances and membership (default: every column of
        ``train_df``); all three frames must have them. Preprocessed with ``train_df``'s statistics.
    thresholds : overrides of :data:`DEFAULT_THRESHOLDS` values, ``{metric: value}`` (for the
        attribute-inference rows the key is ``"attribute_inference"``).
    tolerance : relative tolerance of a correct guess of a continuous sensitive value.
    seed : seed of the subsampling in the density attack.

    Returns a :class:`PrivacyReport` (``.to_frame()``, ``print(report)``, ``.print_summary()``).
    None of the frames is modified.
    """
    if isinstance(train_df, pd.DataFrame) and columns is None:
        columns = list(train_df.columns)
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns) if columns is not None else []
    if not columns:
        raise ArgumentError("columns must name at least one column")
    _check_frames({"train_df": train_df, "holdout_df": holdout_df, "synthetic_df": synthetic_df}, columns)
    qi = _column_list(quasi_identifiers, "quasi_identifiers", list(train_df.columns))
    sens = _column_list(sensitive, "sensitive", list(train_df.columns))
    if (qi is None) != (sens is None):
        raise ArgumentError("quasi_identifiers and sensitive go together: pass both (or neither)")
    if qi is not None:
        overlap = sorted(set(qi) & set(sens))
        if overlap:
            raise ArgumentError(f"column(s) {overlap} are both quasi_identifiers and sensitive")
        _check_frames({"holdout_df": holdout_df, "synthetic_df": synthetic_df}, qi + sens)
        named = {"train_df": train_df, "holdout_df": holdout_df, "synthetic_df": synthetic_df}
        for c in sens:
            for name, df in named.items():
                if df[c].isna().any():
                    raise DataError(f"{name}: sensitive column '{c}' has missing values")
    if not (isinstance(tolerance, numbers.Real) and 0 <= tolerance < 1):
        raise ArgumentError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
    thr = {k: v for k, (v, _) in DEFAULT_THRESHOLDS.items()}
    for k, v in (thresholds or {}).items():
        if k not in thr:
            raise ArgumentError(f"thresholds: unknown metric {k!r}; expected one of {sorted(thr)}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ArgumentError(f"thresholds[{k!r}] must be a finite number, got {v!r}")
        thr[k] = float(v)
    rng = np.random.default_rng(check_seed(seed))

    rows, details = [], {}

    def add(metric, value, threshold):
        direction = DEFAULT_THRESHOLDS[_family(metric)][1]
        ok = value <= threshold if direction == "max" else value >= threshold
        meaning = _MEANING[_family(metric)].format(col=metric.removeprefix("attribute_inference_"))
        rows.append({"metric": metric, "value": float(value), "threshold": float(threshold),
                     "passed": bool(ok), "meaning": meaning})

    hold_rate = _exact_rate(train_df, holdout_df, columns)
    details["exact_match_rate_holdout"] = hold_rate
    add("exact_copy_rate", _exact_rate(train_df, synthetic_df, columns),
        hold_rate if thr["exact_copy_rate"] is None else thr["exact_copy_rate"])

    x_train, x_hold, x_syn = _preprocess(train_df, [train_df, holdout_df, synthetic_df], columns)
    d_syn, _ = _nearest(x_train, x_syn)
    d_hold, _ = _nearest(x_train, x_hold)
    details["dcr_synthetic"], details["dcr_holdout"] = d_syn, d_hold
    for name, q in (("median", 50), ("p05", 5)):
        s, h = float(np.percentile(d_syn, q)), float(np.percentile(d_hold, q))
        details[f"dcr_synthetic_{name}"], details[f"dcr_holdout_{name}"] = s, h
        add(f"dcr_{name}_ratio", _ratio(s, h), thr[f"dcr_{name}_ratio"])

    # membership: every holdout record is a non-member; as many training records (all when fewer)
    m_idx = rng.choice(len(x_train), size=min(len(x_train), len(x_hold)), replace=False)
    d_mem, _ = _nearest(x_syn, x_train[m_idx])
    d_non, _ = _nearest(x_syn, x_hold)
    label = np.r_[np.ones(len(d_mem)), np.zeros(len(d_non))]
    add("mia_distance_auc", float(roc_auc_score(label, -np.r_[d_mem, d_non])), thr["mia_distance_auc"])
    auc, bandwidth = _density_attack(x_train, x_hold, x_syn, rng)
    details["density_bandwidth"] = bandwidth
    add("mia_density_auc", auc, thr["mia_density_auc"])

    if qi is not None:
        for col in sens:
            res = _inference(train_df, holdout_df, synthetic_df, qi, col, float(tolerance), rng)
            details[f"attribute_inference_{col}"] = res
            add(f"attribute_inference_{col}", res["advantage"], thr["attribute_inference"])
    return PrivacyReport(rows=rows, details=details, n_train=len(train_df), n_holdout=len(holdout_df),
                         n_synthetic=len(synthetic_df), columns=columns, quasi_identifiers=qi, sensitive=sens)


class MinimumDistanceFilter:
    """Rejection rule of ``SyntheticCohort(privacy=q)``: a synthetic covariate row is kept only when its
    Euclidean distance to the closest training row (covariates preprocessed with the training statistics:
    median/mode imputation, one-hot, standardisation) is at least ``d_q``, the ``q``-quantile of the
    training rows' leave-one-out nearest-neighbour distances (each training row to its closest *other*
    training row).

    Why that scale: a new patient's distance to the closest of the ``n`` training patients has nearly the
    law of a training patient's distance to the closest of the other ``n - 1``, so with ``q = 0.05`` no
    synthetic row is closer to a training patient than the closest 5% of new patients are -- the DCR
    5th-percentile ratio is pushed to about 1 or above -- and larger ``q`` carves a wider hole around
    every training patient (more distance, less fidelity: rows in dense regions are rejected more often).
    """

    def __init__(self, quantile: float):
        if isinstance(quantile, bool) or not isinstance(quantile, numbers.Real) or not 0 < quantile < 1:
            raise ArgumentError(f"privacy must be None or a quantile strictly between 0 and 1 (e.g. 0.05), "
                                f"got {quantile!r}")
        self.quantile = float(quantile)

    def fit(self, df: pd.DataFrame, columns: list[str]) -> MinimumDistanceFilter:
        """Fit the preprocessing and the nearest-neighbour index on the training rows ``df[columns]``."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="dropping constant covariate")
            self.preprocessor_ = Preprocessor().fit(df, columns)
        x = self.preprocessor_.transform(df).astype(float)
        self.index_ = NearestNeighbors(n_neighbors=2).fit(x)
        loo = self.index_.kneighbors(x)[0][:, 1]  # column 0 is the row itself
        self.min_distance_ = float(np.quantile(loo, self.quantile))
        return self

    def distances(self, frame: pd.DataFrame) -> np.ndarray:
        """Distance of each row of ``frame`` to the closest training row, shape (len(frame),)."""
        x = self.preprocessor_.transform(frame).astype(float)
        return self.index_.kneighbors(x, n_neighbors=1)[0][:, 0]

    def accept(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask (len(frame),): rows at distance >= ``min_distance_`` from every training row."""
        return self.distances(frame) >= self.min_distance_
