"""Per-fit choice between the default CSA-INFO and a staged variant, by validation likelihood or by the
doubly robust effect score of ``alpha="auto"``.

Needs ``benchmarks/results/cox_nesting_experiment.patch`` applied (``git apply``): the variant is switched
on by the environment variables that patch reads; on unpatched main both fits are the default.
For one design-suite design and seed, fits both on the design suite's split and prints the minimum
validation factual and event losses (``history_``), the doubly robust effect score on the validation rows
(:func:`pyrocsa.csa.alpha.effect_errors`, horizon :func:`pyrocsa.csa.alpha.selection_horizon`) with the
one-SE choice between the two (:func:`pyrocsa.csa.alpha.one_se_choice`, the default preferred), and the
test RMST PEHE of each:

    PYTHONPATH=. OMP_NUM_THREADS=1 python3 benchmarks/variant_selection.py a 0 [cox-nesting | normal-staged]

Results: ``benchmarks/results/design_suite_variants.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import design_suite as ds  # noqa: E402
import numpy as np  # noqa: E402

from pyrocsa.core.influence import rmst_difference_pseudo_outcomes  # noqa: E402
from pyrocsa.csa.alpha import effect_errors, one_se_choice, selection_horizon  # noqa: E402
from pyrocsa.data.frame import stratified_split  # noqa: E402

#: the staged variants' switches (read by the experiment patch)
VARIANTS = {"cox-nesting": dict(PYROCSA_BASE="gumbel", PYROCSA_OUTER="4", PYROCSA_SKIP="1", PYROCSA_STAGE="1",
                                PYROCSA_STAGE_LR="1e-2"),
            "normal-staged": dict(PYROCSA_SKIP="1", PYROCSA_STAGE="1", PYROCSA_STAGE_LR="1e-2")}


def main(dname: str, seed: int, variant: str = "cox-nesting") -> None:
    switches = VARIANTS[variant]
    d = ds.design(dname, seed)
    split = stratified_split(d.frame, "event", "treatment", seed=seed)
    tr, va, te = (d.frame.iloc[split[k]] for k in ("train", "valid", "test"))
    idx = split["test"]
    true = d.rmst1[idx] - d.rmst0[idx]
    errors, pehes, phi = {}, {}, None
    for code, name in enumerate(("default", variant)):
        for k in switches:
            os.environ.pop(k, None)
        if code:
            os.environ.update(switches)
        model = ds.make_model("csa", seed, {}, 0.0)
        model.fit(tr, "time", "event", "treatment", val_df=va, covariates=d.covariates)
        factual = min(r["valid_factual"] for r in model.history_)
        event = min(r["valid_event"] for r in model.history_)
        r0, r1 = ds.model_rmst(model, te, d.horizon)
        pehe = float(np.sqrt(np.mean((r1 - r0 - true) ** 2)))
        valid = model.data_.transform(va, require_outcome=True)
        if phi is None:
            horizon = selection_horizon(model.data_)
            arrays = [tuple(v.double().numpy() for v in (x.x, x.y, x.delta, x.a))
                      for x in (model.data_, valid)]
            phi = rmst_difference_pseudo_outcomes(arrays[0], arrays[1], horizon)
        errors[code] = effect_errors(model.model_, valid, phi, horizon)
        pehes[code] = pehe
        print(f"{dname} {seed} {name}: valid_factual {factual:.4f} valid_event {event:.4f} "
              f"DR score {errors[code].mean():.5g} RMST PEHE {pehe:.3f}", flush=True)
    pick = int(one_se_choice({float(k): v for k, v in errors.items()}))
    print(f"{dname} {seed} DR one-SE pick: {('default', variant)[pick]} (RMST PEHE {pehes[pick]:.3f})",
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(sys.argv[3:4]))
