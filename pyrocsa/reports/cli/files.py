"""The files a command reads and writes, checked before any work.

An input table must exist, be readable, non-empty, CSV or Parquet, with data rows and unique column names;
each column option must name one of its columns. An output's directory is created if needed and probed
with a temporary file, so that a long fit never ends on an unwritable ``--out``. Each failure is a
:class:`~pyrocsa.reports.cli.CLIError` naming the option and the path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import CLIError


# -- inputs -------------------------------------------------------------------------------------------------
def _input_file(path: str, arg: str = "input file") -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{arg} '{path}' does not exist")
    if p.is_dir():
        raise CLIError(f"{arg} '{path}' is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise CLIError(f"{arg} '{path}' cannot be read (permission denied)")
    if p.stat().st_size == 0:
        raise CLIError(f"{arg} '{path}' is empty")
    return p


def _read_table(path: str) -> pd.DataFrame:
    p = _input_file(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(p)
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001 - pyarrow raises its own types
            raise CLIError(f"input file '{path}' could not be read as Parquet "
                           f"({type(err).__name__})") from None
    elif suffix in (".csv", ".txt", ".gz"):
        try:
            df = pd.read_csv(p)
        except pd.errors.EmptyDataError:
            raise CLIError(f"input file '{path}' has no columns (an empty CSV file?)") from None
        except pd.errors.ParserError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "parse error"
            raise CLIError(f"input file '{path}' could not be parsed as CSV: {first}") from None
        except (UnicodeDecodeError, EOFError, OSError) as err:
            raise CLIError(f"input file '{path}' could not be read as CSV ({type(err).__name__})") from None
    else:
        raise CLIError(f"input file '{path}': unsupported format (use .csv or .parquet)")
    if len(df) == 0:
        raise CLIError(f"input file '{path}' has no data rows")
    if not df.columns.is_unique:
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise CLIError(f"input file '{path}' has duplicate column names {dup[:5]}")
    return df


def _check_columns(df: pd.DataFrame, path: str, named: list[tuple[str, object]]) -> None:
    """Each option's column must be in the file, and the outcome / treatment options name different ones."""
    for opt, col in named:
        if col is not None and col not in df.columns:
            raise CLIError(f"{opt} '{col}': column '{col}' not in {path} (columns: {list(df.columns)[:20]})")
    roles = [(o, c) for o, c in named if o in ("--duration", "--event", "--treatment") and c]
    for i, (o1, c1) in enumerate(roles):
        for o2, c2 in roles[i + 1:]:
            if c1 == c2:
                raise CLIError(f"{o1} and {o2} both name column '{c1}': one column cannot play two roles")


def _model_dir(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"model directory '{path}' does not exist")
    if not p.is_dir():
        raise CLIError(f"model directory '{path}' is not a directory")
    return p


# -- outputs ------------------------------------------------------------------------------------------------
def _probe_dir(d: Path, arg: str, path: str) -> None:
    """Create ``d`` (and its parents) if needed and check that a file can be written in it."""
    for anc in (d, *d.parents):
        if anc.exists():
            if not anc.is_dir():
                raise CLIError(f"{arg} '{path}': '{anc}' is a file, not a directory")
            break
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as err:
        raise CLIError(f"{arg} '{path}': cannot write to directory '{d}' ({err.strerror or err})") from None


def _output_file(path: str | None, arg: str) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{arg} '{path}' is a directory; give a file name")
    _probe_dir(p.parent if str(p.parent) else Path("."), arg, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{arg} '{path}' exists and cannot be overwritten (permission denied)")


def _output_model_dir(path: str, arg: str = "--out") -> None:
    from pyrocsa.core.checkpoint import check_save_target
    from pyrocsa.errors import ModelFileError

    p = Path(path)
    try:
        check_save_target(p)
    except ModelFileError as err:
        raise CLIError(f"{arg} '{path}': {str(err).split(': ', 1)[-1]}") from None
    _probe_dir(p.parent if str(p.parent) else Path("."), arg, path)  # the model is written beside, then moved


def _output_plot_dir(path: str, arg: str = "--out") -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{arg} '{path}' exists and is not a directory")
    _probe_dir(p, arg, path)
    return p
