"""pyrocsa's exceptions: every bad input ends in one of these, with a message that names the column,
argument or file and what is wrong with it.

* :class:`PyrocsaError` -- the base of all of them (``except pyrocsa.errors.PyrocsaError``);
* :class:`DataError` -- a frame or column that cannot be used (missing, duplicated or mistyped column,
  non-finite or out-of-range values, one column in two roles, an empty or single-row arm ...);
* :class:`ArgumentError` -- an argument with a value outside its domain (``num_samples=2.5``);
* :class:`ModelFileError` -- a saved model directory that cannot be written or read back (missing or
  corrupt files, a config that does not match this version of pyrocsa, weights of the wrong shape).

One warning class: :class:`FitWarning` -- a fitted model does not reproduce its training data (it leaves
an arm's Kaplan-Meier 95% band; :mod:`pyrocsa.core.fit_check`).

``DataError`` and ``ArgumentError`` subclass :class:`ValueError` and ``ModelFileError`` subclasses both
:class:`ValueError` and :class:`OSError`, so code written against the built-in exceptions keeps working.
"""

from __future__ import annotations

import numbers
import warnings

__all__ = ["PyrocsaError", "DataError", "ArgumentError", "ModelFileError", "FitWarning", "check_positive_int",
           "check_seed", "check_level", "renamed_argument"]


class PyrocsaError(Exception):
    """Base class of pyrocsa's named errors."""


class DataError(PyrocsaError, ValueError):
    """A frame or one of its columns cannot be used; the message names the column and the problem."""


class ArgumentError(PyrocsaError, ValueError):
    """An argument has a value outside its domain; the message names the argument."""


class ModelFileError(PyrocsaError, ValueError, OSError):
    """A saved model directory cannot be written or read back; the message names the directory."""


class FitWarning(UserWarning):
    """A fitted model leaves the Kaplan-Meier 95% band of an arm of its training rows."""


def check_positive_int(value, name: str) -> int:
    """``value`` as an ``int`` if it is a whole number >= 1 (an ``int``, a NumPy integer or an integral
    float such as ``200.0``), else :class:`ArgumentError` naming ``name``. Booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        v = float(value)
        if not (v == v and abs(v) != float("inf") and v.is_integer()):
            raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
        out = int(v)
    if out < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    return out


def check_seed(seed, name: str = "seed"):
    """``seed`` as an ``int`` >= 0 (or None: not seeded), else :class:`ArgumentError` naming ``name``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ArgumentError(f"{name} must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def check_level(level, name: str = "level") -> float:
    """An interval level strictly between 0 and 1 as a ``float``, else :class:`ArgumentError` naming it."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        raise ArgumentError(f"{name} must be a number strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def renamed_argument(new_value, old_value, new: str, old: str, where: str, stacklevel: int = 3):
    """The value of an argument renamed from ``old`` to ``new`` (one name per idea, pyrocsa 0.3):
    ``old_value`` (None = not passed) still works with a :class:`DeprecationWarning`; passing both is an
    :class:`ArgumentError`. Returns ``new_value`` when ``old`` was not passed."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise ArgumentError(f"{where}: pass {new}= only ({old}= is its deprecated name)")
    warnings.warn(f"{where}: {old}= is deprecated, use {new}=", DeprecationWarning, stacklevel=stacklevel)
    return old_value
