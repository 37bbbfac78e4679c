"""Selection of the IPM weight alpha: one model per alpha of a grid (default {0, 0.1, 1, 10, 100}), scored
on the validation rows, which no model was trained on. Two rules (:func:`select_alpha`, ``rule=``):

``"dr"`` (``CSA(alpha="auto")``): doubly robust effect validation. Each validation subject gets the
pseudo-outcome phi_i of its RMST effect at the horizon h
(:func:`pyrocsa.core.influence.rmst_difference_pseudo_outcomes`: Cox outcome, Cox censoring and logistic
propensity models fitted on the training rows), and a model with individual effects
tau(x) = RMST_1(h | x) - RMST_0(h | x) scores

    D(tau) = mean_i (tau(x_i) - phi_i)^2   (duration unit squared; lower is better),

which estimates PEHE(tau)^2 plus a constant common to every model when either the nuisance outcome model
or the propensity and censoring models are right (Saito & Yasui, "Counterfactual cross-validation", ICML
2020). The pseudo-outcomes are noisy where overlap is weak (1 / propensity weights), so the rule keeps the
smallest alpha within one paired standard error of the lowest score (:func:`one_se_choice`). The horizon
is the smaller of the two arms' 90th percentile of the training durations. This scores the quantity the
IPM is meant to improve, the effect; a likelihood does not: under strong confounding a larger alpha can
improve the factual *and* the proxy validation likelihood while it biases the effect
(``docs/decisions.md``, section 8).

``"nn-proxy"`` (``CSA(alpha="nn-proxy")``; the paper's section 5): validation subjects have no observed
counterfactual, so the paper takes the observed (time, event) of each one's Euclidean nearest neighbour --
in preprocessed covariates -- among the *training* subjects of the other arm, and keeps the alpha with the
smallest

    L = L_F(valid; y, delta, a) + L_CF(valid; y_cf, delta_cf, 1 - a)

where both terms are the fitted objective's factual losses (no IPM term), evaluated in eval mode with common
random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from lifelines.exceptions import ConvergenceError
from sklearn.neighbors import NearestNeighbors

from pyrocsa.core.influence import rmst_difference_pseudo_outcomes
from pyrocsa.data.frame import SurvivalData
from pyrocsa.errors import ArgumentError, DataError

__all__ = ["proxy_counterfactuals", "validation_score", "effect_errors", "effect_score", "one_se_choice",
           "selection_horizon", "select_alpha", "AlphaSelection", "RULES"]

#: the selection rules of :func:`select_alpha`
RULES = ("dr", "nn-proxy")


@dataclass
class AlphaSelection:
    """The chosen ``alpha``, each alpha's validation ``scores`` (lower is better), the chosen ``model`` and
    its training ``history``, the ``rule`` and (rule "dr") the ``horizon`` of the RMST effect."""
    alpha: float
    scores: dict[float, float]
    model: torch.nn.Module
    history: list[dict]
    rule: str = "dr"
    horizon: float | None = None


def proxy_counterfactuals(train: SurvivalData, valid: SurvivalData) -> tuple[torch.Tensor, torch.Tensor]:
    """(y_cf, delta_cf), each (N_valid,): the outcome of each validation subject's nearest training
    neighbour in the other arm (Euclidean distance on the preprocessed covariates)."""
    y_cf = torch.empty_like(valid.y)
    d_cf = torch.empty_like(valid.delta)
    for arm in (0.0, 1.0):
        rows = valid.a == arm
        if not bool(rows.any()):
            continue
        pool = train.a != arm
        if not bool(pool.any()):
            raise DataError(f"the training data have no subjects in arm {int(1 - arm)}")
        nn = NearestNeighbors(n_neighbors=1).fit(train.x[pool].numpy())
        idx = torch.as_tensor(nn.kneighbors(valid.x[rows].numpy(), return_distance=False)[:, 0])
        y_cf[rows] = train.y[pool][idx]
        d_cf[rows] = train.delta[pool][idx]
    return y_cf, d_cf


def validation_score(model, loss, valid: SurvivalData, y_cf: torch.Tensor, d_cf: torch.Tensor,
                     seed: int = 0) -> float:
    """Factual + proxy-counterfactual loss of ``model`` on ``valid`` (eval mode, no gradient, fixed draws)."""
    model.eval()
    dev = next(model.parameters()).device
    x, a = valid.x.to(dev), valid.a.to(dev)
    with torch.no_grad(), torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        fact, _ = loss.factual_terms(model, x, a, valid.y.to(dev), valid.delta.to(dev))
        cf, _ = loss.factual_terms(model, x, 1 - a, y_cf.to(dev), d_cf.to(dev))
    return float(sum(fact.values()) + sum(cf.values()))


def selection_horizon(train: SurvivalData) -> float:
    """The horizon of rule "dr": the smaller of the two arms' 90th percentile of the training durations
    (as :meth:`pyrocsa.DoublyRobust.default_horizon`), in the duration unit."""
    y, a = train.y.double().numpy(), train.a.numpy()
    return float(min(np.quantile(y[a == arm], 0.9) for arm in (0, 1)))


def effect_errors(model, valid: SurvivalData, pseudo_outcomes: np.ndarray, horizon: float) -> np.ndarray:
    """Per validation row, ``(tau(x_i) - phi_i)^2`` (N_valid,): ``tau`` the model's exact individual RMST
    effect at ``horizon`` (:meth:`pyrocsa.csa.distributions.FlowTime.rmst`), ``phi`` (N_valid,) the doubly
    robust pseudo-outcomes. Duration unit squared."""
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        x = valid.x.to(dev)
        r = model.representation(x)
        tau = model.time_dist(r, x, 1).rmst(horizon) - model.time_dist(r, x, 0).rmst(horizon)
    return (tau.double().cpu().numpy() - pseudo_outcomes) ** 2


def effect_score(model, valid: SurvivalData, pseudo_outcomes: np.ndarray, horizon: float) -> float:
    """D(tau) = the mean of :func:`effect_errors` (lower is better)."""
    return float(np.mean(effect_errors(model, valid, pseudo_outcomes, horizon)))


def one_se_choice(errors: dict[float, np.ndarray]) -> float:
    """The smallest alpha whose mean error is within one standard error of the lowest one.

    ``errors`` maps alpha -> per-row errors on the same rows. The standard error is that of the paired
    difference ``errors[alpha] - errors[best]`` over rows. This is the one-standard-error rule (Breiman et
    al. 1984; Hastie, Tibshirani & Friedman 2009, section 7.10): among the candidates the data cannot
    tell apart, keep the simplest, here the least balancing. The IPM must earn its place.
    """
    best = min(errors, key=lambda k: (float(np.mean(errors[k])), k))
    for alpha in sorted(errors):
        diff = errors[alpha] - errors[best]
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
        if float(diff.mean()) <= se:
            return alpha
    return best


def select_alpha(fit, loss, train: SurvivalData, valid: SurvivalData, grid, seed: int = 0,
                 rule: str = "dr") -> AlphaSelection:
    """Fit once per alpha in ``grid`` with ``fit(alpha) -> (model, history)`` and keep one:

    * rule ``"dr"``: the smallest alpha whose :func:`effect_score` against doubly robust pseudo-outcomes is
      within one paired standard error of the lowest (:func:`one_se_choice`);
    * rule ``"nn-proxy"``: the lowest :func:`validation_score` under ``loss`` (the objective without the
      IPM) with nearest-neighbour proxy counterfactuals (the paper's rule; ties keep the smaller alpha).

    ``scores`` holds each alpha's mean score."""
    grid = sorted({float(g) for g in grid}) if grid is not None else []
    if not grid or any(not np.isfinite(g) or g < 0 for g in grid):
        raise ArgumentError(f"alpha grid must be a non-empty list of numbers >= 0, got {grid}")
    if rule not in RULES:
        raise ArgumentError(f"rule must be one of {RULES}, got {rule!r}")
    horizon = None
    if rule == "dr":
        horizon = selection_horizon(train)
        rows = [tuple(v.double().numpy() for v in (d.x, d.y, d.delta, d.a)) for d in (train, valid)]
        try:
            phi = rmst_difference_pseudo_outcomes(rows[0], rows[1], horizon)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as err:  # a degenerate arm
            raise DataError(f"the doubly robust effect score of alpha selection could not fit its Cox "
                             f"nuisance models on the training rows ({type(err).__name__}: {err}); pass a "
                             "number for alpha, or alpha='nn-proxy'") from None
    else:
        y_cf, d_cf = proxy_counterfactuals(train, valid)
    scores, errors, fits = {}, {}, {}
    for alpha in grid:
        model, history = fit(alpha)
        if rule == "dr":
            errors[alpha] = effect_errors(model, valid, phi, horizon)
            score = float(np.mean(errors[alpha]))
        else:
            score = validation_score(model, loss, valid, y_cf, d_cf, seed=seed)
        if not np.isfinite(score):
            raise RuntimeError(f"alpha={alpha:g}: the validation score is not finite ({score})")
        scores[alpha] = score
        fits[alpha] = (model, history)
    chosen = one_se_choice(errors) if rule == "dr" else min(grid, key=lambda k: (scores[k], k))
    return AlphaSelection(alpha=chosen, scores=scores, model=fits[chosen][0], history=fits[chosen][1],
                          rule=rule, horizon=horizon)
