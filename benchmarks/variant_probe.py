"""Per-arm diagnosis of CSA-INFO against the Cox T-learner on one design-suite design and seed (issue 15).

Fits CSA-INFO (package defaults plus ``extra`` keyword arguments; with
``benchmarks/results/cox_nesting_experiment.patch`` applied, the environment variables listed in
``benchmarks/results/design_suite_variants.md`` switch on its variants) and the Cox T-learner on the split of
``benchmarks/design_suite.py``. For each, it prints the test-set per-arm RMST RMSE and bias, the RMST PEHE,
the spread of the true and estimated effects, and the slope and correlation of estimated on true effects::

    PYTHONPATH=. OMP_NUM_THREADS=1 python3 benchmarks/variant_probe.py a 0,1 "dropout=0.0"

Results: ``benchmarks/results/design_suite_variants.md``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pyrocsa.data.frame import stratified_split  # noqa: E402


def parse_extra(text: str) -> dict:
    """'a=1,b=(1,)' -> {'a': 1, 'b': (1,)} (literals only)."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def main(dname: str, seeds: list[int], extra: dict) -> None:
    for seed in seeds:
        d = ds.design(dname, seed)
        split = stratified_split(d.frame, "event", "treatment", seed=seed)
        tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
        idx = split["test"]
        for name in ("csa", "cox"):
            model = ds.make_model(name, seed, extra, 0.0)
            if name == "csa":
                model.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
            else:
                model.fit(pd.concat([tr, va]), "time", "event", "treatment", covariates=d.covariates)
            r0, r1 = ds.model_rmst(model, te, d.horizon)
            t0, t1 = d.rmst0[idx], d.rmst1[idx]
            true, est = t1 - t0, r1 - r0
            slope = np.cov(est, true)[0, 1] / true.var(ddof=1)
            print(f"{dname} seed {seed} {name}: RMSE0 {np.sqrt(np.mean((r0 - t0) ** 2)):.1f} "
                  f"RMSE1 {np.sqrt(np.mean((r1 - t1) ** 2)):.1f} bias0 {np.mean(r0 - t0):.1f} "
                  f"bias1 {np.mean(r1 - t1):.1f} PEHE {np.sqrt(np.mean((est - true) ** 2)):.3f} "
                  f"sd(true) {true.std():.1f} sd(est) {est.std():.1f} slope {slope:.2f} "
                  f"corr {np.corrcoef(est, true)[0, 1]:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")],
         parse_extra(sys.argv[3]) if len(sys.argv) > 3 else {})
