"""The CSA / CSA-INFO generative model (Chapfuwa et al., CHIL 2021, section 3) as a :class:`PyroModule`.

Generative story, for N subjects with preprocessed covariates x (N, p) and, optionally, treatments a (N,):

    r          = Phi(x)                                   encoder, (N, k)
    eps_t      ~ Uniform(0,1)^d through a planar flow     site "eps_t", (N, d)        (eq. 7)
    t_a        = s * g(h_a(r, eps_t)),  a in {0, 1}       sites "t0", "t1", (N,)       potential event times
    eps_c      ~ Uniform(0,1)^d through a second flow     site "eps_c"                 (CSA-INFO only)
    c_a        = s * g(nu_a(r, eps_c))                    sites "c0", "c1"             censoring times
    t, c       = t_a, c_a at the received arm             sites "t", "c"               (only when a is given)

``s`` is the fitted time scale (the mean training duration), so the networks work with O(1) numbers and
the sites are in the data's duration unit; the link g is exp (the paper's) or softplus.
Both arms share one noise draw per subject (the paper's single
eps_h), so t0 and t1 are coupled draws; each arm has its own generator network (twin nets, as in CEVAE).
All sites sit inside ``pyro.plate("subjects", N)``; the times are ``pyro.deterministic`` sites, so a user's
own Pyro model can call the model as a sub-model and use e.g. ``"t1"`` downstream.

Two generator structures (``generator=``):

* ``"paper"``: h_a(r, eps~) = a hidden layer on r, concatenated with eps~, a second layer, a linear output
  (the paper's SM D.4). Every quantile of T is a free function of x, including the part beyond the last
  follow-up, which no censored-data objective scores.
* ``"location-scale"``: h_a(r, eps~) = mu_a(r) + sigma_a * z(eps~) (sigma_a one number per arm, or
  sigma_a(r) with ``shared_scale=False``), with z = an MLP of the planar-flow noise that sees no
  covariates. An accelerated-failure-time generator whose error law is learned: the shape of the law,
  observed in full for subjects with short times, carries the extrapolation for subjects censored early.
  With the softplus link, T ~ s exp(mu + sigma z) for short times (log-linear, Weibull-like) and
  T ~ s (mu + sigma z) for long ones (additive, a tail that does not blow up). Measured on actg-Synthetic
  (benchmarks/csa_actg_synthetic.py) it is what lets the scoring-rule objective train to convergence.

The noise has no density (the flow is not invertible): the model is fitted with the sample-based losses in
:mod:`pyrocsa.losses`, never by conditioning the sites on data.
"""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule

from .flows import PlanarFlow, planar_noise
from .nn import ArmGenerator, Encoder, LocationScaleArm, NoiseShape

__all__ = ["CSAModel"]

GENERATORS = ("paper", "location-scale")
ERROR_LAWS = ("shared", "per-arm")
_LOG_TIME_CLAMP = 30.0  # exp(30) ~ 1e13 time scales: a guard against overflow, never reached in practice


class CSAModel(PyroModule):
    """CSA (``informative_censoring=False``) or CSA-INFO (``True``).

    Parameters
    ----------
    n_features : number of preprocessed covariates p.
    informative_censoring : add the censoring generators nu_0, nu_1 and their flow (CSA-INFO).
    encoder_hidden : encoder widths (paper: (100, 100)); the representation has ``encoder_hidden[-1]`` dims.
    generator_hidden : the two generator widths, before and after the noise enters (paper: (100, 200)).
    noise_dim : d, the noise dimension (paper: 100).
    dropout, batch_norm : regularisation of every hidden layer (paper: 0.2, on).
    early_noise : also feed the noise into the generators' first layer.
    time_scale : s, in the duration unit (set by the estimator to the mean training duration).
    link : output link, ``"exp"`` (the paper's: noise acts multiplicatively on time, log-location family)
        or ``"softplus"`` (linear for long times: noise acts additively, lighter extrapolated tails).
    generator : ``"paper"`` or ``"location-scale"`` (see the module docstring).
    shared_scale : location-scale only: one sigma per arm (True) or sigma_a(r) (False).
    linear_skip : location-scale only: add a linear term of the covariates to each arm's location,
        mu_a = MLP_a(r) + w_a^T x (a "wide" path beside the deep one).
    error_law : location-scale only: ``"shared"`` (one error law z for both arms) or ``"per-arm"`` (z_a, so
        the two arms' time distributions can differ in shape, not only in location and scale).
    """

    def __init__(self, n_features: int, informative_censoring: bool = True, encoder_hidden=(100, 100),
                 generator_hidden=(100, 200), noise_dim: int = 100, dropout: float = 0.2,
                 batch_norm: bool = True, early_noise: bool = False, time_scale: float = 1.0,
                 link: str = "exp", generator: str = "paper", shared_scale: bool = True,
                 linear_skip: bool = False, error_law: str = "shared"):
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        if link not in ("exp", "softplus"):
            raise ValueError(f"link must be 'exp' or 'softplus', got {link!r}")
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
        if error_law not in ERROR_LAWS:
            raise ValueError(f"error_law must be one of {ERROR_LAWS}, got {error_law!r}")
        self.error_law = error_law
        self.link = link
        self.generator = generator
        self.shared_scale = bool(shared_scale)
        self.linear_skip = bool(linear_skip) and generator == "location-scale"
        self.n_features = int(n_features)
        self.informative_censoring = bool(informative_censoring)
        self.noise_dim = int(noise_dim)
        self.encoder = Encoder(n_features, encoder_hidden, dropout, batch_norm)
        k = self.encoder.out_dim
        gen = dict(hidden=tuple(generator_hidden), dropout=dropout, batch_norm=batch_norm,
                   early_noise=early_noise)
        self.event_flow = PlanarFlow(noise_dim)
        self.event_nets = self._arm_nets(k, noise_dim, gen)
        if generator == "location-scale":
            self.event_shape = self._error_law(noise_dim, generator_hidden, batch_norm)
        if self.informative_censoring:
            self.censor_flow = PlanarFlow(noise_dim)
            self.censor_nets = self._arm_nets(k, noise_dim, gen)
            if generator == "location-scale":
                self.censor_shape = self._error_law(noise_dim, generator_hidden, batch_norm)
        self.register_buffer("log_time_scale", torch.tensor(float(time_scale)).log())

    def _error_law(self, noise_dim, generator_hidden, batch_norm):
        """The location-scale error law z(eps~): one for both arms, or one per arm (a ModuleList)."""
        def make():
            return NoiseShape(noise_dim, (int(generator_hidden[1]),), batch_norm)
        return make() if self.error_law == "shared" else torch.nn.ModuleList([make(), make()])

    def _arm_nets(self, k, noise_dim, gen):
        if self.generator == "location-scale":
            arms = [LocationScaleArm(k, gen["hidden"][0], gen["dropout"], gen["batch_norm"],
                                     shared_scale=self.shared_scale,
                                     skip_dim=self.n_features if self.linear_skip else 0) for _ in range(2)]
            return torch.nn.ModuleList(arms)
        return torch.nn.ModuleList([ArmGenerator(k, noise_dim, **gen) for _ in range(2)])

    # -- small pieces ------------------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        return float(self.log_time_scale.exp())

    def noise_dist(self, kind: str = "t"):
        """The planar-flow noise for events (``"t"``) or censoring (``"c"``); event shape (d,)."""
        if kind == "c" and not self.informative_censoring:
            raise ValueError("this model has no censoring generators (informative_censoring=False)")
        return planar_noise(self.event_flow if kind == "t" else self.censor_flow)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(r, g)``: the representation r = Phi(x) (N, k) (what the IPM balances) and the generators'
        input g: r, or [r, x] (N, k + p) when the location has a linear skip path."""
        r = self.encoder(x)
        return r, (torch.cat([r, x], dim=-1) if self.linear_skip else r)

    def times(self, r: torch.Tensor, noise: torch.Tensor, arm: int, kind: str = "t") -> torch.Tensor:
        """Times (..., N) in the duration unit from the generators' input r (N, k), or (N, k + p) with the
        linear skip path (see :meth:`features`), and noise (..., N, d):
        ``s * exp(out)`` (link "exp", the paper's) or ``s * softplus(out)`` (link "softplus")."""
        nets = self.event_nets if kind == "t" else self.censor_nets
        if self.generator == "location-scale":
            law = self.event_shape if kind == "t" else self.censor_shape
            z = (law[arm] if isinstance(law, torch.nn.ModuleList) else law)(noise)
            mu, log_sigma = nets[arm](r)
            out = mu + log_sigma.exp() * z
        else:
            out = nets[arm](r, noise)
        if self.link == "exp":
            return (out.clamp(-_LOG_TIME_CLAMP, _LOG_TIME_CLAMP) + self.log_time_scale).exp()
        return torch.nn.functional.softplus(out).clamp_min(1e-6) * self.log_time_scale.exp()

    def draw(self, x: torch.Tensor, num_draws: int = 1) -> dict[str, torch.Tensor]:
        """Reparameterised draws for training, without Pyro handlers.

        Returns ``{"r": (N, k), "g": the generators' input (see :meth:`features`), "t0", "t1" (and "c0",
        "c1"): (num_draws, N)}``; gradients reach every network and flow parameter.
        """
        r, g = self.features(x)
        n = x.shape[0]
        out = {"r": r, "g": g}
        eps = self.noise_dist("t").rsample((num_draws, n))
        out["t0"], out["t1"] = self.times(g, eps, 0), self.times(g, eps, 1)
        if self.informative_censoring:
            eps_c = self.noise_dist("c").rsample((num_draws, n))
            out["c0"], out["c1"] = self.times(g, eps_c, 0, "c"), self.times(g, eps_c, 1, "c")
        return out

    def factual_times(self, r: torch.Tensor, noise: torch.Tensor, a: torch.Tensor, kind: str = "t"
                      ) -> torch.Tensor:
        """Times (..., N) under each subject's own arm ``a`` (N,), running each arm's net on its rows only."""
        out = noise.new_empty(noise.shape[:-1])
        treated = a > 0.5
        for arm, rows in ((0, ~treated), (1, treated)):
            if not bool(rows.any()):
                continue
            # batch-norm rows: subjects x draws for the paper's generator, subjects for location-scale
            per_row = 1 if self.generator == "location-scale" else out[..., :1].numel()
            if self.training and int(rows.sum()) * per_row < 2:
                # batch norm cannot normalise a single row: run the arm's net on every row, keep this one
                out[..., rows] = self.times(r, noise, arm, kind)[..., rows]
            else:
                out[..., rows] = self.times(r[rows], noise[..., rows, :], arm, kind)
        return out

    def draw_factual(self, x: torch.Tensor, a: torch.Tensor, num_draws: int = 1) -> dict[str, torch.Tensor]:
        """Reparameterised draws of the factual times only (cheaper than :meth:`draw` for training).

        Returns ``{"r": (N, k), "g", "t": (num_draws, N)}`` plus ``"c"`` for CSA-INFO.
        """
        r, g = self.features(x)
        n = x.shape[0]
        out = {"r": r, "g": g, "t": self.factual_times(g, self.noise_dist("t").rsample((num_draws, n)), a)}
        if self.informative_censoring:
            out["c"] = self.factual_times(g, self.noise_dist("c").rsample((num_draws, n)), a, "c")
        return out

    # -- the Pyro model ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Sample potential times for x (N, p); ``a`` (N,) optional 0/1 treatments for the factual sites.

        Returns a dict of the sampled times (same tensors as the sites).
        """
        if x.dim() != 2:
            raise ValueError(f"x must be (N, p), got shape {tuple(x.shape)}")
        _, g = self.features(x)
        out = {}
        with pyro.plate("subjects", x.shape[0], dim=-1):
            eps_t = pyro.sample("eps_t", self.noise_dist("t"))
            out["t0"] = pyro.deterministic("t0", self.times(g, eps_t, 0))
            out["t1"] = pyro.deterministic("t1", self.times(g, eps_t, 1))
            if self.informative_censoring:
                eps_c = pyro.sample("eps_c", self.noise_dist("c"))
                out["c0"] = pyro.deterministic("c0", self.times(g, eps_c, 0, "c"))
                out["c1"] = pyro.deterministic("c1", self.times(g, eps_c, 1, "c"))
            if a is not None:
                treated = a.to(x.device) > 0.5
                out["t"] = pyro.deterministic("t", torch.where(treated, out["t1"], out["t0"]))
                if self.informative_censoring:
                    out["c"] = pyro.deterministic("c", torch.where(treated, out["c1"], out["c0"]))
        return out
