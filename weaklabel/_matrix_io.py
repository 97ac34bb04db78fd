"""Label-matrix files: ``.npz`` or ``.parquet``, in the shared checksummed envelope (``_io``).

The matrix's metadata (source names, classes, error counts, row count) is sealed with
``_io.seal`` together with a SHA-256 of the votes and the row ids, so an edited, truncated or
bit-flipped file is refused rather than loaded as other votes; the file is written to a
temporary name and moved into place. No pickle either way: string row ids are stored as
UTF-8 JSON (numpy's fixed-width strings would drop trailing NULs), others as a plain array.

Files of the first layout (version 1: metadata without the envelope, a digest of the
metadata alone in Parquet) still load, with the checks they allowed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklabel._io import atomic_path, open_envelope, seal

__all__ = ["FORMAT", "SUFFIXES", "VERSION", "check_suffix", "read_matrix", "write_matrix"]

FORMAT = "weaklabel.LabelMatrix"
VERSION = 2
_ROW_ID_COLUMN = "__row_id__"
_LEGACY_DIGEST_KEY = b"weaklabel_sha256"  # version 1 Parquet files: digest of the metadata
SUFFIXES = (".npz", ".parquet")


def check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unknown label-matrix format {path.suffix!r}; use .npz or .parquet")
    return suffix


def _data_digest(votes: np.ndarray, index: np.ndarray | list[str]) -> str:
    """SHA-256 of the votes (as int16, whatever the stored width) and the row ids."""
    digest = hashlib.sha256(json.dumps(list(votes.shape)).encode())
    digest.update(np.ascontiguousarray(votes, dtype="<i2").tobytes())
    if isinstance(index, list):
        digest.update(json.dumps(index).encode())
    else:
        values = np.ascontiguousarray(index)
        digest.update(values.dtype.str.encode() + values.tobytes())
    return digest.hexdigest()


def write_matrix(path: Path, votes: np.ndarray, index: np.ndarray | list[str], metadata: dict[str, Any]) -> Path:
    """Write ``votes`` (n, m), the row ids ``index`` and ``metadata`` (with ``lf_names``) to
    ``path`` atomically; the suffix chooses the format."""
    suffix = check_suffix(path)
    envelope = json.dumps(seal(FORMAT, VERSION, {**metadata, "data_sha256": _data_digest(votes, index)}))
    try:
        with atomic_path(path) as tmp:
            if suffix == ".npz":
                _write_npz(tmp, votes, index, envelope)
            else:
                _write_parquet(tmp, votes, index, envelope, metadata["lf_names"])
    except OSError as exc:  # a missing, read-only or full folder
        raise OSError(f"cannot write the label matrix to {path}: {exc.strerror or exc}") from exc
    return path


def _write_npz(tmp: Path, votes: np.ndarray, index: np.ndarray | list[str], envelope: str) -> None:
    index_arrays: dict[str, Any]
    if isinstance(index, list):
        index_arrays = {"index_json": np.frombuffer(json.dumps(index).encode(), dtype=np.uint8)}
    else:
        index_arrays = {"index": index}
    with tmp.open("wb") as handle:
        np.savez_compressed(
            handle, votes=votes, metadata=np.frombuffer(envelope.encode(), dtype=np.uint8), **index_arrays
        )


def _write_parquet(
    tmp: Path, votes: np.ndarray, index: np.ndarray | list[str], envelope: str, lf_names: list[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if _ROW_ID_COLUMN in lf_names:
        raise ValueError(f"a source named {_ROW_ID_COLUMN!r} cannot be saved to parquet")
    columns = {_ROW_ID_COLUMN: pa.array(index, type=pa.string() if isinstance(index, list) else None)}
    columns.update({name: pa.array(votes[:, j]) for j, name in enumerate(lf_names)})
    table = pa.table(columns).replace_schema_metadata({b"weaklabel": envelope.encode()})
    pq.write_table(table, tmp, write_page_checksum=True)


def read_matrix(path: Path) -> tuple[np.ndarray, Any, dict[str, Any]]:
    """(votes, row ids, metadata) of a file written by ``write_matrix`` (or of the first
    layout), checked; any problem is a ValueError naming the file."""
    suffix = check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"no label matrix at {path}")
    try:
        payload, votes, index = _read_npz(path) if suffix == ".npz" else _read_parquet(path)
        if isinstance(payload, dict) and payload.get("format") == FORMAT and payload.get("version") == 1:
            meta = payload  # the first layout: no envelope, no digest of the votes
        else:
            meta = open_envelope(payload, FORMAT, VERSION, path.name, "label matrix")
            if meta.get("data_sha256") != _data_digest(votes, _as_saved(index)):
                raise ValueError("its votes or row ids do not match its checksum (edited or damaged)")
        if meta.get("n_rows", len(votes)) != len(votes):  # (files saved before n_rows: no check)
            raise ValueError(f"it holds {len(votes)} rows, its metadata says {meta['n_rows']}")
        return votes, index, meta
    except Exception as exc:
        raise ValueError(f"{path} is not a weaklabel label matrix or is corrupt: {type(exc).__name__}: {exc}") from exc


def _as_saved(index: Any) -> np.ndarray | list[str]:
    """Row ids as ``write_matrix`` was given them: strings as a list, others as an array."""
    values = np.asarray(index)
    return [str(value) for value in values] if values.dtype == object else values


def _read_npz(path: Path) -> tuple[Any, np.ndarray, Any]:
    with np.load(path, allow_pickle=False) as payload:
        raw = payload["metadata"]  # UTF-8 bytes; a 0-d str array in the earliest files
        meta = json.loads(raw.tobytes() if raw.dtype.kind == "u" else str(raw))
        votes = payload["votes"]
        if "index_json" in payload.files:
            index = pd.Index(json.loads(payload["index_json"].tobytes()), dtype=object)
        else:
            index = payload["index"]
    return meta, votes, index


def _read_parquet(path: Path) -> tuple[Any, np.ndarray, Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, page_checksum_verification=True)
    stored = table.schema.metadata or {}
    digest = stored.get(_LEGACY_DIGEST_KEY)
    if digest is not None and digest.decode() != hashlib.sha256(stored[b"weaklabel"]).hexdigest():
        raise ValueError("its metadata does not match its checksum")
    meta = json.loads(stored[b"weaklabel"])
    names = meta.get("lf_names", []) if isinstance(meta, dict) else []
    votes = (
        np.column_stack([table.column(name).to_numpy() for name in names])
        if names
        else np.empty((table.num_rows, 0), dtype=np.int8)
    )
    return meta, votes, table.column(_ROW_ID_COLUMN).to_numpy()
