"""A suite of simulated designs with exact ground truth: where does CSA-INFO beat a Cox or forest T-learner?

    OMP_NUM_THREADS=1 python3 -m benchmarks.design_suite [--designs a b c d e f] [--seeds 0 1 2]
        [--models csa cox rsf] [--extra 'dropout=0.2'] [--alphas 0 1 auto] [--out FILE.md] [--csv FILE]
        [--n 2000]

Models: ``csa`` (the package default), ``cox``, ``rsf`` (T-learners), ``lognormal`` / ``weibull`` (linear
parametric AFT per arm), ``weibull-oracle`` (designs c-f: the Weibull AFT with the true nonlinear terms
as extra covariates, the correctly specified model).

Each design draws N = 2000 subjects (70/15/15 train/valid/test, stratified by arm x event); models are fitted
on train (+ valid for early stopping) and scored on test. Covariates: p = 10 (design f: 100, 90 of them
noise), x_1..x_6 standard normal, x_7..x_10 Bernoulli(0.5), centred.

* (a) the authors' Gompertz-Cox on ACTG covariates (:func:`pyrocsa.simulate.simulate`, the paper's design);
* (b) log-normal AFT, linear location, the arms' log-time SDs differ (0.9 vs 0.55): hazards cross (non-PH);
* (c) Weibull (shape 1.4) with nonlinear covariate terms and a nonlinear heterogeneous effect;
* (d) = (c) with censoring that depends on covariates and arm (Weibull-Cox censoring, independent given
  (X, A): informative given A alone);
* (e) = (c) with strong confounding and weak overlap (logit P(A=1|x) = 2.5 (x_1 + x_3));
* (f) = (c) with p = 100 covariates (94 noise);
* (g) a baseline hazard that rises fivefold at t = 1.5 (e.g. the end of a programme); treatment delays the
  rise by 1.0 (1 + 0.5 tanh(2 x_4)); a nonlinear covariate effect on the log-risk
  (:func:`pyrocsa.data.simulate.simulate_hazard_jump`; p = 10 standard normal covariates).

Designs (b)-(g) have administrative censoring at 6 time units plus uniform dropout; the horizon is 4 for
(b)-(g) and 1000 days for (a). Columns, over test subjects:

* ``RMST_PEHE``: sqrt(mean((rhat_1 - rhat_0 - (r_1 - r_0))^2)) of the RMST at the horizon (the model's exact
  RMST where it has one -- CSA: :meth:`pyrocsa.CSA.predict_rmst`, Cox/RSF: their step survival curves --
  against the true RMST by numerical integration of the true survival function);
* ``RMST_ATEerr``: |mean(rhat_1 - rhat_0) - mean(r_1 - r_0)|;
* ``LIFE_PEHE`` / ``LIFE_ATEerr``: the same for the expected lifetime E[T_1 - T_0 | x] (the mean of 1000
  draws per arm and subject, which past the end of follow-up come from the model's tail rule) against the
  true conditional expected lifetimes; ``beyond``: share of those draws past the longest training time;
* ``cov0`` / ``cov1``: share of test subjects whose 90% interval (5%-95% of 200 draws) of T_a holds the true
  realised T_a; ``seconds``: fit time; ``baseline``: CSA's fitted baseline ("smooth" or "steps", see
  ``CSA(baseline=...)``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy import special, stats  # noqa: E402

import pyrocsa  # noqa: E402
from pyrocsa.data import stratified_split  # noqa: E402

N = 2000
HORIZON = 4.0
GRID = np.linspace(0.0, HORIZON, 401)
#: draws per test subject for the expected lifetimes (Monte Carlo SD of a subject's mean: SD(T) / 32)
LIFE_DRAWS = 1000


class Design:
    """A simulated cohort: frame (covariates, time, event, treatment), t0, t1, true RMSTs, horizon, and the
    true conditional expected lifetimes ``life0``, ``life1`` = E[T_a | x] (N,)."""

    def __init__(self, frame, t0, t1, rmst0, rmst1, horizon, covariates, life0=None, life1=None):
        self.frame, self.t0, self.t1 = frame, t0, t1
        self.rmst0, self.rmst1, self.horizon, self.covariates = rmst0, rmst1, horizon, covariates
        self.life0, self.life1 = life0, life1


def _covariates(rng, p, n):
    x = rng.standard_normal((n, p))
    x[:, 6:10] = (rng.random((n, 4)) < 0.5) - 0.5
    return x


def _rmst_from_survival(surv):
    """surv (N, len(GRID)) -> trapezoid integral over GRID."""
    return np.trapezoid(surv, GRID, axis=1) if hasattr(np, "trapezoid") else np.trapz(surv, GRID, axis=1)


def _finish(rng, x, a, t0, t1, rmst0, rmst1, c=None, horizon=HORIZON, life=(None, None)):
    if c is None:
        c = np.minimum(6.0, rng.uniform(0.5, 12.0, len(x)))
    t = np.where(a == 1, t1, t0)
    frame = pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(x.shape[1])])
    frame["time"] = np.minimum(t, c)
    frame["event"] = (t <= c).astype(int)
    frame["treatment"] = a.astype(int)
    return Design(frame, t0, t1, rmst0, rmst1, horizon, [f"x{j + 1}" for j in range(x.shape[1])], *life)


def _weibull_nonlinear(rng, n, p=10, confounded=False, informative=False):
    x = _covariates(rng, p, n)
    x1, x2, x3, x4, x5 = (x[:, j] for j in range(5))
    k = 1.4
    # log of the Weibull scale (time units): nonlinear prognostic part and a nonlinear heterogeneous effect
    f = 0.6 + 0.4 * np.sin(np.pi * x1 / 2) - 0.25 * x2 ** 2 + 0.3 * x3 + 0.2 * x[:, 6]
    tau = 0.35 + 0.35 * np.tanh(2 * x4) - 0.25 * x1 * x5
    log_s = (f, f + tau)
    logit = 2.5 * (x1 + x3) if confounded else 0.4 * x1 - 0.3 * x2
    a = (rng.random(n) < special.expit(logit)).astype(int)
    t0, t1 = (np.exp(ls) * rng.weibull(k, n) for ls in log_s)
    s = [np.exp(-(GRID[None, :] / np.exp(ls)[:, None]) ** k) for ls in log_s]
    c = None
    if informative:
        # Weibull-Cox censoring whose rate depends on covariates and arm (independent of T given X, A)
        log_sc = 1.3 - 0.5 * x1 + 0.4 * x4 * (2 * a - 1) - 0.4 * a
        c = np.minimum(6.0, np.exp(log_sc) * rng.weibull(1.2, n))
    life = tuple(np.exp(ls) * special.gamma(1.0 + 1.0 / k) for ls in log_s)
    return _finish(rng, x, a, t0, t1, _rmst_from_survival(s[0]), _rmst_from_survival(s[1]), c, life=life)


def design(name: str, seed: int, n: int = N) -> Design:
    """Design ``name`` (a-g) drawn with ``n`` subjects by ``seed``."""
    rng = np.random.default_rng([seed, ord(name)])
    if name == "a":
        from pyrocsa.data.simulate import simulate

        sim = simulate(n=n, seed=seed)
        r0, r1 = sim.rmst(1000.0)
        return Design(sim.frame, sim.t0, sim.t1, r0, r1, 1000.0, list(sim.covariates),
                      *sim.truth.expected_lifetime())
    if name == "b":
        x = _covariates(rng, 10, n)
        mu = 0.5 + 0.4 * x[:, 0] - 0.3 * x[:, 1] + 0.25 * x[:, 2] + 0.2 * x[:, 6]
        mus, sds = (mu, mu + 0.3 + 0.2 * x[:, 3]), (0.9, 0.55)
        a = (rng.random(n) < special.expit(0.4 * x[:, 0] - 0.3 * x[:, 1])).astype(int)
        t0, t1 = (np.exp(m + s * rng.standard_normal(n)) for m, s in zip(mus, sds))
        surv = [stats.norm.sf((np.log(np.maximum(GRID, 1e-300))[None, :] - m[:, None]) / s)
                for m, s in zip(mus, sds)]
        life = tuple(np.exp(m + s ** 2 / 2.0) for m, s in zip(mus, sds))
        return _finish(rng, x, a, t0, t1, _rmst_from_survival(surv[0]), _rmst_from_survival(surv[1]),
                       life=life)
    if name == "c":
        return _weibull_nonlinear(rng, n)
    if name == "d":
        return _weibull_nonlinear(rng, n, informative=True)
    if name == "e":
        return _weibull_nonlinear(rng, n, confounded=True)
    if name == "f":
        return _weibull_nonlinear(rng, n, p=100)
    if name == "g":
        from pyrocsa.data.simulate import simulate_hazard_jump

        sim = simulate_hazard_jump(n=n, seed=seed, follow_up=6.0)
        r0, r1 = sim.rmst(HORIZON)
        return Design(sim.frame, sim.t0, sim.t1, r0, r1, HORIZON, list(sim.covariates))
    raise ValueError(f"unknown design {name!r}")


def _parametric_aft_t_learner(kind: str):
    """A lifelines parametric AFT per arm (``kind`` "lognormal" or "weibull"), linear in the covariates: the
    maximum-likelihood fit of the right family on design (b) ("lognormal"), a reference for what a
    correctly specified parametric model achieves at N = 2000."""
    from lifelines import LogNormalAFTFitter, WeibullAFTFitter

    from pyrocsa.baselines.cox import SurvivalCurves, TLearnerBase

    fitter = {"lognormal": LogNormalAFTFitter, "weibull": WeibullAFTFitter}[kind]

    class ParametricAFTTLearner(TLearnerBase):
        name = f"{kind} AFT T-learner"

        def _fit_arm(self, x, duration, event, seed):
            frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
            frame["_duration"], frame["_event"] = duration, event
            return fitter(penalizer=0.01).fit(frame, duration_col="_duration", event_col="_event")

        def _survival_arm(self, model, x, end_time):
            times = np.linspace(end_time / 2000, end_time, 2000)
            frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
            surv = model.predict_survival_function(frame, times=times).to_numpy().T
            return SurvivalCurves(times, surv, end_time=end_time)

    return ParametricAFTTLearner()


def make_model(name, seed, extra, alpha):
    if name in ("lognormal", "weibull"):
        return _parametric_aft_t_learner(name)
    if name == "csa":
        priv = {k: v for k, v in extra.items() if k.startswith("_")}
        est = pyrocsa.CSA(seed=seed, verbose=False, alpha=alpha,
                          **{k: v for k, v in extra.items() if k not in priv})
        for k, v in priv.items():
            setattr(est, k, v)
        return est
    if name == "cox":
        from pyrocsa.baselines import CoxTLearner

        return CoxTLearner()
    if name == "rsf":
        from pyrocsa.baselines import RandomSurvivalForestTLearner

        return RandomSurvivalForestTLearner(random_state=seed)
    raise ValueError(name)


def model_rmst(model, test, horizon):
    """(rmst0, rmst1) per test subject: exact for CSA, from the step survival curves for T-learners."""
    if hasattr(model, "predict_rmst"):
        return (model.predict_rmst(test, horizon, treatment=0).to_numpy(),
                model.predict_rmst(test, horizon, treatment=1).to_numpy())
    if hasattr(model, "rmst"):
        r = model.rmst(test, horizon)
        return r.iloc[:, 0].to_numpy(), r.iloc[:, 1].to_numpy()
    raise TypeError(type(model))


def _with_true_features(d: Design) -> Design:
    """Design (c)-(f) with its four true nonlinear terms appended as covariates ``o1..o4``: sin(pi x1 / 2),
    x2^2, tanh(2 x4), x1 x5. An AFT-Weibull T-learner on them is the correctly specified model, the
    reference for what N subjects can give (model names ``weibull-oracle``)."""
    f = d.frame.copy()
    x1, x2, x4, x5 = (f[c].to_numpy() for c in ("x1", "x2", "x4", "x5"))
    f["o1"], f["o2"], f["o3"], f["o4"] = np.sin(np.pi * x1 / 2), x2 ** 2, np.tanh(2 * x4), x1 * x5
    return Design(f, d.t0, d.t1, d.rmst0, d.rmst1, d.horizon, d.covariates + ["o1", "o2", "o3", "o4"],
                  d.life0, d.life1)


def run_one(dname, seed, mname, extra, alpha, n=N):
    d, label = design(dname, seed, n), mname
    if mname.endswith("-oracle"):
        if dname not in ("c", "d", "e", "f"):
            raise ValueError(f"{mname} needs a design with known nonlinear terms (c-f), not {dname!r}")
        d, mname = _with_true_features(d), mname.removesuffix("-oracle")
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    model = make_model(mname, seed, extra, alpha)
    t_start = time.time()
    if mname == "csa":
        model.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
    else:
        model.fit(pd.concat([tr, va]), "time", "event", "treatment", covariates=d.covariates)
    seconds = time.time() - t_start
    r0, r1 = model_rmst(model, te, d.horizon)
    idx = split["test"]
    true = d.rmst1[idx] - d.rmst0[idx]
    est = r1 - r0
    row = {"design": dname, "seed": seed, "model": label, "alpha": str(alpha), "seconds": seconds,
           "baseline": getattr(model, "baseline_", ""),
           "RMST_PEHE": float(np.sqrt(np.mean((est - true) ** 2))),
           "RMST_ATEerr": float(abs(est.mean() - true.mean()))}
    po = model.sample_potential_outcomes(te, 200, seed=seed)
    # expected lifetimes E[T_a | x]: the mean of LIFE_DRAWS draws (past the end of follow-up they come from
    # the model's tail rule), against the true conditional expected lifetimes (NaN where the design has
    # none: (g))
    row.update({"LIFE_PEHE": float("nan"), "LIFE_ATEerr": float("nan"), "beyond": float("nan")})
    if d.life0 is not None and d.life1 is not None:
        life = model.sample_potential_outcomes(te, LIFE_DRAWS, seed=seed)
        true_life = d.life1[idx] - d.life0[idx]
        est_life = life.t1.mean(axis=0) - life.t0.mean(axis=0)
        end = float(tr["time"].max() if mname == "csa" else pd.concat([tr, va])["time"].max())
        row.update({"LIFE_PEHE": float(np.sqrt(np.mean((est_life - true_life) ** 2))),
                    "LIFE_ATEerr": float(abs(est_life.mean() - true_life.mean())),
                    "beyond": float(np.mean(np.concatenate([life.t0.ravel(), life.t1.ravel()]) > end))})
    for arm, draws, truth in ((0, po.t0, d.t0[idx]), (1, po.t1, d.t1[idx])):
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        row[f"cov{arm}"] = float(np.mean((truth >= lo) & (truth <= hi)))
    return row


def report(row: dict, label: str, csv: str | None = None) -> None:
    """Print one fit's line and, with ``csv``, append its row to that file."""
    print(f"  {label}: RMST_PEHE {row['RMST_PEHE']:.3f} ATEerr {row['RMST_ATEerr']:.3f} "
          f"LIFE_PEHE {row['LIFE_PEHE']:.3f} ATEerr {row['LIFE_ATEerr']:.3f} beyond {row['beyond']:.2f} "
          f"cov {row['cov0']:.2f}/{row['cov1']:.2f} {row['seconds']:.1f}s", flush=True)
    if csv:
        pd.DataFrame([row]).to_csv(csv, mode="a", index=False, header=not os.path.exists(csv))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", nargs="+", default=list("abcdef"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=["csa", "cox", "rsf"])
    ap.add_argument("--alphas", nargs="+", default=["0"], help="CSA alphas: numbers or 'auto'")
    ap.add_argument("--extra", default="", help="extra CSA kwargs")
    ap.add_argument("--out", default=None)
    ap.add_argument("--csv", default=None, help="append raw rows to this CSV")
    ap.add_argument("--n", type=int, default=N, help=f"subjects per cohort (default {N})")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    extra = {}
    for kv in filter(None, args.extra.split(",")):
        k, v = kv.split("=", 1)
        extra[k] = eval(v)  # noqa: S307 - benchmark command line only
    rows = []
    for dname in args.designs:
        for mname in args.models:
            for alpha in (args.alphas if mname == "csa" else ["-"]):
                al = alpha if alpha in ("auto", "-") else float(alpha)
                for seed in args.seeds:
                    row = run_one(dname, seed, mname, extra, al, n=args.n)
                    rows.append(row)
                    report(row, f"({dname}) {mname} alpha={alpha} seed {seed}", args.csv)
    df = pd.DataFrame(rows)
    table = summarise(df)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"# Design suite\n\n`OMP_NUM_THREADS=1 python3 -m benchmarks.design_suite "
                     f"--designs {' '.join(args.designs)} --seeds {' '.join(map(str, args.seeds))} --models "
                     f"{' '.join(args.models)} --alphas {' '.join(args.alphas)}"
                     f"{' --extra ' + repr(args.extra) if args.extra else ''}"
                     f"{f' --n {args.n}' if args.n != N else ''}`\n\n{table}\n")


def summarise(df: pd.DataFrame) -> str:
    lines = ["| design | model | alpha | RMST PEHE | RMST ATE error | lifetime PEHE | lifetime ATE error | "
             "beyond | cov T0 | cov T1 | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (dname, mname, alpha), g in df.groupby(["design", "model", "alpha"], sort=False):
        lines.append(f"| {dname} | {mname} | {alpha} | {g.RMST_PEHE.mean():.3f} ± "
                     f"{g.RMST_PEHE.std(ddof=1):.3f} | "
                     f"{g.RMST_ATEerr.mean():.3f} | "
                     f"{g.LIFE_PEHE.mean():.3f} ± {g.LIFE_PEHE.std(ddof=1):.3f} | "
                     f"{g.LIFE_ATEerr.mean():.3f} | {g.beyond.mean():.2f} | "
                     f"{g.cov0.mean():.2f} | {g.cov1.mean():.2f} | "
                     f"{g.seconds.mean():.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
