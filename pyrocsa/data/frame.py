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

from pyrocsa.errors import ArgumentError, DataError

__all__ = ["Preprocessor", "SurvivalData", "stratified_split", "validation_split", "observed_frame",
           "check_frame", "covariate_frame", "validate_duration", "validate_event", "validate_treatment",
           "validate_outcome_columns", "MIN_ROWS", "VALIDATION_FRACTION", "encode_label", "decode_label",
           "ZERO_DURATIONS", "zero_duration_shift", "shift_zero_durations", "shift_zero_durations_pair"]

MIN_ROWS = 10
_MAX_CATEGORIES = 50
_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).tiny)


def _is_binary_like(s: pd.Series) -> bool:
    vals = pd.unique(s.dropna())
    return len(vals) <= 2 and pd.api.types.is_numeric_dtype(s)


def _is_real_numeric(s: pd.Series) -> bool:
    """Numbers a float can hold: numeric (not complex) or bool, NumPy or nullable extension dtypes."""
    return (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)) and \
        not pd.api.types.is_complex_dtype(s)


def _float_values(s: pd.Series) -> np.ndarray:
    """A real-numeric column as float64 with NaN for missing values (pd.NA included)."""
    return np.asarray(s.to_numpy(dtype=float, na_value=np.nan), dtype=float)


# -- labels (column names, treatment levels) through JSON ------------------------------------------------
def encode_label(v, what: str = "label"):
    """A column name or treatment label as JSON that :func:`decode_label` turns back into the same value:
    strings stay strings; ints, floats, bools, None and tuples of these are tagged (``{"int": 0}``), so a
    frame whose columns are ``0, 1, ...`` round-trips through a saved model. Other types raise
    :class:`DataError` naming ``what``."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": v}
    if isinstance(v, float):
        return {"float": repr(v)}  # repr keeps nan/inf and every digit
    if v is None:
        return {"none": None}
    if isinstance(v, tuple):
        return {"tuple": [encode_label(x, what) for x in v]}
    raise DataError(f"{what} {v!r} (type {type(v).__name__}) cannot be saved: use strings or integers as "
                    "column names and treatment labels")


def decode_label(v):
    """Inverse of :func:`encode_label`; ``ValueError`` on anything it did not write."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and len(v) == 1:
        (tag, val), = v.items()
        if tag == "bool" and isinstance(val, bool):
            return val
        if tag == "int" and isinstance(val, int) and not isinstance(val, bool):
            return val
        if tag == "float" and isinstance(val, str):
            return float(val)
        if tag == "none" and val is None:
            return None
        if tag == "tuple" and isinstance(val, list):
            return tuple(decode_label(x) for x in val)
    raise ArgumentError(f"not an encoded label: {v!r}")


def _hashable(arg: str, v) -> None:
    try:
        hash(v)
    except TypeError:
        raise DataError(f"{arg} must be one column name, got {type(v).__name__} {v!r}") from None


def _check_unique_columns(df: pd.DataFrame, used) -> None:
    """Each used column name must occur once in the frame (``df[name]`` is then a Series)."""
    if df.columns.is_unique:
        return
    dup = list(pd.unique(df.columns[df.columns.duplicated()]))
    bad = [c for c in dup if any(c == u for u in used)] if used is not None else dup
    if bad:
        counts = {c: int((df.columns == c).sum()) for c in bad[:5]}
        desc = ", ".join(f"'{c}' ({k} times)" for c, k in counts.items())
        raise DataError(f"duplicate column name(s) in the frame: {desc}; rename or drop the copies")


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
        if len(set(self.columns_)) != len(self.columns_):
            dup = sorted({str(c) for c in self.columns_ if self.columns_.count(c) > 1})
            raise DataError(f"covariates: column(s) {dup} listed more than once")
        _check_unique_columns(df, self.columns_)
        for col in self.columns_:
            s = df[col]
            if pd.api.types.is_complex_dtype(s):
                raise DataError(f"covariate column '{col}' holds complex numbers, which cannot be encoded")
            if _is_real_numeric(s):
                v = pd.Series(_float_values(s), index=s.index)
                if np.isinf(v).any():
                    raise DataError(f"covariate column '{col}' contains inf values")
                if v.notna().sum() == 0:
                    raise DataError(f"covariate column '{col}' has no non-missing values")
                fill = float(v.mode().iloc[0]) if _is_binary_like(v) else float(v.median())
                v = v.fillna(fill)
                with np.errstate(over="ignore", invalid="ignore"):
                    mean, sd = float(v.mean()), float(v.std(ddof=0))
                if not (np.isfinite(mean) and np.isfinite(sd)):
                    raise DataError(f"covariate column '{col}' has values too large to standardise (up to "
                                    f"{float(v.abs().max()):g}); rescale it")
                if v.nunique() <= 1 or sd == 0.0:
                    self.dropped_.append(col)
                    continue
                self.numeric_[col] = {"fill": fill, "mean": mean, "sd": sd}
            elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s) or \
                    pd.api.types.is_string_dtype(s):
                nonnull = s.dropna()
                if len(nonnull) == 0:
                    raise DataError(f"covariate column '{col}' has no non-missing values")
                if any(isinstance(v, (list, dict, set, tuple, np.ndarray)) for v in nonnull.astype(object)):
                    # (checked on every value: an unhashable one would break the overlap check)
                    raise DataError(f"covariate column '{col}' holds containers (lists/dicts) that "
                                    "cannot be encoded")
                text = nonnull.astype(str)
                levels = sorted(pd.unique(text))
                if len(levels) > _MAX_CATEGORIES:
                    raise DataError(
                        f"covariate column '{col}' cannot be encoded: {len(levels)} distinct text levels "
                        f"(more than {_MAX_CATEGORIES}); convert it to numbers or drop it")
                if len(levels) <= 1:
                    self.dropped_.append(col)
                    continue
                mode = str(text.mode().iloc[0])
                self.categorical_[col] = {"levels": levels, "fill": mode}
            else:
                raise DataError(f"covariate column '{col}' cannot be encoded (dtype {s.dtype}); convert it "
                                "to numbers or text, or drop it")
        if self.dropped_:
            warnings.warn(f"dropping constant covariate column(s) {self.dropped_}", UserWarning,
                          stacklevel=3)
        if not self.numeric_ and not self.categorical_:
            raise DataError(f"no usable covariates: every covariate column is constant "
                            f"({[str(c) for c in self.columns_][:10]})")
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
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        used = [c for c in self.columns_ if c not in self.dropped_]
        missing = [c for c in used if c not in df.columns]
        if missing:
            raise DataError(f"covariate column(s) {missing} missing from the frame")
        _check_unique_columns(df, used)
        blocks = []
        for col in self.columns_:
            if col in self.numeric_:
                st = self.numeric_[col]
                s = df[col]
                if _is_real_numeric(s):
                    v = _float_values(s)
                elif pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
                    num = pd.to_numeric(s, errors="coerce")
                    bad = num.isna() & s.notna()
                    if bad.any():
                        raise DataError(f"covariate column '{col}' has non-numeric values, e.g. "
                                        f"{s[bad].iloc[0]!r}")
                    v = _float_values(num)
                else:
                    raise DataError(f"covariate column '{col}' was numeric when fitting but has dtype "
                                    f"{s.dtype} here")
                if np.isinf(v).any():
                    raise DataError(f"covariate column '{col}' contains inf values")
                v = np.where(np.isnan(v), st["fill"], v)
                blocks.append(((v - st["mean"]) / st["sd"])[:, None])
            elif col in self.categorical_:
                st = self.categorical_[col]
                s = df[col].astype(object).where(df[col].notna(), st["fill"]).astype(str).to_numpy()
                blocks.append(np.stack([(s == lv).astype(float) for lv in st["levels"]], axis=1))
        if not blocks:
            raise RuntimeError("Preprocessor has no fitted covariate columns")
        x = np.concatenate(blocks, axis=1)
        if not np.isfinite(x).all():
            bad_j = int(np.flatnonzero(~np.isfinite(x).all(axis=0))[0])
            raise DataError(f"covariate '{self.feature_names_[bad_j]}' is not finite after standardising "
                            "(values far outside the training range?)")
        return x.astype(np.float32)

    # -- (de)serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-ready dict. Column names are kept with their types (:func:`encode_label`): the fitted
        statistics are lists of ``[name, stats]`` pairs, not dicts keyed by name (JSON keys are strings)."""
        enc = lambda c: encode_label(c, "column name")  # noqa: E731
        return {"columns": [enc(c) for c in self.columns_],
                "numeric": [[enc(c), dict(st)] for c, st in self.numeric_.items()],
                "categorical": [[enc(c), {"levels": list(st["levels"]), "fill": st["fill"]}]
                                for c, st in self.categorical_.items()],
                "dropped": [enc(c) for c in self.dropped_]}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        """Inverse of :meth:`to_dict`; also reads the older layout (dicts keyed by string names)."""
        def pairs(v):
            return [(decode_label(k), st) for k, st in (v.items() if isinstance(v, dict) else v)]

        pre = cls()
        pre.columns_ = [decode_label(c) for c in d["columns"]]
        pre.numeric_ = {c: dict(st) for c, st in pairs(d["numeric"])}
        pre.categorical_ = {c: dict(st) for c, st in pairs(d["categorical"])}
        pre.dropped_ = [decode_label(c) for c in d["dropped"]]
        return pre


def check_frame(df, name: str, columns: list[str], min_rows: int = 2) -> None:
    """``df`` is a DataFrame holding ``columns`` and at least ``min_rows`` rows, else :class:`DataError`
    naming the frame (``name``, e.g. the argument) and what is missing."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    miss = [c for c in columns if c not in df.columns]
    if miss:
        raise DataError(f"{name}: column(s) {miss} not in the frame")
    if len(df) < min_rows:
        raise DataError(f"{name}: need at least {min_rows} rows, got {len(df)}")


def _require_columns(df: pd.DataFrame, cols: dict[str, str]) -> None:
    for arg, col in cols.items():
        _hashable(arg, col)
        if col not in df.columns:
            raise DataError(f"{arg}='{col}': column '{col}' not in the frame "
                            f"(columns: {list(df.columns)[:30]})")


def _check_roles(roles: dict[str, object]) -> None:
    """The duration, event and treatment columns must be three different columns."""
    items = [(arg, col) for arg, col in roles.items() if col is not None]  # None: a role not used here
    for i, (arg_i, col_i) in enumerate(items):
        for arg_j, col_j in items[i + 1:]:
            if col_i == col_j:
                raise DataError(f"{arg_i} and {arg_j} are both '{col_i}': one column cannot play two roles "
                                "(duration, event, treatment)")


def validate_duration(s: pd.Series, name: str) -> np.ndarray:
    """Durations must be finite, strictly positive numbers that float32 (the training precision) holds."""
    if not _is_real_numeric(s) or pd.api.types.is_bool_dtype(s):
        raise DataError(f"duration column '{name}' must be numeric, got dtype {s.dtype}")
    v = _float_values(s)
    if np.isnan(v).any():
        raise DataError(f"duration column '{name}' has {int(np.isnan(v).sum())} missing (NaN) value(s)")
    if np.isinf(v).any():
        raise DataError(f"duration column '{name}' has inf value(s)")
    if (v < 0).any():
        raise DataError(f"duration column '{name}' has {int((v < 0).sum())} negative value(s); "
                        "durations must be > 0")
    if (v == 0).any():
        raise DataError(f"duration column '{name}' has {int((v == 0).sum())} zero value(s); durations must "
                        "be > 0: pass zero_durations='shift' to set them to half the smallest positive "
                        "duration, or shift them yourself")
    if (v > _F32_MAX).any():
        raise DataError(f"duration column '{name}' has value(s) up to {v.max():g}, beyond float32's range "
                        f"({_F32_MAX:.3g}) used in training; rescale the durations (e.g. days -> years)")
    if (v < _F32_TINY).any():
        raise DataError(f"duration column '{name}' has value(s) down to {v.min():g}, too small for float32 "
                        f"(smallest {_F32_TINY:.3g}) used in training; rescale the durations")
    return v


ZERO_DURATIONS = ("error", "shift")


def zero_duration_shift(df: pd.DataFrame, duration_col: str, zero_durations: str = "error") -> float | None:
    """The duration that ``zero_durations="shift"`` gives rows with a duration of exactly 0 (e.g. deaths on
    the day of randomisation): half the smallest positive duration of ``df``, so that they stay first in
    time order and tie with nobody. None when there is nothing to shift or ``zero_durations="error"``
    (validation then rejects the zeros, naming the column)."""
    if zero_durations not in ZERO_DURATIONS:
        raise DataError(f"zero_durations must be one of {ZERO_DURATIONS}, got {zero_durations!r}")
    if zero_durations == "error" or not isinstance(df, pd.DataFrame) or duration_col not in df.columns:
        return None
    s = df[duration_col]
    if not _is_real_numeric(s) or pd.api.types.is_bool_dtype(s):
        return None  # validation names the column
    v = _float_values(s)
    positive = v[np.isfinite(v) & (v > 0)]
    if not (v == 0).any() or positive.size == 0 or (v < 0).any():  # negatives: validation names them
        return None
    return float(positive.min()) / 2.0


def shift_zero_durations(df: pd.DataFrame, duration_col: str, shift: float | None, what: str = "df"
                         ) -> pd.DataFrame:
    """``df`` with its durations of exactly 0 set to ``shift`` (a copy: the caller's frame is never
    modified), with a warning that states the count and the value; ``df`` itself when there is none."""
    if shift is None or not isinstance(df, pd.DataFrame) or duration_col not in df.columns:
        return df
    zero = (df[duration_col] == 0).to_numpy()
    if not zero.any():
        return df
    import warnings

    out = df.copy()
    out[duration_col] = out[duration_col].astype(float).where(~zero, shift)
    warnings.warn(f"duration column '{duration_col}': {int(zero.sum())} duration(s) of 0 in {what} set to "
                  f"{shift:g} (half the smallest positive duration; zero_durations='shift')", UserWarning,
                  stacklevel=3)
    return out


def shift_zero_durations_pair(df, val_df, duration_col: str, zero_durations: str = "error"):
    """(df, val_df) with durations of 0 set to half the smallest positive duration (of ``df``, else of
    ``val_df``) when ``zero_durations="shift"`` (copies, with a warning); unchanged for ``"error"``
    (validation then rejects the zeros). ``val_df`` may be None."""
    shift = zero_duration_shift(df, duration_col, zero_durations)
    if shift is None and val_df is not None:
        shift = zero_duration_shift(val_df, duration_col, zero_durations)
    return (shift_zero_durations(df, duration_col, shift, "df"),
            shift_zero_durations(val_df, duration_col, shift, "val_df"))


def validate_event(s: pd.Series, name: str) -> np.ndarray:
    """Events must be bool or numbers in {0, 1} with no missing values."""
    if s.isna().any():
        raise DataError(f"event column '{name}' has {int(s.isna().sum())} missing value(s)")
    if pd.api.types.is_bool_dtype(s):
        return _float_values(s)
    if not _is_real_numeric(s):
        raise DataError(f"event column '{name}' must be 0/1 or bool, got dtype {s.dtype}")
    v = _float_values(s)
    bad = ~np.isin(v, [0.0, 1.0])
    if bad.any():
        raise DataError(f"event column '{name}' must be 0/1 or bool; found value(s) "
                        f"{sorted(set(v[bad].tolist()))[:5]}")
    return v


def _levels(s: pd.Series, name: str) -> list:
    try:
        return list(pd.unique(s))
    except TypeError:
        raise DataError(f"treatment column '{name}' holds values that cannot be compared (lists, dicts?)"
                        ) from None


def validate_outcome_columns(df, duration_col: str, event_col: str, treatment_col: str, treated_value=None
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(duration, event, treatment)`` arrays (N,) of a frame's outcome columns, each validated: a
    :class:`DataError` names the argument whose column is missing or the column that is bad."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    for arg, col in (("duration_col", duration_col), ("event_col", event_col),
                     ("treatment_col", treatment_col)):
        if col not in df.columns:
            raise DataError(f"{arg}='{col}': column '{col}' not in the frame")
    return (validate_duration(df[duration_col], duration_col), validate_event(df[event_col], event_col),
            validate_treatment(df[treatment_col], treatment_col, treated_value))


def validate_treatment(s: pd.Series, name: str, treated_value=None, known_levels=None) -> np.ndarray:
    """Treatment must take exactly two values; 1/True (or ``treated_value``) marks the treated arm.

    ``known_levels`` (the two labels seen when fitting) is for new data: the column may then hold one or
    both of those labels (e.g. a single new subject), and ``treated_value`` must be given.
    """
    if isinstance(s, pd.DataFrame):
        raise DataError(f"duplicate column name in the frame: '{name}' (treatment) occurs more than once")
    if s.isna().any():
        raise DataError(f"treatment column '{name}' has {int(s.isna().sum())} missing value(s)")
    numeric = _is_real_numeric(s)
    levels = _levels(s, name)
    if known_levels is not None:
        try:
            known = {float(v) for v in known_levels} if numeric else {str(v) for v in known_levels}
        except (TypeError, ValueError):  # numeric new data, text labels when fitting
            known = set()
        seen = {float(v) for v in levels} if numeric else {str(v) for v in levels}
        unknown = sorted(map(str, seen - known))
        if unknown:
            raise DataError(f"treatment column '{name}' has value(s) {unknown[:5]} not seen when fitting "
                            f"(known: {sorted(map(str, known_levels))})")
        if numeric:
            return (_float_values(s) == float(treated_value)).astype(float)
        return (s.astype(str) == str(treated_value)).to_numpy(dtype=float)
    if len(levels) != 2:
        raise DataError(f"treatment column '{name}' must have exactly two values (one per arm); found "
                        f"{len(levels)}: {sorted(map(str, levels))[:10]}")
    if treated_value is None:
        if pd.api.types.is_bool_dtype(s):
            treated_value = True
        elif numeric and {float(v) for v in levels} == {0.0, 1.0}:
            treated_value = 1
        else:
            raise DataError(f"treatment column '{name}' has labels {sorted(map(str, levels))}; pass "
                            "treated_value= to say which label is the treated arm")
    if numeric:  # compared as numbers: treated_value=1 marks 1.0 in a float column
        try:
            tv = float(treated_value)
        except (TypeError, ValueError):
            tv = None
        if tv is None or not any(float(lv) == tv for lv in levels):
            raise DataError(f"treated_value={treated_value!r} is not one of treatment column '{name}'s "
                            f"values {sorted(map(str, levels))}")
        return (_float_values(s) == tv).astype(float)
    if not any(str(lv) == str(treated_value) for lv in levels):
        raise DataError(f"treated_value={treated_value!r} is not one of treatment column '{name}'s values "
                        f"{sorted(map(str, levels))}")
    return (s.astype(str) == str(treated_value)).to_numpy(dtype=float)


def _check_overlap(df: pd.DataFrame, covariates: list[str], a: np.ndarray, treatment_col: str) -> None:
    """A covariate that reproduces the treatment exactly leaves no overlap between arms."""
    for col in covariates:
        s = df[col]
        if s.isna().any():
            continue
        if not _is_real_numeric(s):
            s = s.astype(str)
        for arm in (0.0, 1.0):
            vals_arm = set(pd.unique(s[a == arm]))
            vals_other = set(pd.unique(s[a != arm]))
            if len(vals_arm) == 1 and not (vals_arm & vals_other):
                raise DataError(
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
                   min_rows: int = MIN_ROWS, treatment_levels=None, zero_durations: str = "error"
                   ) -> SurvivalData:
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
        zero_durations : ``"error"`` (default: a duration of 0 is rejected, naming the column) or
            ``"shift"``: durations of exactly 0 (deaths on the day of randomisation) become half the
            smallest positive duration of ``df``, with a warning stating how many and the value; negative
            durations are always an error.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        df = shift_zero_durations(df, duration_col, zero_duration_shift(df, duration_col, zero_durations))
        if isinstance(df.columns, pd.MultiIndex):
            raise DataError("the frame has MultiIndex (hierarchical) column names; flatten them first, "
                            "e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]")
        if len(df) == 0:
            raise DataError("the frame has no rows")
        if len(df) < min_rows:
            raise DataError(f"too few rows: {len(df)} (need at least {min_rows})")
        if not df.index.is_unique:
            raise DataError("the frame's index has duplicate labels; call reset_index() first")
        roles = {"duration_col": duration_col, "event_col": event_col, "treatment_col": treatment_col}
        for arg, col in roles.items():
            _hashable(arg, col)
        _check_roles(roles)
        need = {"treatment_col": treatment_col}
        if require_outcome:
            need.update(duration_col=duration_col, event_col=event_col)
        _require_columns(df, need)
        if covariates is None:
            if preprocessor is not None:
                covariates = list(preprocessor.columns_)
            else:
                covariates = [c for c in df.columns if not any(c == r for r in roles.values())]
        else:
            if isinstance(covariates, (str, bytes)) or not hasattr(covariates, "__iter__"):
                hint = f" (did you mean ['{covariates}']?)" if isinstance(covariates, str) else ""
                raise DataError(f"covariates must be a list of column names, got {covariates!r}{hint}")
            covariates = list(covariates)
            for c in covariates:
                _hashable("covariates", c)
                for arg, col in roles.items():
                    if c == col:
                        raise DataError(f"covariates: '{c}' is also {arg}; one column cannot play two roles")
            seen = []
            for c in covariates:
                if c in seen:
                    raise DataError(f"covariates: column '{c}' listed more than once")
                seen.append(c)
            miss = [c for c in covariates if c not in df.columns]
            if miss:
                raise DataError(f"covariates: column(s) {miss} not in the frame")
        if not covariates:
            raise DataError("covariates: no covariate columns left")
        _check_unique_columns(df, [c for c in roles.values() if c in df.columns] + list(covariates))

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
                n_arm = int((a == arm).sum())
                if n_arm == 0:
                    raise DataError(f"treatment column '{treatment_col}': the {name} arm is empty")
                if n_arm == 1:
                    raise DataError(f"treatment column '{treatment_col}': the {name} arm has a single row; "
                                    "each arm needs at least 2 subjects")
            if delta.sum() == 0:
                raise DataError(f"event column '{event_col}': no events at all (every subject censored)")
        elif not require_outcome:
            y = np.ones(len(df)) if duration_col not in df.columns else \
                validate_duration(df[duration_col], duration_col)
            delta = np.zeros(len(df)) if event_col not in df.columns else \
                validate_event(df[event_col], event_col)

        if preprocessor is None:
            preprocessor = Preprocessor().fit(df, covariates)  # raises first on covariates it cannot encode
            _check_overlap(df, [c for c in covariates if c not in preprocessor.dropped_], a, treatment_col)
        x = preprocessor.transform(df)
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
        raise ArgumentError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise DataError("the frame has no rows")
    _require_columns(df, {"event_col": event_col, "treatment_col": treatment_col})
    _check_unique_columns(df, [event_col, treatment_col])
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


#: the share of the training frame held out for early stopping when no validation frame is given
VALIDATION_FRACTION = 0.15


def validation_split(df: pd.DataFrame, event_col: str, treatment_col: str, val_df: pd.DataFrame | None = None,
                     seed: int | None = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train_df, val_df)`` for early stopping -- the one rule every pyrocsa estimator uses: ``val_df`` as
    given (``df`` is then all training rows), else a stratified (event x treatment) 15% of ``df``
    (:func:`stratified_split` seeded by ``seed``, None read as 0). Neither frame is modified."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if val_df is not None:
        if not isinstance(val_df, pd.DataFrame):
            raise DataError(f"val_df must be a pandas DataFrame, got {type(val_df).__name__}")
        return df, val_df
    for arg, col in (("event_col", event_col), ("treatment_col", treatment_col)):
        if col not in df.columns:
            raise DataError(f"{arg}='{col}': column '{col}' not in the frame")
    parts = stratified_split(df, event_col, treatment_col,
                             fractions=(1.0 - VALIDATION_FRACTION, VALIDATION_FRACTION, 0.0), seed=seed or 0)
    return df.iloc[parts["train"]], df.iloc[parts["valid"]]


def observed_frame(data, df: pd.DataFrame) -> pd.DataFrame | None:
    """The observed outcomes of ``df``'s rows as the ``observed`` frame of a ``PotentialOutcomes``:
    columns ``time`` (the duration column, full precision), ``event`` and ``treatment`` (0/1 ints), indexed
    like ``df``; None when ``df`` lacks one of the three columns. ``data``: the fitted :class:`SurvivalData`
    (or a loaded model's stand-in) whose column names, treatment labels and checks are applied."""
    cols = (data.duration_col, data.event_col, data.treatment_col)
    if not all(c in df.columns for c in cols):
        return None
    new = data.transform(df, require_outcome=True)
    time = validate_duration(df[data.duration_col], data.duration_col)
    return pd.DataFrame({"time": time, "event": new.delta.numpy().astype(int),
                         "treatment": new.a.numpy().astype(int)}, index=df.index)


def covariate_frame(preprocessor: Preprocessor, df: pd.DataFrame) -> pd.DataFrame:
    """The covariates of ``df``'s rows as the ``covariates`` frame of a ``PotentialOutcomes`` (ArviZ
    ``constant_data``): the raw covariate columns (those ``preprocessor`` kept) as floats when all are
    numeric and none is boolean, else the preprocessed design (one-hot, standardised), indexed like ``df``."""
    cols = [c for c in preprocessor.columns_ if c not in preprocessor.dropped_]
    raw = df[cols]
    if all(pd.api.types.is_numeric_dtype(raw[c]) and not pd.api.types.is_bool_dtype(raw[c]) for c in cols):
        return raw.astype(float)
    return pd.DataFrame(preprocessor.transform(df), index=df.index, columns=preprocessor.feature_names_)
