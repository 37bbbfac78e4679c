"""``pyrocsa simulate``: the paper's Gompertz-Cox simulator (:mod:`pyrocsa.data.simulate`) to CSV.

``--truth`` adds each subject's true potential event and censoring times and propensity, the ground truth
that ``pyrocsa evaluate --true-t0 --true-t1`` scores a model against.
"""

from __future__ import annotations

import argparse

from .args import _finite, _non_negative, _positive_int, _seed
from .files import _output_file


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``simulate`` subparser and its options to ``sub`` (the subparsers action of
    :func:`pyrocsa.reports.cli.build_parser`); returns it."""
    s = sub.add_parser("simulate", help="simulate the paper's Gompertz-Cox cohort to CSV")
    s.add_argument("--out", required=True, help="CSV to write")
    s.add_argument("--n", type=_positive_int, default=2139)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--confounding", type=_non_negative, default=1.0, help="confounding strength (0 = RCT)")
    s.add_argument("--censoring", default="normal", choices=["normal", "informative"])
    s.add_argument("--nonlinear", type=_finite, default=0.0, help="strength of extra nonlinear terms")
    s.add_argument("--truth", action="store_true", help="add true potential times and propensity columns")
    s.set_defaults(func=run)
    return s


def run(args) -> int:
    """Simulate the cohort and write it to ``args.out``; returns the exit code (0)."""
    _output_file(args.out, "--out")
    from pyrocsa.data import simulate

    cohort = simulate.simulate(n=args.n, seed=args.seed, confounding=args.confounding,
                               censoring=args.censoring, nonlinear=args.nonlinear)
    frame = cohort.frame.copy()
    if args.truth:
        frame["true_t0"], frame["true_t1"] = cohort.t0, cohort.t1
        frame["true_c0"], frame["true_c1"] = cohort.c0, cohort.c1
        frame["propensity"] = cohort.propensity
    frame.to_csv(args.out, index=False)
    print(f"{len(frame)} simulated subjects written to {args.out} ({frame['event'].mean():.1%} events, "
          f"{frame['treatment'].mean():.1%} treated)")
    return 0
