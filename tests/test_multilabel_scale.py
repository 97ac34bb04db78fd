"""Multi-label at scale: Parquet shards (resumable, one shard in memory) and Dask
partitions give the votes and the model of the in-memory path, on the bundled MAMS sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from weaklabel import load_lfs
from weaklabel.multilabel import MAMS_CLASSES, apply_multilabel_lfs, label_set_function, load_mams
from weaklabel.multilabel.label_model import MultiLabelModel
from weaklabel.multilabel.stream import (
    ShardedMultiLabelMatrix,
    apply_multilabel_lfs_to_shards,
    predict_proba_to_parquet,
)


@label_set_function(vectorized=True, column="text")
def people(texts: pd.Series) -> list:
    """A set function among the per-label LFs: its columns must shard and partition too."""
    lowered = texts.str.lower()
    return [{"staff"} if "waiter" in t else {"staff", "food"} if "chef" in t else None for t in lowered]


@pytest.fixture(scope="module")
def mams(tmp_path_factory):
    lfs = [*load_lfs("labeling_functions.mams"), people]
    train, _ = load_mams("train")
    valid, Y_valid = load_mams("val")
    folder = tmp_path_factory.mktemp("mams")
    train[["text"]].to_parquet(folder / "train.parquet")
    M = apply_multilabel_lfs(lfs, train, MAMS_CLASSES, progress=False)
    M_valid = apply_multilabel_lfs(lfs, valid, MAMS_CLASSES, progress=False)
    return {"lfs": lfs, "train": train, "M": M, "M_valid": M_valid, "Y_valid": Y_valid, "folder": folder}


def test_shards_give_the_in_memory_votes_model_and_probabilities(mams):
    out = mams["folder"] / "votes"
    shards = apply_multilabel_lfs_to_shards(
        mams["lfs"], mams["folder"] / "train.parquet", out, MAMS_CLASSES, batch_rows=300, progress=False
    )
    assert shards.shards.n_shards == 4 and shards.complete
    reopened = ShardedMultiLabelMatrix.open(out)
    assert reopened.to_multilabel_matrix().votes.tolist() == mams["M"].votes.tolist()
    assert reopened.targets == mams["M"].targets
    dev = (mams["Y_valid"], mams["M_valid"])
    streamed = MultiLabelModel(random_state=0).fit_chunks(reopened.chunks(), *dev)
    in_memory = MultiLabelModel(random_state=0).fit(mams["M"], *dev)
    assert streamed.calibration_ == in_memory.calibration_
    np.testing.assert_allclose(streamed.predict_proba(mams["M"]), in_memory.predict_proba(mams["M"]), atol=1e-9)
    path = predict_proba_to_parquet(streamed, reopened, mams["folder"] / "probs.parquet")
    table = pd.read_parquet(path)
    assert len(table) == 1000 and [f"prob_{c}" for c in MAMS_CLASSES] == list(table.columns[1:9])
    assert table["labels"].map(len).sum() > 1000  # several labels per row


def test_resuming_shards_of_other_classes_is_refused(mams):
    out = mams["folder"] / "votes_other"
    apply_multilabel_lfs_to_shards(mams["lfs"], mams["folder"] / "train.parquet", out, MAMS_CLASSES,
                                   batch_rows=500, progress=False)
    reordered = [*MAMS_CLASSES[1:], MAMS_CLASSES[0]]
    with pytest.raises(ValueError, match="another run"):
        apply_multilabel_lfs_to_shards(mams["lfs"], mams["folder"] / "train.parquet", out, reordered,
                                       batch_rows=500, progress=False)
    with pytest.raises(TypeError, match="cardinality is set by"):
        apply_multilabel_lfs_to_shards(mams["lfs"], mams["folder"] / "train.parquet", out, MAMS_CLASSES, cardinality=2)


@pytest.mark.slow
def test_dask_gives_the_in_memory_votes_and_model(mams):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    from weaklabel.multilabel import dask as mdask

    ddf = dd.from_pandas(mams["train"][["text"]], npartitions=3)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        votes = mdask.apply_multilabel_lfs(mams["lfs"], ddf, MAMS_CLASSES).persist()
        assert votes.compute().votes.tolist() == mams["M"].votes.tolist()
        dev = (mams["Y_valid"], mams["M_valid"])
        model = mdask.fit_multilabel_model(MultiLabelModel(random_state=0), votes, *dev, client=client)
        reference = MultiLabelModel(random_state=0).fit(mams["M"], *dev)
        np.testing.assert_allclose(model.predict_proba(mams["M"]), reference.predict_proba(mams["M"]), atol=1e-9)
        probs = mdask.predict_proba(model, votes).compute()
        np.testing.assert_allclose(probs.to_numpy(), reference.predict_proba(mams["M"]), atol=1e-9)
