"""Fitting from Parquet data larger than memory: a file or a directory of files (a ``pyarrow.dataset``).

``CSA.fit("cohort.parquet", ...)`` (or a directory) runs here:

1. **One pass of statistics** (:func:`scan_parquet`), row group by row group: the durations, events and
   treatment are validated; the treatment labels, the number of rows per arm and of events, the
   log-duration mean and SD and the longest duration are counted; each numeric covariate's missing count,
   sum and sum of squares (shifted, float64), its distinct values up to 3 (binary columns are imputed with
   the mode) and a deterministic sample of at most ``sample_rows`` values (the median used for imputation:
   exact when the training part has at most ``sample_rows`` rows, a sample median otherwise); each text
   covariate's level counts. From these a :class:`pyrocsa.data.Preprocessor` is built that does what one
   fitted on the whole training part as a frame would (same imputation, one-hot levels, dropped constant
   columns, standardisation; means and SDs equal up to float64 rounding).
2. **The split**: a row is a validation row when a counter-based hash of (seed, its position in the
   dataset) falls below ``valid_fraction`` (15%), so the split needs no memory and is the same in every
   pass and every process. (Not stratified by arm and event as the frame split is; at the sizes this is
   for, the proportions agree to sampling error.)
3. **Training streams row groups** (:class:`ParquetRows`): each epoch visits the row groups in a seeded
   random order, fills a shuffle buffer of about ``buffer_rows`` rows, shuffles it and cuts minibatches;
   validation streams the validation rows chunk by chunk. Memory is O(one row group + buffer + model),
   not O(N): keep row groups moderate when writing the files (``pyarrow.parquet.write_table(...,
   row_group_size=65536)``).

Not available from a Parquet path: ``val_df`` (the validation rows come from the split), ``alpha="auto"`` /
``"nn-proxy"`` / grids (one fit per alpha, scored on validation rows held in memory), ensembles (bootstrap
resampling), and the frame fit's check that no covariate determines the treatment.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pyrocsa.data.frame import (
    _MAX_CATEGORIES,
    MIN_ROWS,
    Preprocessor,
    _float_values,
    _is_real_numeric,
    validate_duration,
    validate_event,
    validate_treatment,
)
from pyrocsa.errors import ArgumentError, DataError

__all__ = ["scan_parquet", "ParquetScan", "ParquetRows", "is_parquet_path"]

_SPLIT_STREAM = 0x53504C54   # "SPLT"
_SAMPLE_STREAM = 0x4D454449  # "MEDI"


def is_parquet_path(obj) -> bool:
    """A str / PathLike naming a Parquet file or a directory (what ``CSA.fit`` streams)."""
    return isinstance(obj, (str, Path)) or hasattr(obj, "__fspath__")


def _uniforms(seed: int, stream: int, start: int, n: int) -> np.ndarray:
    from pyrocsa.core.sampling import counter_uniforms

    return counter_uniforms(seed, stream, torch.zeros(1, dtype=torch.int64),
                            torch.arange(start, start + n, dtype=torch.int64))[0].numpy()


def _row_groups(path):
    """The dataset and its row groups as [(fragment of one row group, global offset, rows)], in order."""
    import pyarrow.dataset as ds

    p = Path(path)
    if not p.exists():
        raise DataError(f"Parquet path '{path}' does not exist")
    try:
        dataset = ds.dataset(str(p), format="parquet")
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for unreadable files
        raise DataError(f"Parquet path '{path}' cannot be read as a Parquet dataset: {err}") from None
    units, offset = [], 0
    for frag in dataset.get_fragments():
        for rg in frag.split_by_row_group():
            rg.ensure_complete_metadata()
            rows = int(sum(g.num_rows for g in rg.row_groups))
            if rows:
                units.append((rg, offset, rows))
                offset += rows
    if offset == 0:
        raise DataError(f"Parquet path '{path}' has no rows")
    return dataset, units, offset


@dataclass
class _NumericStats:
    n: int = 0
    missing: int = 0
    shift: float | None = None
    s1: float = 0.0
    s2: float = 0.0
    counts: dict | None = field(default_factory=dict)  # value -> count while <= 2 distinct values
    distinct: set = field(default_factory=set)          # up to 3 distinct values
    sample: list = field(default_factory=list)

    def add(self, v: np.ndarray, keep: np.ndarray, col) -> None:
        if np.isinf(v).any():
            raise DataError(f"covariate column '{col}' contains inf values")
        obs = v[~np.isnan(v)]
        self.missing += int(v.size - obs.size)
        if obs.size == 0:
            return
        if self.shift is None:
            self.shift = float(obs[0])
        d = obs - self.shift
        self.n += int(obs.size)
        self.s1 += float(d.sum())
        self.s2 += float((d * d).sum())
        if len(self.distinct) <= 2:
            self.distinct.update(np.unique(obs)[:3].tolist())
        if self.counts is not None:
            vals, cnt = np.unique(obs, return_counts=True)
            for a, c in zip(vals.tolist(), cnt.tolist()):
                self.counts[a] = self.counts.get(a, 0) + c
            if len(self.counts) > 2:
                self.counts = None
        s = v[keep]
        self.sample.append(s[~np.isnan(s)])

    def fitted(self, col):
        if self.n == 0:
            raise DataError(f"covariate column '{col}' has no non-missing values")
        if self.counts is not None:  # binary-like: the mode (ties: the smallest value, as pandas' mode)
            top = max(self.counts.values())
            fill = float(min(k for k, c in self.counts.items() if c == top))
        else:
            sample = np.concatenate(self.sample) if self.sample else np.empty(0)
            fill = float(np.median(sample)) if sample.size else float(self.s1 / self.n + self.shift)
        total = self.n + self.missing
        s1 = self.s1 + self.missing * (fill - self.shift)
        s2 = self.s2 + self.missing * (fill - self.shift) ** 2
        mean = s1 / total + self.shift
        sd = math.sqrt(max(s2 / total - (s1 / total) ** 2, 0.0))
        distinct = set(self.distinct) | ({fill} if self.missing else set())
        if not (math.isfinite(mean) and math.isfinite(sd)):
            raise DataError(f"covariate column '{col}' has values too large to standardise; rescale it")
        constant = len(distinct) <= 1 or sd == 0.0
        return constant, {"fill": fill, "mean": mean, "sd": sd}


@dataclass
class ParquetScan:
    """What one pass over a Parquet dataset found (:func:`scan_parquet`); ``train`` / ``valid`` stream the
    two parts."""

    path: str
    duration_col: object
    event_col: object
    treatment_col: object
    preprocessor: Preprocessor
    treated_value: object
    treatment_levels: list
    n_train: int
    n_valid: int
    log_y_mean: float
    log_y_sd: float
    max_duration: float
    units: list
    seed: int
    valid_fraction: float
    buffer_rows: int
    train: ParquetRows = None
    valid: ParquetRows = None
    n_train_events: int = 0

    @property
    def n_features(self) -> int:
        return len(self.preprocessor.feature_names_)

    @property
    def time_scale(self) -> float:
        """The geometric mean training duration (what ``CSA.fit`` uses as the time scale)."""
        return math.exp(self.log_y_mean)

    def columns(self) -> list:
        roles = [self.duration_col, self.event_col, self.treatment_col]
        return roles + [c for c in self.preprocessor.columns_ if c not in self.preprocessor.dropped_]

    def in_valid(self, offset: int, rows: int) -> np.ndarray:
        return _uniforms(self.seed, _SPLIT_STREAM, offset, rows) < self.valid_fraction

    def tensors(self, df: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        """(x, a, y, delta) float32 tensors of a frame of rows."""
        x = self.preprocessor.transform(df)
        a = validate_treatment(df[self.treatment_col], str(self.treatment_col), self.treated_value,
                               known_levels=self.treatment_levels)
        y = validate_duration(df[self.duration_col], str(self.duration_col))
        d = validate_event(df[self.event_col], str(self.event_col))
        f32 = torch.float32
        return tuple(torch.as_tensor(v, dtype=f32) for v in (x, a, y, d))


class ParquetRows:
    """The training or validation rows of a :class:`ParquetScan`, streamed (the protocol
    :func:`pyrocsa.core.training.fit_module` reads: ``n_rows``, ``minibatches``, ``chunks``)."""

    def __init__(self, scan: ParquetScan, part: str):
        if part not in ("train", "valid"):
            raise ArgumentError(f"part must be 'train' or 'valid', got {part!r}")
        self.scan, self.part = scan, part
        self.n_rows = scan.n_train if part == "train" else scan.n_valid

    def __len__(self) -> int:
        return self.n_rows

    def _frames(self, order):
        cols = self.scan.columns()
        for i in order:
            frag, offset, rows = self.scan.units[int(i)]
            df = frag.to_table(columns=cols).to_pandas()
            keep = self.scan.in_valid(offset, rows)
            if self.part == "train":
                keep = ~keep
            if keep.any():
                yield df[keep]

    def _buffers(self, order, rows: int):
        parts, held = [], 0
        for df in self._frames(order):
            parts.append(df)
            held += len(df)
            if held >= rows:
                yield pd.concat(parts) if len(parts) > 1 else parts[0]
                parts, held = [], 0
        if parts:
            yield pd.concat(parts) if len(parts) > 1 else parts[0]

    def chunks(self, device=None, rows: int | None = None):
        """Tensors (x, a, y, delta) of consecutive chunks of about ``rows`` rows, in file order."""
        for df in self._buffers(range(len(self.scan.units)), rows or self.scan.buffer_rows):
            yield tuple(t.to(device) for t in self.scan.tensors(df)) if device is not None else \
                self.scan.tensors(df)

    def minibatches(self, batch_size: int, gen: torch.Generator, min_last: int = 2, device=None):
        """One epoch: row groups in a random order (``gen``), a shuffle buffer of about ``buffer_rows`` rows,
        minibatches of ``batch_size`` cut from each shuffled buffer. Yields ``(tensors, row indices)``."""
        from pyrocsa.core.training import _batches

        order = torch.randperm(len(self.scan.units), generator=gen).tolist()
        for df in self._buffers(order, self.scan.buffer_rows):
            tensors = self.scan.tensors(df)
            if device is not None:
                tensors = tuple(t.to(device) for t in tensors)
            m = tensors[0].shape[0]
            if m < min_last:  # too few rows for a minibatch on every process: skipped (at most min_last - 1)
                continue
            for idx in _batches(m, batch_size, gen, shuffle=True, min_last=min_last):
                yield tensors, idx.to(tensors[0].device)


def scan_parquet(path, duration_col, event_col, treatment_col, covariates=None, treated_value=None,
                 preprocessor: Preprocessor | None = None, valid_fraction: float = 0.15, seed: int = 0,
                 sample_rows: int = 100_000, buffer_rows: int = 65_536) -> ParquetScan:
    """One pass over the Parquet file or directory ``path`` (module docstring); returns a
    :class:`ParquetScan` whose ``train`` and ``valid`` stream the two parts. ``preprocessor``: a fitted one
    to reuse (its statistics are then not recomputed)."""
    if not 0 < valid_fraction < 1:
        raise ArgumentError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    dataset, units, total = _row_groups(path)
    names = list(dataset.schema.names)
    roles = {"duration_col": duration_col, "event_col": event_col, "treatment_col": treatment_col}
    for arg, col in roles.items():
        if col not in names:
            raise DataError(f"{arg}='{col}': column '{col}' not in the Parquet data (columns: {names[:20]})")
    if covariates is None:
        covariates = list(preprocessor.columns_) if preprocessor is not None else \
            [c for c in names if c not in roles.values()]
    covariates = list(covariates)
    missing = [c for c in covariates if c not in names]
    if missing:
        raise DataError(f"covariates: column(s) {missing} not in the Parquet data")
    if not covariates:
        raise DataError("covariates: no covariate columns left")
    seed = int(seed or 0)
    keep_p = min(1.0, sample_rows / total)
    numeric: dict = {}
    text: dict = {}
    levels: list = []
    n_train = n_valid = events = 0
    arm_counts = {}
    ly1 = ly2 = 0.0
    ymax = 0.0
    t_name = str(treatment_col)
    for frag, offset, rows in units:
        df = frag.to_table(columns=list(roles.values()) + covariates).to_pandas()
        y = validate_duration(df[duration_col], str(duration_col))
        d = validate_event(df[event_col], str(event_col))
        s = df[treatment_col]
        if s.isna().any():
            raise DataError(f"treatment column '{t_name}' has {int(s.isna().sum())} missing value(s)")
        for v in pd.unique(s):
            if not any(v == u for u in levels):
                levels.append(v.item() if isinstance(v, np.generic) else v)
        if len(levels) > 2:
            raise DataError(f"treatment column '{t_name}' must have exactly two values (one per arm); found "
                            f"more: {sorted(map(str, levels))[:10]}")
        valid = _uniforms(seed, _SPLIT_STREAM, offset, rows) < valid_fraction
        train = ~valid
        n_valid += int(valid.sum())
        n_train += int(train.sum())
        events += int(d[train].sum())
        ly = np.log(y[train].astype(np.float64))
        ly1 += float(ly.sum())
        ly2 += float((ly * ly).sum())
        if train.any():
            ymax = max(ymax, float(y[train].max()))
        for v, c in zip(*np.unique(s[train].astype(str), return_counts=True)):
            arm_counts[v] = arm_counts.get(v, 0) + int(c)
        if preprocessor is not None:
            continue
        sampled = (_uniforms(seed, _SAMPLE_STREAM, offset, rows) < keep_p)[train]
        part = df[train]
        for col in covariates:
            c = part[col]
            if pd.api.types.is_complex_dtype(c):
                raise DataError(f"covariate column '{col}' holds complex numbers, which cannot be encoded")
            if col in numeric or (col not in text and _is_real_numeric(c)):
                if col in text or not _is_real_numeric(c):
                    raise DataError(f"covariate column '{col}' changes type between Parquet row groups")
                numeric.setdefault(col, _NumericStats()).add(_float_values(c), sampled, col)
            elif isinstance(c.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(c) or \
                    pd.api.types.is_string_dtype(c):
                nonnull = c.dropna()
                if any(isinstance(v, (list, dict, set, tuple, np.ndarray)) for v in nonnull.astype(object)):
                    raise DataError(f"covariate column '{col}' holds containers (lists/dicts) that "
                                    "cannot be encoded")
                counts = text.setdefault(col, {})
                for v, k in nonnull.astype(str).value_counts().items():
                    counts[v] = counts.get(v, 0) + int(k)
                if len(counts) > _MAX_CATEGORIES:
                    raise DataError(f"covariate column '{col}' cannot be encoded: more than "
                                    f"{_MAX_CATEGORIES} distinct text levels; convert it to numbers or "
                                    "drop it")
            else:
                raise DataError(f"covariate column '{col}' cannot be encoded (dtype {c.dtype}); convert it "
                                "to numbers or text, or drop it")
    if len(levels) != 2:
        raise DataError(f"treatment column '{t_name}' must have exactly two values (one per arm); found "
                        f"{len(levels)}: {sorted(map(str, levels))}")
    probe = pd.Series(levels, dtype=df[treatment_col].dtype if len(df) else None)
    validate_treatment(probe, t_name, treated_value)  # the labels and treated_value, as a frame fit checks
    if treated_value is None:
        treated_value = True if pd.api.types.is_bool_dtype(probe) else 1
    if n_train < MIN_ROWS:
        raise DataError(f"too few training rows: {n_train} (need at least {MIN_ROWS})")
    if n_valid < 1:
        raise DataError("no validation rows: the Parquet data are too small for a 15% split")
    for lv in map(str, levels):
        if arm_counts.get(lv, 0) < 2:
            raise DataError(f"treatment column '{t_name}': the arm '{lv}' has fewer than 2 training rows")
    if events == 0:
        raise DataError(f"event column '{event_col}': no events at all (every subject censored)")
    if preprocessor is None:
        preprocessor = Preprocessor()
        preprocessor.columns_ = covariates
        preprocessor.numeric_, preprocessor.categorical_, preprocessor.dropped_ = {}, {}, []
        for col in covariates:
            if col in numeric:
                constant, st = numeric[col].fitted(col)
                if constant:
                    preprocessor.dropped_.append(col)
                else:
                    preprocessor.numeric_[col] = st
            elif col in text:
                counts = text[col]
                if not counts:
                    raise DataError(f"covariate column '{col}' has no non-missing values")
                if len(counts) <= 1:
                    preprocessor.dropped_.append(col)
                    continue
                top = max(counts.values())
                preprocessor.categorical_[col] = {"levels": sorted(counts),
                                                  "fill": min(k for k, c in counts.items() if c == top)}
            else:
                raise DataError(f"covariate column '{col}' has no training rows")
        if preprocessor.dropped_:
            warnings.warn(f"dropping constant covariate column(s) {preprocessor.dropped_}", UserWarning,
                          stacklevel=3)
        if not preprocessor.numeric_ and not preprocessor.categorical_:
            raise DataError("no usable covariates: every covariate column is constant")
    mean = ly1 / n_train
    var = (ly2 - n_train * mean * mean) / (n_train - 1) if n_train > 1 else 1.0
    sd = math.sqrt(max(var, 0.0))
    scan = ParquetScan(str(path), duration_col, event_col, treatment_col, preprocessor, treated_value,
                       levels, n_train, n_valid, mean, sd if sd > 1e-6 else 1.0, ymax, units, seed,
                       float(valid_fraction), int(buffer_rows))
    scan.train, scan.valid = ParquetRows(scan, "train"), ParquetRows(scan, "valid")
    scan.n_train_events = events
    return scan
