"""The CSA / CSA-INFO generative model (Chapfuwa et al., CHIL 2021) as a :class:`PyroModule` with exact
event- and censoring-time densities.

Generative story, for N subjects with preprocessed covariates x (N, p)::

    r        = Phi(x)                                       encoder, site "representation" (N, k)
    theta_a  = h_a(r, x),  a in {0, 1}                      per-arm head: loc (network + linear in x),
                                                            log scale, K conditional planar layers, and K
                                                            outer planar layers of its own (with
                                                            baseline="steps", a step baseline under them:
                                                            pyrocsa.csa.warp)
    t_a      ~ FlowTime(theta_a)                            sites "t0", "t1": potential event times
    kappa_a  = g_a(r, x)                                    per-arm censoring head (CSA-INFO only)
    c_a      ~ FlowTime(kappa_a)                            sites "c0", "c1": potential censoring times
    t, c     = t_A, c_A                                     sites "t", "c" (when the treatment A is given)

FlowTime (:class:`pyrocsa.csa.distributions.FlowTime`) is log T = shift + spread * O(loc + scale * P(-g)),
g ~ Gumbel(0, 1): with the conditional layers P at the identity and a constant scale it is a Cox model
whose baseline hazard is the outer layers O and whose log hazard ratio is -loc(x) / scale; the conditional
layers, whose parameters depend on r, let the *shape* of the time law vary with the covariates. Each head's
location has a linear term beta_a' x beside the network, so the Cox model with a linear predictor is
inside the family exactly (the estimator starts it there: :mod:`pyrocsa.csa.cox_start`). All sites sit
inside ``pyro.plate("subjects", N)``; times are in the data's duration unit. Past the end of follow-up (the
largest training duration) each law continues by the package's end-of-follow-up rule
(:mod:`pyrocsa.core.tail`), which no training time reaches.

Scoring data: with ``duration`` and ``event`` given, the same sites are observed. Arm a's event site scores
the rows that received arm a (``poutine.mask``) with the right-censored likelihood
(:class:`pyrocsa.csa.distributions.RightCensored`): log f_a(y | x) for events, log S_a(y | x) for censored
rows; CSA-INFO's censoring site mirrors it (log density of the censoring time for censored rows, log
survival of C for events). The trace's ``log_prob_sum()`` is the log-likelihood that
:class:`pyrocsa.csa.losses.CSALoss` trains, so the model that samples is the model that is fitted.

Counterfactuals: without data the model samples both arms; ``poutine.condition`` / ``Predictive`` work as on
any Pyro model, and a user's model can call this one as a sub-model and use ``"t1"`` downstream.
"""

from __future__ import annotations

import pyro
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch import nn

from pyrocsa.core.nn import Encoder, _Block
from pyrocsa.csa.distributions import FlowTime, RightCensored
from pyrocsa.csa.flows import planar_params
from pyrocsa.csa.warp import MAX_PIECES, HazardWarp, fit_warp
from pyrocsa.errors import ArgumentError, DataError

__all__ = ["CSAModel", "ArmHead"]

_LOG_SCALE_RANGE = (-7.0, 3.0)  # scale of log-time in standardised units: e^-7 .. e^3


class ArmHead(nn.Module):
    """One arm's flow parameters from the representation r (..., k) and the covariates x (..., p).

    One hidden block (``hidden`` units, LeakyReLU) and a linear output of 2 + 3K numbers: loc, log scale
    and K unconstrained planar triples; a linear term ``linear`` (p -> 1) added to loc; and K outer planar
    triples ``outer`` (K, 3) that do not depend on the subject. Every output starts at zero: loc = 0,
    scale = 1 and identity layers, i.e. the standardised log-time is a minimum-Gumbel law (T Weibull) for
    every subject at initialisation.
    """

    def __init__(self, r_dim: int, n_features: int, hidden: int, flow_layers: int, dropout: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        self.flow_layers = int(flow_layers)
        self.linear = nn.Linear(int(n_features), 1)
        self.block = _Block(r_dim, int(hidden), dropout, batch_norm, 0.2)
        self.out = nn.Linear(int(hidden), 2 + 3 * self.flow_layers)
        self.outer = nn.Parameter(torch.zeros(self.flow_layers, 3))
        # the baseline's piecewise-constant hazard (pyrocsa.csa.warp); 0 pieces: none, the standardisation
        self.register_buffer("warp_knots", torch.zeros(MAX_PIECES - 1))
        self.register_buffer("warp_log_rates", torch.zeros(MAX_PIECES))
        self.register_buffer("warp_pieces", torch.zeros((), dtype=torch.long))
        for layer in (self.linear, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, r: torch.Tensor, x: torch.Tensor):
        """Returns ``(loc (...,), scale (...,), [(c, w, m), ...] conditional, [(c, w, m), ...] outer, warp)``
        in standardised log-time units; ``warp`` is the head's step baseline or None (:meth:`warp`)."""
        return self.flow_params(self.out(self.block(r)), self.linear(x)[..., 0], self.outer)

    def flow_params(self, h: torch.Tensor, linear: torch.Tensor, outer: torch.Tensor):
        """The flow parameters from the head's raw numbers: ``h`` (..., 2 + 3K) the output layer's values,
        ``linear`` (...) the linear term beta' x + b, ``outer`` (..., K, 3) the unconstrained outer
        triples (broadcast against the subjects). :meth:`forward` is ``flow_params(out(block(r)),
        linear(x), outer)``; the posterior (:mod:`pyrocsa.csa.posterior`) calls it with drawn values."""
        loc = h[..., 0] + linear
        log_scale = h[..., 1].clamp(*_LOG_SCALE_RANGE)
        raw = h[..., 2:].reshape(*h.shape[:-1], self.flow_layers, 3)
        layers = [planar_params(raw[..., k, :]) for k in range(self.flow_layers)]
        outer = [planar_params(outer[..., k, :]) for k in range(self.flow_layers)]
        return loc, log_scale.exp(), layers, outer, self.warp()

    def warp(self) -> HazardWarp | None:
        """The head's step baseline (:mod:`pyrocsa.csa.warp`), the map of its flow just before the log-time
        standardisation, or ``None`` (``baseline="smooth"``, or too few observed times): the flow without
        it."""
        if int(self.warp_pieces) < 1:
            return None
        return HazardWarp(self.warp_knots, self.warp_log_rates)

    def set_warp(self, time, observed, eta=None) -> int:
        """Fit the step baseline to this head's training rows (``time`` (n,) in the warp's standardised
        time s, ``observed`` (n,) 1 where this head's time was seen, ``eta`` (n,) its Cox linear predictor):
        :func:`pyrocsa.csa.warp.fit_warp`. Returns the number of pieces (0: none)."""
        fitted = fit_warp(time, observed, eta)
        with torch.no_grad():
            if fitted is None:
                self.warp_pieces.fill_(0)
                return 0
            knots, log_rates, pieces = fitted
            self.warp_knots.copy_(knots.to(self.warp_knots))
            self.warp_log_rates.copy_(log_rates.to(self.warp_log_rates))
            self.warp_pieces.fill_(pieces)
        return pieces

    def freeze_linear(self) -> None:
        """Fix the linear term at its current value: its weight and bias become buffers (same
        ``state_dict`` keys), so no optimiser moves them and Pyro's handlers do not try to register
        them as parameters."""
        for name in ("weight", "bias"):
            value = getattr(self.linear, name).detach().clone()
            delattr(self.linear, name)
            self.linear.register_buffer(name, value)

    def unconditional_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters that do not depend on the subject (output and linear biases, outer layers): what
        the baseline stage of :mod:`pyrocsa.csa.cox_start` fits."""
        return [self.out.bias, self.linear.bias, self.outer]


class CSAModel(PyroModule):
    """CSA (``informative_censoring=False``) or CSA-INFO (``True``) with exact likelihoods.

    Parameters
    ----------
    n_features : number of preprocessed covariates p.
    informative_censoring : add the per-arm censoring generators (CSA-INFO).
    hidden : encoder widths; the representation has ``hidden[-1]`` dimensions and each arm head one
        hidden layer of that width.
    flow_layers : K, conditional planar layers per time law (and K outer layers per head).
    dropout, batch_norm : regularisation of every hidden layer. Batch normalisation is off by default:
        its train/eval mismatch shifts the marginal survival away from the Kaplan-Meier.
    log_time_loc, log_time_scale : the standardisation of log-time (mean and SD of the training
        log-durations); the heads work in standardised units, the sites in the duration unit.
    end_of_follow_up : the largest training duration (duration unit; buffer ``end_of_follow_up``), past
        which every time law follows the end-of-follow-up piece (:mod:`pyrocsa.core.tail`); ``None``
        (inf): the flows everywhere. The estimator sets it for the likelihood objective.
    """

    def __init__(self, n_features: int, informative_censoring: bool = True, hidden=(100, 100),
                 flow_layers: int = 4, dropout: float = 0.2, batch_norm: bool = False,
                 log_time_loc: float = 0.0, log_time_scale: float = 1.0,
                 end_of_follow_up: float | None = None):
        super().__init__()
        if n_features < 1:
            raise ArgumentError(f"n_features must be >= 1, got {n_features}")
        if not log_time_scale > 0:
            raise ArgumentError(f"log_time_scale must be > 0, got {log_time_scale}")
        if int(flow_layers) < 0:
            raise ArgumentError(f"flow_layers must be >= 0, got {flow_layers}")
        self.n_features = int(n_features)
        self.informative_censoring = bool(informative_censoring)
        self.flow_layers = int(flow_layers)
        self.encoder = Encoder(n_features, hidden, dropout, batch_norm)
        k = self.encoder.out_dim
        width = int(tuple(hidden)[-1]) if len(tuple(hidden)) else 100

        def arm_heads():
            return nn.ModuleList([ArmHead(k, n_features, width, flow_layers, dropout, batch_norm)
                                  for _ in range(2)])

        self.event_heads = arm_heads()
        if self.informative_censoring:
            self.censor_heads = arm_heads()
        self.register_buffer("log_time_loc", torch.tensor(float(log_time_loc)))
        self.register_buffer("log_time_scale", torch.tensor(float(log_time_scale)))
        end = float("inf") if end_of_follow_up is None else float(end_of_follow_up)
        if not end > 0:
            raise ArgumentError(f"end_of_follow_up must be a positive time or None, got {end_of_follow_up!r}")
        self.register_buffer("end_of_follow_up", torch.tensor(end))

    @property
    def time_scale(self) -> float:
        """exp(log_time_loc): the geometric mean training duration, in the duration unit."""
        return float(self.log_time_loc.exp())

    # -- the pieces of the generative story -------------------------------------------------------------
    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """r = Phi(x): (N, p) -> (N, k)."""
        return self.encoder(x)

    def time_dist(self, r: torch.Tensor, x: torch.Tensor, arm: int, kind: str = "t") -> FlowTime:
        """The law of T_arm (``kind="t"``) or C_arm (``"c"``) given r (N, k) and x (N, p): a FlowTime,
        batch (N,)."""
        if kind == "c" and not self.informative_censoring:
            raise ArgumentError("this model has no censoring generators (informative_censoring=False)")
        heads = self.event_heads if kind == "t" else self.censor_heads
        return self.flow_time(*heads[arm](r, x))

    def flow_time(self, loc, scale, layers, outer, warp=None) -> FlowTime:
        """The FlowTime of flow parameters in standardised units (:meth:`ArmHead.flow_params`, with the
        head's time warp), with this model's log-time standardisation and end of follow-up."""
        return FlowTime(loc, scale, layers, outer, self.log_time_loc, self.log_time_scale,
                        end=self.end_of_follow_up, warp=warp)

    def heads(self):
        """(kind, arm, head) for every time law of the model."""
        for kind in self.kinds():
            for arm in (0, 1):
                yield kind, arm, (self.event_heads if kind == "t" else self.censor_heads)[arm]

    def kinds(self) -> tuple[str, ...]:
        return ("t", "c") if self.informative_censoring else ("t",)

    # -- the Pyro model ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, treatment: torch.Tensor | None = None,
                duration: torch.Tensor | None = None, event: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """Sample (no ``duration``) or score (``duration`` and ``event`` given) the potential times.

        x : (N, p) preprocessed covariates; treatment : (N,) 0/1 (needed to score data; when sampling it
        adds the factual sites "t", "c"); duration : (N,) observed times (duration unit); event : (N,) 0/1.
        Returns a dict of the sites' values (sampled, or the observed durations when scoring).
        """
        if x.dim() != 2:
            raise DataError(f"x must be (N, p), got shape {tuple(x.shape)}")
        scoring = duration is not None
        if scoring and (treatment is None or event is None):
            raise ArgumentError("scoring data needs treatment, duration and event")
        r = self.representation(x)
        out = {}
        with pyro.plate("subjects", x.shape[0], dim=-1):
            pyro.deterministic("representation", r, event_dim=1)
            for kind in self.kinds():
                for arm in (0, 1):
                    name = f"{kind}{arm}"
                    law = self.time_dist(r, x, arm, kind)
                    if scoring:
                        observed = event if kind == "t" else 1.0 - event
                        with poutine.mask(mask=(treatment > 0.5) == bool(arm)):
                            out[name] = pyro.sample(name, RightCensored(law, observed), obs=duration)
                    else:
                        out[name] = pyro.sample(name, law)
                if treatment is not None and not scoring:
                    treated = treatment.to(x.device) > 0.5
                    out[kind] = pyro.deterministic(kind, torch.where(treated, out[f"{kind}1"],
                                                                     out[f"{kind}0"]))
        return out
