"""Data layer: validated survival frames -> tensors, the same way every time.

A user brings a pandas DataFrame with one row per subject: covariates, a binary treatment, a follow-up
time (``duration``, any positive unit, e.g. days) and an event indicator (1 = event observed, 0 = censored).
:meth:`SurvivalData.from_frame` validates it and turns it into tensors:

* ``x``     (N, p) float32 -- preprocessed covariates (imputed, one-hot, standardised);
* ``a``     (N,)   float32 -- treatment, 1 = treated, 0 = control;
* ``y``     (N,)   float32 -- observed time min(T, C), in the frame's time unit;
* ``delta`` (N,)   float32 -- event indicator 1{T <= C}.

Preprocessing (:class:`Preprocessor`) is fitted on training data only and re-applied to new data; it
serialises to a plain dict so that it travels with a saved model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

__all__ = ["Preprocessor", "SurvivalData", "stratified_split", "MIN_ROWS"]

MIN_ROWS = 10
_MAX_CATEGORIES = 50


def _is_binary_like(s: pd.Series) -> bool:
    vals = pd.unique(s.dropna())
    return len(vals) <= 2 and pd.api.types.is_numeric_dtype(s)


class Preprocessor:
    """Median/mode imputation, one-hot encoding of categoricals, dropping of constant columns and
    standardisation, fitted on a training frame and re-applied unchanged to any other frame.

    Numeric columns: missing values -> training median, then ``(v - mean) / sd``. Binary numeric columns
    (two distinct values) and bool columns (as 0/1) are imputed with the mode and standardised like the
    others. Object and category columns with at most 50 levels are one-hot encoded (missing -> training
    mode; unseen levels -> all zeros). Columns constant on the training data are dropped with a warning.
    """

    def __init__(self):
        self.columns_: list[str] | None = None

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, columns: list[str]) -> Preprocessor:
        self.columns_ = list(columns)
        self.numeric_: dict[str, dict] = {}
        self.categorical_: dict[str, dict] = {}
        self.dropped_: list[str] = []
        for col in self.columns_:
            s = df[col]
            if pd.api.types.is_bool_dtype(s):
                s = s.astype(float)
            if pd.api.types.is_numeric_dtype(s):
                v = pd.to_numeric(s, errors="coerce").astype(float)
                if np.isinf(v).any():
                    raise ValueError(f"covariate column '{col}' contains inf values")
                if v.notna().sum() == 0:
                    raise ValueError(f"covariate column '{col}' has no non-missing values")
                fill = float(v.mode().iloc[0]) if _is_binary_like(v) else float(v.median())
                v = v.fillna(fill)
                sd = float(v.std(ddof=0))
                if v.nunique() <= 1 or sd == 0.0:
                    self.dropped_.append(col)
                    continue
                self.numeric_[col] = {"fill": fill, "mean": float(v.mean()), "sd": sd}
            elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s) or \
                    pd.api.types.is_string_dtype(s):
                nonnull = s.dropna()
                if len(nonnull) == 0:
                    raise ValueError(f"covariate column '{col}' has no non-missing values")
                try:
                    levels = sorted(pd.unique(nonnull.astype(str)))
                except TypeError as err:  # pragma: no cover - astype(str) rarely fails
                    raise ValueError(f"covariate column '{col}' cannot be encoded: {err}") from err
                if any(isinstance(v, (list, dict, set, tuple)) for v in nonnull.iloc[:50]):
                    raise ValueError(f"covariate column '{col}' holds containers (lists/dicts) that "
                                     "cannot be encoded")
                if len(levels) > _MAX_CATEGORIES:
                    raise ValueError(
                        f"covariate column '{col}' cannot be encoded: {len(levels)} distinct text levels "
                        f"(more than {_MAX_CATEGORIES}); convert it to numbers or drop it")
                if len(levels) <= 1:
                    self.dropped_.append(col)
                    continue
                mode = str(nonnull.astype(str).mode().iloc[0])
                self.categorical_[col] = {"levels": levels, "fill": mode}
            else:
                raise ValueError(f"covariate column '{col}' cannot be encoded (dtype {s.dtype})")
        if self.dropped_:
            warnings.warn(f"dropping constant covariate column(s) {self.dropped_}", UserWarning,
                          stacklevel=3)
        if not self.numeric_ and not self.categorical_:
            raise ValueError("no usable covariates: every covariate column is constant")
        return self

    @property
    def feature_names_(self) -> list[str]:
        names = []
        for col in self.columns_:
            if col in self.numeric_:
                names.append(col)
            elif col in self.categorical_:
                names.extend(f"{col}={lv}" for lv in self.categorical_[col]["levels"])
        return names

    # -- applying --------------------------------------------------------------------------------------
    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Return the (N, p) float32 design matrix for ``df`` (which is not modified)."""
        if self.columns_ is None:
            raise RuntimeError("Preprocessor is not fitted")
        missing = [c for c in self.columns_ if c not in df.columns and c not in self.dropped_]
        if missing:
            raise ValueError(f"covariate column(s) {missing} missing from the frame")
        blocks = []
        for col in self.columns_:
            if col in self.numeric_:
                st = self.numeric_[col]
                s = df[col]
                if pd.api.types.is_bool_dtype(s):
                    s = s.astype(float)
                v = pd.to_numeric(s, errors="coerce").astype(float)
                bad = v.isna() & s.notna()
                if bad.any():
                    raise ValueError(f"covariate column '{col}' has non-numeric values, e.g. "
                                     f"{s[bad].iloc[0]!r}")
                if np.isinf(v).any():
                    raise ValueError(f"covariate column '{col}' contains inf values")
                v = v.fillna(st["fill"]).to_numpy()
                blocks.append(((v - st["mean"]) / st["sd"])[:, None])
            elif col in self.categorical_:
                st = self.categorical_[col]
                s = df[col].astype(object).where(df[col].notna(), st["fill"]).astype(str).to_numpy()
                blocks.append(np.stack([(s == lv).astype(float) for lv in st["levels"]], axis=1))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    # -- (de)serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"columns": self.columns_, "numeric": self.numeric_, "categorical": self.categorical_,
                "dropped": self.dropped_}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        pre = cls()
        pre.columns_ = list(d["columns"])
        pre.numeric_ = dict(d["numeric"])
        pre.categorical_ = dict(d["categorical"])
        pre.dropped_ = list(d["dropped"])
        return pre


def _require_columns(df: pd.DataFrame, cols: dict[str, str]) -> None:
    for arg, col in cols.items():
        if col not in df.columns:
            raise ValueError(f"{arg}='{col}': column '{col}' not in the frame "
                             f"(columns: {list(df.columns)[:30]})")


def validate_duration(s: pd.Series, name: str) -> np.ndarray:
    """Durations must be finite, strictly positive numbers."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ValueError(f"duration column '{name}' must be numeric, got dtype {s.dtype}")
    v = s.to_numpy(dtype=float)
    if np.isnan(v).any():
        raise ValueError(f"duration column '{name}' has {int(np.isnan(v).sum())} NaN value(s)")
    if np.isinf(v).any():
        raise ValueError(f"duration column '{name}' has inf value(s)")
    if (v <= 0).any():
        raise ValueError(f"duration column '{name}' has {int((v <= 0).sum())} negative or zero value(s); "
                         "durations must be > 0")
    return v


def validate_event(s: pd.Series, name: str) -> np.ndarray:
    """Events must be bool or numbers in {0, 1} with no missing values."""
    if s.isna().any():
        raise ValueError(f"event column '{name}' has {int(s.isna().sum())} missing value(s)")
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    if not pd.api.types.is_numeric_dtype(s):
        raise ValueError(f"event column '{name}' must be 0/1 or bool, got dtype {s.dtype}")
    v = s.to_numpy(dtype=float)
    bad = ~np.isin(v, [0.0, 1.0])
    if bad.any():
        raise ValueError(f"event column '{name}' must be 0/1 or bool; found value(s) "
                         f"{sorted(set(v[bad].tolist()))[:5]}")
    return v


def validate_treatment(s: pd.Series, name: str, treated_value=None, known_levels=None) -> np.ndarray:
    """Treatment must take exactly two values; 1/True (or ``treated_value``) marks the treated arm.

    ``known_levels`` (the two labels seen when fitting) is for new data: the column may then hold one or
    both of those labels (e.g. a single new subject), and ``treated_value`` must be given.
    """
    if s.isna().any():
        raise ValueError(f"treatment column '{name}' has {int(s.isna().sum())} missing value(s)")
    if known_levels is not None:
        numeric = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        try:
            known = {float(v) for v in known_levels} if numeric else {str(v) for v in known_levels}
        except (TypeError, ValueError):  # numeric new data, text labels when fitting
            known = set()
        seen = {float(v) for v in pd.unique(s)} if numeric else {str(v) for v in pd.unique(s)}
        unknown = sorted(map(str, seen - known))
        if unknown:
            raise ValueError(f"treatment column '{name}' has value(s) {unknown[:5]} not seen when fitting "
                             f"(known: {sorted(map(str, known_levels))})")
        if numeric:
            return (s == treated_value).to_numpy(dtype=float)
        return (s.astype(str) == str(treated_value)).to_numpy(dtype=float)
    levels = list(pd.unique(s))
    if len(levels) != 2:
        raise ValueError(f"treatment column '{name}' must have exactly two values (one per arm); found "
                         f"{len(levels)}: {sorted(map(str, levels))[:10]}")
    if treated_value is None:
        if pd.api.types.is_bool_dtype(s):
            treated_value = True
        elif pd.api.types.is_numeric_dtype(s) and {float(v) for v in levels} == {0.0, 1.0}:
            treated_value = 1
        else:
            raise ValueError(f"treatment column '{name}' has labels {sorted(map(str, levels))}; pass "
                             "treated_value= to say which label is the treated arm")
    if not any(str(lv) == str(treated_value) for lv in levels):
        raise ValueError(f"treated_value={treated_value!r} is not one of treatment column '{name}'s values "
                         f"{sorted(map(str, levels))}")
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return (s == treated_value).to_numpy(dtype=float)
    return (s.astype(str) == str(treated_value)).to_numpy(dtype=float)


def _check_overlap(df: pd.DataFrame, covariates: list[str], a: np.ndarray, treatment_col: str) -> None:
    """A covariate that reproduces the treatment exactly leaves no overlap between arms."""
    for col in covariates:
        s = df[col]
        if s.isna().any():
            continue
        for arm in (0.0, 1.0):
            vals_arm = set(pd.unique(s[a == arm]))
            vals_other = set(pd.unique(s[a != arm]))
            if len(vals_arm) == 1 and not (vals_arm & vals_other):
                raise ValueError(
                    f"covariate '{col}' determines treatment column '{treatment_col}' exactly (no overlap "
                    f"between arms); drop it from the covariates (e.g. 'treat' in the actg subset)")


@dataclass
class SurvivalData:
    """Validated survival data as tensors (see the module docstring for shapes and units)."""

    x: torch.Tensor
    a: torch.Tensor
    y: torch.Tensor
    delta: torch.Tensor
    index: pd.Index
    preprocessor: Preprocessor
    duration_col: str
    event_col: str
    treatment_col: str
    treated_value: object = 1
    meta: dict = field(default_factory=dict)

    @property
    def covariates(self) -> list[str]:
        return [c for c in self.preprocessor.columns_ if c not in self.preprocessor.dropped_]

    @property
    def feature_names(self) -> list[str]:
        return self.preprocessor.feature_names_

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device) -> SurvivalData:
        return SurvivalData(self.x.to(device), self.a.to(device), self.y.to(device),
                            self.delta.to(device), self.index, self.preprocessor, self.duration_col,
                            self.event_col, self.treatment_col, self.treated_value, dict(self.meta))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str,
                   covariates: list[str] | None = None, treated_value=None,
                   preprocessor: Preprocessor | None = None, require_outcome: bool = True,
                   min_rows: int = MIN_ROWS, treatment_levels=None) -> SurvivalData:
        """Validate ``df`` and build tensors.

        Parameters
        ----------
        df : DataFrame, one row per subject; never modified.
        duration_col, event_col, treatment_col : column names.
        covariates : covariate columns (default: every other column).
        treated_value : the label of the treated arm when the treatment is not 0/1 or bool.
        preprocessor : a fitted :class:`Preprocessor` to re-apply (new data); fitted on ``df`` if None.
        require_outcome : if False (prediction on new subjects), duration/event may be absent; ``y`` and
            ``delta`` are then NaN-free zeros and must not be used.
        treatment_levels : with a fitted ``preprocessor``, the two treatment labels seen when fitting; the
            new frame may then hold only one of them (one arm, or a single subject). 0/1 and bool
            treatments need not pass it. Checks for an empty arm or no events apply only when fitting.
        """
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if len(df) < min_rows:
            raise ValueError(f"too few rows: {len(df)} (need at least {min_rows})")
        if not df.index.is_unique:
            raise ValueError("the frame's index has duplicate labels; call reset_index() first")
        need = {"treatment_col": treatment_col}
        if require_outcome:
            need.update(duration_col=duration_col, event_col=event_col)
        _require_columns(df, need)
        if covariates is None:
            if preprocessor is not None:
                covariates = list(preprocessor.columns_)
            else:
                covariates = [c for c in df.columns if c not in (duration_col, event_col, treatment_col)]
        else:
            covariates = list(covariates)
            for c in covariates:
                if c in (duration_col, event_col, treatment_col):
                    raise ValueError(f"covariates: '{c}' is the duration, event or treatment column")
            miss = [c for c in covariates if c not in df.columns]
            if miss:
                raise ValueError(f"covariates: column(s) {miss} not in the frame")
        if not covariates:
            raise ValueError("covariates: no covariate columns left")

        refit = preprocessor is None
        known_levels = None if refit else treatment_levels
        if not refit and known_levels is None and treated_value in (None, 1, True) and \
                (pd.api.types.is_numeric_dtype(df[treatment_col]) or
                 pd.api.types.is_bool_dtype(df[treatment_col])):
            known_levels = [0, 1] if not pd.api.types.is_bool_dtype(df[treatment_col]) else [False, True]
        if known_levels is not None and treated_value is None:
            treated_value = True if pd.api.types.is_bool_dtype(df[treatment_col]) else 1
        a = validate_treatment(df[treatment_col], treatment_col, treated_value, known_levels=known_levels)
        if treated_value is None:
            treated_value = True if pd.api.types.is_bool_dtype(df[treatment_col]) else 1
        if known_levels is None:
            known_levels = list(pd.unique(df[treatment_col]))
        if require_outcome:
            y = validate_duration(df[duration_col], duration_col)
            delta = validate_event(df[event_col], event_col)
        if require_outcome and refit:
            for arm, name in ((1.0, "treated"), (0.0, "control")):
                if not (a == arm).any():
                    raise ValueError(f"treatment column '{treatment_col}': the {name} arm is empty")
            if delta.sum() == 0:
                raise ValueError(f"event column '{event_col}': no events at all (every subject censored)")
        elif not require_outcome:
            y = np.ones(len(df)) if duration_col not in df.columns else \
                validate_duration(df[duration_col], duration_col)
            delta = np.zeros(len(df)) if event_col not in df.columns else \
                validate_event(df[event_col], event_col)

        if preprocessor is None:
            preprocessor = Preprocessor().fit(df, covariates)  # raises first on covariates it cannot encode
            _check_overlap(df, [c for c in covariates if c not in preprocessor.dropped_], a, treatment_col)
        x = preprocessor.transform(df)
        if not np.isfinite(x).all():  # pragma: no cover - guarded by the checks above
            raise ValueError("covariates produced non-finite values after preprocessing")
        f32 = torch.float32
        return cls(torch.as_tensor(x, dtype=f32), torch.as_tensor(a, dtype=f32),
                   torch.as_tensor(y, dtype=f32), torch.as_tensor(delta, dtype=f32), df.index.copy(),
                   preprocessor, duration_col, event_col, treatment_col, treated_value,
                   meta={"treatment_levels": [v.item() if isinstance(v, np.generic) else v
                                              for v in known_levels]})

    def transform(self, df: pd.DataFrame, require_outcome: bool = False) -> SurvivalData:
        """Apply this data's fitted preprocessing to a new frame (validation, test or new subjects)."""
        return SurvivalData.from_frame(df, self.duration_col, self.event_col, self.treatment_col,
                                       treated_value=self.treated_value, preprocessor=self.preprocessor,
                                       require_outcome=require_outcome, min_rows=1,
                                       treatment_levels=self.meta.get("treatment_levels"))


def stratified_split(df: pd.DataFrame, event_col: str, treatment_col: str,
                     fractions: tuple[float, float, float] = (0.70, 0.15, 0.15), seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """Split rows into train/valid/test, stratified by (event x treatment), as in the paper (SM D.4).

    Returns a dict ``{"train", "valid", "test"} -> sorted integer positions`` into ``df``.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    _require_columns(df, {"event_col": event_col, "treatment_col": treatment_col})
    rng = np.random.default_rng(seed)
    strata = df[event_col].astype(str).to_numpy() + "|" + df[treatment_col].astype(str).to_numpy()
    out = {"train": [], "valid": [], "test": []}
    for s in np.unique(strata):
        pos = np.flatnonzero(strata == s)
        rng.shuffle(pos)
        n_valid = int(round(fractions[1] * len(pos)))
        n_test = int(round(fractions[2] * len(pos)))
        out["valid"].append(pos[:n_valid])
        out["test"].append(pos[n_valid:n_valid + n_test])
        out["train"].append(pos[n_valid + n_test:])
    return {k: np.sort(np.concatenate(v)).astype(int) for k, v in out.items()}
