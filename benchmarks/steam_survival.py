"""STEAM-survival vs a generic generator on ACTG 175 (arms 0 vs 1) and actg-Synthetic.

    OMP_NUM_THREADS=1 python3 -m benchmarks.steam_survival [--quick] [--runs 5]
        [--outcome-model default|weibull|weibull-km|csa-info] [--csa-epochs 40]
        [--generators steam steam-privacy generic arf sdv-copula ctgan tvae bootstrap]
        [--peer-epochs 300] [--datasets actg actg-synthetic] [--tree-leaf 5 20] [--resume]
        [--covariates-only] [--from-csv A.csv B.csv]

    pip install "pyrocsa[peers]"   # arfpy (MIT) and SDV (BUSL-1.1): benchmark-only, never a dependency

Each run r: a stratified 80/20 split of the real data (seed r); every generator is fit on the 80% (real
train) and draws as many synthetic rows; metrics (pyrocsa.steam.metrics.evaluate_cohort) compare the
synthetic rows with real train (covariates, censoring, HR, DCR) and real test (JSD_pi, U_PEHE on real-test
x). Generators:

* ``STEAM-survival``: Gaussian copula for X, logistic propensity for A, per-arm outcome model for (T, C)
  (``--outcome-model``: a Weibull AFT per arm for T and for C, or CSA-INFO);
* ``generic``: the same Gaussian copula on the joint table (X, A, Y, delta);
* ``STEAM-survival, privacy=0.05``: the same with ``SyntheticCohort(privacy=0.05)`` (covariate rows nearer
  a training row than the 5% quantile of the training nearest-neighbour distances are redrawn);
* peers fitted on the joint table (X, A, time, event), as in the STEAM paper: ``ARF`` (adversarial random
  forests, arfpy; numpy 2 removed ``np.in1d``, which arfpy 0.1.1 calls: the script aliases it to
  ``np.isin``), SDV 2.x ``GaussianCopulaSynthesizer``, ``CTGANSynthesizer`` and ``TVAESynthesizer``
  (``--peer-epochs``, SDV default 300). Columns with at most 10 distinct values are categorical for the
  peers; their samples are cast back to the real dtypes, durations clipped to the real range. A peer
  whose package is absent is skipped, with the reason in the output;
* ``real bootstrap``: a bootstrap resample of real train -- a reference for the sampling-noise floor of
  each metric (its DCR is 0 by construction: it copies records).

Privacy (every generator): :func:`pyrocsa.steam.privacy_report` with the 20% split as holdout (exact
copies, DCR ratios, distance and DOMIAS-style density membership attacks, attribute inference of the
duration and event from every covariate) and, where sdmetrics is installed, its ``NewRowSynthesis`` and
``DCROverfittingProtection`` (training subsampled to the holdout size, so 50% = no overfitting) as an
independent check. Anonymeter 1.1.0 and synthcity 0.2.12 are not used: both pin ``numpy==1.26.4``
(synthcity also ``torch==2.2.2``) and do not install beside NumPy 2 / torch 2.13.

Output: mean and 95% t-interval over runs per metric, printed and written as markdown to
``benchmarks/results/steam_survival_<outcome>[_quick].md`` (raw per-run values in a ``.csv`` beside it).
Splits are the outer loop and data sets the inner one; the ``.csv`` and the markdown are rewritten after
every (dataset, generator, split) row, so a run stopped early keeps every finished row, and ``--resume``
measures only the rows the ``.csv`` lacks. ``--from-csv`` merges the ``.csv`` files of runs made in
parallel (e.g. the STEAM rows and the peers, on the same split seeds) and renders one table, paired by
split.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from benchmarks.common import RESULTS  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402
from pyrocsa.steam import GenericCohort, SyntheticCohort, WeibullOutcomeModel  # noqa: E402
from pyrocsa.steam.metrics import evaluate_cohort  # noqa: E402

PRIVACY_COLUMNS = [  # (metric key, header, bar or None)
    ("exact_copy_rate", "exact copies", "== 0"), ("dcr_ratio_median", "DCR med. ratio", None),
    ("dcr_ratio_p05", "DCR p05 ratio", ">= 0.9"), ("mia_distance_auc", "MIA dist. AUC", "<= 0.55"),
    ("mia_density_auc", "MIA dens. AUC", "<= 0.55"), ("attribute_inference_duration", "AI duration", None),
    ("attribute_inference_event", "AI event", None), ("sdm_new_row", "sdm new rows", None),
    ("sdm_closer_to_train", "sdm closer-to-train", None),
]
PEERS = ("arf", "sdv-copula", "ctgan", "tvae")

HORIZON = 1000.0  # days: RMST horizon of U_PEHE (both datasets follow subjects up to ~1231-1313 days)

COLUMNS = [  # (metric key, table header, higher is better?)
    ("alpha_precision", "P_alpha", True), ("beta_recall", "R_beta", True),
    ("marginal_distance", "KS/TV", False), ("jsd_pi", "JSD_pi", True), ("u_pehe", "U_PEHE (d)", False),
    ("u_pehe_over_horizon", "U_PEHE/h", False), ("censoring_sup", "cens. sup", False),
    ("censoring_integrated", "cens. int", False), ("abs_log_hr_diff", "|dlogHR|", False),
    ("hr_syn_in_real_ci", "HR in CI", True), ("dcr_ratio_median", "DCR ratio", True),
    ("sign_agreement", "sign agr.", True), ("c_index_syn", "TSTR C", True), ("c_index_gap", "C gap", False),
    ("ibs_syn", "TSTR IBS", False), ("ibs_gap", "IBS gap", False),
]


def _present(raw) -> list:
    """The COLUMNS an earlier .csv holds (sign agreement is newer than some result files)."""
    return [c for c in COLUMNS if c[0] in raw]


def load(name: str):
    """(frame, covariates, duration, event, treatment) of a benchmark dataset."""
    if name == "actg":
        try:
            from pyrocsa.datasets import ACTG_BASELINE, load_actg
            df, cov = load_actg(), list(ACTG_BASELINE)
        except ImportError:  # pragma: no cover - datasets module absent: read the shipped CSV
            path = Path(__file__).resolve().parents[1] / "pyrocsa/datasets/data/ACTG175.csv"
            df = pd.read_csv(path, index_col=0)
            df = df[df["arms"].isin([0, 1])].reset_index(drop=True)
            cov = ["age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race",
                   "gender", "str2", "strat", "symptom", "cd40", "cd80"]
        return df[cov + ["days", "cens", "arms"]].copy(), cov, "days", "cens", "arms"
    if name == "actg-synthetic":
        from pyrocsa.datasets import load_actg_synthetic
        ds = load_actg_synthetic()
        cov = list(ds.baseline_covariates)
        return ds.frame[cov + ["time", "event", "treatment"]].copy(), cov, "time", "event", "treatment"
    raise ValueError(f"unknown dataset {name!r}")


class JointPeer:
    """A peer tabular generator fit on the joint table (covariates, treatment, duration, event)."""

    def __init__(self, kind: str, epochs: int = 300):
        self.kind, self.epochs = kind, epochs

    @staticmethod
    def available(kind: str) -> str | None:
        """None when the peer's package imports, else the reason it is skipped."""
        try:
            if kind == "arf":
                import arfpy  # noqa: F401
            else:
                import sdv  # noqa: F401
        except ImportError as err:
            return f"{err} (pip install 'pyrocsa[peers]')"
        return None

    def fit(self, df, D, E, A, covariates):
        self.columns_ = covariates + [A, D, E]
        train = df[self.columns_].reset_index(drop=True)
        self.dtypes_ = train.dtypes
        self.discrete_ = [c for c in self.columns_ if train[c].nunique() <= 10]
        self.range_ = (float(train[D].min()), float(train[D].max()))
        self.levels_ = {c: np.sort(train[c].unique()) for c in self.discrete_}
        self.D = D
        if self.kind == "arf":
            np.in1d = getattr(np, "in1d", np.isin)  # arfpy 0.1.1 calls np.in1d (removed in numpy 2.4)
            from arfpy import arf

            x = train.copy()
            for c in self.discrete_:
                x[c] = x[c].astype(str).astype("category")
            self.model_ = arf.arf(x=x, verbose=False)
            self.model_.forde()
        else:
            from sdv.metadata import Metadata
            from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

            types = {c: {"sdtype": "categorical" if c in self.discrete_ else "numerical"}
                     for c in self.columns_}
            meta = Metadata.load_from_dict({"tables": {"t": {"columns": types}}})
            cls = {"sdv-copula": GaussianCopulaSynthesizer, "ctgan": CTGANSynthesizer,
                   "tvae": TVAESynthesizer}[self.kind]
            kw = {} if self.kind == "sdv-copula" else {"epochs": self.epochs}
            self.model_ = cls(meta, **kw)
            self.model_.fit({"t": train})
        return self

    def sample(self, n, seed):
        import torch

        np.random.seed(seed)
        torch.manual_seed(seed)
        if self.kind == "arf":
            out = self.model_.forge(n=n)
        else:
            out = self.model_.sample(n)
            out = out["t"] if isinstance(out, dict) else out
        out = out[self.columns_].reset_index(drop=True).copy()
        for c in self.columns_:
            if c in self.discrete_:  # nearest real level
                lv = self.levels_[c]
                v = pd.to_numeric(out[c].astype(str), errors="coerce").to_numpy(float)
                v = np.where(np.isnan(v), lv[0], v)
                out[c] = lv[np.abs(v[:, None] - lv[None, :].astype(float)).argmin(1)]
            out[c] = pd.to_numeric(out[c], errors="coerce")
        out[self.D] = out[self.D].clip(*self.range_)
        for c in self.columns_:
            out[c] = out[c].fillna(out[c].median())
            if pd.api.types.is_integer_dtype(self.dtypes_[c]):
                out[c] = np.round(out[c]).astype(self.dtypes_[c])
        return out


def sdmetrics_check(train, test, syn, columns, seed):
    """sdmetrics' NewRowSynthesis score (share of 300 synthetic rows matching no training row, numbers
    within 1%) and DCROverfittingProtection's share of synthetic rows closer to a training than to a holdout
    row (Gower-type distance; copies give 1; with an 80/20 split a fresh sample of the real law gives
    about 0.8, a generator that misses the real law more, since the larger training set covers its
    outlying rows better); NaN when sdmetrics is absent."""
    try:
        from sdmetrics.single_table import DCROverfittingProtection, NewRowSynthesis
    except ImportError:
        return {"sdm_new_row": np.nan, "sdm_closer_to_train": np.nan}
    meta = {"columns": {c: {"sdtype": "categorical" if train[c].nunique() <= 10 else "numerical"}
                        for c in columns}}
    np.random.seed(seed)
    new = NewRowSynthesis.compute(train[columns], syn[columns], meta, synthetic_sample_size=300)
    dcr = DCROverfittingProtection.compute_breakdown(train[columns], syn[columns], test[columns], meta, None)
    return {"sdm_new_row": float(new),
            "sdm_closer_to_train": float(dcr["synthetic_data_percentages"]["closer_to_training"])}


def privacy_only(train, test, syn, cov, D, E, A, seed) -> dict:
    """The privacy keys of evaluate_cohort alone (for a synthetic set whose fidelity metrics failed)."""
    from pyrocsa.steam import privacy_report
    from pyrocsa.steam.metrics import distance_to_closest_record

    cols = cov + [D, E, A]
    priv = privacy_report(train, test, syn, columns=cols, quasi_identifiers=cov, sensitive=[D, E],
                          seed=seed).to_dict()
    out = distance_to_closest_record(train, syn, test, cols)
    out.update({k: priv[k] for k in ("exact_copy_rate", "mia_distance_auc", "mia_density_auc")})
    out.update(attribute_inference_duration=priv[f"attribute_inference_{D}"],
               attribute_inference_event=priv[f"attribute_inference_{E}"])
    return out


def outcome_model(kind: str, csa_epochs: int, seed: int):
    if kind == "default":
        return None  # the package default (CSA-INFO, its own defaults)
    if kind == "weibull":
        return WeibullOutcomeModel()
    if kind == "weibull-km":
        return WeibullOutcomeModel(censoring="km")
    from pyrocsa import CSA
    return CSA(informative_censoring=True, max_epochs=csa_epochs, verbose=False, seed=seed)


def _covariates(kind: str, tree_leaf: int | None):
    """The covariate generator: the package's named one, or sequential trees with ``tree_leaf`` donors per
    leaf at least (the package default is 20)."""
    if kind == "trees" and tree_leaf is not None:
        from pyrocsa.steam import SequentialTrees

        return SequentialTrees(min_samples_leaf=tree_leaf)
    return kind


PEER_LABELS = {"arf": "ARF (arfpy)", "sdv-copula": "SDV GaussianCopula", "ctgan": "SDV CTGAN",
               "tvae": "SDV TVAE"}


def job_label(gen: str, outcome_kind, covariate_model: str, leaf) -> str:
    """The table row of a generator; ``leaf`` (sequential-tree donors per leaf, None = package default)
    is named in the label when given, so rows of different leaf sizes share one table."""
    tail = "" if leaf is None else f", trees leaf {leaf}"
    if gen == "steam":
        return f"STEAM-survival ({outcome_kind}{tail})"
    if gen == "steam-privacy":
        return f"STEAM-survival ({outcome_kind}{tail}), privacy=0.05"
    if gen in PEERS:
        return PEER_LABELS[gen] + " on X, A, Y, delta"
    if gen == "generic":
        return f"generic ({covariate_model}{'' if leaf is None else f' leaf {leaf}'} on X, A, Y, delta)"
    if gen == "bootstrap":
        return "real bootstrap (reference)"
    raise ValueError(f"unknown generator {gen!r}")


def run_dataset(name, runs, generators, outcome_kinds, csa_epochs, learners,
                covariate_model="trees", first_run=0, peer_epochs=300, on_row=None, skipped=None,
                tree_leaf=None, done=frozenset(), sdm_run=None, tstr=True):
    """Fit and score every generator on splits ``first_run .. first_run + runs - 1`` of dataset ``name``.

    ``tree_leaf``: one leaf size or a list of them (None = package default) for the tree-based generators
    (STEAM and generic), one row each. ``done``: (dataset, generator label, run) triples already measured
    (``--resume``), skipped. ``on_row(row_dict)`` is called after each row, so a caller can save as it goes.
    sdmetrics runs on split ``sdm_run`` only (default ``first_run``; ~15 s a set). ``tstr``: add the
    train-on-synthetic / test-on-real C-index and integrated Brier score (scikit-survival)."""
    df, cov, D, E, A = load(name)
    rows = []
    skipped = {} if skipped is None else skipped
    sdm_run = first_run if sdm_run is None else sdm_run
    leaves = list(tree_leaf) if isinstance(tree_leaf, (list, tuple)) else [tree_leaf]
    for g in generators:
        if g in PEERS and JointPeer.available(g):
            skipped[g] = JointPeer.available(g)
            print(f"  skipping peer {g}: {skipped[g]}", flush=True)
    generators = [g for g in generators if g not in skipped]
    for r in range(first_run, first_run + runs):
        parts = stratified_split(df, E, A, fractions=(0.8, 0.0, 0.2), seed=r)
        train = df.iloc[parts["train"]].reset_index(drop=True)
        test = df.iloc[parts["test"]].reset_index(drop=True)
        jobs = [(g, k, leaf) for g in generators
                for k in (outcome_kinds if g.startswith("steam") else [None])
                for leaf in (leaves if g.startswith("steam") or g == "generic" else [None])]
        for gen, outcome_kind, leaf in jobs:
            label = job_label(gen, outcome_kind, covariate_model, leaf)
            if (name, label, r) in done:
                continue
            t0 = time.time()
            if gen in ("steam", "steam-privacy"):
                model = SyntheticCohort(covariate_model=_covariates(covariate_model, leaf),
                                        privacy=0.05 if gen == "steam-privacy" else None,
                                        outcome_model=outcome_model(outcome_kind, csa_epochs, r))
                syn = model.fit(train, D, E, A, covariates=cov).sample(len(train), seed=r)
            elif gen in PEERS:
                syn = JointPeer(gen, peer_epochs).fit(train, D, E, A, cov).sample(len(train), seed=r)
            elif gen == "generic":
                gen_model = GenericCohort(_covariates(covariate_model, leaf))
                syn = gen_model.fit(train, D, E, A, covariates=cov).sample(len(train), seed=r)
            else:  # bootstrap
                syn = train.sample(len(train), replace=True, random_state=r).reset_index(drop=True)
            t_gen = time.time() - t0
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = evaluate_cohort(train, test, syn, D, E, A, cov, HORIZON, learners=learners, seed=r,
                                          tstr=tstr)
                    if r == sdm_run:  # sdmetrics is slow (~15 s a set): one split only
                        res.update(sdmetrics_check(train, test, syn, cov + [A, D, E], r))
            except Exception as err:  # a peer's sample that breaks a fidelity metric (e.g. a Cox fit):
                # recorded, and its privacy audit kept (it needs no model fit on the synthetic rows)
                print(f"  {name} run {r} {label}: metrics failed ({type(err).__name__}: {err})", flush=True)
                skipped[f"{label}, {name} run {r}"] = f"fidelity metrics failed: {type(err).__name__}"
                res = privacy_only(train, test, syn, cov, D, E, A, r)
            res.update(dataset=name, generator=label, run=r, seconds=time.time() - t0, gen_seconds=t_gen)
            rows.append(res)
            if on_row is not None:
                on_row(res)
            if "jsd_pi" in res:
                print(f"  {name} run {r} {label}: JSD_pi {res['jsd_pi']:.3f}  U_PEHE {res['u_pehe']:.1f}  "
                      f"cens {res['censoring_sup']:.3f}  logHR {res['log_hr_syn']:+.3f} "
                      f"(real {res['log_hr_real']:+.3f}, in CI {res['hr_syn_in_real_ci']})  "
                      f"[{res['seconds']:.0f}s]", flush=True)
    return pd.DataFrame(rows)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% t-interval half-width per (dataset, generator, metric)."""
    out = []
    for (ds, gen), g in raw.groupby(["dataset", "generator"], sort=False):
        row = {"dataset": ds, "generator": gen, "runs": len(g)}
        keys = [k for k, _, _ in _present(g)] + [k for k, _, _ in PRIVACY_COLUMNS if k in g]
        for key in keys:
            v = g[key].astype(float).to_numpy()
            nf = int(np.isfinite(v).sum())
            half = stats.t.ppf(0.975, nf - 1) * np.nanstd(v, ddof=1) / np.sqrt(nf) if nf > 1 else np.nan
            row[key], row[key + "_ci"] = np.nanmean(v) if np.isfinite(v).any() else np.nan, half
        for key in ("exact_copy_rate", "mia_distance_auc", "mia_density_auc", "dcr_ratio_p05"):
            if key in g:
                v = g[key].astype(float).to_numpy()
                row[key + "_max" if key != "dcr_ratio_p05" else key + "_min"] = \
                    v.max() if key != "dcr_ratio_p05" else v.min()
        row["log_hr_real"] = g["log_hr_real"].mean()
        row["log_hr_syn"] = g["log_hr_syn"].mean()
        out.append(row)
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame, raw: pd.DataFrame, args) -> str:
    lines = [f"# STEAM-survival vs peer generators ({'quick' if args.quick else 'full'} run)", "",
             f"Command: `OMP_NUM_THREADS=1 python3 -m benchmarks.steam_survival {args.argv}`", "",
             f"{int(summary['runs'].max())} runs (stratified 80/20 splits, seeds 0..), mean +/- 95% "
             f"t-interval half-width. RMST horizon {HORIZON:g} days; "
             f"U_PEHE learners: {', '.join(args.learners)}. "
             "Arrows: better direction. `HR in CI` = share of runs whose synthetic Cox log HR of treatment "
             "lies in the real-train 95% CI; `DCR ratio` = median distance to the closest real training "
             "record, synthetic / real holdout (1 = as far as new patients; bootstrap copies records: 0); "
             "`sign agr.` = share of real test patients on whose RMST-benefit sign the U_PEHE learners "
             "trained on real and on synthetic data agree; `TSTR C` / `TSTR IBS` = C-index / integrated "
             "Brier score on real test patients of a Cox model trained on the synthetic rows, `C gap` / "
             "`IBS gap` = its shortfall against the same model trained on real train (0 = as useful).",
             ""]
    for ds, s in summary.groupby("dataset", sort=False):
        lines += [f"## {ds}", ""]
        head = "| generator | " + " | ".join(f"{h} {'↑' if up else '↓'}" for _, h, up in _present(s)) + " |"
        lines += [head, "|" + "---|" * (len(_present(s)) + 1)]
        for _, row in s.iterrows():
            cells = []
            for key, _, _ in _present(s):
                digits = 1 if key == "u_pehe" else 3
                cells.append(f"{row[key]:.{digits}f} ± {row[key + '_ci']:.{digits}f}")
            lines.append(f"| {row['generator']} | " + " | ".join(cells) + " |")
        lines.append("")
        lr = raw.loc[raw.dataset == ds, "log_hr_real"].mean()
        lines.append(f"Mean real log HR (treated vs control) over the splits: {lr:+.3f}; "
                     "synthetic: " + ", ".join(f"{g}: {v:+.3f}" for g, v in
                                                zip(s["generator"], s["log_hr_syn"])) + ".")
        lines.append("")
        lines += verdict(s) + paired(raw[raw.dataset == ds])
        lines.append("")
        lines += privacy_section(s)
        lines += paired_steam(raw[raw.dataset == ds])
    secs = raw.groupby(["dataset", "generator"], sort=False)["gen_seconds"].mean().round(1)
    lines += ["Seconds per fit + sample (mean): "
              + "; ".join(f"{d} / {g}: {v}" for (d, g), v in secs.items()), ""]
    return "\n".join(lines)


def _peers(s: pd.DataFrame) -> pd.DataFrame:
    """Rows of the comparison generators: everything but STEAM and the real bootstrap."""
    return s[~s.generator.str.startswith("STEAM") & ~s.generator.str.startswith("real bootstrap")]


def verdict(s: pd.DataFrame) -> list[str]:
    """The issue's checks: STEAM beats every peer on JSD_pi and U_PEHE (95% intervals apart or not); the
    STEAM HR lies in the real CI. Where a peer wins, the line says so."""
    out = []
    for _, ge in _peers(s).iterrows():
        for _, st in s[s.generator.str.startswith("STEAM")].iterrows():
            for key, name, up in (("jsd_pi", "JSD_pi", True), ("u_pehe", "U_PEHE", False)):
                if not (np.isfinite(st[key]) and np.isfinite(ge[key])):
                    continue
                better = st[key] > ge[key] if up else st[key] < ge[key]
                apart = (st[key] - st[key + "_ci"] > ge[key] + ge[key + "_ci"]) if up else \
                    (st[key] + st[key + "_ci"] < ge[key] - ge[key + "_ci"])
                out.append(f"- {st['generator']} vs {ge['generator']}, {name}: "
                           f"{'STEAM better' if better else 'PEER BETTER'}; "
                           f"95% intervals {'do not overlap' if apart else 'OVERLAP'}.")
    for _, st in s[s.generator.str.startswith("STEAM")].iterrows():
        out.append(f"- {st['generator']}: synthetic log HR in the real 95% CI in "
                   f"{st['hr_syn_in_real_ci']:.0%} of runs.")
    return out


def privacy_section(s: pd.DataFrame) -> list[str]:
    """Privacy table (mean ± 95% t half-width over splits) and the release bars for the STEAM rows."""
    cols = [c for c in PRIVACY_COLUMNS if c[0] in s and np.isfinite(s[c[0]].astype(float)).any()]
    if not cols:
        return []
    lines = ["Privacy (pyrocsa.steam.privacy_report against the 20% holdout; `AI` = attribute-inference "
             "advantage for the duration / event from every covariate; `sdm` = sdmetrics' NewRowSynthesis "
             "and DCROverfittingProtection share of synthetic rows closer to training than to holdout "
             "rows, 1 for copies, about 0.8 or more without them with an 80/20 split; first split only):", "",
             "| generator | " + " | ".join(h for _, h, _ in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for _, row in s.iterrows():
        lines.append(f"| {row['generator']} | " + " | ".join(
            f"{row[k]:.3f} ± {row[k + '_ci']:.3f}" for k, _, _ in cols) + " |")
    lines.append("")
    for _, st in s[s.generator.str.startswith("STEAM")].iterrows():
        checks = [("no exact copies (max over splits)", st["exact_copy_rate_max"] == 0),
                  ("MIA distance AUC <= 0.55 (mean)", st["mia_distance_auc"] <= 0.55),
                  ("MIA density AUC <= 0.55 (mean)", st["mia_density_auc"] <= 0.55),
                  ("DCR p05 ratio >= 0.9 (mean)", st["dcr_ratio_p05"] >= 0.9)]
        lines.append(f"- bars, {st['generator']}: " + "; ".join(
            f"{name} {'MET' if ok else 'NOT MET'}" for name, ok in checks)
            + f" (worst split: MIA dist {st['mia_distance_auc_max']:.3f}, "
            f"dens {st['mia_density_auc_max']:.3f}, DCR p05 {st['dcr_ratio_p05_min']:.3f}).")
    lines.append("")
    return lines


def covariate_fidelity(datasets, runs) -> str:
    """Gaussian copula vs sequential trees vs independent marginals on the real-train covariates:
    integrated alpha-precision, beta-recall, mean per-column KS/TV, the mean absolute error of the pairwise
    (Pearson) correlations of the preprocessed covariates, and the DCR ratio (median distance of synthetic
    rows to the closest real-train row / the same for the real holdout); mean +/- 95% t-interval over
    ``runs`` splits."""
    from pyrocsa.data import Preprocessor
    from pyrocsa.steam import GaussianCopula, IndependentMarginals, SequentialTrees
    from pyrocsa.steam.metrics import (
        alpha_precision_beta_recall,
        distance_to_closest_record,
        marginal_distances,
    )

    rows = []
    for name in datasets:
        df, cov, D, E, A = load(name)
        for r in range(runs):
            parts = stratified_split(df, E, A, fractions=(0.8, 0.0, 0.2), seed=r)
            train = df.iloc[parts["train"]].reset_index(drop=True)
            test = df.iloc[parts["test"]].reset_index(drop=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pre = Preprocessor().fit(train, cov)
            c_real = np.corrcoef(pre.transform(train), rowvar=False)
            for label, model in (("Gaussian copula", GaussianCopula()),
                                 ("sequential trees", SequentialTrees()),
                                 ("independent marginals", IndependentMarginals())):
                syn = model.fit(train, columns=cov).sample(len(train), seed=r)
                apr = alpha_precision_beta_recall(train, syn, cov, seed=r)
                c_syn = np.corrcoef(pre.transform(syn), rowvar=False)
                off = ~np.eye(len(c_real), dtype=bool)
                rows.append({"dataset": name, "model": label, "alpha_precision": apr["alpha_precision"],
                             "beta_recall": apr["beta_recall"],
                             "marginal_distance": marginal_distances(train, syn, cov)["distance"].mean(),
                             "corr_error": np.abs(c_real - c_syn)[off].mean(),
                             "dcr_ratio": distance_to_closest_record(train, syn, test, cov)[
                                 "dcr_ratio_median"]})
    raw = pd.DataFrame(rows)
    keys = [("alpha_precision", "P_alpha ↑"), ("beta_recall", "R_beta ↑"), ("marginal_distance", "KS/TV ↓"),
            ("corr_error", "corr. error ↓"), ("dcr_ratio", "DCR ratio ↑")]
    lines = ["## Covariate generator fidelity (real-train covariates)", "",
             f"{runs} splits; mean ± 95% t-interval half-width. `corr. error` = mean |r_real - r_syn| over "
             "pairs of preprocessed covariates.", "",
             "| dataset | model | " + " | ".join(h for _, h in keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for (ds, model), g in raw.groupby(["dataset", "model"], sort=False):
        cells = []
        for k, _ in keys:
            v = g[k].to_numpy(float)
            half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            cells.append(f"{v.mean():.3f} ± {half:.3f}")
        lines.append(f"| {ds} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired(raw: pd.DataFrame) -> list[str]:
    """Paired comparison on the same splits: mean and 95% t-interval of (STEAM - peer) per run."""
    out = []
    peers = [g for g in raw.generator.unique()
             if not g.startswith("STEAM") and not g.startswith("real bootstrap")]
    for peer in peers:
        gen = raw[raw.generator == peer].set_index("run")
        for label, st in raw[raw.generator.str.startswith("STEAM")].groupby("generator", sort=False):
            st = st.set_index("run")
            runs = st.index.intersection(gen.index)
            if len(runs) < 2:
                continue
            for key, name in (("jsd_pi", "JSD_pi"), ("u_pehe", "U_PEHE")):
                d = (st.loc[runs, key] - gen.loc[runs, key]).to_numpy(float)
                d = d[np.isfinite(d)]
                if len(d) < 2:
                    continue
                half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                wins = int((d > 0).sum() if key == "jsd_pi" else (d < 0).sum())
                out.append(f"- paired {label} - {peer}, {name}: {d.mean():+.4g} ± {half:.2g} "
                           f"(STEAM better in {wins}/{len(d)} splits)")
    return out


def paired_steam(raw: pd.DataFrame) -> list[str]:
    """Every STEAM row against the first STEAM row (e.g. another tree leaf size), paired by split: mean and
    95% t-interval of the per-split difference of each fidelity and privacy metric, and whether the
    interval excludes 0 in the worse direction (a cost beyond the split-to-split noise)."""
    labels = list(raw.loc[raw.generator.str.startswith("STEAM"), "generator"].unique())
    if len(labels) < 2:
        return []
    base = raw[raw.generator == labels[0]].set_index("run")
    keys = [(k, h, up) for k, h, up in _present(raw) if k != "dcr_ratio_median"] + [
        (k, h, {"exact_copy_rate": False, "dcr_ratio_median": True, "dcr_ratio_p05": True}.get(k, False))
        for k, h, _ in PRIVACY_COLUMNS[:5] if k in raw]
    out = []
    for label in labels[1:]:
        other = raw[raw.generator == label].set_index("run")
        runs = base.index.intersection(other.index)
        if len(runs) < 2:
            continue
        out += ["", f"Paired by split ({len(runs)} splits): {label} minus {labels[0]}", "",
                "| metric | better | mean difference | 95% t-interval | verdict |", "|---|---|---|---|---|"]
        for key, head, up in keys:
            d = (other.loc[runs, key].astype(float) - base.loc[runs, key].astype(float)).to_numpy()
            d = d[np.isfinite(d)]
            if len(d) < 2:
                continue
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            lo, hi = d.mean() - half, d.mean() + half
            worse = (hi < 0) if up else (lo > 0)
            better = (lo > 0) if up else (hi < 0)
            verdict = "worse beyond noise" if worse else "better beyond noise" if better else "within noise"
            out.append(f"| {head} | {'higher' if up else 'lower'} | {d.mean():+.4g} | [{lo:+.4g}, {hi:+.4g}] "
                       f"| {verdict} |")
    return out + [""] if out else []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 runs, two Cox learners (a few minutes)")
    p.add_argument("--runs", type=int, default=None, help="number of splits (default 5; quick: 2)")
    p.add_argument("--outcome-model", nargs="+", choices=["default", "weibull", "weibull-km", "csa-info"],
                   default=["weibull", "weibull-km"],
                   help="STEAM outcome model(s): the package default (SyntheticCohort(): CSA-INFO with its "
                        "defaults); Weibull AFT per arm for T and C; the same with per-arm "
                        "Kaplan-Meier censoring; CSA-INFO with --csa-epochs (slow on CPU)")
    p.add_argument("--csa-epochs", type=int, default=40, help="max epochs of CSA-INFO (early stopping on)")
    p.add_argument("--generators", nargs="+", default=["steam", "generic", "bootstrap"],
                   choices=["steam", "steam-privacy", "generic", *PEERS, "bootstrap"])
    p.add_argument("--learners", nargs="+", default=None,
                   choices=["cox-t", "cox-s", "weibull-t", "rsf-t", "dr"],
                   help="U_PEHE learners (default: cox-t cox-s, plus weibull-t without --quick); rsf-t = "
                        "random survival forests per arm, dr = doubly robust learner")
    p.add_argument("--peer-epochs", type=int, default=300, help="epochs of CTGAN and TVAE (SDV default 300)")
    p.add_argument("--datasets", nargs="+", default=["actg", "actg-synthetic"],
                   choices=["actg", "actg-synthetic"])
    p.add_argument("--out", default=None, help="markdown path (default under benchmarks/results/)")
    p.add_argument("--from-csv", nargs="+", default=None,
                   help="re-render the markdown from per-run .csv files (no fitting); several files are "
                        "merged and their rows written to the .csv beside --out")
    p.add_argument("--first-run", type=int, default=0,
                   help="seed of the first split (to add runs to an earlier run; merge the .csv files and "
                        "re-render with --from-csv)")
    p.add_argument("--covariate-model", default="trees", choices=["copula", "trees", "independent"],
                   help="covariate generator of both STEAM-survival and the generic baseline (default: the "
                        "package default, trees)")
    p.add_argument("--tree-leaf", type=int, nargs="+", default=[None],
                   help="min_samples_leaf of the sequential trees (package default 20; larger = smoother, "
                        "further from individual records); several values give one STEAM / generic row each")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows of the .csv beside --out and measure only the missing "
                        "(dataset, generator, split) rows")
    p.add_argument("--no-tstr", action="store_true",
                   help="skip the train-on-synthetic / test-on-real C-index and Brier score")
    p.add_argument("--covariates-only", action="store_true",
                   help="only compare the covariate generators (copula, sequential trees, independent)")
    args = p.parse_args(argv)
    args.argv = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    runs = args.runs or (2 if args.quick else 5)
    if runs < 1:
        p.error("--runs must be >= 1")
    args.learners = args.learners or (["cox-t", "cox-s"] if args.quick else ["cox-t", "cox-s", "weibull-t"])
    if args.covariates_only:
        text = covariate_fidelity(args.datasets, runs)
        print(text)
        out = Path(args.out) if args.out else RESULTS / "steam_covariates.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# Covariate generator fidelity\n\nCommand: `OMP_NUM_THREADS=1 python3 "
                       f"-m benchmarks.steam_survival {args.argv}`\n\n" + text)
        print(f"written {out}")
        return
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    out = Path(args.out) if args.out else \
        RESULTS / f"steam_survival_{'_'.join(args.outcome_model)}{'_quick' if args.quick else ''}.md"
    if args.from_csv and not args.out:
        out = Path(args.from_csv[0]).with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped = {}

    def write(raw, final=False):
        text = markdown(summarise(raw), raw, args)
        if skipped:
            text += "\nSkipped peers: " + "; ".join(f"{g}: {why}" for g, why in skipped.items()) + "\n"
        if not final:
            text = "(partial: the run is still going)\n\n" + text
        out.write_text(text)
        return text

    if args.from_csv:
        raw = pd.concat([pd.read_csv(f) for f in args.from_csv], ignore_index=True)
        raw = raw.drop_duplicates(["dataset", "generator", "run"], keep="last")
        raw = raw.sort_values(["run"], kind="stable").reset_index(drop=True)
        args.argv += f"  (re-rendered from {', '.join(Path(f).name for f in args.from_csv)})"
        merged = out.with_suffix(".csv")
        if all(Path(f).resolve() != merged.resolve() for f in args.from_csv):
            raw.to_csv(merged, index=False)  # several runs merged: their rows beside the table
    else:
        csv = out.with_suffix(".csv")
        rows = pd.read_csv(csv).to_dict("records") if args.resume and csv.exists() else []
        done = {(r["dataset"], r["generator"], int(r["run"])) for r in rows}

        def on_row(res):  # the whole table, rewritten atomically after every row: a stop keeps them all
            rows.append(res)
            raw = pd.DataFrame(rows)
            tmp = csv.with_suffix(".csv.tmp")
            raw.to_csv(tmp, index=False)
            tmp.replace(csv)
            write(raw)

        # splits outer, datasets inner: a run stopped early holds the same splits of every dataset
        for r in range(args.first_run, args.first_run + runs):
            for ds in args.datasets:
                run_dataset(ds, 1, args.generators, args.outcome_model, args.csa_epochs, args.learners,
                            args.covariate_model, r, args.peer_epochs, on_row=on_row, skipped=skipped,
                            tree_leaf=args.tree_leaf, done=done, sdm_run=args.first_run,
                            tstr=not args.no_tstr)
        raw = pd.DataFrame(rows)
    text = write(raw, final=True)
    print("\n" + text)
    print(f"written {out}" + ("" if args.from_csv else f" and {out.with_suffix('.csv')}"))


if __name__ == "__main__":
    main()
