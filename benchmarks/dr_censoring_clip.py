"""Width and coverage of the doubly robust RMST-ATE interval against ``censoring_clip`` (issue 16, width bar).

On the ``dr_coverage.py`` design (its :data:`DESIGN`, N = 2000, horizon 1000 days), replicates
``first .. last - 1`` are analysed by :class:`pyrocsa.DoublyRobust` with the linear Cox T-learner outcome
model (5 folds, fold seed = replicate seed, as ``dr_coverage.py`` does), once per clip value. The script
prints, per clip, the mean, median and largest 95% interval width, the coverage of the population truth and
the bias. Rows are written to ``--csv`` as they are computed (so two processes can split the replicates)::

    OMP_NUM_THREADS=1 python3 benchmarks/dr_censoring_clip.py 1000 1050 --csv /tmp/clip1.csv
    python3 benchmarks/dr_censoring_clip.py 0 0 --summarise /tmp/clip1.csv /tmp/clip2.csv

Results: ``benchmarks/results/dr_censoring_clip.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dr_coverage as dc  # noqa: E402
import pandas as pd  # noqa: E402


def summarise(frame: pd.DataFrame, truth: float) -> str:
    lines = []
    for clip, g in frame.groupby("clip"):
        width = g["upper"] - g["lower"]
        covers = (g["lower"] <= truth) & (g["upper"] >= truth)
        lines.append(f"censoring_clip {clip:g}: replicates {len(g)}, width mean {width.mean():.1f} "
                     f"median {width.median():.1f} max {width.max():.1f}, coverage {covers.mean():.3f}, "
                     f"bias {(g['estimate'] - truth).mean():.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("first", type=int)
    ap.add_argument("last", type=int)
    ap.add_argument("--clips", type=float, nargs="+", default=[0.01, 0.05])
    ap.add_argument("--csv", default=None, help="write the rows here")
    ap.add_argument("--summarise", nargs="+", default=None, help="only summarise these CSVs")
    args = ap.parse_args()
    truth = dc.true_rmst_ate()
    if args.summarise:
        print(summarise(pd.concat([pd.read_csv(f) for f in args.summarise]), truth))
        return
    from pyrocsa import DoublyRobust

    rows = []
    for seed in range(args.first, args.last):
        frame, covs = dc.cohort(seed)
        for clip in args.clips:
            factory, _ = dc.outcome_factory("cox")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dr = DoublyRobust(outcome_model=factory, n_folds=5, seed=seed, censoring_clip=clip).fit(
                    frame, dc.DURATION, dc.EVENT, dc.TREATMENT, covariates=covs)
                res = dr.rmst_difference(dc.HORIZON)
            rows.append(dict(seed=seed, clip=clip, estimate=res["estimate"], lower=res["lower"],
                             upper=res["upper"]))
        if args.csv:
            pd.DataFrame(rows).to_csv(args.csv, index=False)
    print(summarise(pd.DataFrame(rows), truth))



if __name__ == "__main__":
    main()
