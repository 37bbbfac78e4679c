"""Fitting from Parquet (pyrocsa.core.streaming): one statistics pass, streamed row groups, the split."""

import numpy as np
import pandas as pd
import pytest
import torch

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from pyrocsa import CSA  # noqa: E402
from pyrocsa.core.streaming import scan_parquet  # noqa: E402
from pyrocsa.data import Preprocessor  # noqa: E402

SMALL = dict(hidden=(8,), flow_layers=1, max_epochs=2, batch_size=64, alpha=1.0, seed=0, verbose=False)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def _cohort(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    a = rng.binomial(1, 1 / (1 + np.exp(-x[:, 0])))
    t = rng.exponential(np.exp(1 + 0.5 * a + 0.4 * x[:, 0]))
    c = rng.exponential(6.0, size=n)
    df = pd.DataFrame({"age": 50 + 10 * x[:, 0], "lab": x[:, 1], "smoker": rng.integers(0, 2, n),
                       "site": rng.choice(["north", "south", "east"], n)})
    df.loc[rng.random(n) < 0.1, "lab"] = np.nan           # missing -> median
    df.loc[rng.random(n) < 0.05, "smoker"] = np.nan        # binary -> mode
    df.loc[rng.random(n) < 0.05, "site"] = None            # text -> mode
    df["const"] = 1.0                                      # dropped
    df["arm"], df["days"], df["died"] = a, np.minimum(t, c), (t <= c).astype(int)
    return df


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    d = tmp_path_factory.mktemp("pq")
    df = _cohort()
    path = d / "cohort.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=100)  # 6 row groups
    folder = d / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, len(df), 250)):
        pq.write_table(pa.Table.from_pandas(df.iloc[start:start + 250], preserve_index=False),
                       folder / f"part{i}.parquet", row_group_size=80)
    return df, path, folder


def test_statistics_pass_matches_a_frame_preprocessor(parquet):
    df, path, _ = parquet
    with pytest.warns(UserWarning, match="const"):
        scan = scan_parquet(path, "days", "died", "arm")
    assert scan.n_train + scan.n_valid == len(df)
    assert 0.10 < scan.n_valid / len(df) < 0.20
    # the training rows are the rows not in the hash split; a frame preprocessor fitted on them agrees
    valid = scan.in_valid(0, len(df))
    train = df[~valid]
    with pytest.warns(UserWarning, match="const"):
        ref = Preprocessor().fit(train, [c for c in df.columns if c not in ("arm", "days", "died")])
    pre = scan.preprocessor
    assert pre.dropped_ == ref.dropped_ == ["const"]
    assert pre.categorical_ == ref.categorical_
    assert pre.numeric_.keys() == ref.numeric_.keys()
    for col, st in ref.numeric_.items():
        for k, v in st.items():
            assert pre.numeric_[col][k] == pytest.approx(v, rel=1e-9, abs=1e-12), (col, k)
    np.testing.assert_allclose(pre.transform(train), ref.transform(train), rtol=1e-5, atol=1e-6)
    ly = np.log(train["days"].to_numpy())
    assert scan.log_y_mean == pytest.approx(ly.mean(), rel=1e-9)
    assert scan.log_y_sd == pytest.approx(ly.std(ddof=1), rel=1e-9)
    assert scan.max_duration == pytest.approx(train["days"].max())


def test_minibatches_visit_every_training_row_once_per_epoch(parquet):
    df, path, _ = parquet
    with pytest.warns(UserWarning):
        scan = scan_parquet(path, "days", "died", "arm", buffer_rows=150)
    gen = torch.Generator().manual_seed(0)
    seen = []
    for tensors, idx in scan.train.minibatches(64, gen):
        seen.append(tensors[2][idx])
    y = torch.cat(seen)
    assert y.shape[0] == scan.n_train
    train_y = torch.as_tensor(df["days"].to_numpy()[~scan.in_valid(0, len(df))], dtype=torch.float32)
    assert torch.equal(y.sort().values, train_y.sort().values)
    assert sum(t[0].shape[0] for t in scan.valid.chunks(rows=50)) == scan.n_valid


def test_fit_from_a_parquet_file_and_a_directory(parquet, tmp_path):
    df, path, folder = parquet
    before = path.read_bytes()
    with pytest.warns(UserWarning):
        m = CSA(**SMALL).fit(str(path), "days", "died", "arm")
    assert path.read_bytes() == before  # the user's file is not modified
    assert isinstance(m, CSA) and m.fitted_ and len(m.history_) == 2
    assert m.n_train_ + m.n_valid_ == len(df)
    assert np.isfinite(m.history_[-1]["valid_factual"])
    po = m.sample_potential_outcomes(df.head(20), num_samples=5, seed=0)
    assert po.t1.shape == (5, 20) and np.isfinite(po.t1).all()
    # the same class of result as a frame fit: it saves and loads like one
    m.save(tmp_path / "model")
    back = CSA.load(tmp_path / "model")
    np.testing.assert_allclose(back.predict_rmst(df.head(5), 5.0), m.predict_rmst(df.head(5), 5.0))
    with pytest.warns(UserWarning):
        m2 = CSA(**SMALL).fit(folder, "days", "died", "arm")  # a directory of files (Path)
    assert m2.n_train_ + m2.n_valid_ == len(df)


def test_parquet_fit_refuses_what_needs_rows_in_memory(parquet):
    _, path, _ = parquet
    with pytest.raises(ValueError, match="val_df"):
        CSA(**SMALL).fit(path, "days", "died", "arm", val_df=_cohort(50))
    with pytest.raises(ValueError, match="alpha"):
        CSA(**dict(SMALL, alpha="auto")).fit(path, "days", "died", "arm")
    with pytest.raises(ValueError, match="no_such"):
        CSA(**SMALL).fit(path, "no_such", "died", "arm")


def test_cli_fit_stream(parquet, tmp_path, capsys):
    from pyrocsa.reports.cli import main

    df, _, folder = parquet
    base = ["--duration", "days", "--event", "died", "--treatment", "arm", "--epochs", "1", "--quiet"]
    assert main(["fit", str(folder), "--stream", "--out", str(tmp_path / "m"), *base]) == 0
    m = CSA.load(tmp_path / "m")
    assert m.n_train_ + m.n_valid_ == len(df)
    csv = tmp_path / "x.csv"
    df.to_csv(csv, index=False)
    assert main(["fit", str(csv), "--stream", "--out", str(tmp_path / "m2"), *base]) == 2
    assert "--stream reads Parquet" in capsys.readouterr().err
    assert main(["fit", str(folder), "--stream", "--out", str(tmp_path / "m3"), "--duration", "days",
                 "--event", "died", "--treatment", "nope", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
