"""LabelMatrix: validation, compact storage, column/row selection, hstack, safe persistence."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from weaklabel.data import load_wrench
from weaklabel.matrix import MAX_CARDINALITY, LabelMatrix, as_vote_array


def _small(**kwargs) -> LabelMatrix:
    votes = [[1, -1, 0], [0, 0, -1], [-1, -1, -1], [1, 1, 1]]
    return LabelMatrix(votes, ["a", "b", "c"], **kwargs)


# ---------------------------------------------------------------- construction
def test_storage_is_compact_and_read_only():
    L = _small()
    assert L.votes.dtype == np.int8 and L.shape == (4, 3) and len(L) == 4
    with pytest.raises(ValueError, match="read-only"):
        L.votes[0, 0] = 0
    wide = LabelMatrix([[199, -1]], ["a", "b"], cardinality=200)
    assert wide.votes.dtype == np.int16 and wide.to_numpy().tolist() == [[199, -1]]
    copy = L.to_numpy()
    copy[0, 0] = 0  # a writable int64 copy
    assert copy.dtype == np.int64 and L.votes[0, 0] == 1


def test_attributes_cannot_be_changed_from_outside():
    L = _small(class_names=["ham", "spam"])
    L.lf_names.append("x")
    L.class_names.append("eggs")
    L.error_counts["a"] = 5
    assert L.lf_names == ["a", "b", "c"] and L.class_names == ["ham", "spam"]
    assert L.error_counts == {"a": 0, "b": 0, "c": 0}


def test_cardinality_inference():
    assert _small().cardinality == 2
    assert _small(class_names=["x", "y", "z"]).cardinality == 3
    assert _small(cardinality=5).cardinality == 5
    with pytest.raises(ValueError, match="cannot infer the number of classes"):
        LabelMatrix([[-1, 0]], ["a", "b"])
    with pytest.raises(ValueError, match="3 class_names given for 2 classes"):
        _small(cardinality=2, class_names=["x", "y", "z"])


@pytest.mark.parametrize(
    ("votes", "kwargs", "message"),
    [
        (
            [[1, 2]],
            {"cardinality": 2},
            r"vote 2 at row 0, column 1, outside \[-1, 1\] for cardinality 2",
        ),
        ([[1, -2]], {}, r"vote -2 at row 0, column 1; votes are -1 \(abstain\)"),
        ([[1.5, 0]], {}, r"non-integer vote 1\.5 at row 0, column 0"),
        ([[1.0, np.nan]], {}, r"contains NaN at row 0, column 1; use -1 to abstain"),
        ([[np.inf, 0.0]], {}, r"contains infinity at row 0, column 0"),
        ([[True, False]], {}, "holds booleans"),
        ([["1", "0"]], {}, "must hold integers"),
        ([[1, None]], {}, r"None found\? use -1"),
        ([1, 0], {}, r"must be 2-D .* got shape \(2,\)"),
        ([[1, 0, 1]], {}, "2 lf_names given for a matrix with 3 columns"),
        ([[1, 0]], {"cardinality": 1}, r"cardinality must be an integer in \[2, 32767\], got 1"),
        ([[1, 0]], {"cardinality": MAX_CARDINALITY + 1}, "cardinality must be an integer"),
        ([[1, 0]], {"cardinality": 2.5}, "cardinality must be an integer"),
        ([[1, 0]], {"index": [0, 1]}, "index has 2 entries for 1 rows"),
        (
            [[1, 0], [0, 1]],
            {"index": ["x", "x"]},
            r"row ids must be unique; 'x' appears more than once",
        ),
        ([[1, 0]], {"class_names": ["y", "y"]}, "class_names must be unique"),
        ([[1, 0]], {"error_counts": {"zz": 1}}, r"error_counts names unknown sources: \['zz'\]"),
        ([[1, 0]], {"error_counts": {"a": -1}}, "error_counts must be >= 0"),
    ],
)
def test_construction_rejects_bad_input(votes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelMatrix(votes, ["a", "b"], **kwargs)


def test_names_must_be_unique_and_a_list():
    with pytest.raises(ValueError, match=r"source names must be unique; duplicated: \['a'\]"):
        LabelMatrix([[1, 0]], ["a", "a"])
    with pytest.raises(TypeError, match="lf_names must be a list"):
        LabelMatrix([[1, 0]], "ab")
    with pytest.raises(TypeError, match="class_names must be a list"):
        LabelMatrix([[1, 0]], ["a", "b"], class_names="hs")


def test_whole_floats_and_empty_input_are_accepted():
    assert LabelMatrix(np.array([[1.0, -1.0]]), ["a", "b"]).to_numpy().tolist() == [[1, -1]]
    empty = LabelMatrix([], ["a", "b"], cardinality=3)
    assert empty.shape == (0, 2) and empty.coverage() == 0.0


def test_as_vote_array():
    L = _small()
    arr = as_vote_array(L)
    assert arr.dtype == np.int64 and arr.flags.writeable
    arr[0, 0] = 0
    assert L.votes[0, 0] == 1
    assert as_vote_array([[1, -1]]).dtype == np.int64
    with pytest.raises(ValueError, match="outside"):
        as_vote_array(L, cardinality=1)
    with pytest.raises(ValueError, match="holds booleans"):
        as_vote_array(np.ones((2, 2), dtype=bool))


def test_views_and_equality():
    L = _small(class_names=["ham", "spam"], index=["r1", "r2", "r3", "r4"])
    frame = L.to_dataframe()
    assert list(frame.columns) == ["a", "b", "c"] and list(frame.index) == ["r1", "r2", "r3", "r4"]
    assert L.coverage() == 0.75
    assert np.asarray(L).tolist() == L.to_numpy().tolist()
    assert L == _small(class_names=["ham", "spam"], index=["r1", "r2", "r3", "r4"])
    assert L != _small(index=["r1", "r2", "r3", "r4"])  # class names differ
    assert "coverage=0.750" in repr(L)


# ---------------------------------------------------------------- selection
def test_select_and_drop():
    L = _small(error_counts={"b": 2})
    picked = L.select(["c", "a"])
    assert picked.lf_names == ["c", "a"] and picked.to_numpy()[:, 1].tolist() == [1, 0, -1, 1]
    assert L.select("b").error_counts == {"b": 2}
    assert L.drop("b").lf_names == ["a", "c"]
    with pytest.raises(KeyError, match=r"no source named \['zz'\]; sources are \['a', 'b', 'c'\]"):
        L.select(["a", "zz"])
    with pytest.raises(KeyError, match="no source named"):
        L.drop(["zz"])


def test_take_rows():
    L = _small(index=["r1", "r2", "r3", "r4"], error_counts={"a": 1})
    assert list(L.take([3, 0]).index) == ["r4", "r1"]
    assert L.take([3, 0]).to_numpy().tolist() == [[1, 1, 1], [1, -1, 0]]
    assert list(L.take(np.array([True, False, True, False])).index) == ["r1", "r3"]
    assert list(L.take(slice(1, 3)).index) == ["r2", "r3"]
    assert L.take([]).shape == (0, 3)
    assert L.take([0]).error_counts == {"a": 0, "b": 0, "c": 0}  # counted over all rows: dropped
    with pytest.raises(ValueError, match="boolean row mask has shape"):
        L.take([True, False])
    with pytest.raises(IndexError, match="row position 9 is out of range for 4 rows"):
        L.take([0, 9])
    with pytest.raises(TypeError, match="integer positions or a boolean mask"):
        L.take([0.5])


def test_reindex_aligns_rows_by_id():
    L = _small(index=["r1", "r2", "r3", "r4"])
    aligned = L.reindex(["r3", "r1"])
    assert list(aligned.index) == ["r3", "r1"] and aligned.to_numpy().tolist() == [
        [-1, -1, -1],
        [1, -1, 0],
    ]
    with pytest.raises(KeyError, match=r"1 row ids are not in the matrix, e\.g\. \['r9'\]"):
        L.reindex(["r1", "r9"])


# ---------------------------------------------------------------- hstack
def test_hstack_puts_sources_side_by_side():
    left = _small(index=list("wxyz"), error_counts={"a": 3})
    right = LabelMatrix(
        [[1], [0], [1], [-1]], ["llm"], index=list("wxyz"), class_names=["ham", "spam"]
    )
    both = LabelMatrix.hstack([left, right])
    assert both.lf_names == ["a", "b", "c", "llm"] and both.shape == (4, 4)
    assert both.class_names == ["ham", "spam"] and both.error_counts["a"] == 3
    assert both.to_numpy()[:, 3].tolist() == [1, 0, 1, -1]


def test_hstack_errors_name_the_item_and_position():
    left = _small(index=list("wxyz"))
    shuffled = LabelMatrix([[1], [0], [1], [-1]], ["llm"], index=list("wxzy"))
    with pytest.raises(
        ValueError, match=r"item 1 has other row ids than item 0: at position 2, 'z' != 'y'"
    ):
        LabelMatrix.hstack([left, shuffled])
    fixed = LabelMatrix.hstack([left, shuffled.reindex(left.index)])
    assert fixed.to_numpy()[:, 3].tolist() == [1, 0, -1, 1]
    with pytest.raises(ValueError, match="item 1 has 1 rows, item 0 has 4"):
        LabelMatrix.hstack([left, LabelMatrix([[1]], ["llm"])])
    with pytest.raises(ValueError, match="item 1 has cardinality 3"):
        LabelMatrix.hstack(
            [left, LabelMatrix([[1]] * 4, ["llm"], index=list("wxyz"), cardinality=3)]
        )
    with pytest.raises(ValueError, match=r"repeat the source names \['a'\]"):
        LabelMatrix.hstack([left, left.select("a")])
    with pytest.raises(TypeError, match="item 1 is a ndarray"):
        LabelMatrix.hstack([left, left.votes])
    with pytest.raises(ValueError, match="at least one"):
        LabelMatrix.hstack([])


def test_hstack_llm_votes_beside_lf_votes_on_real_data(wrench_dir):
    _, lfs, y = load_wrench(wrench_dir("youtube"), "train")
    _, llm, y_llm = load_wrench(wrench_dir("youtube_prompted_original"), "train")
    both = LabelMatrix.hstack([lfs, llm])
    assert both.shape == (1586, 20) and np.array_equal(y, y_llm)
    assert both.lf_names[:2] == ["keyword_my", "keyword_subscribe"]
    assert both.lf_names[10] == "youtube_prompted_original_0"


# ---------------------------------------------------------------- persistence
@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("index", [None, ["c1", "c2", "c3", "c4"], [10, 20, 30, 40]])
def test_save_load_round_trip(tmp_path, suffix, index):
    row_index = None if index is None else pd.Index(index, name="comment_id")
    L = _small(class_names=["ham", "spam"], index=row_index, error_counts={"b": 4})
    path = L.save(tmp_path / f"votes{suffix}")
    loaded = LabelMatrix.load(path)
    assert loaded == L and loaded.error_counts == L.error_counts
    assert loaded.index.name == (None if index is None else "comment_id")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"votes{suffix}"]  # no temp files left


def test_npz_holds_no_pickle(tmp_path):
    path = _small(index=["a", "b", "c", "d"]).save(tmp_path / "votes.npz")
    with np.load(path, allow_pickle=False) as payload:
        assert {payload[key].dtype.kind for key in payload.files} <= {
            "i",
            "u",
        }  # ints and UTF-8 bytes


def test_save_rejects_what_it_cannot_store_faithfully(tmp_path):
    with pytest.raises(ValueError, match=r"use \.npz or \.parquet"):
        _small().save(tmp_path / "votes.pkl")
    with pytest.raises(ValueError, match="mixed or object types"):
        _small(index=[1, "b", 3, 4]).save(tmp_path / "votes.npz")
    with pytest.raises(OSError, match=r"cannot write the label matrix to .*absent/votes\.npz"):
        _small().save(tmp_path / "absent" / "votes.npz")
    multi = pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a"), (2, "b")])
    with pytest.raises(ValueError, match="MultiIndex"):
        _small(index=multi).save(tmp_path / "votes.parquet")


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_corrupt_files_are_a_clear_error(tmp_path, suffix):
    good = _small().save(tmp_path / f"good{suffix}").read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"\x00not a matrix at all" * 10)
    for path in (truncated, garbage):
        with pytest.raises(
            ValueError, match=rf"{path.name} is not a weaklabel label matrix or is corrupt"
        ):
            LabelMatrix.load(path)
    with pytest.raises(FileNotFoundError, match="no label matrix at"):
        LabelMatrix.load(tmp_path / f"absent{suffix}")


def test_foreign_or_pickled_npz_is_rejected(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, votes=np.zeros((2, 2), dtype=np.int8))
    with pytest.raises(ValueError, match=r"foreign\.npz is not a weaklabel label matrix"):
        LabelMatrix.load(foreign)
    pickled = tmp_path / "pickled.npz"
    np.savez(
        pickled,
        votes=np.zeros((1, 1), dtype=np.int8),
        index=np.array([object()]),
        metadata=np.array("{}"),
    )
    with pytest.raises(ValueError, match=r"pickled\.npz is not a weaklabel label matrix"):
        LabelMatrix.load(pickled)
    tampered = tmp_path / "tampered.npz"
    _small().save(tampered)
    with zipfile.ZipFile(tampered) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("extra.npy", b"junk")
    assert LabelMatrix.load(tampered) == _small()  # unknown members are ignored, not executed


def test_npz_files_of_the_first_layout_still_load(tmp_path):
    path = tmp_path / "early.npz"
    meta = {
        "format": "weaklabel.LabelMatrix",
        "version": 1,
        "lf_names": ["a", "b", "c"],
        "cardinality": 2,
        "class_names": None,
        "error_counts": {"a": 0, "b": 0, "c": 0},
        "index_name": None,
    }
    np.savez_compressed(
        path, votes=_small().votes, index=np.arange(4), metadata=np.array(json.dumps(meta))
    )
    assert LabelMatrix.load(path) == _small()


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_saved_matrices_are_sealed_in_the_shared_envelope(tmp_path, suffix):
    """Version 2: the metadata in the shared envelope (``_io``) with a digest of the votes and
    row ids: a file whose votes were rewritten consistently (zip CRC and Parquet page
    checksums recomputed) is still refused."""
    from weaklabel import _matrix_io

    matrix = _small(index=["a", "b", "c", "d"])
    path = matrix.save(tmp_path / f"m{suffix}")
    votes, index, meta = _matrix_io.read_matrix(path)
    assert _matrix_io.VERSION == 2 and "data_sha256" in meta
    other = votes.copy()
    other[0, 0] = 1 - max(other[0, 0], 0)
    rewritten = tmp_path / f"rewritten{suffix}"
    envelope = json.dumps(_matrix_io.seal(_matrix_io.FORMAT, _matrix_io.VERSION, meta))  # the same metadata
    if suffix == ".npz":
        _matrix_io._write_npz(rewritten, other, list(index), envelope)
    else:
        _matrix_io._write_parquet(rewritten, other, list(index), envelope, meta["lf_names"])
    with pytest.raises(ValueError, match="do not match its checksum"):
        LabelMatrix.load(rewritten)
    assert LabelMatrix.load(path) == matrix
    assert list(LabelMatrix.load(path).index) == ["a", "b", "c", "d"]


def test_parquet_files_of_the_first_layout_still_load(tmp_path):
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = json.dumps({"format": "weaklabel.LabelMatrix", "version": 1, "lf_names": ["a", "b", "c"],
                       "cardinality": 2, "class_names": None, "error_counts": {"a": 0, "b": 0, "c": 0},
                       "index_name": None, "n_rows": 4}).encode()
    votes = _small().votes
    table = pa.table({"__row_id__": np.arange(4), **{n: votes[:, j] for j, n in enumerate("abc")}})
    path = tmp_path / "early.parquet"
    pq.write_table(table.replace_schema_metadata(
        {b"weaklabel": meta, b"weaklabel_sha256": hashlib.sha256(meta).hexdigest().encode()}), path)
    assert LabelMatrix.load(path) == _small()
