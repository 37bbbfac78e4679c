"""Issue 18 quality bar: 1 process against 2 gloo processes (DDP) on actg-Synthetic with the same settings
(CSA-INFO defaults, alpha 1, seed 0, one member, the authors' train / valid split): the exact RMST(1000)
ATE on the test split, epochs run and fit seconds.

    OMP_NUM_THREADS=1 python3 benchmarks/ddp_actg_synthetic.py [MAX_EPOCHS (default 150)] [OUT_PREFIX]
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's pyrocsa

import torch  # noqa: E402

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 150
PREFIX = sys.argv[2] if len(sys.argv) > 2 else "/tmp/pyrocsa_ddp_actg"


def fit(out):
    import pyrocsa
    from pyrocsa.core import distributed
    from pyrocsa.datasets import load_actg_synthetic

    torch.set_num_threads(1)
    ds = load_actg_synthetic()
    df = ds.frame
    tr, va = ds.split["train"], ds.split["valid"]
    est = pyrocsa.CSA(alpha=1.0, seed=0, max_epochs=EPOCHS, ensemble_size=1, verbose=False)
    t0 = time.time()
    est.fit(df.iloc[tr], "time", "event", "treatment", val_df=df.iloc[va], covariates=list(ds.covariates))
    est.save(out)
    if distributed.is_main():
        Path(out + ".time").write_text(str(time.time() - t0))


def ate(path):
    import pyrocsa
    from pyrocsa.datasets import load_actg_synthetic

    ds = load_actg_synthetic()
    te = ds.frame.iloc[ds.split["test"]]
    m = pyrocsa.CSA.load(path)
    d = m.predict_rmst(te, 1000.0, treatment=1) - m.predict_rmst(te, 1000.0, treatment=0)
    return float(d.mean()), len(m.history_)


if __name__ == "__main__":
    from pyrocsa.core import distributed

    fit(PREFIX + "_1p")
    distributed.spawn(fit, (PREFIX + "_2p",), 2, threads=1)
    for p in (PREFIX + "_1p", PREFIX + "_2p"):
        a, ep = ate(p)
        secs = float(Path(p + ".time").read_text())
        print(f"{Path(p).name}: RMST(1000) ATE {a:.2f} days, epochs {ep}, fit {secs:.1f} s")
