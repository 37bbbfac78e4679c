"""Per-fit choice between the default CSA-INFO and the staged Cox-nesting variant by validation likelihood.

Needs ``benchmarks/results/cox_nesting_experiment.patch`` applied (``git apply``): the variant is switched
on by the environment variables that patch reads; on unpatched main both fits are the default.
For one design-suite design and seed, fits both on the design suite's split and prints the minimum
validation factual and event losses (``history_``) and the test RMST PEHE of each:

    PYTHONPATH=. OMP_NUM_THREADS=1 python3 benchmarks/variant_selection.py a 0

Results: ``benchmarks/results/design_suite_variants.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402

from pyrocsa.data.frame import stratified_split  # noqa: E402

#: the staged Cox-nesting variant's switches (read by the experiment patch)
VARIANT = dict(PYROCSA_BASE="gumbel", PYROCSA_OUTER="4", PYROCSA_SKIP="1", PYROCSA_STAGE="1",
               PYROCSA_STAGE_LR="1e-2")


def main(dname: str, seed: int) -> None:
    d = ds.design(dname, seed)
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    idx = split["test"]
    true = d.rmst1[idx] - d.rmst0[idx]
    for name in ("default", "staged"):
        for k in VARIANT:
            os.environ.pop(k, None)
        if name == "staged":
            os.environ.update(VARIANT)
        model = ds.make_model("csa", seed, {}, 0.0)
        model.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        factual = min(r["valid_factual"] for r in model.history_)
        event = min(r["valid_event"] for r in model.history_)
        r0, r1 = ds.model_rmst(model, te, d.horizon)
        pehe = float(np.sqrt(np.mean((r1 - r0 - true) ** 2)))
        print(f"{dname} {seed} {name}: valid_factual {factual:.4f} valid_event {event:.4f} "
              f"RMST PEHE {pehe:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
