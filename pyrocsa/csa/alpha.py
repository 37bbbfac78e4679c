"""Selection of the IPM weight alpha with nearest-neighbour proxy counterfactuals (the paper's section 5).

Validation subjects have no observed counterfactual outcome. The paper approximates one for each validation
subject by the observed (time, event) of its Euclidean nearest neighbour -- in preprocessed covariates --
among the *training* subjects of the other arm. One model is fitted per alpha in a grid (default
{0, 0.1, 1, 10, 100}) and the alpha with the smallest validation loss

    L = L_F(valid; y, delta, a) + L_CF(valid; y_cf, delta_cf, 1 - a)

is kept, where both terms are the fitted objective's factual losses (no IPM term), evaluated in eval mode
with common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.neighbors import NearestNeighbors

from pyrocsa.data.frame import SurvivalData

__all__ = ["proxy_counterfactuals", "validation_score", "select_alpha", "AlphaSelection"]


@dataclass
class AlphaSelection:
    alpha: float
    scores: dict[float, float]
    model: torch.nn.Module
    history: list[dict]


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
            raise ValueError(f"the training data have no subjects in arm {int(1 - arm)}")
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


def select_alpha(fit, loss, train: SurvivalData, valid: SurvivalData, grid, seed: int = 0) -> AlphaSelection:
    """Fit once per alpha in ``grid`` with ``fit(alpha) -> (model, history)``; keep the alpha whose model has
    the best :func:`validation_score` under ``loss`` (the objective without the IPM)."""
    grid = [float(g) for g in grid]
    if not grid or any(g < 0 for g in grid):
        raise ValueError(f"alpha grid must be a non-empty list of numbers >= 0, got {grid}")
    y_cf, d_cf = proxy_counterfactuals(train, valid)
    scores, best = {}, None
    for alpha in grid:
        model, history = fit(alpha)
        score = validation_score(model, loss, valid, y_cf, d_cf, seed=seed)
        scores[alpha] = score
        if best is None or score < best[0]:
            best = (score, alpha, model, history)
    return AlphaSelection(alpha=best[1], scores=scores, model=best[2], history=best[3])
