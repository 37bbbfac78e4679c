"""Objectives for CSA / CSA-INFO: the right-censored log-likelihood of the Pyro model (default), the paper's
losses (eqs. 8-11), and the IPM balancing term (eq. 6), as one callable :class:`CSALoss`.

Likelihood objective (``objective="likelihood"``, the default). The loss is the negative log-likelihood of
the minibatch under :class:`pyrocsa.csa.model.CSAModel`, read from the model's own Pyro trace
(``poutine.trace(model).get_trace(x, a, y, delta).log_prob_sum()``):

    event term      -(1/M) sum_i [ delta_i log f_{a_i}(y_i | x_i) + (1 - delta_i) log S_{a_i}(y_i | x_i) ]
    censoring term  -(1/M) sum_i [ (1 - delta_i) log g_{a_i}(y_i | x_i) + delta_i log G_{a_i}(y_i | x_i) ]

(the second for CSA-INFO only, with g, G the censoring generator's density and survival). Under T
independent of C given (X, A) this is the log score of the right-censored observation: a strictly proper
scoring rule that needs no censoring weights (Rindt et al., AISTATS 2022, show that survival-CRPS and
IPCW Brier scores are not proper in general). It is in units of log-duration per subject.

Paper objective (``objective="paper"``), one reparameterised draw t ~ T_a, c ~ C_a per subject, times
divided by the model's time scale:

* event loss (8):      delta |y - t| + (1 - delta) max(0, y - t)
* censoring loss (9):  (1 - delta) |y - c| + delta max(0, y - c)
* time order (10):     delta max(0, t - c) + (1 - delta) max(0, c - t)

An absolute error is minimised by a point mass at the conditional median, so this objective does not
reward spread (the paper's model is nearly deterministic); it is kept to reproduce the paper's tables.

Either objective adds ``alpha`` x the Wasserstein IPM between the treated and control representations of
the minibatch (:func:`pyrocsa.core.ipm.wasserstein_ipm`).

Why a plain optimiser loop instead of ``pyro.infer.SVI``: there are no latent variables to infer (the model
is fitted by maximum likelihood), the IPM is not part of a probabilistic model, and the loop needs
train/eval switching, early stopping with best-weight restore, clipping and per-component history (see
:mod:`pyrocsa.core.training`).
"""

from __future__ import annotations

import torch
from pyro import poutine

from pyrocsa.core.ipm import wasserstein_ipm
from pyrocsa.errors import ArgumentError

__all__ = ["event_loss", "censoring_loss", "time_order_loss", "CSALoss", "OBJECTIVES"]

OBJECTIVES = ("likelihood", "paper")


def event_loss(t: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (8) per draw and subject: delta |y - t| + (1 - delta) max(0, y - t); t (..., N), y, delta (N,)."""
    return delta * (y - t).abs() + (1 - delta) * torch.relu(y - t)


def censoring_loss(c: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (9): (1 - delta) |y - c| + delta max(0, y - c)."""
    return (1 - delta) * (y - c).abs() + delta * torch.relu(y - c)


def time_order_loss(t: torch.Tensor, c: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. (10): delta max(0, t - c) + (1 - delta) max(0, c - t)."""
    return delta * torch.relu(t - c) + (1 - delta) * torch.relu(c - t)


class CSALoss:
    """The CSA training objective, ``loss(model, x, a, y, delta) -> (total, components)``.

    Parameters
    ----------
    objective : ``"likelihood"`` (right-censored log-likelihood of the model's trace) or ``"paper"``.
    alpha : weight of the Wasserstein IPM between the treated and control representations (>= 0).
    tc_weight : weight of the paper's time-order loss (10) (``objective="paper"``, CSA-INFO only).

    ``model`` is a :class:`pyrocsa.csa.model.CSAModel`; ``x`` (M, p), ``a``, ``y``, ``delta`` (M,) float
    tensors, ``y`` in the duration unit. Components (floats): ``event``, ``censoring`` (CSA-INFO),
    ``time_order`` (paper), ``ipm`` (alpha > 0), ``factual`` (everything but the IPM: what early stopping
    monitors) and ``total``.
    """

    def __init__(self, objective: str = "likelihood", alpha: float = 0.0, tc_weight: float = 1.0):
        if objective not in OBJECTIVES:
            raise ArgumentError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not alpha >= 0:
            raise ArgumentError(f"alpha must be >= 0, got {alpha}")
        self.objective = objective
        self.alpha = float(alpha)
        self.tc_weight = float(tc_weight)

    def factual_terms(self, model, x, a, y, delta) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Mean loss terms (scalar tensors) of the observed outcome (y, delta) under arm a, and the
        representation r (M, k) of the minibatch."""
        if self.objective == "likelihood":
            trace = poutine.trace(model).get_trace(x, a, y, delta)
            trace.compute_log_prob(site_filter=lambda name, site: site["type"] == "sample")
            m = x.shape[0]
            terms = {"event": -(trace.nodes["t0"]["log_prob_sum"] + trace.nodes["t1"]["log_prob_sum"]) / m}
            if model.informative_censoring:
                terms["censoring"] = -(trace.nodes["c0"]["log_prob_sum"]
                                       + trace.nodes["c1"]["log_prob_sum"]) / m
            return terms, trace.nodes["representation"]["value"]
        r = model.representation(x)
        treated = a > 0.5
        scale = model.time_scale
        ys = y / scale

        def factual(kind):
            return torch.where(treated, model.time_dist(r, x, 1, kind).rsample(),
                               model.time_dist(r, x, 0, kind).rsample()) / scale

        t = factual("t")
        terms = {"event": event_loss(t, ys, delta).mean()}
        if model.informative_censoring:
            c = factual("c")
            terms["censoring"] = censoring_loss(c, ys, delta).mean()
            terms["time_order"] = self.tc_weight * time_order_loss(t, c, delta).mean()
        return terms, r

    def __call__(self, model, x, a, y, delta):
        terms, r = self.factual_terms(model, x, a, y, delta)
        factual = sum(terms.values())
        total = factual
        if self.alpha > 0:
            ipm = wasserstein_ipm(r, a)
            terms["ipm"] = ipm
            total = total + self.alpha * ipm
        comps = {k: float(v.detach()) for k, v in terms.items()}
        comps["factual"] = float(factual.detach())
        comps["total"] = float(total.detach())
        return total, comps
