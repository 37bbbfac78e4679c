""":class:`CSA` -- the lifelines-style front of the CSA / CSA-INFO model.

    >>> model = pyrocsa.CSA(informative_censoring=True, alpha=1.0, seed=0)
    >>> model.fit(df, duration_col="time", event_col="event", treatment_col="treatment")
    >>> po = model.sample_potential_outcomes(test_df, num_samples=200)   # PotentialOutcomes, (200, N)
    >>> po.ite().mean(), po.rmst_difference(1000)
    >>> model.save("csa_model"); same = pyrocsa.CSA.load("csa_model")

Sampling goes through :class:`pyro.infer.Predictive` (vectorised over samples, chunked over subjects).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pyrocsa.core.base import CounterfactualSurvivalModel
from pyrocsa.core.checkpoint import FORMAT_VERSION, load_estimator, save_estimator  # noqa: F401 (FORMAT_VERSION: re-export)
from pyrocsa.core.device import resolve_device
from pyrocsa.core.effects import EffectPosteriorMixin
from pyrocsa.core.fit_check import check_training_rows, fit_check
from pyrocsa.core.sampling import predictive_draws
from pyrocsa.core.training import auto_batch_size, fit_module
from pyrocsa.csa.cox_start import fit_start
from pyrocsa.csa.losses import OBJECTIVES, CSALoss
from pyrocsa.csa.model import CSAModel
from pyrocsa.csa.posterior import LaplacePosterior, fit_laplace, head_vector, law_draws, rmst, survival
from pyrocsa.data.frame import (
    SurvivalData,
    covariate_frame,
    observed_frame,
    shift_zero_durations_pair,
    validation_split,
)
from pyrocsa.errors import ArgumentError, DataError, check_positive_int, check_seed

__all__ = ["CSA"]

_CONFIG_KEYS = ("informative_censoring", "alpha", "objective", "hidden", "flow_layers", "dropout", "lr",
                "batch_size", "max_epochs", "patience", "seed", "device", "verbose", "baseline")
#: the values of ``CSA(baseline=...)``
BASELINES = ("smooth", "steps", "auto")
#: the alpha grid of ``alpha="auto"`` (the paper's)
ALPHA_GRID = (0.0, 0.1, 1.0, 10.0, 100.0)
_CLIP_NORM = 10.0
_START_ROWS = 20_000  # rows of a streamed Parquet dataset that the Cox start sees (pyrocsa.csa.cox_start)


def _is_auto(batch_size) -> bool:
    return isinstance(batch_size, str) and batch_size == "auto"


class CSA(EffectPosteriorMixin, CounterfactualSurvivalModel):
    """Counterfactual survival analysis (Chapfuwa et al., CHIL 2021) with an exact-likelihood Pyro model.

    Each arm's event time, and for CSA-INFO each arm's censoring time, is a conditional planar flow on the
    log-time scale over a learned representation r = Phi(x) (:class:`pyrocsa.csa.model.CSAModel`), fitted by
    the right-censored log-likelihood plus ``alpha`` x a Wasserstein IPM between the arms' representations.

    Parameters
    ----------
    informative_censoring : True = CSA-INFO (per-arm censoring generators); False = CSA.
    alpha : IPM weight: a number >= 0 (default 0); ``"auto"``: one fit per alpha of the paper's grid
        {0, 0.1, 1, 10, 100}, keeping the smallest alpha whose individual RMST effects match doubly robust
        pseudo-outcomes on the validation rows within one standard error of the best; a list: that grid;
        ``"nn-proxy"``: the paper's grid and rule (nearest-neighbour proxy counterfactuals). See
        :mod:`pyrocsa.csa.alpha`.
    objective : ``"likelihood"`` (default; the right-censored log-likelihood) or ``"paper"`` (eqs. 8-11,
        for the paper's tables; see also :meth:`paper`).
    hidden : encoder widths (the representation has ``hidden[-1]`` dims; each arm head one such layer).
    flow_layers : K, conditional planar layers per time law and K outer layers per head (0 = a Weibull
        model per arm, loc and scale from the covariates).
    dropout : dropout on every hidden layer (default 0.2: without it the likelihood overfits within
        ~10 epochs).
    lr, max_epochs, patience : Adam learning rate, epoch cap and early-stopping patience (on the validation
        loss without the IPM; best weights restored).
    batch_size : minibatch rows, or ``"auto"`` (default): 256 up to 32,768 training rows, then
        n_train / 128 (128 steps per epoch) up to 4096 -- :func:`pyrocsa.core.training.auto_batch_size`.
    seed : seeds weights, minibatches and (by default) draws; None = not seeded.
    device : "cpu", "cuda" or None (CUDA when available). verbose : progress bar (on a TTY).
    baseline : the baseline hazard under each head's flows. ``"smooth"`` (default): the planar flows
        alone; ``"steps"``: a piecewise-constant hazard under them (:mod:`pyrocsa.csa.warp`), which follows
        a hazard that jumps at a fixed time (the end of a programme) as a Cox model's Breslow baseline
        does, but makes the trend read past follow-up (expected lifetimes) less stable; ``"auto"``: smooth,
        refitted with steps when the smooth fit leaves an arm's Kaplan-Meier simultaneous band on the
        training rows (the check ``fit`` runs anyway), keeping the refit only when it is inside every
        arm's band (a second fit whenever the smooth one is outside). When the smooth fit leaves the band,
        ``fit``'s warning names these remedies. Only the likelihood objective has step baselines; a fit
        streamed from Parquet uses "auto" as "smooth" (its rows are not in memory for the check).

    Fitted attributes: ``model_`` (:class:`pyrocsa.csa.model.CSAModel`), ``data_`` (training
    :class:`SurvivalData`), ``preprocessor_``, ``history_`` (per-epoch dicts), ``alpha_``, ``alpha_scores_``
    (alpha -> validation score, lower is better, when a grid is searched), ``time_scale_`` (geometric mean
    training duration), ``fit_check_`` (the Kaplan-Meier band check of the training rows,
    :class:`pyrocsa.core.fit_check.FitCheck`; ``fit`` warns with a :class:`pyrocsa.errors.FitWarning` when
    the model leaves an arm's band), ``posterior_`` (:class:`pyrocsa.csa.posterior.LaplacePosterior`: the
    parameter posterior of the event heads behind :meth:`predict_effect`, :meth:`effect_posterior` and
    :meth:`predict_ate`; None for a fit streamed from Parquet), ``baseline_`` ("smooth" or "steps": the
    baseline the fitted model has; with ``baseline="auto"``, ``smooth_check_`` is the smooth fit's check
    when it was refitted).

    One CSA is one fitted model; K fits on bootstrap resamples, whose disagreement is the model
    uncertainty one fit lacks, are ``pyrocsa.Ensemble(CSA(...), n_members=K, seed=...)``
    (:mod:`pyrocsa.core.ensemble`).
    """

    accepts_preprocessor = True
    continuous_survival = True

    def __init__(self, informative_censoring: bool = True, alpha=0.0, objective: str = "likelihood",
                 hidden=(100, 100), flow_layers: int = 4, dropout: float = 0.2, lr: float = 1e-3,
                 batch_size="auto", max_epochs: int = 200, patience: int = 20,
                 seed: int | None = 0, device=None, verbose: bool = True, baseline: str = "smooth"):
        if objective not in OBJECTIVES:
            raise ArgumentError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if isinstance(alpha, (list, tuple)):
            if not alpha or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                                    for v in alpha):
                raise ArgumentError(f"alpha: a grid must be a non-empty list of numbers >= 0, got {alpha!r}")
        elif not (alpha in ("auto", "nn-proxy") or (isinstance(alpha, (int, float))
                                                    and not isinstance(alpha, bool) and alpha >= 0)):
            raise ArgumentError(f"alpha must be a number >= 0, 'auto', 'nn-proxy' or a list of numbers, got "
                             f"{alpha!r}")
        checked = (("max_epochs", max_epochs), ("patience", patience)) + \
            ((("batch_size", batch_size),) if not _is_auto(batch_size) else ())
        for arg, v in checked:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                also = " or 'auto'" if arg == "batch_size" else ""
                raise ArgumentError(f"{arg} must be an integer >= 1{also}, got {v!r}")
        if isinstance(flow_layers, bool) or not isinstance(flow_layers, (int, np.integer)) or flow_layers < 0:
            raise ArgumentError(f"flow_layers must be an integer >= 0, got {flow_layers!r}")
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__") or not tuple(hidden) or \
                not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1
                        for h in hidden):
            raise ArgumentError(f"hidden must be a non-empty sequence of positive integers, got {hidden!r}")
        if not 0 <= dropout < 1:
            raise ArgumentError(f"dropout must be in [0, 1), got {dropout}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ArgumentError(f"lr must be > 0, got {lr!r}")
        if baseline not in BASELINES:
            raise ArgumentError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if baseline == "steps" and objective != "likelihood":
            raise ArgumentError("baseline='steps' needs objective='likelihood' (the step baselines are set "
                                "in its Cox start; the paper's objective starts from zero)")
        self.informative_censoring = bool(informative_censoring)
        self.alpha = alpha
        self.objective = objective
        self.baseline = baseline
        self.hidden = hidden  # as passed (sklearn clone); used as tuple(int(h) for h in hidden)
        self.flow_layers = int(flow_layers)
        self.dropout = float(dropout)
        self.lr = float(lr)
        self.batch_size = "auto" if _is_auto(batch_size) else int(batch_size)
        self.max_epochs = int(max_epochs)
        self.patience = int(patience)
        self.seed = seed
        self.device = device
        self.verbose = bool(verbose)
        self.fitted_ = False

    @classmethod
    def paper(cls, informative_censoring: bool = True, alpha=1.0, **kwargs) -> CSA:
        """The paper's configuration (CHIL 2021, SM D.4): objective eqs. 8-11, dropout 0.2, Adam lr 3e-4,
        minibatches of 200, on the same exact-density generators. Any argument may be overridden."""
        config = dict(objective="paper", dropout=0.2, lr=3e-4, batch_size=200)
        config.update(kwargs)
        return cls(informative_censoring=informative_censoring, alpha=alpha, **config)

    @property
    def name(self) -> str:
        return "CSA-INFO" if self.informative_censoring else "CSA"

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments, as passed (sklearn convention: ``clone`` works)."""
        return {k: getattr(self, k) for k in _CONFIG_KEYS}

    def set_params(self, **params) -> CSA:
        unknown = sorted(set(params) - set(_CONFIG_KEYS))
        if unknown:
            raise ArgumentError(f"unknown parameter(s) {unknown}; CSA takes {list(_CONFIG_KEYS)}")
        merged = dict(self.get_params(), **params)
        self.__init__(**merged)
        return self

    def __repr__(self):
        return f"{type(self).__name__}(informative_censoring={self.informative_censoring}, " \
               f"alpha={self.alpha!r}, objective={self.objective!r})"

    # -- building blocks -----------------------------------------------------------------------------
    def _new_model(self, n_features: int, time_scale: float = 1.0, log_time_scale: float = 1.0,
                   end_of_follow_up: float | None = None) -> CSAModel:
        """A fresh model; ``time_scale`` (duration unit) and ``log_time_scale`` standardise log-time, and
        ``end_of_follow_up`` (the largest training duration) is where the laws' end piece starts; only the
        likelihood objective uses it, the paper's objective keeps the paper's flows (loaded models overwrite
        all three from their saved buffers)."""
        end = end_of_follow_up if self.objective == "likelihood" else None
        return CSAModel(n_features, self.informative_censoring, hidden=tuple(int(h) for h in self.hidden),
                        flow_layers=self.flow_layers, dropout=self.dropout,
                        log_time_loc=float(np.log(time_scale)), log_time_scale=log_time_scale,
                        end_of_follow_up=end)

    def _loss(self, alpha: float, train: SurvivalData | None = None) -> CSALoss:
        """The objective with weight ``alpha`` on the IPM."""
        return CSALoss(self.objective, alpha=alpha)

    def _fit_one(self, train: SurvivalData, valid: SurvivalData, alpha: float, time_scale: float,
                 steps: bool = False):
        """Fit one model with a fixed alpha; returns (model, history)."""
        if self.seed is not None:
            torch.manual_seed(self.seed)
        log_y = train.y.double().log()
        sd = float(log_y.std()) if len(log_y) > 1 else 1.0
        model = self._new_model(train.x.shape[1], time_scale, sd if sd > 1e-6 else 1.0,
                                float(train.y.max()))
        tensors = (train.x, train.a, train.y, train.delta)
        vtensors = (valid.x, valid.a, valid.y, valid.delta)
        self.batch_size_ = auto_batch_size(len(train.y)) if _is_auto(self.batch_size) else self.batch_size
        self._start(model, tensors, vtensors, steps)
        history = fit_module(model, self._loss(alpha, train), tensors, vtensors, batch_size=self.batch_size_,
                             lr=self.lr, max_epochs=self.max_epochs, patience=self.patience,
                             clip_norm=_CLIP_NORM, seed=self.seed, device=self.device,
                             verbose=self.verbose, desc=f"{self.name} alpha={alpha:g}", monitor="factual")
        return model, history

    def _start(self, model: CSAModel, train: tuple, valid: tuple, steps: bool = False) -> None:
        """The likelihood fit starts every head at a lasso Cox model with its baseline fitted, on a step
        baseline when ``steps`` (:func:`pyrocsa.csa.cox_start.fit_start`); the paper's objective starts from
        zero, as the paper."""
        self.start_ = None
        if self.objective == "likelihood":
            self.start_ = fit_start(model.to(resolve_device(self.device)), train, valid, seed=self.seed or 0,
                                    steps=steps)

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
            preprocessor=None, zero_durations: str = "error"):
        """Fit on ``df`` (one row per subject; never modified). Without ``val_df``, a stratified 15% of
        ``df`` is held out for early stopping (and alpha selection). ``preprocessor``: a fitted
        :class:`pyrocsa.data.Preprocessor` to reuse instead of fitting one on ``df`` (ensemble members
        share one). Returns ``self``.

        ``df`` may also be the path of a Parquet file or of a directory of Parquet files: preprocessing
        statistics come from one pass, training streams row groups (memory O(row group + buffer + model);
        :mod:`pyrocsa.core.streaming`); ``val_df`` and alpha grids then need a frame instead.

        Data parallel (:mod:`pyrocsa.core.distributed`): under ``torchrun`` (``WORLD_SIZE`` > 1) or an
        initialised process group, every process calls ``fit`` with the same data; training is split across
        them (DDP, IPM on the gathered minibatch, validation reduced across processes) and every process ends
        with the same weights.

        ``zero_durations``: ``"error"`` (default) rejects durations of 0, naming the column; ``"shift"`` sets
        them to half the smallest positive duration of ``df`` (in ``df`` and ``val_df``, on copies), with a
        warning stating how many and the value (:meth:`pyrocsa.data.SurvivalData.from_frame`)."""
        from pyrocsa.core import distributed

        distributed.init_from_env(self.device)
        from pyrocsa.core.streaming import is_parquet_path

        if is_parquet_path(df):
            if zero_durations != "error":
                raise DataError("zero_durations='shift' needs the rows in memory: pass a DataFrame, or "
                                 "shift the durations in the Parquet files")
            return self._fit_parquet(df, duration_col, event_col, treatment_col, val_df, covariates,
                                     treated_value, preprocessor)
        df, val_df = shift_zero_durations_pair(df, val_df, duration_col, zero_durations)
        train_df, val_df = validation_split(df, event_col, treatment_col, val_df, seed=self.seed)
        train = SurvivalData.from_frame(train_df, duration_col, event_col, treatment_col,
                                        covariates=covariates, treated_value=treated_value,
                                        preprocessor=preprocessor)
        valid = train.transform(val_df, require_outcome=True)
        dev = resolve_device(self.device)
        time_scale = float(train.y.double().log().mean().exp())
        self.time_scale_ = time_scale
        self.smooth_check_ = None
        note = ""
        if self.baseline == "smooth" and self.objective == "likelihood":
            note = (" -- if the hazard may change abruptly (e.g. when a programme ends), refit with "
                    "baseline='steps' (or 'auto')")
        self._fit_models(train, valid, event_col, dev, steps=self.baseline == "steps")
        self._set_fitted(train, valid, duration_col, event_col, treatment_col)
        if self.baseline == "auto" and self.objective == "likelihood":
            smooth = fit_check(self, train_df, rows="the training rows")
            if not smooth.inside:
                kept = (self.model_, self.history_, self.alpha_, self.alpha_scores_, self.start_)
                self._fit_models(train, valid, event_col, dev, steps=True)
                steps = fit_check(self, train_df, rows="the training rows")
                if steps.inside:
                    self.smooth_check_ = smooth
                else:
                    self.model_, self.history_, self.alpha_, self.alpha_scores_, self.start_ = kept
                    worst = max(a.simultaneous_ratio for a in steps.arms.values())
                    note = (f" (a refit with step baselines left it too, simultaneous ratio {worst:.2f}: the "
                            "smooth fit is kept)")
        self.posterior_ = fit_laplace(self.model_, (train.x, train.a, train.y, train.delta),
                                      (valid.x, valid.a, valid.y, valid.delta), seed=self.seed or 0)
        self.fit_check_ = check_training_rows(self, train_df, note)
        return self

    def _fit_models(self, train: SurvivalData, valid: SurvivalData, event_col: str, dev, steps: bool) -> None:
        """The fit (one alpha, or the alpha search) with smooth or step baselines: sets ``model_``,
        ``history_``, ``alpha_``, ``alpha_scores_`` (and ``start_``)."""
        time_scale = self.time_scale_
        if self._searches_alpha():
            from pyrocsa.csa.alpha import select_alpha

            grid = ALPHA_GRID if isinstance(self.alpha, str) else [float(v) for v in self.alpha]
            if self.alpha != "nn-proxy":
                for arm in (0, 1):
                    n_ev = int(train.delta[train.a == arm].sum())
                    if n_ev < 2:
                        raise DataError(f"event column '{event_col}': arm {arm} has {n_ev} event(s) in the "
                                        f"training rows; alpha={self.alpha!r} scores each fit's effects with "
                                        "a Cox model of each arm's events, which needs at least 2: pass a "
                                        "number for alpha, or alpha='nn-proxy'")
            result = select_alpha(lambda alpha: self._fit_one(train, valid, alpha, time_scale, steps),
                                  self._loss(0.0), train, valid, grid, seed=self.seed or 0,
                                  rule="nn-proxy" if self.alpha == "nn-proxy" else "dr")
            self.alpha_, self.alpha_scores_ = result.alpha, result.scores
            model, history = result.model, result.history
        else:
            self.alpha_, self.alpha_scores_ = float(self.alpha), None
            model, history = self._fit_one(train, valid, self.alpha_, time_scale, steps)
        self.model_ = model.to(dev).eval()
        self.history_ = history

    def _set_fitted(self, train: SurvivalData, valid: SurvivalData, duration_col, event_col, treatment_col):
        self.data_ = train
        self.preprocessor_ = train.preprocessor
        self.duration_col_, self.event_col_, self.treatment_col_ = duration_col, event_col, treatment_col
        self.treated_value_ = train.treated_value
        self.n_train_, self.n_valid_ = len(train), len(valid)
        self.n_events_ = int(train.delta.sum())
        self.max_duration_ = float(train.y.max())
        self.fitted_ = True

    @property
    def baseline_(self) -> str:
        """"steps" when a head of the fitted model has a step baseline, else "smooth"."""
        self._check_fitted()
        return "steps" if any(int(h.warp_pieces) > 0 for _, _, h in self.model_.heads()) else "smooth"

    def _searches_alpha(self) -> bool:
        return isinstance(self.alpha, (str, list, tuple))

    def _fit_parquet(self, path, duration_col, event_col, treatment_col, val_df, covariates, treated_value,
                     preprocessor):
        """``fit`` on a Parquet file or directory, streamed (:mod:`pyrocsa.core.streaming`)."""
        from pyrocsa.core.checkpoint import FittedData
        from pyrocsa.core.streaming import scan_parquet

        if val_df is not None:
            raise DataError("val_df cannot be combined with a Parquet path: the validation rows are a "
                             "seeded 15% of the Parquet data")
        if self._searches_alpha():
            raise DataError(f"alpha={self.alpha!r} needs the rows in memory (validation scores of one fit "
                             "per alpha): pass a DataFrame, or a number for alpha")
        scan = scan_parquet(path, duration_col, event_col, treatment_col, covariates=covariates,
                            treated_value=treated_value, preprocessor=preprocessor, seed=self.seed or 0)
        self.alpha_, self.alpha_scores_ = float(self.alpha), None
        self.time_scale_ = scan.time_scale
        if self.seed is not None:
            torch.manual_seed(self.seed)
        model = self._new_model(scan.n_features, scan.time_scale, scan.log_y_sd, scan.max_duration)
        self.batch_size_ = (auto_batch_size(scan.train.n_rows) if _is_auto(self.batch_size)
                            else self.batch_size)
        self._start(model, next(scan.train.chunks(rows=_START_ROWS)),
                    next(scan.valid.chunks(rows=_START_ROWS)), steps=self.baseline == "steps")
        history = fit_module(model, self._loss(self.alpha_), scan.train, scan.valid,
                             batch_size=self.batch_size_, lr=self.lr, max_epochs=self.max_epochs,
                             patience=self.patience, clip_norm=_CLIP_NORM, seed=self.seed,
                             device=self.device, verbose=self.verbose,
                             desc=f"{self.name} alpha={self.alpha_:g}", monitor="factual")
        self.model_ = model.to(resolve_device(self.device)).eval()
        self.history_ = history
        self.posterior_ = None  # the Hessian needs the training rows in memory
        self.preprocessor_ = scan.preprocessor
        self.data_ = FittedData(scan.preprocessor, duration_col, event_col, treatment_col, scan.treated_value,
                                scan.n_features, scan.treatment_levels)
        self.duration_col_, self.event_col_, self.treatment_col_ = duration_col, event_col, treatment_col
        self.treated_value_ = scan.treated_value
        self.n_train_, self.n_valid_ = scan.n_train, scan.n_valid
        self.n_events_ = int(scan.n_train_events)
        self.max_duration_ = scan.max_duration
        self.fitted_ = True
        self.fit_check_ = None  # the rows are not in memory: check(df) on a frame of them
        return self

    # -- sampling ---------------------------------------------------------------------------------------
    def _chunk_size(self, num_samples: int, memory_mb: float = 256.0) -> int:
        """Subjects per sampling chunk: about ``memory_mb`` of float32 temporaries per chunk."""
        per = num_samples * 4 * (4 if self.informative_censoring else 2) * (3 * self.flow_layers + 10)
        return max(1, int(memory_mb * 2**20 // per))

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None,
                                  chunk_size: int | None = None, batch_size: int | None = None):
        """Draw potential times for each row of ``df`` (covariates needed; outcome columns optional).

        Runs ``pyro.infer.Predictive`` on the model (sites "t0", "t1" and, for CSA-INFO, "c0", "c1"),
        vectorised over draws and chunked over ``chunk_size`` subjects (default: ~256 MB per chunk).
        Reproducibility (:mod:`pyrocsa.core.sampling`): the same ``seed`` gives the same draws, ``seed=None``
        fresh ones on every call, and a subject's draws do not depend on the chunking or on the rows after
        it. Returns :class:`pyrocsa.core.outcomes.PotentialOutcomes` with arrays (num_samples, N) in the
        duration unit.
        ``batch_size`` is a deprecated alias of ``chunk_size``.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        seed = check_seed(seed)
        self._check_fitted()
        if batch_size is not None:
            import warnings

            warnings.warn("sample_potential_outcomes(batch_size=) is deprecated: use chunk_size=",
                          FutureWarning, stacklevel=2)
            chunk_size = batch_size if chunk_size is None else chunk_size
        if chunk_size is not None:
            chunk_size = check_positive_int(chunk_size, "chunk_size")
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise DataError("df has no rows")
        x = torch.as_tensor(self.preprocessor_.transform(df), dtype=torch.float32)
        observed = observed_frame(self.data_, df)
        draws = self._predict(x, num_samples, seed, chunk_size)
        from pyrocsa.core.outcomes import PotentialOutcomes

        return PotentialOutcomes(draws["t0"], draws["t1"], index=df.index, c0=draws.get("c0"),
                                 c1=draws.get("c1"), observed=observed,
                                 covariates=covariate_frame(self.preprocessor_, df), model_name=self.name,
                                 follow_up=getattr(self, "max_duration_", None),
                                 copy=False)

    def _predict(self, x: torch.Tensor, num_samples: int, seed, chunk_size) -> dict[str, np.ndarray]:
        sites = ["t0", "t1"] + (["c0", "c1"] if self.model_.informative_censoring else [])
        chunk = int(chunk_size) if chunk_size is not None else self._chunk_size(num_samples)
        return predictive_draws(self.model_, x, sites, num_samples, seed, chunk, noise_sites=sites,
                                noise="gumbel")

    # -- exact functions of the fitted laws ------------------------------------------------------------
    def _covariate_tensor(self, df) -> torch.Tensor:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise DataError("df has no rows")
        return torch.as_tensor(self.preprocessor_.transform(df), dtype=torch.float32)

    def _arms(self, df, treatment):
        if treatment is None:
            if self.treatment_col_ not in df.columns:
                raise DataError(f"treatment=None uses each row's own arm, but column "
                                 f"'{self.treatment_col_}' is not in the frame; pass treatment=0 or 1")
            return self.data_.transform(df, require_outcome=False).a.numpy() > 0.5
        if treatment not in (0, 1):
            raise DataError(f"treatment must be 0, 1 or None (each row's own arm), got {treatment!r}")
        return np.full(len(df), bool(treatment))

    def predict_survival_function(self, df: pd.DataFrame, times=None, treatment=None, kind: str = "t"
                                  ) -> pd.DataFrame:
        """Exact S_a(t | x) = P(T_a > t | x) for each row of ``df``, lifelines style: a DataFrame indexed by
        ``times`` (default: 100 points up to the longest training duration) with one column per row.

        treatment : 0 or 1 (the counterfactual curve under that arm) or None (each row's own arm, from the
            treatment column). kind : "t" (event time) or "c" (censoring time, CSA-INFO)."""
        self._check_fitted()
        if kind not in ("t", "c"):
            raise ArgumentError(f"kind must be 't' or 'c', got {kind!r}")
        if times is None:
            end = float(getattr(self, "max_duration_", None) or self.time_scale_ * 3)
            times = np.linspace(0.0, end, 101)[1:]
        times = np.asarray(times, dtype=float).ravel()
        if times.size == 0 or not np.isfinite(times).all() or (times < 0).any():
            raise ArgumentError("times must be a non-empty list of finite numbers >= 0")
        surv = self._survival(df, times, self._arms(df, treatment), kind)
        return pd.DataFrame(surv, index=pd.Index(times, name="time"), columns=df.index)

    def _survival(self, df, times, arms, kind) -> np.ndarray:
        """(len(times), N) exact survival probabilities under ``arms`` (N,) bool."""
        x = self._covariate_tensor(df)
        model = self.model_.eval()
        dev = next(model.parameters()).device
        out = np.empty((len(times), len(df)))
        with torch.no_grad():
            x = x.to(dev)
            r = model.representation(x)
            t = torch.as_tensor(times, dtype=torch.float32, device=dev).clamp_min(1e-30).unsqueeze(-1)
            treated = torch.as_tensor(arms, device=dev)
            for arm in (0, 1):
                rows = treated == bool(arm)
                if bool(rows.any()):
                    law = model.time_dist(r[rows], x[rows], arm, kind)
                    ls = law.log_survival(t.expand(-1, int(rows.sum())))
                    out[:, rows.cpu().numpy()] = ls.exp().cpu().numpy()
        out[np.asarray(times) <= 0] = 1.0
        return out

    def _arm_survival(self, df, arm, times) -> np.ndarray:
        """(G, N) exact S_arm(t | x), for the fit check."""
        return self.predict_survival_function(df, times=times, treatment=arm).to_numpy()

    def _arm_survival_at(self, df, arm, durations) -> np.ndarray:
        """(N,) exact S_arm(t_i | x_i), each row at its own time."""
        x = self._covariate_tensor(df)
        model = self.model_.eval()
        dev = next(model.parameters()).device
        with torch.no_grad():
            x = x.to(dev)
            t = torch.as_tensor(np.asarray(durations, dtype=float), dtype=torch.float32, device=dev)
            law = model.time_dist(model.representation(x), x, int(arm), "t")
            out = law.log_survival(t.clamp_min(1e-30).unsqueeze(0)).exp()[0].cpu().numpy()
        return np.where(np.asarray(durations) <= 0, 1.0, out)

    def predict_rmst(self, df: pd.DataFrame, horizon: float, treatment=None, num_points: int = 257
                     ) -> pd.Series:
        """Exact restricted mean survival time RMST_a(horizon | x) = int_0^horizon S_a(t | x) dt per row
        (duration unit), by Simpson's rule on ``num_points`` (odd) points of the exact survival function;
        ``treatment`` as in :meth:`predict_survival_function`."""
        horizon = float(horizon)
        if not (np.isfinite(horizon) and horizon > 0):
            raise ArgumentError(f"horizon must be a positive finite number, got {horizon!r}")
        n = int(num_points) | 1
        grid = np.linspace(0.0, horizon, n)
        surv = self.predict_survival_function(df, times=grid, treatment=treatment).to_numpy()
        w = np.ones(n)
        w[1:-1:2], w[2:-1:2] = 4.0, 2.0
        return pd.Series(w @ surv * (horizon / (n - 1)) / 3.0, index=df.index, name=f"rmst_{horizon:g}")

    # -- each patient's effect with its parameter uncertainty (pyrocsa.core.effects) ---------------------
    def _default_horizon(self):
        return getattr(self, "max_duration_", None)

    @staticmethod
    def _posterior_from_state(state: dict, model: CSAModel) -> LaplacePosterior:
        """A saved posterior (:mod:`pyrocsa.core.checkpoint`) checked against ``model``'s event heads."""
        for arm in (0, 1):
            p = head_vector(model.event_heads[arm]).numel()
            if tuple(state["mean"][arm].shape) != (p,) or tuple(state["hessian"][arm].shape) != (p, p):
                raise DataError(f"arm {arm}'s posterior does not match the network ({p} parameters)")
        if not state["prior_precision"] > 0:
            raise ArgumentError(f"prior_precision must be > 0, got {state['prior_precision']}")
        return LaplacePosterior.from_state(state)

    def _effect_draws(self, df, horizon, times, num_draws, seed):
        """Per-arm RMST at ``horizon`` (or S at ``times``) of each row under ``num_draws`` draws of the
        Laplace posterior (:mod:`pyrocsa.csa.posterior`), by quadrature of the exact laws: two arrays
        (2, num_draws // 2, [G,] N), the draws split into 2 chains."""
        post = getattr(self, "posterior_", None)
        if post is None:
            raise DataError("this model has no parameter posterior: it is computed when fitting on a frame "
                             "(not from a Parquet path) and saved as posterior.pt beside the weights; refit "
                             "on a DataFrame")
        x = self._covariate_tensor(df)
        model = self.model_.eval()
        dev = next(model.parameters()).device
        per = num_draws // 2
        noise = post.noise(2 * per, seed)
        thetas = [h.draws(z).to(dev) for h, z in zip(post.heads, noise)]
        cost = 2 * per * (48 if times is None else len(times))
        chunk = max(1, 4_000_000 // cost)
        arms = [[], []]
        with torch.no_grad():
            for start in range(0, x.shape[0], chunk):
                xs = x[start:start + chunk].to(dev)
                r = model.representation(xs)
                for arm in (0, 1):
                    law = law_draws(model, model.event_heads[arm], r, xs, thetas[arm])
                    if times is None:
                        arms[arm].append(rmst(law, horizon).cpu().numpy())  # (S, n)
                    else:
                        arms[arm].append(survival(law, times).permute(1, 0, 2).cpu().numpy())  # (S, G, n)
        out = [np.concatenate(a, axis=-1) for a in arms]
        return tuple(v.reshape(2, per, *v.shape[1:]) for v in out)

    def score(self, df: pd.DataFrame) -> float:
        """Mean log-likelihood per subject of ``df``'s observed (duration, event) under each row's arm (the
        trained objective without the IPM, negated; higher is better; lifelines' ``score`` analogue)."""
        self._check_fitted()
        data = self.data_.transform(df, require_outcome=True)
        model = self.model_.eval()
        dev = next(model.parameters()).device
        with torch.no_grad():
            terms, _ = CSALoss("likelihood").factual_terms(model, *(v.to(dev) for v in
                                                                   (data.x, data.a, data.y, data.delta)))
        return -float(sum(terms.values()))

    # -- reporting ------------------------------------------------------------------------------------
    def print_summary(self, decimals: int = 3) -> None:
        """Print the fitted configuration, data sizes and the training curve's end points."""
        self._check_fitted()
        h = self.history_
        best = min(h, key=lambda r: r.get("valid_factual", r["valid_loss"]))
        lines = [
            f"<pyrocsa.{type(self).__name__}: {self.name}, objective={self.objective!r}>",
            f"{'duration col':>22} = '{self.duration_col_}'",
            f"{'event col':>22} = '{self.event_col_}'",
            f"{'treatment col':>22} = '{self.treatment_col_}' (treated = {self.treated_value_!r})",
            f"{'covariates':>22} = {len(self.data_.covariates)} columns -> {self.data_.x.shape[1]} features",
            f"{'train / valid rows':>22} = {self.n_train_} / {self.n_valid_}",
            f"{'events (train)':>22} = "
            f"{'not recorded' if getattr(self, 'n_events_', None) is None else self.n_events_}",
            f"{'time scale':>22} = {self.time_scale_:.{decimals}f}",
            f"{'alpha':>22} = {self.alpha_:g}",
            f"{'baseline':>22} = {self._baseline_line()}",
            f"{'epochs':>22} = {len(h)} (best {best['epoch']}, valid loss {best['valid_loss']:.{decimals}f})",
        ]
        post = getattr(self, "posterior_", None)
        what = ("none (refit on a frame for predict_effect)" if post is None else
                f"Laplace, event heads given r; prior precision {post.prior_precision:g} (validation)")
        lines.append(f"{'effect posterior':>22} = {what}")
        if self.alpha_scores_:
            scores = ", ".join(f"{a:g}: {s:.6g}" for a, s in self.alpha_scores_.items())
            rule = "nn-proxy" if self.alpha == "nn-proxy" else "dr"
            lines.append(f"{'alpha scores (' + rule + ')':>22} = {scores}")
        comps = [k[len("valid_"):] for k in best if k.startswith("valid_") and k != "valid_loss"]
        for c in comps:
            lines.append(f"{'valid ' + c:>22} = {best['valid_' + c]:.{decimals}f}")
        check = getattr(self, "fit_check_", None)
        if check is not None:
            lines += check.lines(decimals)
        print("\n".join(lines))

    def _baseline_line(self) -> str:
        fitted = self.baseline_
        if fitted == "steps":
            pieces = sorted({int(h.warp_pieces) for _, _, h in self.model_.heads() if int(h.warp_pieces)})
            fitted = f"steps ({'/'.join(map(str, pieces))} pieces)"
        smooth = getattr(self, "smooth_check_", None)
        if smooth is not None:
            worst = max(a.simultaneous_ratio for a in smooth.arms.values())
            return (f"{fitted}, chosen by 'auto': the smooth fit left the KM band (simultaneous ratio "
                    f"{worst:.2f})")
        return f"{fitted} (baseline={self.baseline!r})"

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write ``path/`` with config.json, preprocessing.json and weights.pt (a state dict). The
        directory is written atomically (a temporary sibling renamed into place); an existing ``path`` is
        replaced only if it is empty or a saved model. See :mod:`pyrocsa.core.checkpoint`."""
        self._check_fitted()
        from pyrocsa.core import distributed

        if not distributed.is_main():  # data parallel: rank 0 writes, the others wait for it
            distributed.barrier()
            return Path(path)
        out = save_estimator(self, path)
        distributed.barrier()
        return out

    @classmethod
    def load(cls, path, device=None) -> CSA:
        """Load a model written by :meth:`save`. The files are checked against the format before the weights
        are read (with ``torch.load(weights_only=True)``); any problem raises
        :class:`pyrocsa.errors.ModelFileError` naming the directory. See :mod:`pyrocsa.core.checkpoint`."""
        return load_estimator(cls, path, device=device)
