"""The ACTG 175 trial, the paper's ``actg`` subset and the semi-synthetic ``actg-Synthetic`` set.

The files ship inside the package (``pyrocsa/datasets/data/``) and are read with :mod:`importlib.resources`,
so the loaders work from an installed wheel as well as from a source checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "ACTG_COVARIATES",
    "ACTG_BASELINE",
    "ACTG_POST_RANDOMISATION",
    "ActgSynthetic",
    "load_actg175",
    "load_actg",
    "load_actg_synthetic",
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

_DATA = "data"
_SYNTH = "actg_synthetic"


def _data_file(*parts: str):
    res = resources.files("pyrocsa.datasets").joinpath(_DATA)
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


@dataclass
class ActgSynthetic:
    """The actg-Synthetic set of Chapfuwa et al. (CHIL 2021), exactly as released by the authors.

    Attributes
    ----------
    frame : DataFrame (2139 rows): the 23 covariates :data:`ACTG_COVARIATES` (raw units, ``cd496``
        median-imputed) then ``time`` (observed time y_f, days), ``event`` (int, 1 = event) and
        ``treatment`` (int, the *simulated* treatment, 1 = treated).
    t0, t1 : (N,) float arrays -- the true potential event times (days) under control / treatment.
    split : ``{"train", "valid", "test"}`` -> integer positions into ``frame`` (the authors' 1711/214/214).
    pairs : the raw ``event_pairs.csv`` (y_f, e_f, t_f, y_cf, e_cf, t_cf).

    The outcomes follow the Gompertz-Cox scheme of :mod:`pyrocsa.simulate` with the authors' parameters
    (verified: the probability-integral transforms of ``t0``/``t1`` under ``beta_0``/``beta_1`` are
    uniform), so the exact conditional truth is available through :meth:`truth`, :meth:`survival`,
    :meth:`rmst`, :meth:`expected_lifetime` and :attr:`propensity`.
    """

    frame: pd.DataFrame
    t0: np.ndarray
    t1: np.ndarray
    split: dict[str, np.ndarray]
    pairs: pd.DataFrame = field(repr=False)

    #: the 23 covariate names, in file order
    covariates: list[str] = field(default_factory=lambda: list(ACTG_COVARIATES))

    @property
    def baseline_covariates(self) -> list[str]:
        """The covariates minus ``treat`` and ``zprior`` (21 names).

        In actg-Synthetic the treatment was *simulated* from age and cd40, so the trial's own ``treat`` is
        just a covariate -- it overlaps both simulated arms and has coefficient 0 in both arms' outcome
        models, i.e. pure noise; ``zprior`` is constant. The trial's post-randomisation variables (offtrt,
        cd420, cd496, r, cd820) *are* pre-treatment here: the simulated outcome depends on them.
        """
        return [c for c in self.covariates if c not in ("treat", "zprior")]

    @property
    def treatment(self) -> np.ndarray:
        return self.frame["treatment"].to_numpy()

    def truth(self):
        """The generating model: a :class:`pyrocsa.simulate.GompertzCox` with the authors' parameters."""
        from pyrocsa.simulate import authors_gompertz_cox

        return authors_gompertz_cox(self.frame[self.covariates].to_numpy(dtype=float))

    @property
    def propensity(self) -> np.ndarray:
        """(N,) the true P(A=1|x) of the authors' scheme (see :func:`pyrocsa.simulate.actg_propensity`)."""
        from pyrocsa.simulate import actg_propensity

        return actg_propensity(self.frame["age"].to_numpy(float), self.frame["cd40"].to_numpy(float))

    def survival(self, times):
        """(S0, S1), each (N, len(times)): true survival functions at ``times`` (days)."""
        return self.truth().survival(times)

    def rmst(self, tau: float):
        """(rmst0, rmst1), each (N,): true restricted mean survival times up to ``tau`` days."""
        return self.truth().rmst(tau)

    def expected_lifetime(self):
        """(m0, m1), each (N,): true E[T_0|x], E[T_1|x] in days."""
        return self.truth().expected_lifetime()


def load_actg_synthetic() -> ActgSynthetic:
    """Load actg-Synthetic (2139 subjects; 48.9% events, 55.9% treated; split 1711/214/214; true ATE of the
    realised t1 - t0 on the test split 162.1 days). See :class:`ActgSynthetic`."""
    x = _load_npy("covariates.npy")
    a = _load_npy("treatment.npy")
    with _data_file(_SYNTH, "event_pairs.csv").open("r") as f:
        pairs = pd.read_csv(f)
    if x.shape != (len(a), len(ACTG_COVARIATES)) or len(pairs) != len(a):  # pragma: no cover - packaging
        raise RuntimeError(f"actg-Synthetic files are inconsistent: covariates {x.shape}, treatment "
                           f"{a.shape}, event_pairs {pairs.shape}")
    treated = a.astype(int) == 1
    frame = pd.DataFrame(x, columns=ACTG_COVARIATES)
    frame["time"] = pairs["y_f"].to_numpy(dtype=float)
    frame["event"] = pairs["e_f"].to_numpy().astype(int)
    frame["treatment"] = a.astype(int)
    t_f = pairs["t_f"].to_numpy(dtype=float)
    t_cf = pairs["t_cf"].to_numpy(dtype=float)
    t1 = np.where(treated, t_f, t_cf)
    t0 = np.where(treated, t_cf, t_f)
    split = {name: _load_npy(f"{name}_idx.npy").astype(int) for name in ("train", "valid", "test")}
    return ActgSynthetic(frame=frame, t0=t0, t1=t1, split=split, pairs=pairs)
