"""The semi-synthetic ``actg-Synthetic`` set of Chapfuwa et al. (CHIL 2021) with its exact truth: the authors'
preset of the Gompertz-Cox simulator (:mod:`pyrocsa.data.simulate`) applied to the shipped ACTG covariates.

It sits above both the loaders (:mod:`pyrocsa.data.actg`, the files) and the simulator (the truth), so
neither of those imports the other's side of the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyrocsa.data.actg import _SYNTH, ACTG_COVARIATES, _data_file, _load_npy
from pyrocsa.data.simulate import actg_propensity, authors_gompertz_cox
from pyrocsa.errors import renamed_argument

__all__ = ["ActgSynthetic", "load_actg_synthetic"]


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
        return authors_gompertz_cox(self.frame[self.covariates].to_numpy(dtype=float))

    @property
    def propensity(self) -> np.ndarray:
        """(N,) the true P(A=1|x) of the authors' scheme (see :func:`pyrocsa.simulate.actg_propensity`)."""
        return actg_propensity(self.frame["age"].to_numpy(float), self.frame["cd40"].to_numpy(float))

    def survival(self, times):
        """(S0, S1), each (N, len(times)): true survival functions at ``times`` (days)."""
        return self.truth().survival(times)

    def rmst(self, horizon: float | None = None, tau: float | None = None):
        """(rmst0, rmst1), each (N,): true restricted mean survival times up to ``horizon`` days (``tau`` is
        its deprecated name)."""
        return self.truth().rmst(renamed_argument(horizon, tau, "horizon", "tau", "ActgSynthetic.rmst"))

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
