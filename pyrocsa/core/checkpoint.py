"""Saved models: the directory format of :meth:`pyrocsa.CSA.save` / :meth:`pyrocsa.CSA.load`, written
atomically and read back only after it has been checked.

Layout of a single model (``format_version`` 5)::

    model/config.json          {"format_version", "class", "params", "fitted", "history"}
    model/preprocessing.json   the fitted :class:`pyrocsa.data.Preprocessor` (column names with their types)
    model/weights.pt           a state dict of tensors (``torch.save``), read with ``weights_only=True``;
                               each head's step baseline is in it (``warp_knots``, ``warp_log_rates``,
                               ``warp_pieces``; :mod:`pyrocsa.csa.warp`)
    model/posterior.pt         (optional) the event heads' Laplace posterior (:mod:`pyrocsa.csa.posterior`):
                               tensors mean_a (P,), hessian_a (P, P) float32, prior_precision, score_grid,
                               scores; a file without it loads with ``posterior_ = None``

An :class:`pyrocsa.Ensemble` writes ``config.json`` with class ``"Ensemble"``, ``"members": ["member_0",
...]`` and ``params = {"n_members", "seed", "bootstrap", "n_jobs", "estimator": {"class", "params"}}`` (the
members' class and arguments), and one such directory per member.

Writing: everything goes into a temporary sibling directory (``.NAME.saving-XXXX``) that is renamed into
place once complete, so an interrupted save never leaves a half-written model under ``NAME``. An existing
``NAME`` is replaced only when it is an empty directory or a saved pyrocsa model (anything else is refused);
the old model is moved aside first and deleted after the new one is in place.

Reading: ``config.json`` is checked against this format (version, class, known parameter names -- those of
the estimator's constructor, so the check follows the estimator when its parameters change --, the types of
the fitted fields), then ``preprocessing.json``, then the weights are read with ``torch.load(...,
weights_only=True)`` (no pickled code runs) and compared with the network the config describes (names,
shapes, finiteness) before any is loaded. Every failure raises one
:class:`pyrocsa.errors.ModelFileError` that names the directory and the problem. Format 4 (before the
step baselines) is read as the smooth model it was: every head without steps.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch

from pyrocsa.data.frame import Preprocessor, SurvivalData, decode_label, encode_label
from pyrocsa.errors import ArgumentError, DataError, ModelFileError

__all__ = ["FORMAT_VERSION", "READABLE_VERSIONS", "save_estimator", "load_estimator", "FittedData"]

FORMAT_VERSION = 5
#: 4: no time warps (read with the identity warp of every head, which is the model that wrote it)
READABLE_VERSIONS = (4, 5)
#: versions written by an older pyrocsa whose CSA generators this one no longer has (refit): 1-2 had noise
#: MLPs without a density, 3 a Normal base without the Cox-nesting heads (linear term, outer layers)
_OLD_GENERATOR_VERSIONS = (1, 2, 3)
_FILES = ("config.json", "preprocessing.json", "weights.pt")
#: the parameter posterior behind predict_effect (optional: absent in files written without one)
_POSTERIOR_FILE = "posterior.pt"
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------------------
def _json_value(v):
    """A constructor parameter as JSON: tuples -> lists, NumPy scalars -> Python, devices -> str."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, torch.device):
        return str(v)
    return v


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def _dump(obj, path: Path, what: str) -> None:
    try:
        text = json.dumps(obj, indent=1, default=_json_default)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"cannot save the model: {what} is not JSON serialisable ({err})") from None
    path.write_text(text)


def _read_json(path: Path, model_dir: Path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ModelFileError(f"model directory '{model_dir}': {path.name} is missing (not a saved pyrocsa "
                             "model directory)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ModelFileError(f"model directory '{model_dir}': {path.name} cannot be read "
                             f"({type(err).__name__}: {err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"model directory '{model_dir}': {path.name} is not valid JSON ({err.msg} at "
                             f"line {err.lineno}, column {err.colno})") from None


def _fail(model_dir: Path, msg: str):
    return ModelFileError(f"model directory '{model_dir}': {msg}")


# ---------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------
def _is_model_dir(path: Path) -> bool:
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and "format_version" in cfg and "class" in cfg


def check_save_target(path: Path) -> None:
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ModelFileError(f"cannot save the model to '{path}': it exists and is not a "
                                 "directory")
        if any(path.iterdir()) and not _is_model_dir(path):
            raise ModelFileError(f"cannot save the model to '{path}': the directory exists and is not a "
                                 "saved pyrocsa model (refusing to overwrite it); choose another path")


@contextlib.contextmanager
def _atomic_directory(path: Path):
    """Yield a fresh temporary sibling of ``path``; on success it replaces ``path``, on failure it is
    removed and ``path`` is left as it was."""
    path = Path(path)
    check_save_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.saving-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as err:
        raise ModelFileError(f"cannot save the model to '{path}': {err.strerror or err}") from None
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None:
                os.replace(old, path)  # put the previous model back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, ModelFileError):
            raise ModelFileError(f"cannot save the model to '{path}': {err.strerror or err}") from None
        raise


def _params_json(est) -> dict:
    params = est.get_params(deep=False)
    if "estimator" in params and hasattr(params["estimator"], "get_params"):  # an Ensemble: nested spec
        proto = params["estimator"]
        params = dict(params, estimator={"class": type(proto).__name__, "params": _params_json(proto)})
    return {k: _json_value(v) for k, v in params.items()}


def _write_single(est, d: Path) -> None:
    data = est.data_
    levels = getattr(data, "meta", {}).get("treatment_levels")
    enc = encode_label
    fitted = {
        "alpha_": est.alpha_, "time_scale_": est.time_scale_,
        "alpha_scores_": None if est.alpha_scores_ is None
        else {str(k): v for k, v in est.alpha_scores_.items()},
        "n_features": int(data.x.shape[1]),
        "duration_col": enc(est.duration_col_, "duration column name"),
        "event_col": enc(est.event_col_, "event column name"),
        "treatment_col": enc(est.treatment_col_, "treatment column name"),
        "treated_value": enc(est.treated_value_, "treated_value"),
        "treatment_levels": None if levels is None else [enc(v, "treatment level") for v in levels],
        "n_train": int(est.n_train_), "n_valid": int(est.n_valid_),
        "n_events": None if getattr(est, "n_events_", None) is None else int(est.n_events_),
        "max_duration_": getattr(est, "max_duration_", None),
    }
    config = {"format_version": FORMAT_VERSION, "class": type(est).__name__, "params": _params_json(est),
              "fitted": fitted, "history": list(est.history_ or [])}
    try:
        pre = est.preprocessor_.to_dict()
    except DataError as err:
        raise ModelFileError(f"cannot save the model: {err}") from None
    _dump(config, d / "config.json", "the configuration")
    _dump(pre, d / "preprocessing.json", "the preprocessing")
    torch.save({k: v.detach().cpu() for k, v in est.model_.state_dict().items()}, d / "weights.pt")
    post = getattr(est, "posterior_", None)
    if post is not None:
        torch.save(_posterior_tensors(post.state()), d / _POSTERIOR_FILE)


def _posterior_tensors(state: dict) -> dict:
    """The posterior's state (:meth:`pyrocsa.csa.posterior.LaplacePosterior.state`) as named tensors."""
    out = {"prior_precision": torch.tensor(float(state["prior_precision"]), dtype=torch.float64)}
    for arm, (mean, hess) in enumerate(zip(state["mean"], state["hessian"])):
        out[f"mean_{arm}"], out[f"hessian_{arm}"] = mean.detach().cpu(), hess.detach().cpu()
    grid = sorted(state["scores"], key=float)
    out["score_grid"] = torch.tensor([float(k) for k in grid], dtype=torch.float64)
    out["scores"] = torch.tensor([state["scores"][k] for k in grid], dtype=torch.float64)
    return out


def _read_posterior(d: Path, est, model):
    """The saved posterior of ``d`` (None when the model was saved without one): the tensors are checked
    here (names, finiteness), their fit to the network by the estimator's ``_posterior_from_state``."""
    f = d / _POSTERIOR_FILE
    if not f.is_file():
        return None
    t = _read_weights(f, d)
    need = {"prior_precision", "mean_0", "mean_1", "hessian_0", "hessian_1", "score_grid", "scores"}
    if set(t) != need:
        raise _fail(d, f"{f.name} does not hold a posterior (tensors {sorted(need)})")
    if not all(bool(torch.isfinite(v).all()) for v in t.values()):
        raise _fail(d, f"{f.name} holds non-finite values")
    state = {"mean": [t["mean_0"], t["mean_1"]], "hessian": [t["hessian_0"], t["hessian_1"]],
             "prior_precision": float(t["prior_precision"]),
             "scores": {float(k): float(v) for k, v in zip(t["score_grid"].tolist(), t["scores"].tolist())}}
    try:
        return est._posterior_from_state(state, model)
    except ValueError as err:
        raise _fail(d, f"{f.name}: {err}") from None


def save_estimator(est, path) -> Path:
    """Write ``est`` (a fitted :class:`pyrocsa.CSA` or :class:`pyrocsa.Ensemble` of them) to ``path``,
    atomically (see the module docstring). Returns ``Path(path)``."""
    path = Path(path)
    members = getattr(est, "members_", None)
    if members:
        unsavable = sorted({type(m).__name__ for m in members
                            if not callable(getattr(m, "_new_model", None))})
        if unsavable:
            raise ModelFileError(f"cannot save the model: {', '.join(unsavable)} members have no saved-model "
                                 "format (CSA has)")
        names = [f"member_{k}" for k in range(len(members))]
        config = {"format_version": FORMAT_VERSION, "class": type(est).__name__, "params": _params_json(est),
                  "members": names}
        with _atomic_directory(path) as tmp:
            for name, member in zip(names, members):
                (tmp / name).mkdir()
                _write_single(member, tmp / name)
            _dump(config, tmp / "config.json", "the configuration")
        return path
    with _atomic_directory(path) as tmp:
        _write_single(est, tmp)
    return path


# ---------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------
def _constructor_params(cls) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return {k: p for k, p in sig.parameters.items()
            if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _check_header(config, cls, d: Path) -> int:
    if not isinstance(config, dict):
        raise _fail(d, f"config.json must hold a JSON object, got {type(config).__name__}")
    version = config.get("format_version")
    if not isinstance(version, bool) and version in _OLD_GENERATOR_VERSIONS:
        raise _fail(d, f"format_version {version} was written by an older pyrocsa whose generators this "
                       "version no longer has; refit the model")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise _fail(d, f"unsupported format_version {version!r} in config.json (this pyrocsa reads "
                       f"{', '.join(map(str, READABLE_VERSIONS))})")
    name = config.get("class")
    if name != cls.__name__:
        raise _fail(d, f"config.json is for class {name!r}, not {cls.__name__!r}")
    if not isinstance(config.get("params"), dict):
        raise _fail(d, "config.json has no 'params' object")
    return int(version)


def _member_class(spec, d: Path):
    from pyrocsa.core.base import CounterfactualSurvivalModel

    if not (isinstance(spec, dict) and isinstance(spec.get("class"), str)
            and isinstance(spec.get("params"), dict)):
        raise _fail(d, "config.json 'params.estimator' must be an object with 'class' and 'params'")
    member_cls = CounterfactualSurvivalModel.registry.get(spec["class"])
    if member_cls is None:
        raise _fail(d, f"the members' class {spec['class']!r} is not known to this session (import the "
                       "module that defines it first, e.g. pyrocsa.csa.estimator for CSA)")
    return member_cls


def _build(cls, params: dict, d: Path, device):
    if "estimator" in params and isinstance(params["estimator"], dict):  # an Ensemble: build its prototype
        member_cls = _member_class(params["estimator"], d)
        params = dict(params, estimator=_build(member_cls, dict(params["estimator"]["params"]), d, device))
    known = _constructor_params(cls)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _fail(d, f"unknown parameter(s) {unknown} in config.json (not parameters of {cls.__name__}: "
                       "saved by another version of pyrocsa?)")
    kw = {}
    for k, v in params.items():
        default = known[k].default
        if isinstance(v, list) and isinstance(default, tuple):
            v = tuple(v)
        kw[k] = v
    if device is not None and "device" in known:
        kw["device"] = device
    try:
        return cls(**kw)
    except (TypeError, ValueError) as err:
        raise _fail(d, f"invalid parameters in config.json: {err}") from None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_fitted(fit, d: Path, version: int) -> dict:
    if not isinstance(fit, dict):
        raise _fail(d, "config.json has no 'fitted' object (not a fitted model)")
    req = ("alpha_", "time_scale_", "alpha_scores_", "n_features", "duration_col", "event_col",
           "treatment_col", "treated_value", "n_train", "n_valid")
    missing = [k for k in req if k not in fit]
    if missing:
        raise _fail(d, f"config.json 'fitted' lacks {missing}")
    out = dict(fit)
    if not (_number(fit["alpha_"]) and math.isfinite(fit["alpha_"]) and fit["alpha_"] >= 0):
        raise _fail(d, f"fitted alpha_ must be a number >= 0, got {fit['alpha_']!r}")
    if not (_number(fit["time_scale_"]) and math.isfinite(fit["time_scale_"]) and fit["time_scale_"] > 0):
        raise _fail(d, f"fitted time_scale_ must be a positive number, got {fit['time_scale_']!r}")
    for k in ("n_features", "n_train", "n_valid"):
        low = 1 if k == "n_features" else 0
        if not (isinstance(fit[k], int) and not isinstance(fit[k], bool) and fit[k] >= low):
            raise _fail(d, f"fitted {k} must be an integer >= {low}, got {fit[k]!r}")
    scores = fit["alpha_scores_"]
    if scores is not None:
        if not isinstance(scores, dict):
            raise _fail(d, f"fitted alpha_scores_ must be an object or null, got {type(scores).__name__}")
        try:
            out["alpha_scores_"] = {float(k): float(v) for k, v in scores.items()}
        except (TypeError, ValueError):
            raise _fail(d, "fitted alpha_scores_ must map alphas to numbers") from None
    try:
        if version >= 2:
            for k in ("duration_col", "event_col", "treatment_col", "treated_value"):
                out[k] = decode_label(fit[k])
            levels = fit.get("treatment_levels")
            if levels is not None:
                if not isinstance(levels, list):
                    raise ArgumentError("treatment_levels must be a list")
                out["treatment_levels"] = [decode_label(v) for v in levels]
        else:
            out["treatment_levels"] = None
    except ValueError as err:
        raise _fail(d, f"config.json 'fitted': {err}") from None
    return out


def _check_preprocessing(raw, d: Path) -> Preprocessor:
    bad = _fail(d, "preprocessing.json does not describe a fitted preprocessor")
    if not isinstance(raw, dict) or not {"columns", "numeric", "categorical", "dropped"} <= set(raw):
        raise bad
    try:
        pre = Preprocessor.from_dict(raw)
    except (TypeError, ValueError, KeyError, AttributeError):
        raise bad from None
    for col, st in pre.numeric_.items():
        vals = [st.get(k) for k in ("fill", "mean", "sd")] if isinstance(st, dict) else [None]
        if not all(_number(v) and math.isfinite(v) for v in vals) or not vals[2] > 0:
            raise _fail(d, f"preprocessing.json: numeric covariate '{col}' needs a finite fill, mean and "
                           "sd > 0")
    for col, st in pre.categorical_.items():
        ok = isinstance(st, dict) and isinstance(st.get("levels"), list) and st["levels"] and \
            all(isinstance(v, str) for v in st["levels"]) and isinstance(st.get("fill"), str)
        if not ok:
            raise _fail(d, f"preprocessing.json: categorical covariate '{col}' needs text levels and fill")
    fitted = list(pre.numeric_) + list(pre.categorical_)
    stray = [c for c in fitted + pre.dropped_ if c not in pre.columns_]
    if stray or not fitted:
        raise _fail(d, "preprocessing.json: the fitted columns do not match its column list")
    return pre


def _read_weights(f: Path, d: Path) -> dict:
    if not f.is_file():
        raise _fail(d, f"{f.name} is missing (not a saved pyrocsa model directory)")
    try:
        raw = f.read_bytes()
    except OSError as err:
        raise _fail(d, f"{f.name} cannot be read ({err.strerror or type(err).__name__})") from None
    try:
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception:  # noqa: BLE001 - torch raises many types; its message must not reach the user
        raise _fail(d, f"{f.name} is not a readable weights file (truncated, corrupt, or holding more than "
                       "tensors)") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise _fail(d, f"{f.name} does not hold a state dict of named tensors")
    return state


def _with_identity_warps(model, state: dict) -> dict:
    """A format-4 state (written before the heads had time warps) with every head's warp at the identity,
    which is exactly the model that wrote it."""
    out = dict(state)
    for key, value in model.state_dict().items():
        if ".warp_" in key and key not in out:
            out[key] = value.clone()
    return out


def _check_state(model, state: dict, d: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:3]}{' ...' if len(extra) > 3 else ''}")
        raise _fail(d, f"weights.pt does not match the network described by config.json ({'; '.join(parts)})")
    for k, v in expected.items():
        w = state[k]
        if tuple(w.shape) != tuple(v.shape):
            raise _fail(d, f"weights.pt: '{k}' has shape {tuple(w.shape)} but config.json describes "
                           f"{tuple(v.shape)}")
        if w.is_floating_point() and not torch.isfinite(w).all():
            raise _fail(d, f"weights.pt: '{k}' holds non-finite values")


def _load_single(cls, d: Path, device, config=None, version=None):
    if config is None:
        config = _read_json(d / "config.json", d)
        version = _check_header(config, cls, d)
    if "members" in config:
        raise _fail(d, "an ensemble directory cannot be a member of another ensemble")
    for f in _FILES[1:]:
        if not (d / f).is_file():
            raise _fail(d, f"{f} is missing (not a saved pyrocsa model directory)")
    params = dict(config["params"])
    est = _build(cls, params, d, device)
    fit = _check_fitted(config.get("fitted"), d, version)
    history = config.get("history", [])
    if not isinstance(history, list):
        raise _fail(d, "config.json 'history' must be a list")
    pre = _check_preprocessing(_read_json(d / "preprocessing.json", d), d)
    if len(pre.feature_names_) != fit["n_features"]:
        raise _fail(d, f"preprocessing.json gives {len(pre.feature_names_)} features but config.json says "
                       f"n_features={fit['n_features']}")
    state = _read_weights(d / "weights.pt", d)
    try:
        model = est._new_model(fit["n_features"], fit["time_scale_"])
    except (TypeError, ValueError) as err:
        raise _fail(d, f"the network described by config.json cannot be built: {err}") from None
    if version == 4:
        state = _with_identity_warps(model, state)
    _check_state(model, state, d)
    try:
        model.load_state_dict(state)
    except RuntimeError:  # pragma: no cover - names and shapes were checked above
        raise _fail(d, "weights.pt does not match the network described by config.json") from None
    from pyrocsa.core.device import resolve_device

    est.model_ = model.to(resolve_device(est.device)).eval()
    est.posterior_ = _read_posterior(d, est, model)
    est.preprocessor_ = pre
    est.duration_col_, est.event_col_ = fit["duration_col"], fit["event_col"]
    est.treatment_col_, est.treated_value_ = fit["treatment_col"], fit["treated_value"]
    # a data_ stand-in that re-applies the preprocessing (no training rows are stored)
    est.data_ = FittedData(pre, fit["duration_col"], fit["event_col"], fit["treatment_col"],
                           fit["treated_value"], fit["n_features"], fit.get("treatment_levels"))
    est.alpha_, est.time_scale_ = float(fit["alpha_"]), float(fit["time_scale_"])
    est.alpha_scores_ = fit["alpha_scores_"]
    est.history_ = history
    est.n_train_, est.n_valid_ = fit["n_train"], fit["n_valid"]
    n_events = fit.get("n_events")  # absent in files written before 2026-12-03
    est.n_events_ = int(n_events) if _number(n_events) and n_events >= 0 else None
    md = fit.get("max_duration_")
    est.max_duration_ = float(md) if _number(md) and math.isfinite(md) and md > 0 else None
    est.fitted_ = True
    return est


def load_estimator(cls, path, device=None):
    """Read a directory written by :func:`save_estimator` into a fitted ``cls`` (a single model or an
    :class:`~pyrocsa.core.ensemble.Ensemble`); ``device`` overrides the saved
    device. Raises :class:`ModelFileError` (naming the directory and the problem) on any failure."""
    d = Path(path)
    if not d.exists():
        raise ModelFileError(f"model directory '{d}' is missing: no such directory")
    if not d.is_dir():
        raise ModelFileError(f"model directory '{d}' is not a directory")
    config = _read_json(d / "config.json", d)
    version = _check_header(config, cls, d)
    if "members" not in config:
        return _load_single(cls, d, device, config, version)
    if not callable(getattr(cls, "_attach_members", None)):
        raise _fail(d, f"config.json lists ensemble members, but {cls.__name__} is one model: read an "
                       "ensemble with pyrocsa.Ensemble.load")
    names = config["members"]
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and _MEMBER_NAME.match(n) for n in names):
        raise _fail(d, "config.json 'members' must be a non-empty list of member directory names")
    if len(set(names)) != len(names):
        raise _fail(d, "config.json 'members' lists a member twice")
    est = _build(cls, dict(config["params"]), d, device)
    k = est.n_members
    if isinstance(k, int) and k != len(names):
        raise _fail(d, f"config.json says n_members={k} but lists {len(names)} members")
    member_cls = type(est._member_prototype())
    members = []
    for name in names:
        sub = d / name
        if not sub.is_dir():
            raise _fail(d, f"member directory '{name}' is missing")
        members.append(_load_single(member_cls, sub, device))
    first = members[0]
    for other, name in zip(members[1:], names[1:]):
        if other.preprocessor_.feature_names_ != first.preprocessor_.feature_names_:
            raise _fail(d, f"member '{name}' has other covariates than '{names[0]}'")
    est._attach_members(members)
    return est


class FittedData:
    """What a loaded model keeps of its training data: the preprocessing, column names and treatment
    labels (so that a frame holding one arm, or one subject, can still be read)."""

    def __init__(self, pre, duration_col, event_col, treatment_col, treated_value, n_features,
                 treatment_levels=None):
        self.preprocessor, self.duration_col, self.event_col = pre, duration_col, event_col
        self.treatment_col, self.treated_value = treatment_col, treated_value
        self.x = torch.empty(0, n_features)
        self.delta = torch.empty(0)
        self.meta = {"treatment_levels": None if treatment_levels is None else list(treatment_levels)}

    @property
    def covariates(self):
        return [c for c in self.preprocessor.columns_ if c not in self.preprocessor.dropped_]

    @property
    def feature_names(self):
        return self.preprocessor.feature_names_

    def transform(self, df, require_outcome=False):
        return SurvivalData.from_frame(df, self.duration_col, self.event_col, self.treatment_col,
                                       treated_value=self.treated_value, preprocessor=self.preprocessor,
                                       require_outcome=require_outcome, min_rows=1,
                                       treatment_levels=self.meta.get("treatment_levels"))
