"""Public randomised trials (and one observational cohort) as frames pyrocsa fits directly.

Every loader returns a :class:`Trial`: ``frame`` with the columns ``time`` (follow-up, in the source's unit),
``event`` (1 = event, 0 = censored), ``treatment`` (1 = the experimental arm, 0 = the comparator) and the
baseline covariates ``covariates`` under their source names; ``dropped`` names every source column left
out and why (identifiers, the outcome and treatment columns themselves, post-randomisation measurements,
rows with missing covariates).

The data are not shipped: they are read at run time from the packages that distribute them -- lifelines
(Rossi; MIT), scikit-survival (GBSG2; GPL-3) and SurvSet (colon, pbc, veteran; GPL-3), installed with the
``pyrocsa[trials]`` extra -- except ACTG 175, which pyrocsa ships. A missing package raises ImportError
naming the extra.

=========  =============================================  ======  ====================================
name       trial (treatment vs comparator)                 unit    source
=========  =============================================  ======  ====================================
colon      Moertel colon cancer, Lev+5FU vs observation   days    SurvSet ``colon`` (death or recurrence
                                                                  as SurvSet codes ``event``)
pbc        Mayo PBC, D-penicillamine vs placebo           days    SurvSet ``pbc``
veteran    VA lung cancer, test vs standard chemotherapy  days    SurvSet ``veteran``
rossi      Rossi recidivism, financial aid vs none        weeks   lifelines ``load_rossi``
actg175    ACTG 175, ZDV + zalcitabine vs ZDV (arms 2/0)  days    pyrocsa's ACTG 175 file
gbsg2      GBSG2 breast cancer, hormonal therapy vs none  days    scikit-survival ``load_gbsg2``
           (observational: not randomised)
=========  =============================================  ======  ====================================
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from pyrocsa.errors import ArgumentError

__all__ = ["Trial", "TRIALS", "load_trial"]

_EXTRA = "install the benchmark extra: pip install 'pyrocsa[trials]'"


@dataclasses.dataclass
class Trial:
    """One trial: ``frame`` (columns ``time``, ``event``, ``treatment`` and ``covariates``), what the arms
    are, the time unit, whether treatment was randomised, and the source columns ``dropped`` (name ->
    reason)."""

    name: str
    title: str
    frame: pd.DataFrame
    covariates: list
    treated: str
    control: str
    unit: str
    randomised: bool
    dropped: dict

    duration_col = "time"
    event_col = "event"
    treatment_col = "treatment"


def _survset(name: str) -> pd.DataFrame:
    try:
        from SurvSet.data import SurvLoader
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"trial '{name}' is read from the SurvSet package (GPL-3, not shipped): "
                          f"{_EXTRA}") from err
    return SurvLoader().load_dataset(name)["df"]


def _finish(name, title, raw: pd.DataFrame, time, event, treatment, covariates, treated, control, unit,
            randomised, dropped) -> Trial:
    frame = pd.DataFrame({"time": np.asarray(time, dtype=float), "event": np.asarray(event, dtype=int),
                          "treatment": np.asarray(treatment, dtype=int)}, index=raw.index)
    frame = pd.concat([frame, raw[covariates]], axis=1)
    missing = frame[covariates].isna().any(axis=1)
    if missing.any():
        cols = [c for c in covariates if frame[c].isna().any()]
        dropped = dict(dropped, **{"rows": f"{int(missing.sum())} rows with a missing value of {cols}"})
        frame = frame[~missing]
    return Trial(name, title, frame.reset_index(drop=True), list(covariates), treated, control, unit,
                 randomised, dropped)


def _colon() -> Trial:
    raw = _survset("colon")
    raw = raw[raw["fac_rx"].isin(["Lev+5FU", "Obs"])]
    cov = ["num_age", "num_nodes", "fac_sex", "fac_differ", "fac_obstruct", "fac_perfor", "fac_adhere",
           "fac_node4"]
    return _finish("colon", "Moertel colon cancer (Lev+5FU vs observation)", raw, raw["time"], raw["event"],
                   raw["fac_rx"] == "Lev+5FU", cov, "Lev+5FU", "Obs", "days", True,
                   {"pid": "identifier",
                    "fac_rx": "the treatment (the levamisole-alone arm Lev is left out)"})


def _pbc() -> Trial:
    raw = _survset("pbc")
    cov = ["num_age", "fac_sex", "fac_ascites", "fac_hepato", "fac_spiders"]
    return _finish("pbc", "Mayo PBC (D-penicillamine vs placebo)", raw, raw["time"], raw["event"],
                   raw["fac_trt"].astype(str) == "1", cov, "D-penicillamine", "placebo", "days", True,
                   {"pid": "identifier", "fac_trt": "the treatment (1 = D-penicillamine, 2 = placebo)"})


def _veteran() -> Trial:
    raw = _survset("veteran")
    cov = ["num_karno", "num_diagtime", "num_age", "fac_celltype", "fac_prior"]
    return _finish("veteran", "VA lung cancer (test vs standard chemotherapy)", raw, raw["time"],
                   raw["event"], raw["fac_trt"].astype(str) == "2", cov, "test", "standard", "days", True,
                   {"pid": "identifier", "fac_trt": "the treatment (1 = standard, 2 = test)"})


def _rossi() -> Trial:
    from lifelines.datasets import load_rossi

    raw = load_rossi()
    cov = ["age", "race", "wexp", "mar", "paro", "prio"]
    return _finish("rossi", "Rossi recidivism (financial aid vs none)", raw, raw["week"], raw["arrest"],
                   raw["fin"], cov, "financial aid", "none", "weeks", True,
                   {"week": "the duration", "arrest": "the event", "fin": "the treatment"})


def _actg175() -> Trial:
    from pyrocsa.data.actg import ACTG_POST_RANDOMISATION, load_actg175

    raw = load_actg175()
    raw = raw[raw["arms"].isin([0, 2])]
    baseline = ["age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race",
                "gender", "str2", "strat", "symptom", "cd40", "cd80"]
    dropped = {c: "measured after randomisation" for c in ACTG_POST_RANDOMISATION}
    dropped.update(pidnum="identifier", arms="the treatment (2 = ZDV + zalcitabine, 0 = ZDV)",
                   treat="a function of the treatment", zprior="constant (every patient had prior ZDV)",
                   days="the duration", cens="the event")
    return _finish("actg175", "ACTG 175 (zidovudine + zalcitabine vs zidovudine)", raw, raw["days"],
                   raw["cens"], raw["arms"] == 2, baseline, "ZDV + zalcitabine", "ZDV", "days", True,
                   {k: v for k, v in dropped.items() if k in raw.columns})


def _gbsg2() -> Trial:
    try:
        from sksurv.datasets import load_gbsg2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"trial 'gbsg2' is read from scikit-survival (GPL-3, not shipped): "
                          f"{_EXTRA}") from err
    x, y = load_gbsg2()
    raw = x.copy()
    for c in raw.columns:
        if isinstance(raw[c].dtype, pd.CategoricalDtype):
            raw[c] = raw[c].astype(str)
    cov = ["age", "estrec", "menostat", "pnodes", "progrec", "tgrade", "tsize"]
    return _finish("gbsg2", "GBSG2 breast cancer (hormonal therapy vs none; observational)", raw, y["time"],
                   y["cens"], raw["horTh"] == "yes", cov, "hormonal therapy", "none", "days", False,
                   {"horTh": "the treatment (not randomised in this cohort)"})


#: name -> loader of every trial
TRIALS = {"colon": _colon, "pbc": _pbc, "veteran": _veteran, "rossi": _rossi, "actg175": _actg175,
          "gbsg2": _gbsg2}


def load_trial(name: str) -> Trial:
    """The trial ``name`` (one of :data:`TRIALS`) as a :class:`Trial`; see the module docstring."""
    if name not in TRIALS:
        raise ArgumentError(f"unknown trial {name!r}; choose one of {sorted(TRIALS)}")
    return TRIALS[name]()
