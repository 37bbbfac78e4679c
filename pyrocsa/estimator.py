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

from .base import CounterfactualSurvivalModel
from .checkpoint import FORMAT_VERSION, load_estimator, save_estimator  # noqa: F401 (FORMAT_VERSION: re-export)
from .data import SurvivalData, stratified_split
from .errors import check_positive_int, check_seed
from .losses import CENSORED_SCORES, OBJECTIVES, CensoringWeights, CoxCensoringWeights, CSALoss
from .model import ERROR_LAWS, CSAModel
from .sampling import predictive_draws
from .training import fit_module, resolve_device

__all__ = ["CSA"]

_CONFIG_KEYS = ("informative_censoring", "alpha", "seed", "objective", "hidden", "generator_hidden",
                "noise_dim", "dropout", "early_noise", "max_epochs", "patience", "batch_size", "lr",
                "num_draws", "tc_weight", "clip_norm", "alpha_grid", "device", "verbose", "sample_memory_mb",
                "link", "ensemble_size", "n_jobs", "generator", "shared_scale", "horizon",
                "linear_skip", "error_law",
                "censored", "censoring_model")
_MEMBER_ATTRS = ("model_", "history_", "data_", "preprocessor_", "alpha_", "alpha_scores_", "time_scale_",
                 "duration_col_", "event_col_", "treatment_col_", "treated_value_", "n_train_", "n_valid_")


class CSA(CounterfactualSurvivalModel):
    """Counterfactual survival analysis (Chapfuwa et al., CHIL 2021) with a generative Pyro model.

    Parameters
    ----------
    informative_censoring : True = CSA-INFO (censoring generators + losses (9), (10)); False = CSA.
    alpha : IPM weight (float >= 0; default 0: on actg-Synthetic alpha 0 measured better than 0.1 and 1, see
        benchmarks/csa_actg_synthetic.py) or
        ``"auto"`` (grid search with nearest-neighbour proxy counterfactuals,
        see :mod:`pyrocsa.alpha`; grid ``alpha_grid``).
    seed : seeds weights, minibatches and draws (CPU fits are reproducible); None = not seeded.
    objective : ``"crps"`` (default; a proper scoring rule on several draws per subject, honest spread)
        or ``"paper"`` (the paper's eqs. 8-11; nearly deterministic samples). See :mod:`pyrocsa.losses`.
    censored : how censored subjects enter the "crps" event score: ``"ipcw"`` (default; the
        censoring-weighted integrated Brier score on [0, horizon], proper under censoring independent of
        the event time within an arm) or ``"impute"`` (stochastic-EM imputation).
    censoring_model : the censoring survival G behind the IPCW weights (score and early stopping): "km"
        (default; Kaplan-Meier per arm: censoring independent of the covariates within an arm) or "cox"
        (a Cox model of the censoring time on the covariates per arm, G_a(t | x), for censoring that
        depends on covariates; measured on 3 replicates of benchmarks/coverage.py's scenario it did not
        remove the RMST-effect bias there, so it is not the default yet).
    horizon : the end L of the scored window, in the duration unit: ``"max"`` (default: the longest
        training duration), a number, or None (``"impute"`` only: no cap). Beyond L the law of T is the
        generator's extrapolation.
    generator : ``"location-scale"`` (default for "crps": g^{-1}(t / s) = mu_a(r) + sigma_a z(eps~), an AFT
        generator whose error law z is learned from the planar-flow noise and shared by all subjects) or
        ``"paper"`` (the paper's h_a(r, eps~); default for "paper"). See :class:`pyrocsa.model.CSAModel`.
    shared_scale : location-scale only: one sigma per arm (default) instead of sigma_a(r).
    linear_skip : location-scale only: add a linear covariate term to each arm's location.
    error_law : location-scale only: "per-arm" (default: each arm's times get their own distribution
        shape) or "shared" (one error law for both arms; see :class:`pyrocsa.model.CSAModel`). Measured
        (benchmarks/csa_actg_synthetic.py, benchmarks/actg_survival_check.py): on the ACTG trial the shared
        law forces one shape on both arms and recovers 27.8 of the Kaplan-Meier's 93.1-day RMST
        difference, the per-arm laws 78.0; on actg-Synthetic (5 seeds) the per-arm laws give PEHE 334.7
        and RMST ATE error 12.3 days against 337.8 and 13.6 (shared, lr 6e-4).
    hidden : encoder widths; generator_hidden : generator widths (before, after the noise enters).
    noise_dim : dimension of the planar-flow noise; dropout : dropout on every hidden layer (default 0.2
        for "paper" as in the paper, 0 for "crps": dropout noise would be scored as spread in training
        and vanish at prediction time).
    early_noise : also feed the noise into each generator's first layer.
    max_epochs, patience, batch_size, lr : optimisation (Adam, early stopping on the validation loss;
        batch 200 is the paper's; lr defaults to the paper's 3e-4 for "paper" and to 4.5e-4 for "crps":
        on actg-Synthetic (benchmarks/csa_actg_synthetic.py, 5 seeds, per-arm error laws) 3e-4 under-fits
        the covariate effects before early stopping -- RMST ATE error 18.5 days, every seed an
        under-estimate -- 4.5e-4 gives 12.3 with PEHE 334.7, 6e-4 gives 12.6 but PEHE 340.9: faster
        learning lengthens the extrapolated tails).
    num_draws : draws per subject in the loss (default by objective); tc_weight : weight of the time-order
        loss (10) (default 1 for "paper", 0 for "crps").
    clip_norm : gradient-norm clipping; device : "cpu", "cuda" or None (auto); verbose : progress bar.
    sample_memory_mb : memory budget per chunk of subjects in :meth:`sample_potential_outcomes`.
    ensemble_size : K >= 1 (default 5); K > 1 fits K members on stratified bootstrap resamples of the
        training rows, each from its own seed (:mod:`pyrocsa.ensemble`), in parallel processes, and samples
        from all of them (one chain each). The members' disagreement is the model uncertainty that one
        fit's samples lack: measured on actg-Synthetic, the 90% intervals of one "crps" fit cover the true
        T_a for ~70% of subjects, those of 5 members for ~85% (benchmarks/csa_actg_synthetic.py).
        ``ensemble_size=1`` gives one model (faster; what STEAM uses).
    n_jobs : worker processes for the ensemble members (default ``min(K, cpu count)``).
    link : the generators' output link, "exp" (the paper's; default for "paper") or "softplus" (default for
        "crps"; see :class:`pyrocsa.model.CSAModel`).

    Fitted attributes: ``model_`` (:class:`pyrocsa.model.CSAModel`), ``data_`` (training
    :class:`SurvivalData`), ``preprocessor_``, ``history_`` (list of per-epoch dicts), ``alpha_``,
    ``alpha_scores_`` (grid -> validation score, when ``alpha="auto"``), ``time_scale_``.
    """

    def __init__(self, informative_censoring: bool = True, alpha=0.0, seed: int | None = 0,
                 objective: str = "crps", hidden=(100, 100), generator_hidden=(100, 200),
                 noise_dim: int = 100, dropout: float | None = None, early_noise: bool = False,
                 max_epochs: int = 150, patience: int = 30,
                 batch_size: int = 200, lr: float | None = None, num_draws: int | None = None,
                 tc_weight: float | None = None, clip_norm: float = 10.0,
                 alpha_grid=(0.0, 0.1, 1.0, 10.0, 100.0),
                 device=None, verbose: bool = True, sample_memory_mb: float = 512.0,
                 link: str | None = None, ensemble_size: int = 5, n_jobs: int | None = None,
                 generator: str | None = None, shared_scale: bool = True, horizon="max",
                 censored: str = "ipcw", censoring_model: str = "km", linear_skip: bool = False,
                 error_law: str = "per-arm"):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or ensemble_size < 1:
            raise ValueError(f"ensemble_size must be an integer >= 1, got {ensemble_size!r}")
        self.ensemble_size = ensemble_size
        self.n_jobs = n_jobs
        if not (alpha == "auto" or (isinstance(alpha, (int, float)) and alpha >= 0)):
            raise ValueError(f"alpha must be a number >= 0 or 'auto', got {alpha!r}")
        for arg, v in (("max_epochs", max_epochs), ("batch_size", batch_size), ("noise_dim", noise_dim)):
            if int(v) < 1:
                raise ValueError(f"{arg} must be >= 1, got {v}")
        if dropout is None:
            # dropout noise in training counts as spread for a scoring rule but vanishes at prediction
            dropout = 0.2 if objective == "paper" else 0.0
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if lr is None:
            lr = 3e-4 if objective == "paper" else 4.5e-4
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.informative_censoring = bool(informative_censoring)
        self.alpha = alpha
        self.seed = seed
        self.objective = objective
        self.hidden = tuple(int(h) for h in hidden)
        self.generator_hidden = tuple(int(h) for h in generator_hidden)
        self.noise_dim = int(noise_dim)
        self.dropout = float(dropout)
        self.early_noise = bool(early_noise)
        self.max_epochs = int(max_epochs)
        self.patience = int(patience)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.num_draws = num_draws
        # objective-dependent defaults (measured on actg-Synthetic, see benchmarks/csa_actg_synthetic.py):
        # the time-order loss scores independent draws of T and C against the observed order, which a
        # calibrated model cannot satisfy -- with the scoring-rule objective it collapses the spread
        # (COV 0.06, 90% coverage ~20%) -- and the exp link's multiplicative noise extrapolates
        # heavy tails (expected lifetimes +200-300 days); the softplus link's additive noise does not.
        self.tc_weight = float(tc_weight if tc_weight is not None else (1.0 if objective == "paper" else 0.0))
        self.clip_norm = clip_norm
        self.alpha_grid = tuple(float(a) for a in alpha_grid)
        self.device = device
        self.verbose = bool(verbose)
        self.sample_memory_mb = float(sample_memory_mb)
        if link is None:
            link = "exp" if objective == "paper" else "softplus"
        if link not in ("exp", "softplus"):
            raise ValueError(f"link must be 'exp' or 'softplus', got {link!r}")
        self.link = link
        if generator is None:
            generator = "paper" if objective == "paper" else "location-scale"
        self.generator = generator
        self.shared_scale = bool(shared_scale)
        self.linear_skip = bool(linear_skip)
        if error_law not in ERROR_LAWS:
            raise ValueError(f"error_law must be one of {ERROR_LAWS}, got {error_law!r}")
        self.error_law = error_law
        if not (horizon is None or horizon == "max" or (isinstance(horizon, (int, float)) and horizon > 0)):
            raise ValueError(f"horizon must be None, 'max' or a positive number, got {horizon!r}")
        self.horizon = horizon
        if censored not in CENSORED_SCORES:
            raise ValueError(f"censored must be one of {CENSORED_SCORES}, got {censored!r}")
        self.censored = censored
        if censoring_model not in ("cox", "km"):
            raise ValueError(f"censoring_model must be 'cox' or 'km', got {censoring_model!r}")
        self.censoring_model = censoring_model
        self.fitted_ = False

    @property
    def name(self) -> str:
        return "CSA-INFO" if self.informative_censoring else "CSA"

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in _CONFIG_KEYS}

    def __repr__(self):
        return f"{type(self).__name__}(informative_censoring={self.informative_censoring}, " \
               f"alpha={self.alpha!r}, objective={self.objective!r})"

    # -- building blocks -----------------------------------------------------------------------------
    def _new_model(self, n_features: int, time_scale: float) -> CSAModel:
        return CSAModel(n_features, self.informative_censoring, encoder_hidden=self.hidden,
                        generator_hidden=self.generator_hidden, noise_dim=self.noise_dim,
                        dropout=self.dropout, early_noise=self.early_noise, time_scale=time_scale,
                        link=self.link, generator=self.generator, shared_scale=self.shared_scale,
                        linear_skip=self.linear_skip, error_law=self.error_law)

    def _loss(self, alpha: float, train: SurvivalData) -> CSALoss:
        """The objective with weight ``alpha`` on the IPM; for "crps" its censoring weights (Kaplan-Meier of
        the censoring per arm, also used by the early-stopping score) and horizon come from ``train``."""
        loss = CSALoss(self.objective, alpha=alpha, num_draws=self.num_draws, tc_weight=self.tc_weight,
                       censored=self.censored)
        if self.objective == "crps":
            if self.censoring_model == "cox":
                loss.censoring_weights = CoxCensoringWeights(train.y, train.delta, train.a, train.x)
            else:
                loss.censoring_weights = CensoringWeights(train.y, train.delta, train.a)
            if self.horizon is not None:
                loss.horizon = float(train.y.max()) if self.horizon == "max" else float(self.horizon)
            if self.censored == "ipcw" and loss.horizon is None:
                raise ValueError("censored='ipcw' needs a horizon (use horizon='max' or a number)")
        return loss

    def _fit_one(self, train: SurvivalData, valid: SurvivalData, alpha: float, time_scale: float):
        """Fit one model with a fixed alpha; returns (model, history)."""
        if self.seed is not None:
            torch.manual_seed(self.seed)
        model = self._new_model(train.x.shape[1], time_scale)
        tensors = (train.x, train.a, train.y, train.delta)
        vtensors = (valid.x, valid.a, valid.y, valid.delta)
        loss = self._loss(alpha, train)  # "crps": early stopping on the IPCW Brier score of the window
        history = fit_module(model, loss, tensors, vtensors, batch_size=self.batch_size,
                             lr=self.lr, max_epochs=self.max_epochs, patience=self.patience,
                             clip_norm=self.clip_norm, seed=self.seed, device=self.device,
                             verbose=self.verbose, desc=f"{self.name} alpha={alpha:g}",
                             monitor="selection" if self.objective == "crps" else "factual")
        return model, history

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
            val_df: pd.DataFrame | None = None, covariates: list[str] | None = None, treated_value=None,
            preprocessor=None):
        """Fit on ``df`` (one row per subject; never modified). Without ``val_df``, a stratified 15% of
        ``df`` is held out for early stopping (and alpha selection). ``preprocessor``: a fitted
        :class:`pyrocsa.data.Preprocessor` to reuse instead of fitting one on ``df`` (ensemble members
        share one). With ``ensemble_size=K > 1``, K members are fitted on stratified bootstrap resamples
        (:func:`pyrocsa.ensemble.fit_members`) and kept in ``members_``; the attributes of member 0 are
        mirrored on ``self``. Returns ``self``."""
        if self.ensemble_size > 1:
            from .ensemble import fit_members

            config = {k: v for k, v in self.get_params().items()
                      if k not in ("seed", "ensemble_size", "n_jobs")}
            self.members_ = fit_members(config, df, duration_col, event_col, treatment_col, val_df=val_df,
                                        covariates=covariates, treated_value=treated_value,
                                        K=self.ensemble_size, seed=self.seed, n_jobs=self.n_jobs)
            for attr in _MEMBER_ATTRS:
                setattr(self, attr, getattr(self.members_[0], attr))
            self.fitted_ = True
            return self
        self.members_ = None
        if val_df is None:
            if not isinstance(df, pd.DataFrame):
                raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
            for arg, col in (("event_col", event_col), ("treatment_col", treatment_col)):
                if col not in df.columns:
                    raise ValueError(f"{arg}='{col}': column '{col}' not in the frame")
            parts = stratified_split(df, event_col, treatment_col, fractions=(0.85, 0.15, 0.0),
                                     seed=self.seed or 0)
            train_df, val_df = df.iloc[parts["train"]], df.iloc[parts["valid"]]
        else:
            train_df = df
        train = SurvivalData.from_frame(train_df, duration_col, event_col, treatment_col,
                                        covariates=covariates, treated_value=treated_value,
                                        preprocessor=preprocessor)
        if not isinstance(val_df, pd.DataFrame):
            raise ValueError(f"val_df must be a pandas DataFrame, got {type(val_df).__name__}")
        valid = train.transform(val_df, require_outcome=True)
        dev = resolve_device(self.device)
        time_scale = float(train.y.mean())
        self.time_scale_ = time_scale
        if self.alpha == "auto":
            from .alpha import select_alpha

            result = select_alpha(self, train, valid, self.alpha_grid, time_scale)
            self.alpha_, self.alpha_scores_ = result.alpha, result.scores
            model, history = result.model, result.history
        else:
            self.alpha_, self.alpha_scores_ = float(self.alpha), None
            model, history = self._fit_one(train, valid, self.alpha_, time_scale)
        self.model_ = model.to(dev).eval()
        self.history_ = history
        self.data_ = train
        self.preprocessor_ = train.preprocessor
        self.duration_col_, self.event_col_, self.treatment_col_ = duration_col, event_col, treatment_col
        self.treated_value_ = train.treated_value
        self.n_train_, self.n_valid_ = len(train), len(valid)
        self.fitted_ = True
        return self

    # -- sampling ---------------------------------------------------------------------------------------
    def _chunk_size(self, num_samples: int) -> int:
        # per (draw, subject): the noise (d) plus the widest generator activations, twice for censoring
        per = (self.noise_dim + sum(self.generator_hidden) + 8) * 4 * (2 if self.informative_censoring else 1)
        per *= 3  # autograd-free temporaries (pre-activation, batch norm, concatenation)
        return max(1, int(self.sample_memory_mb * 2**20 // (per * num_samples)))

    def sample_potential_outcomes(self, df: pd.DataFrame, num_samples: int = 200, seed: int | None = None,
                                  batch_size: int | None = None):
        """Draw potential times for each row of ``df`` (covariates needed; outcome columns optional).

        Runs ``pyro.infer.Predictive(model, num_samples, return_sites=("t0","t1"[, "c0","c1"]),
        parallel=True)`` on chunks of ``batch_size`` subjects (default: from ``sample_memory_mb``), the model
        in eval mode. ``seed`` makes the draws reproducible for a given chunking without touching the
        global RNG state. Returns :class:`pyrocsa.outcomes.PotentialOutcomes` with arrays (num_samples, N)
        in the duration unit. For an ensemble (``ensemble_size=K``) the draws are split evenly across the K
        members (``num_samples`` must be divisible by K) and the result has ``chains=K``.
        """
        num_samples = check_positive_int(num_samples, "num_samples")
        seed = check_seed(seed)
        self._check_fitted()
        if getattr(self, "members_", None):
            from .ensemble import sample_members

            return sample_members(self.members_, df, int(num_samples), seed)
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) == 0:
            raise ValueError("df has no rows")
        x = torch.as_tensor(self.preprocessor_.transform(df), dtype=torch.float32)
        observed = None
        if {self.duration_col_, self.event_col_, self.treatment_col_} <= set(df.columns):
            data = self.data_.transform(df, require_outcome=True)
            observed = pd.DataFrame({"time": data.y.numpy().astype(float), "event": data.delta.numpy(),
                                     "treatment": data.a.numpy()}, index=df.index)
        draws = self._predict(x, int(num_samples), seed, batch_size)
        from .outcomes import PotentialOutcomes

        covs = df[[c for c in self.preprocessor_.columns_ if c in df.columns]]
        if not all(pd.api.types.is_numeric_dtype(covs[c]) for c in covs.columns):
            covs = None
        return PotentialOutcomes(draws["t0"], draws["t1"], index=df.index, c0=draws.get("c0"),
                                 c1=draws.get("c1"), observed=observed, covariates=covs,
                                 model_name=self.name)

    def _predict(self, x: torch.Tensor, num_samples: int, seed, batch_size) -> dict[str, np.ndarray]:
        sites = ["t0", "t1"] + (["c0", "c1"] if self.model_.informative_censoring else [])
        chunk = int(batch_size) if batch_size is not None else self._chunk_size(num_samples)
        return predictive_draws(self.model_, x, sites, num_samples, seed, chunk)

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
            f"{'events (train)':>22} = {int(self.data_.delta.sum())}",
            f"{'time scale':>22} = {self.time_scale_:.{decimals}f}",
            f"{'alpha':>22} = {self.alpha_:g}",
            f"{'epochs':>22} = {len(h)} (best {best['epoch']}, valid loss {best['valid_loss']:.{decimals}f})",
        ]
        if self.alpha_scores_:
            scores = ", ".join(f"{a:g}: {s:.{decimals}f}" for a, s in self.alpha_scores_.items())
            lines.append(f"{'alpha scores':>22} = {scores}")
        comps = [k[len("valid_"):] for k in best if k.startswith("valid_") and k != "valid_loss"]
        for c in comps:
            lines.append(f"{'valid ' + c:>22} = {best['valid_' + c]:.{decimals}f}")
        print("\n".join(lines))

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write ``path/`` with config.json, preprocessing.json and weights.pt (a state dict); an ensemble
        writes its config.json and one such directory per member (``member_0/`` ...). The directory is
        written atomically (a temporary sibling renamed into place); an existing ``path`` is replaced only
        if it is empty or a saved model. See :mod:`pyrocsa.checkpoint`."""
        self._check_fitted()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path, device=None) -> CSA:
        """Load a model written by :meth:`save`. The files are checked against the format before the weights
        are read (with ``torch.load(weights_only=True)``); any problem raises
        :class:`pyrocsa.errors.ModelFileError` naming the directory. See :mod:`pyrocsa.checkpoint`."""
        return load_estimator(cls, path, device=device, member_attrs=_MEMBER_ATTRS)
