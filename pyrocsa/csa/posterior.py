"""Parameter uncertainty of a fitted CSA model: a Laplace posterior of each arm's event head given r = Phi(x).

What is uncertain. The fitted model's draws of T0, T1 carry the *outcome* noise of the fitted laws; a
patient's effect tau(x) = RMST_1(x) - RMST_0(x) is a function of the laws' parameters, so its uncertainty
is the posterior of those parameters. For each arm a, the event head's last layer is

    theta_a = (W, b)  the output layer (2 + 3K numbers per subject: loc, log scale, K planar triples),
              beta    the linear term's weights (loc += beta' x; its bias, collinear with b_loc, is fixed),
              O       the K outer planar triples (the baseline hazard's shape),

with the representation r = Phi(x) and the head's hidden block held at their fitted values. With a prior
theta ~ Normal(0, I / lambda) on these standardised units, the Laplace approximation around the fitted
values theta_hat is

    theta | data  ~  Normal(theta_hat, (H + lambda I)^-1),        H = Hessian of the arm's training NLL,

H's negative eigenvalues (the early-stopped fit is not an exact optimum) set to zero. The fitted values
are kept as the centre (the network was fitted without the prior; the prior only fills the directions the
data leave flat: with ~1,450 numbers per head and a few hundred rows per arm, most of them).

The prior precision lambda is the one number chosen from data, on the validation rows only, over the grid
:data:`PRIOR_PRECISIONS`: each value's validation log predictive density of the observed (duration,
event), lpd_i = log mean_s p(y_i, delta_i | theta_s) (64 draws, the same normal noise for every value),
and the *broadest* posterior (smallest lambda) whose mean lpd is within one paired standard error of the
best (:func:`select_prior_precision`). The outcome's likelihood changes little with small parameter
changes, so at the narrow end of the grid the validation scores differ by less than their standard error
and the best value alone is unstable; the one-standard-error rule takes the widest posterior the
validation rows do not reject.

Why the Hessian is built here and not by ``pyro.infer.autoguide.AutoLaplaceApproximation``: that guide
forms the Hessian of the full latent vector with one double-backward pass per latent coordinate
(``pyro.ops.hessian``), P ~ 1,450 passes per head for the default network against D = 26 here. The parameters
enter each subject's likelihood only through D = 2 + 6K numbers per subject (the output layer's values and
the outer triples), *linearly*; so the exact Hessian is sum_i J_i' H_i J_i with the per-subject D x D
Hessians H_i from D double-backward passes over all subjects at once (a per-subject copy of the shared
outer triples makes their cross terms per-subject too), and J_i the fixed linear maps (checked against
finite differences of autograd gradients, and against lifelines' Weibull AFT standard errors in the
special case of no representation and no flow layers: tests/test_effect_posterior.py).
:meth:`HeadPosterior.distribution` returns the posterior as Pyro's ``MultivariateNormal``; draws use its
eigen-factor directly (the same law, one decomposition for every prior precision tried).

Effects from draws, exactly. For each parameter draw, RMST_a(h | x) = E[min(T_a, h)] is computed by
quadrature of the exact law: with u_h = F_a(h) (one inversion of the flow),

    RMST_a(h) = int_0^{u_h} Q_a(u) du + h (1 - u_h),

the integral by Gauss-Legendre in s with u = u_h s^2 (Q_a the closed-form quantile function, which needs no
inversion); S_a(t | x) is the exact survival at t. No event time is sampled.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pyro import distributions as dist

from pyrocsa.csa.flows import second_order

__all__ = ["HeadPosterior", "LaplacePosterior", "fit_laplace", "head_vector", "rmst", "survival",
           "PRIOR_PRECISIONS", "select_prior_precision"]

#: the prior precisions searched on the validation rows
PRIOR_PRECISIONS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
_VALID_DRAWS = 64
_GL_NODES = 48


# ---------------------------------------------------------------------------------------------------------
# the parameter vector of one head
# ---------------------------------------------------------------------------------------------------------
def _sizes(head) -> tuple[int, int, int, int]:
    """(C, F, p, K): output values per subject, output-layer inputs + 1, covariates, flow layers."""
    c, f0 = head.out.weight.shape
    return c, f0 + 1, head.linear.weight.shape[1], head.flow_layers


def head_vector(head) -> torch.Tensor:
    """theta_hat (P,) float64: [vec([W | b]) (C * F), beta (p), vec(outer) (3K)]."""
    wb = torch.cat([head.out.weight, head.out.bias[:, None]], 1)
    theta = torch.cat([wb.reshape(-1), head.linear.weight.reshape(-1), head.outer.reshape(-1)])
    return theta.detach().double()


def _unpack(head, theta: torch.Tensor):
    """theta (S, P) -> (Wb (S, C, F), beta (S, p), outer (S, K, 3))."""
    c, f, p, k = _sizes(head)
    s = theta.shape[0]
    return (theta[:, :c * f].reshape(s, c, f), theta[:, c * f:c * f + p],
            theta[:, c * f + p:].reshape(s, k, 3))


def _features(head, r: torch.Tensor) -> torch.Tensor:
    """phi = [block(r), 1] (N, F) float64: what the output layer sees."""
    with torch.no_grad():
        h = head.block(r).double()
    return torch.cat([h, torch.ones_like(h[:, :1])], 1)


def law_draws(model, head, r: torch.Tensor, x: torch.Tensor, theta: torch.Tensor):
    """The FlowTime of every (draw, subject), batch (S, N), float64, for draws ``theta`` (S, P)."""
    wb, beta, outer = _unpack(head, theta)
    phi = _features(head, r)
    xd = x.double()
    h = torch.einsum("scf,nf->snc", wb, phi)
    lin = beta @ xd.T + head.linear.bias.detach().double()
    return model.flow_time(*head.flow_params(h, lin, outer[:, None]))


# ---------------------------------------------------------------------------------------------------------
# the exact Hessian of one head's training NLL
# ---------------------------------------------------------------------------------------------------------
def subject_hessians(model, head, r, x, y, event) -> torch.Tensor:
    """(N, D, D) Hessians of each subject's NLL -log p(y_i, event_i) in its D = C + 3K raw numbers (the
    output layer's values, then the outer triples), float64, exact
    (:func:`pyrocsa.csa.flows.second_order`)."""
    c, _, _, k = _sizes(head)
    n = x.shape[0]
    with torch.no_grad():
        h0 = head.out(head.block(r)).double()
        lin = head.linear(x)[..., 0].double()
    h = h0.clone().requires_grad_(True)
    outer = head.outer.detach().double().expand(n, k, 3).clone().requires_grad_(True)
    with torch.enable_grad(), second_order():
        law = model.flow_time(*head.flow_params(h, lin, outer))
        nll = -law.censored_log_prob(y.double(), event.double())
        grads = torch.autograd.grad(nll.sum(), [h, outer], create_graph=True, allow_unused=True)
        grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, (h, outer))]
        g = torch.cat([grads[0], grads[1].reshape(n, -1)], 1)
        out = torch.zeros(n, c + 3 * k, c + 3 * k, dtype=torch.float64, device=h.device)
        for j in range(c + 3 * k):
            if not g[:, j].requires_grad:  # a coordinate the likelihood does not depend on
                continue
            hj = torch.autograd.grad(g[:, j].sum(), [h, outer], retain_graph=True, allow_unused=True)
            hj = [torch.zeros_like(v) if d is None else d for d, v in zip(hj, (h, outer))]
            out[:, :, j] = torch.cat([hj[0], hj[1].reshape(n, -1)], 1).detach()
    return 0.5 * (out + out.transpose(1, 2))


def head_hessian(model, head, r, x, y, event) -> torch.Tensor:
    """(P, P) Hessian of the head's training NLL (summed over rows) in theta (:func:`head_vector`):
    sum_i J_i' H_i J_i, assembled block by block (every parameter block acts on one raw number of a
    subject through a feature vector: W's row c on value c through phi_i, beta on loc through x_i, an
    outer number on itself through 1)."""
    c, f, p, k = _sizes(head)
    hs = subject_hessians(model, head, r, x, y, event)
    phi = _features(head, r)
    xd = x.double()
    ones = torch.ones(x.shape[0], 1, dtype=torch.float64, device=phi.device)
    groups = [(j, phi) for j in range(c)] + [(0, xd)] + [(c + m, ones) for m in range(3 * k)]
    sizes = [g.shape[1] for _, g in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    total = int(starts[-1])
    out = torch.zeros(total, total, dtype=torch.float64, device=phi.device)
    for a, (ca, fa) in enumerate(groups):
        for b in range(a, len(groups)):
            cb, fb = groups[b]
            block = (fa * hs[:, ca, cb, None]).T @ fb
            out[starts[a]:starts[a + 1], starts[b]:starts[b + 1]] = block
            if b != a:
                out[starts[b]:starts[b + 1], starts[a]:starts[a + 1]] = block.T
    return out


# ---------------------------------------------------------------------------------------------------------
# the posterior
# ---------------------------------------------------------------------------------------------------------
class HeadPosterior:
    """Normal(mean, (H_+ + prior_precision I)^-1) over one head's theta (P,).

    mean : (P,) theta_hat; hessian : (P, P) the training NLL's Hessian there (H_+: its eigenvalues clipped
    at 0, so the early-stopped fit's few negative curvatures count as flat).
    """

    def __init__(self, mean: torch.Tensor, hessian: torch.Tensor, prior_precision: float = 1.0):
        self.mean = mean.double()
        self.hessian = hessian.double()
        ev, self._vec = torch.linalg.eigh(0.5 * (self.hessian + self.hessian.T))
        self._ev = ev.clamp_min(0.0)
        self.set_prior_precision(prior_precision)

    def set_prior_precision(self, prior_precision: float) -> HeadPosterior:
        """Use prior precision ``prior_precision`` (> 0); the eigendecomposition of H is kept."""
        self.prior_precision = float(prior_precision)
        # covariance (H_+ + lambda I)^-1 = V diag(1 / (ev + lambda)) V' = factor factor'
        self._factor = self._vec * (self._ev + self.prior_precision).rsqrt()
        return self

    @property
    def sd(self) -> torch.Tensor:
        """(P,) posterior standard deviations."""
        return self._factor.pow(2).sum(1).sqrt()

    def draws(self, noise: torch.Tensor) -> torch.Tensor:
        """theta draws (S, P) from standard-normal ``noise`` (S, P)."""
        return self.mean + noise @ self._factor.T

    def distribution(self):
        """The posterior as a Pyro ``MultivariateNormal``."""
        cov = self._factor @ self._factor.T
        return dist.MultivariateNormal(self.mean, covariance_matrix=0.5 * (cov + cov.T))


class LaplacePosterior:
    """The event heads' posteriors (arm 0, arm 1), the prior precision and the validation scores behind it.

    heads : [HeadPosterior, HeadPosterior]; prior_precision : lambda; scores : {lambda: validation log
    predictive density per subject} (empty when there were no validation rows).
    """

    def __init__(self, heads, prior_precision: float = 1.0, scores: dict | None = None):
        self.heads = [h.set_prior_precision(prior_precision) for h in heads]
        self.prior_precision = float(prior_precision)
        self.scores = dict(scores or {})

    def state(self) -> dict:
        """Tensors and numbers to save (:mod:`pyrocsa.core.checkpoint`); the Hessians in float32."""
        return {"mean": [h.mean for h in self.heads], "hessian": [h.hessian.float() for h in self.heads],
                "prior_precision": self.prior_precision,
                "scores": {str(k): float(v) for k, v in self.scores.items()}}

    @classmethod
    def from_state(cls, state: dict) -> LaplacePosterior:
        lam = float(state["prior_precision"])
        heads = [HeadPosterior(m, h, lam) for m, h in zip(state["mean"], state["hessian"])]
        return cls(heads, lam, {float(k): float(v) for k, v in state["scores"].items()})

    def noise(self, num_draws: int, seed) -> list[torch.Tensor]:
        """Standard-normal noise (num_draws, P) for each arm, from ``seed`` (None: fresh)."""
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        return [torch.randn(num_draws, h.mean.numel(), generator=gen, dtype=torch.float64)
                for h in self.heads]


def _validation_lpd(model, heads, r, x, a, y, delta, noise) -> torch.Tensor:
    """(n_valid,) log mean_s p(y_i, delta_i | theta_s) of each validation row under its arm's posterior."""
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for arm, post in enumerate(heads):
        rows = a > 0.5 if arm else a <= 0.5
        if not bool(rows.any()):
            continue
        head = model.event_heads[arm]
        with torch.no_grad():
            law = law_draws(model, head, r[rows], x[rows], post.draws(noise[arm]))
            ll = law.censored_log_prob(y[rows].double(), delta[rows].double())  # (S, n)
        out[rows.cpu()] = (torch.logsumexp(ll, 0) - math.log(ll.shape[0])).cpu()
    return out


def select_prior_precision(lpd: dict) -> float:
    """The smallest prior precision (broadest posterior) whose validation log predictive density is within
    one paired standard error of the best: ``lpd`` maps lambda -> per-row values (n_valid,)."""
    best = max(lpd, key=lambda k: float(lpd[k].mean()))
    for lam in sorted(lpd):
        diff = (lpd[best] - lpd[lam]).numpy()
        se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
        if float(diff.mean()) <= se:
            return float(lam)
    return float(best)  # pragma: no cover - best itself always qualifies


def fit_laplace(model, train: tuple, valid: tuple | None = None, seed: int = 0,
                prior_precisions=PRIOR_PRECISIONS) -> LaplacePosterior:
    """The Laplace posterior of ``model``'s event heads from the training tensors ``train`` = (x, a, y,
    delta), with the prior precision chosen on ``valid`` (same layout) by :func:`select_prior_precision`
    among ``prior_precisions`` (``valid`` None or empty: the middle of the grid). The model is used in
    evaluation mode and not modified."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    grid = sorted(float(v) for v in prior_precisions)
    try:
        x, a, y, delta = (v.to(dev) for v in train)
        with torch.no_grad():
            r = model.representation(x)
        heads = []
        for arm in (0, 1):
            head = model.event_heads[arm]
            rows = a > 0.5 if arm else a <= 0.5
            hess = head_hessian(model, head, r[rows], x[rows], y[rows], delta[rows])
            heads.append(HeadPosterior(head_vector(head), hess.cpu(), grid[len(grid) // 2]))
        lam, scores = grid[len(grid) // 2], {}
        if valid is not None and len(valid[0]) > 1:
            vx, va, vy, vd = (v.to(dev) for v in valid)
            with torch.no_grad():
                vr = model.representation(vx)
            noise = LaplacePosterior(heads, lam).noise(_VALID_DRAWS, seed)
            lpd = {}
            for value in grid:
                for h in heads:
                    h.set_prior_precision(value)
                lpd[value] = _validation_lpd(model, heads, vr, vx, va, vy, vd, noise)
            lam = select_prior_precision(lpd)
            scores = {k: float(v.mean()) for k, v in lpd.items()}
    finally:
        model.train(was_training)
    return LaplacePosterior(heads, lam, scores)


# ---------------------------------------------------------------------------------------------------------
# exact functionals of the drawn laws
# ---------------------------------------------------------------------------------------------------------
def rmst(law, horizon: float, nodes: int = _GL_NODES) -> torch.Tensor:
    """E[min(T, horizon)] for each element of ``law``'s batch (float64, duration unit), by quadrature of the
    quantile function (module docstring)."""
    h = float(horizon)
    with torch.no_grad():
        dev = law.loc.device
        t = torch.full(law.batch_shape, h, dtype=torch.float64, device=dev)
        u_h = -torch.expm1(law.log_survival(t))  # F(h)
        s, w = np.polynomial.legendre.leggauss(int(nodes))
        shape = (-1, *[1] * len(law.batch_shape))
        s = torch.as_tensor((s + 1) / 2, dtype=torch.float64, device=dev).reshape(shape)
        w = torch.as_tensor(w / 2, dtype=torch.float64, device=dev).reshape(shape)
        u = (u_h * s * s).clamp(1e-300, 1.0 - 1e-16)
        q = law.icdf(u).clamp(max=h)  # = Q(u) below u_h, up to rounding at the knot
        integral = (w * q * 2.0 * s).sum(0) * u_h
        return integral + h * (1.0 - u_h)


def survival(law, times) -> torch.Tensor:
    """Exact S(t), shape (G, batch...), at ``times`` (G,) (duration unit; S(0) = 1)."""
    times = torch.as_tensor(np.asarray(times, dtype=float), dtype=torch.float64, device=law.loc.device)
    with torch.no_grad():
        shape = (-1, *[1] * len(law.batch_shape))
        t = times.clamp_min(1e-300).reshape(shape).expand(-1, *law.batch_shape)
        out = law.log_survival(t.contiguous()).exp()
    return torch.where(times.reshape(shape) <= 0, torch.ones_like(out), out)
