"""The ACTG 175 trial and the paper's ``actg`` subset (the semi-synthetic ``actg-Synthetic`` set, whose
truth needs the simulator, is :mod:`pyrocsa.data.actg_synthetic`).

The files ship inside the package (``pyrocsa/data/files/``) and are read with :mod:`importlib.resources`,
so the loaders work from an installed wheel as well as from a source checkout.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "ACTG_COVARIATES",
    "ACTG_BASELINE",
    "ACTG_POST_RANDOMISATION",
    "load_actg175",
    "load_actg",
]

#: The 23 ACTG covariates in the order of the actg-Synthetic covariate matrix (and of the simulator's betas).
ACTG_COVARIATES: list[str] = [
    "age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "zprior", "preanti", "race",
    "gender", "str2", "strat", "symptom", "treat", "offtrt", "cd40", "cd420", "cd496", "r", "cd80", "cd820",
]

#: Covariates measured before randomisation in ACTG 175 (valid confounders / effect modifiers).
#: ``zprior`` (prior zidovudine use) is left out: it equals 1 for every subject, so it carries no information
#: (the data layer would drop it with a warning anyway).
ACTG_BASELINE: list[str] = [
    "age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race", "gender", "str2",
    "strat", "symptom", "cd40", "cd80",
]

#: Variables measured after randomisation (consequences of the treatment; never adjust for them when the
#: treatment is the ACTG arm): off-treatment before 96 weeks, CD4 at 20 +/- 5 and 96 +/- 5 weeks, whether
#: CD4 at 96 weeks was missing, CD8 at 20 +/- 5 weeks.
ACTG_POST_RANDOMISATION: list[str] = ["offtrt", "cd420", "cd496", "r", "cd820"]

_DATA = "files"
_SYNTH = "actg_synthetic"


def _data_file(*parts: str):
    res = resources.files(__package__).joinpath(_DATA)
    for p in parts:
        res = res.joinpath(p)
    return res


def _load_npy(name: str) -> np.ndarray:
    with _data_file(_SYNTH, name).open("rb") as f:
        return np.load(f, allow_pickle=False)


def load_actg175() -> pd.DataFrame:
    """The full ACTG 175 trial (Hammer et al., NEJM 1996), as distributed with R's speff2trial / BART.

    Returns a DataFrame of 2139 rows x 27 columns (``pidnum`` first, the file's row-index column dropped):

    * ``days``  -- follow-up time in days (duration);
    * ``cens``  -- 1 = event (>= 50% decline in CD4, AIDS or death), 0 = censored; 24.4% events;
    * ``arms``  -- 0 = zidovudine, 1 = zidovudine + didanosine, 2 = zidovudine + zalcitabine, 3 = didanosine;
    * ``treat`` -- 0 = zidovudine only (arm 0), 1 = any other arm: a function of ``arms``;
    * baseline covariates :data:`ACTG_BASELINE` plus the constant ``zprior``;
    * post-randomisation variables :data:`ACTG_POST_RANDOMISATION` (``cd496`` has 797 missing values).
    """
    with _data_file("ACTG175.csv").open("r") as f:
        df = pd.read_csv(f, index_col=0)
    df.index = pd.RangeIndex(len(df))
    return df


def load_actg() -> pd.DataFrame:
    """The paper's ``actg`` set: the randomised comparison of arm 0 (zidovudine) against arm 1
    (zidovudine + didanosine) in ACTG 175 -- 1054 subjects, 26.9% events, 49.5% treated.

    The treatment is ``arms`` (0 = control, 1 = treated); duration ``days``, event ``cens`` (1 = event).
    Columns are those of :func:`load_actg175`, with a fresh 0..1053 index.

    Which columns may be used as covariates:

    * baseline (pre-randomisation): :data:`ACTG_BASELINE` -- age, wtkg, hemo, homo, drugs, karnof, oprior,
      z30, preanti, race, gender, str2, strat, symptom, cd40, cd80 (``zprior`` is constant and left out);
    * ``treat`` equals ``arms`` in this subset -- it *is* the treatment, so it must not be a covariate
      (:meth:`pyrocsa.data.SurvivalData.from_frame` raises a ``ValueError`` if it is);
    * ``offtrt``, ``cd420``, ``cd496``, ``r``, ``cd820`` (:data:`ACTG_POST_RANDOMISATION`) are measured after
      randomisation, so adjusting for them biases the treatment effect;
    * ``pidnum`` is an identifier.
    """
    df = load_actg175()
    out = df.loc[df["arms"].isin([0, 1])].reset_index(drop=True)
    return out
