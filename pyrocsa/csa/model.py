"""The CSA / CSA-INFO generative model (Chapfuwa et al., CHIL 2021) as a :class:`PyroModule` with exact
event- and censoring-time densities.

Generative story, for N subjects with preprocessed covariates x (N, p):

    r        = Phi(x)                                       encoder, site "representation" (N, k)
    theta_a  = h_a(r),  a in {0, 1}                         per-arm head: (loc, log scale, K planar layers)
    t_a      ~ FlowTime(theta_a)                            sites "t0", "t1": potential event times
    kappa_a  = g_a(r)                                       per-arm censoring head (CSA-INFO only)
    c_a      ~ FlowTime(kappa_a)                            sites "c0", "c1": potential censoring times
    t, c     = t_A, c_A                                     sites "t", "c" (when the treatment A is given)

FlowTime (:class:`pyrocsa.distributions.FlowTime`) is log T = loc + scale * P_K(...P_1(eps)), eps ~
Normal(0, 1), with 1-D planar layers whose parameters depend on r (a conditional flow, so the *shape* of
the time law, not only its location and scale, varies with the covariates). All sites sit inside
``pyro.plate("subjects", N)``; times are in the data's duration unit.

Scoring data: with ``duration`` and ``event`` given, the same sites are observed. Arm a's event site scores
the rows that received arm a (``poutine.mask``) with the right-censored likelihood
(:class:`pyrocsa.distributions.RightCensored`): log f_a(y | x) for events, log S_a(y | x) for censored
rows; CSA-INFO's censoring site mirrors it (log density of the censoring time for censored rows, log
survival of C for events). The trace's ``log_prob_sum()`` is the log-likelihood that
:class:`pyrocsa.losses.CSALoss` trains, so the model that samples is the model that is fitted.

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

__all__ = ["CSAModel", "ArmHead"]

_LOG_SCALE_RANGE = (-7.0, 3.0)  # scale of log-time in standardised units: e^-7 .. e^3


class ArmHead(nn.Module):
    """One arm's conditional flow parameters from the representation r (..., k).

    One hidden block (``hidden`` units, LeakyReLU) and a linear output of 2 + 3K numbers: loc, log scale
    and K unconstrained planar triples. The output layer starts at zero: loc = 0, scale = 1 and identity
    layers, i.e. the standardised log-time is Normal(0, 1) for every subject at initialisation.
    """

    def __init__(self, r_dim: int, hidden: int, flow_layers: int, dropout: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        self.flow_layers = int(flow_layers)
        self.block = _Block(r_dim, int(hidden), dropout, batch_norm, 0.2)
        self.out = nn.Linear(int(hidden), 2 + 3 * self.flow_layers)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, r: torch.Tensor):
        """Returns ``(loc (...,), scale (...,), [(c, w, m), ...])`` in standardised log-time units."""
        h = self.out(self.block(r))
        loc, log_scale = h[..., 0], h[..., 1].clamp(*_LOG_SCALE_RANGE)
        raw = h[..., 2:].reshape(*h.shape[:-1], self.flow_layers, 3)
        layers = [planar_params(raw[..., k, :]) for k in range(self.flow_layers)]
        return loc, log_scale.exp(), layers


class CSAModel(PyroModule):
    """CSA (``informative_censoring=False``) or CSA-INFO (``True``) with exact likelihoods.

    Parameters
    ----------
    n_features : number of preprocessed covariates p.
    informative_censoring : add the per-arm censoring generators (CSA-INFO).
    hidden : encoder widths; the representation has ``hidden[-1]`` dimensions and each arm head one
        hidden layer of that width.
    flow_layers : K, planar layers per time law.
    dropout, batch_norm : regularisation of every hidden layer. Batch normalisation is off by default:
        measured on ACTG (benchmarks/calibration_km.py) its train/eval mismatch shifted the marginal
        survival by up to 0.07 from the Kaplan-Meier, and it lowered the validation likelihood on
        actg-Synthetic.
    log_time_loc, log_time_scale : the standardisation of log-time (mean and SD of the training
        log-durations); the heads work in standardised units, the sites in the duration unit.
    """

    def __init__(self, n_features: int, informative_censoring: bool = True, hidden=(100, 100),
                 flow_layers: int = 4, dropout: float = 0.2, batch_norm: bool = False,
                 log_time_loc: float = 0.0, log_time_scale: float = 1.0):
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if not log_time_scale > 0:
            raise ValueError(f"log_time_scale must be > 0, got {log_time_scale}")
        if int(flow_layers) < 0:
            raise ValueError(f"flow_layers must be >= 0, got {flow_layers}")
        self.n_features = int(n_features)
        self.informative_censoring = bool(informative_censoring)
        self.flow_layers = int(flow_layers)
        self.encoder = Encoder(n_features, hidden, dropout, batch_norm)
        k = self.encoder.out_dim
        width = int(tuple(hidden)[-1]) if len(tuple(hidden)) else 100

        def heads():
            return nn.ModuleList([ArmHead(k, width, flow_layers, dropout, batch_norm) for _ in range(2)])

        self.event_heads = heads()
        if self.informative_censoring:
            self.censor_heads = heads()
        self.register_buffer("log_time_loc", torch.tensor(float(log_time_loc)))
        self.register_buffer("log_time_scale", torch.tensor(float(log_time_scale)))

    @property
    def time_scale(self) -> float:
        """exp(log_time_loc): the geometric mean training duration, in the duration unit."""
        return float(self.log_time_loc.exp())

    # -- the pieces of the generative story -------------------------------------------------------------
    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """r = Phi(x): (N, p) -> (N, k)."""
        return self.encoder(x)

    def time_dist(self, r: torch.Tensor, arm: int, kind: str = "t") -> FlowTime:
        """The law of T_arm (``kind="t"``) or C_arm (``"c"``) given r (N, k): a FlowTime, batch (N,)."""
        if kind == "c" and not self.informative_censoring:
            raise ValueError("this model has no censoring generators (informative_censoring=False)")
        heads = self.event_heads if kind == "t" else self.censor_heads
        loc, scale, layers = heads[arm](r)
        sd = self.log_time_scale
        return FlowTime(self.log_time_loc + sd * loc, sd * scale, layers)

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
            raise ValueError(f"x must be (N, p), got shape {tuple(x.shape)}")
        scoring = duration is not None
        if scoring and (treatment is None or event is None):
            raise ValueError("scoring data needs treatment, duration and event")
        r = self.representation(x)
        out = {}
        with pyro.plate("subjects", x.shape[0], dim=-1):
            pyro.deterministic("representation", r, event_dim=1)
            for kind in self.kinds():
                for arm in (0, 1):
                    name = f"{kind}{arm}"
                    law = self.time_dist(r, arm, kind)
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
