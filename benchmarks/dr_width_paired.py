"""Paired comparison of doubly robust RMST-ATE intervals from ``dr_coverage.py`` cache CSVs on the
replicates (seeds) the first file holds (issue 16, width bar).

    python3 benchmarks/dr_width_paired.py benchmarks/results/dr_coverage_csa_cox_start_family.csv \\
        "DR (CSA-INFO)" benchmarks/results/dr_coverage_csa.csv "DR (CSA-INFO)" \\
        benchmarks/results/dr_coverage_cox.csv "DR (Cox T-learner)"

Arguments: pairs of (CSV, method). Prints, per pair, mean width, SD of the estimates, RMSE, bias and
coverage on the first file's seeds, and the paired width difference of each pair from the first with its
standard error (days).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        raise SystemExit("usage: dr_width_paired.py CSV METHOD [CSV METHOD ...]")
    rows = []
    for path, method in zip(argv[::2], argv[1::2]):
        d = pd.read_csv(path)
        d = d[d["method"] == method].drop_duplicates("seed").set_index("seed")
        if d.empty:
            raise SystemExit(f"{path}: no rows of method {method!r}")
        rows.append((f"{method} [{path.rsplit('/', 1)[-1]}]", d))
    seeds = rows[0][1].index
    print(f"{len(seeds)} replicates (seeds {seeds.min()}-{seeds.max()})\n")
    print("| method [file] | mean width | SD of estimates | RMSE | bias | coverage | "
          "width minus first (SE) |")
    print("|---|---|---|---|---|---|---|")
    first = rows[0][1]["upper"] - rows[0][1]["lower"]
    for name, d in rows:
        d = d.reindex(seeds)
        if d["estimate"].isna().any():
            raise SystemExit(f"{name}: missing some of the first file's seeds")
        width = d["upper"] - d["lower"]
        err = d["estimate"] - d["truth"]
        cover = ((d["lower"] <= d["truth"]) & (d["truth"] <= d["upper"])).mean()
        diff = width - first
        rmse = np.sqrt((err ** 2).mean())
        se = diff.std() / np.sqrt(len(diff))
        print(f"| {name} | {width.mean():.1f} | {d['estimate'].std():.1f} | {rmse:.1f} | {err.mean():.1f} | "
              f"{cover:.2f} | {diff.mean():+.2f} ({se:.2f}) |")


if __name__ == "__main__":
    main(sys.argv[1:])
