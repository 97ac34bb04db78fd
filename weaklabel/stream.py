"""Label a Parquet dataset larger than memory, shard by shard, and resume where it stopped.

``apply_lfs_to_shards`` reads the data in row batches (only the columns asked for),
runs ``apply_lfs`` on each batch and writes its votes as one shard
file (``votes-00000.npz``, ...) next to a ``manifest.json``. Memory stays bounded by one
batch whatever the size of the dataset, and every shard is written atomically before the
manifest records it, so a run stopped by Ctrl-C, a crash or ``kill -9`` resumes from the
last complete shard. LLM labelers label shard by shard too; their answer cache makes a
rerun of a shard free.

The label model fits in one pass over the shards from their sufficient statistics, and
``predict_proba_to_parquet`` writes the probabilistic labels shard by shard::

    from weaklabel import LabelModel, load_lfs
    from weaklabel.stream import apply_lfs_to_shards, predict_proba_to_parquet

    shards = apply_lfs_to_shards(
        load_lfs("labeling_functions.youtube"), "comments/", "votes/", class_names=["ham", "spam"]
    )
    model = LabelModel(cardinality=shards.cardinality).fit_chunks(shards.chunks())
    predict_proba_to_parquet(model, shards, "probs.parquet")

The same model fitted on the whole matrix in memory gives the same probabilities (up to
floating-point rounding) as long as the matrix has at most ``max_patterns`` distinct
vote patterns; beyond that both fits use the same seeded row sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from weaklabel._fingerprint import lf_fingerprint
from weaklabel.apply import OnError, _check_arguments, _check_sources, apply_lfs
from weaklabel.exceptions import (
    DataError,
    DataFileNotFoundError,
    ManifestMismatchError,
    MissingColumnError,
    OutputDirError,
)
from weaklabel.label_models.base import probs_columns
from weaklabel.matrix import LabelMatrix

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ManifestMismatchError",
    "ShardedLabelMatrix",
    "apply_lfs_to_shards",
    "predict_proba_to_parquet",
]

logger = logging.getLogger("weaklabel")

MANIFEST = "manifest.json"
_FORMAT = "weaklabel.ShardedLabelMatrix"
_FORMAT_VERSION = 1
_SHARD = "votes-{:05d}.npz"
_SHARD_FILE = re.compile(r"^votes-\d{5,}\.npz$")
_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")


# ---------------------------------------------------------------- the source files
@dataclass(frozen=True)
class _SourceFile:
    path: Path
    name: str
    n_bytes: int
    rows: int
    row_groups: tuple[int, ...]
    footer_sha256: str
    schema: pa.Schema

    def fingerprint(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "bytes": self.n_bytes,
            "rows": self.rows,
            "footer_sha256": self.footer_sha256,
        }


def _import_pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a core dependency
        raise ImportError('reading Parquet needs pyarrow: pip install "pyarrow>=14"') from exc
    return pq


def _footer_digest(path: Path) -> str:
    """SHA-256 of the Parquet footer: row groups, statistics and offsets, without reading data.

    The footer changes with the content, so it identifies the file wherever it is copied
    (modification times do not survive a copy; the footer does).
    """
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size < 12:
            raise DataError(f"{path} is not a Parquet file ({size} bytes)")
        handle.seek(size - 8)
        tail = handle.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            raise DataError(f"{path} is not a Parquet file (no Parquet footer)")
        handle.seek(size - 8 - length)
        return hashlib.sha256(handle.read(length)).hexdigest()


def _source_paths(source: Any) -> tuple[list[Path], Path]:
    """The Parquet files of ``source`` in a stable order, and the folder names are relative to."""
    if isinstance(source, str | os.PathLike):
        root = Path(source)
        if root.is_dir():
            files = sorted(
                (
                    p
                    for p in root.rglob("*.parquet")
                    if p.is_file()
                    and not any(
                        part.startswith((".", "_")) for part in p.relative_to(root).parts
                    )
                ),
                key=lambda p: p.relative_to(root).as_posix(),
            )
            if not files:
                raise DataFileNotFoundError(f"no .parquet files in the folder {root}")
            return files, root
        if root.is_file():
            return [root], root.parent
        raise DataFileNotFoundError(f"no Parquet file or folder at {root}")
    if isinstance(source, Iterable) and not isinstance(source, bytes):
        files = [Path(item) for item in source]
        if not files:
            raise DataError("source is an empty list of files")
        for path in files:
            if not path.is_file():
                raise DataFileNotFoundError(f"no Parquet file at {path}")
        common = Path(os.path.commonpath([str(p.resolve().parent) for p in files]))
        return [p.resolve() for p in files], common
    raise TypeError(
        f"source must be a Parquet file, a folder of them or a list of files, "
        f"got {type(source).__name__}"
    )


def _inspect_sources(source: Any) -> list[_SourceFile]:
    pq = _import_pyarrow()
    paths, root = _source_paths(source)
    found = []
    for path in paths:
        try:
            metadata = pq.ParquetFile(path).metadata
            schema = metadata.schema.to_arrow_schema()
            digest = _footer_digest(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"cannot read {path} as Parquet: {exc}") from exc
        found.append(
            _SourceFile(
                path=path,
                name=path.resolve().relative_to(root.resolve()).as_posix(),
                n_bytes=path.stat().st_size,
                rows=metadata.num_rows,
                row_groups=tuple(
                    metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)
                ),
                footer_sha256=digest,
                schema=schema,
            )
        )
    return found


def _read_columns(
    files: list[_SourceFile], columns: Sequence[str] | None, id_column: str | None
) -> list[str]:
    """The columns to read, checked to exist with one type in every file."""
    first = files[0].schema
    if columns is None:
        wanted = [name for name in first.names if not _PANDAS_INDEX.match(name)]
    else:
        if isinstance(columns, str):
            raise TypeError(f"columns must be a list of column names, got the string {columns!r}")
        wanted = list(columns)
    if id_column is not None and id_column not in wanted:
        wanted.append(id_column)
    for file in files:
        missing = [name for name in wanted if name not in file.schema.names]
        if missing:
            raise MissingColumnError(
                f"{file.path} lacks the columns {missing} (its columns: {file.schema.names})"
            )
        for name in wanted:
            if file is not files[0] and file.schema.field(name).type != first.field(name).type:
                raise DataError(
                    f"column {name!r} is {file.schema.field(name).type} in {file.path} but "
                    f"{first.field(name).type} in {files[0].path}; rewrite the files with one type"
                )
    return wanted


def _read_batches(
    files: list[_SourceFile], columns: list[str], batch_rows: int, start_row: int
) -> Iterator[pa.Table]:
    """Tables of exactly ``batch_rows`` rows (the last one fewer) from ``start_row`` on.

    Batches run across file boundaries, so shard ``i`` always holds the global rows
    ``[i * batch_rows, (i + 1) * batch_rows)``. Whole row groups before ``start_row`` are
    skipped without being read.
    """
    import pyarrow as pa

    pq = _import_pyarrow()
    pending: list[pa.RecordBatch] = []
    held = 0
    offset = 0  # global position of the current file's first row
    for file in files:
        if offset + file.rows <= start_row:
            offset += file.rows
            continue
        skip = max(0, start_row - offset)
        groups: list[int] = []
        group_start = 0
        for group, rows in enumerate(file.row_groups):
            if group_start + rows <= skip and not groups:
                group_start += rows
                continue
            groups.append(group)
        skip -= group_start
        reader = pq.ParquetFile(file.path)
        try:
            for batch in reader.iter_batches(
                batch_size=batch_rows, row_groups=groups, columns=columns
            ):
                if skip:
                    if batch.num_rows <= skip:
                        skip -= batch.num_rows
                        continue
                    batch = batch.slice(skip)
                    skip = 0
                pending.append(batch.replace_schema_metadata(None))
                held += batch.num_rows
                while held >= batch_rows:
                    table = pa.Table.from_batches(pending)
                    yield table.slice(0, batch_rows)
                    rest = table.slice(batch_rows)
                    pending, held = rest.to_batches(), rest.num_rows
        finally:
            reader.close()
        offset += file.rows
    if held:
        yield pa.Table.from_batches(pending)


def _batch_frame(table: pa.Table, id_column: str | None, start: int) -> pd.DataFrame:
    """A batch as the DataFrame the LFs see; row ids from ``id_column`` or global positions."""
    frame = table.to_pandas()
    if id_column is None:
        frame.index = pd.RangeIndex(start, start + len(frame))
        return frame
    if frame[id_column].isna().any():
        pos = int(np.flatnonzero(frame[id_column].isna().to_numpy())[0])
        raise DataError(f"row {start + pos} has no id in the id column {id_column!r}")
    return frame.set_index(id_column)


# ---------------------------------------------------------------- the manifest
_RUN_KEYS = ("lfs", "cardinality", "class_names", "source", "batch_rows", "on_error")


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {directory}: not a sharded label matrix")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise ValueError(f"its format is not {_FORMAT!r}")
        if manifest.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"format version {manifest.get('version')!r}, this weaklabel reads {_FORMAT_VERSION}"
            )
        missing = [key for key in (*_RUN_KEYS, "lf_names", "n_rows", "shards") if key not in manifest]
        if missing:
            raise ValueError(f"it lacks {missing}")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path} is corrupt or not a weaklabel manifest: {exc}") from exc
    return manifest


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the run that wrote the shards and this one, in words."""
    found = []
    old_lfs = {lf["name"]: lf for lf in old["lfs"]}
    new_lfs = {lf["name"]: lf for lf in new["lfs"]}
    if list(old_lfs) != list(new_lfs):
        added, removed = sorted(set(new_lfs) - set(old_lfs)), sorted(set(old_lfs) - set(new_lfs))
        if added or removed:
            found.append(f"LFs added {added}, removed {removed}")
        else:
            found.append(f"LF order changed from {list(old_lfs)} to {list(new_lfs)}")
    changed = [
        name for name in new_lfs if name in old_lfs and old_lfs[name] != new_lfs[name]
    ]
    if changed:
        found.append(f"LFs {changed} changed (their kind, code or settings)")
    old_files = {f["file"]: f for f in old["source"]["files"]}
    new_files = {f["file"]: f for f in new["source"]["files"]}
    if old_files != new_files:
        added = sorted(set(new_files) - set(old_files))
        removed = sorted(set(old_files) - set(new_files))
        edited = sorted(n for n in new_files if n in old_files and old_files[n] != new_files[n])
        found.append(
            f"source files added {added}, removed {removed}, changed {edited}"
            if added or removed or edited
            else "source files are in another order"
        )
    for key in ("columns", "id_column"):
        if old["source"][key] != new["source"][key]:
            found.append(f"{key} was {old['source'][key]!r}, now {new['source'][key]!r}")
    for key in ("cardinality", "class_names", "batch_rows", "on_error"):
        if old[key] != new[key]:
            found.append(f"{key} was {old[key]!r}, now {new[key]!r}")
    return found


def _remove_files(directory: Path, *, shards: bool) -> None:
    """Delete temporary files a killed run left behind, and with ``shards`` the shards and
    the manifest too; never other files."""
    for path in directory.iterdir():
        ours = shards and (_SHARD_FILE.match(path.name) or path.name == MANIFEST)
        leftover = path.name.startswith((".votes-", f".{MANIFEST}.")) and path.name.endswith(".tmp")
        if path.is_file() and (ours or leftover):
            path.unlink()


def _start(directory: Path, run: dict[str, Any], resume: bool) -> dict[str, Any]:
    """The manifest to continue: the existing one when it matches, else a fresh one.

    A manifest without complete shards (a run that failed on its first batch) has nothing
    to keep, so it never blocks a corrected run.
    """
    if directory.exists() and not directory.is_dir():
        raise OutputDirError(f"out_dir {directory} is a file, not a folder; choose another out_dir")
    directory.mkdir(parents=True, exist_ok=True)
    old = None
    if (directory / MANIFEST).exists():
        try:
            old = _read_manifest(directory)
        except ValueError as exc:  # not ours, or damaged: either way not ours to delete
            raise OutputDirError(
                f"{exc}. It is left as it is: use another out_dir, or delete it (and the "
                "votes-*.npz files) if it is what remains of a weaklabel run"
            ) from exc
    else:
        foreign = sorted(p.name for p in directory.iterdir() if _SHARD_FILE.match(p.name))
        if foreign:
            raise OutputDirError(
                f"out_dir {directory} holds {foreign[:3]}{'...' if len(foreign) > 3 else ''} but no "
                f"{MANIFEST}: weaklabel did not write them, so it will not replace them; use another out_dir"
            )
    if not resume:
        old = None
    if old is not None and old["shards"]:
        _remove_files(directory, shards=False)
        differences = _differences(old, run)
        if differences:
            raise ManifestMismatchError(
                f"{directory} holds shards of another run: {'; '.join(differences)}. "
                "Pass resume=False to delete them and start over, or use another out_dir"
            )
        shards = []
        for shard in old["shards"]:  # a shard deleted by hand is recomputed, with the rest
            if not (directory / shard["file"]).is_file():
                logger.warning("shard %s is missing; recomputing from there", shard["file"])
                break
            shards.append(shard)
        return {**old, "shards": shards}
    _remove_files(directory, shards=True)
    return {**run, "shards": []}


# ---------------------------------------------------------------- applying
def apply_lfs_to_shards(
    lfs: Iterable[Any],
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    batch_rows: int = 250_000,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    cardinality: int | None = None,
    class_names: Sequence[str] | None = None,
    n_jobs: int = 1,
    on_error: OnError = "raise",
    progress: bool = True,
    resume: bool = True,
) -> ShardedLabelMatrix:
    """Apply LFs to a Parquet dataset batch by batch, writing one vote shard per batch.

    Parameters
    ----------
    lfs
        Labeling functions of any kind, LLM labelers included (each shard is one call).
    source
        A Parquet file, a folder of them (read recursively in path order; names starting
        with ``.`` or ``_`` are skipped) or a list of files, read in that order.
    out_dir
        Folder of the shards and ``manifest.json``; one run at a time per folder.
    batch_rows
        Rows per shard. Peak memory is a few times one batch of the columns read.
    columns
        Columns the LFs read (all by default): reading fewer saves memory and time.
    id_column
        Column whose values become the row ids (ints or strings, unique); by default the
        row's position in the whole dataset.
    cardinality, class_names
        The classes. One of them is required: every shard must check its votes
        against the same number of classes.
    n_jobs, on_error
        As in ``apply_lfs``; ``n_jobs`` never changes the votes.
    progress
        A progress bar over the shards.
    resume
        Continue from the shards already in ``out_dir`` when they come from the same
        source, LFs, classes and ``batch_rows`` (a ``ManifestMismatchError`` says what
        differs otherwise). ``False`` deletes them and starts over.

    Returns
    -------
    ShardedLabelMatrix
        The complete result, opened lazily: nothing is held in memory.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int | np.integer) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    n_jobs, cardinality = _check_arguments(on_error, int(batch_rows), n_jobs, cardinality, class_names)
    if cardinality is None:
        raise ValueError(
            "apply_lfs_to_shards needs the number of classes up front (cardinality= or "
            "class_names=): every shard checks its votes against it, so shards agree"
        )
    if class_names is not None and len(class_names) != cardinality:
        raise ValueError(
            f"{len(class_names)} class_names for cardinality {cardinality}: {list(class_names)}"
        )
    sources = _check_sources(lfs)
    files = _inspect_sources(source)
    read = _read_columns(files, columns, id_column)
    run = _run_record(sources, files, read, id_column, cardinality, class_names, int(batch_rows), on_error)
    n_rows = run["n_rows"]
    directory = Path(out_dir)
    manifest = _start(directory, run, resume)
    done = sum(shard["rows"] for shard in manifest["shards"])
    _write_json_atomic(directory / MANIFEST, manifest)
    n_shards = math.ceil(n_rows / batch_rows)
    if done:
        logger.info("resuming %s after %d of %d shards", directory, len(manifest["shards"]), n_shards)
    with tqdm(
        total=n_shards,
        initial=len(manifest["shards"]),
        desc="Labeling shards",
        unit="shard",
        disable=not progress or done == n_rows,
    ) as bar:
        for table in _read_batches(files, read, int(batch_rows), done):
            started = time.perf_counter()
            number = len(manifest["shards"])
            frame = _batch_frame(table, id_column, done)
            L = apply_lfs(sources, frame, cardinality=cardinality, class_names=run["class_names"],
                          n_jobs=n_jobs, progress=False, on_error=on_error)
            name = _add_shard(directory, manifest, L)
            logger.debug(
                "shard %d/%d: rows %d..%d in %.2f s -> %s",
                number + 1, n_shards, done, done + L.n_rows - 1,
                time.perf_counter() - started, name,
            )
            done += L.n_rows
            bar.update(1)
    return ShardedLabelMatrix.open(directory)


def _add_shard(directory: Path, manifest: dict[str, Any], L: LabelMatrix) -> str:
    """Save one batch's votes, then record them in the manifest (a crash in between leaves
    an unlisted file that the resumed run overwrites)."""
    name = _SHARD.format(len(manifest["shards"]))
    L.save(directory / name)
    manifest["shards"].append({"file": name, "rows": L.n_rows, "error_counts": L.error_counts})
    _write_json_atomic(directory / MANIFEST, manifest)
    return name


def _run_record(
    sources: list[Any], files: list[Any], read: Any, id_column: str | None, cardinality: int,
    class_names: Sequence[str] | None, batch_rows: int, on_error: OnError,
) -> dict[str, Any]:
    """What makes the shards of a run: a resumed run must match it exactly (the manifest)."""
    return {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "lf_names": [lf.name for lf in sources],
        "lfs": [lf_fingerprint(lf) for lf in sources],
        "cardinality": cardinality,
        "class_names": None if class_names is None else [str(c) for c in class_names],
        "source": {
            "files": [file.fingerprint() for file in files],
            "columns": read,
            "id_column": id_column,
        },
        "batch_rows": batch_rows,
        "on_error": on_error,
        "n_rows": sum(file.rows for file in files),
    }


# ---------------------------------------------------------------- reading back
class ShardedLabelMatrix:
    """A label matrix stored as shards on disk, read one shard at a time.

    Open one with ``open``; ``chunks`` feeds ``LabelModel.fit_chunks`` and
    ``predict_proba_to_parquet`` without ever holding the whole matrix.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self._manifest = manifest

    @classmethod
    def open(cls, out_dir: str | os.PathLike[str]) -> ShardedLabelMatrix:
        """The shards written by ``apply_lfs_to_shards`` into ``out_dir``."""
        directory = Path(out_dir)
        return cls(directory, _read_manifest(directory))

    @property
    def lf_names(self) -> list[str]:
        """The source names, one per column (a copy)."""
        return list(self._manifest["lf_names"])

    @property
    def cardinality(self) -> int:
        """The number of classes."""
        return int(self._manifest["cardinality"])

    @property
    def class_names(self) -> list[str] | None:
        """Names of the classes (a copy), or None."""
        names = self._manifest["class_names"]
        return None if names is None else list(names)

    @property
    def n_rows(self) -> int:
        """Rows in the complete shards (all rows of the source once ``complete``)."""
        return sum(shard["rows"] for shard in self._manifest["shards"])

    @property
    def n_shards(self) -> int:
        """Number of complete shards."""
        return len(self._manifest["shards"])

    @property
    def complete(self) -> bool:
        """Whether every row of the source has its votes (False after an interrupted run)."""
        return self.n_rows == self._manifest["n_rows"]

    @property
    def error_counts(self) -> dict[str, int]:
        """Per source, the rows whose vote became ABSTAIN because it raised (all shards)."""
        counts = dict.fromkeys(self._manifest["lf_names"], 0)
        for shard in self._manifest["shards"]:
            for name, count in shard["error_counts"].items():
                counts[name] += count
        return counts

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"incomplete: {self.n_rows} of {self._manifest['n_rows']} rows"
        return (
            f"ShardedLabelMatrix({str(self.directory)!r}, n_rows={self.n_rows}, "
            f"sources={len(self.lf_names)}, shards={self.n_shards}, {state})"
        )

    def _check_complete(self, allow_incomplete: bool) -> None:
        if not self.complete and not allow_incomplete:
            raise ValueError(
                f"{self.directory} is incomplete ({self.n_rows} of {self._manifest['n_rows']} "
                "rows labelled): rerun apply_lfs_to_shards to finish it, or pass "
                "allow_incomplete=True to read the complete shards only"
            )

    def chunks(self, *, allow_incomplete: bool = False) -> Iterator[LabelMatrix]:
        """One ``LabelMatrix`` per shard, in row order, each read when it is reached."""
        self._check_complete(allow_incomplete)
        for shard in self._manifest["shards"]:
            path = self.directory / shard["file"]
            L = LabelMatrix.load(path)
            if (
                L.lf_names != self._manifest["lf_names"]
                or L.cardinality != self.cardinality
                or L.n_rows != shard["rows"]
            ):
                raise ValueError(
                    f"{path} does not match {self.directory / MANIFEST} ({L!r} with sources "
                    f"{L.lf_names}, expected {shard['rows']} rows of {self.lf_names}); "
                    "was it replaced by hand? Rerun with resume=False"
                )
            yield L

    def to_label_matrix(self, *, allow_incomplete: bool = False) -> LabelMatrix:
        """All shards in one in-memory ``LabelMatrix`` (for data that fits in memory)."""
        parts = list(self.chunks(allow_incomplete=allow_incomplete))
        if not parts:
            return LabelMatrix(
                np.empty((0, len(self.lf_names)), dtype=np.int8),
                self.lf_names,
                cardinality=self.cardinality,
                class_names=self.class_names,
            )
        return LabelMatrix(
            np.concatenate([part.votes for part in parts]),
            self.lf_names,
            cardinality=self.cardinality,
            class_names=self.class_names,
            index=parts[0].index.append([part.index for part in parts[1:]]),
            error_counts=self.error_counts,
        )


# ---------------------------------------------------------------- probabilistic labels
def _model_class_names(model: Any, cardinality: int) -> list[str]:
    """The fitted model's class names, or the class indices as text."""
    names = getattr(model, "class_names_", None)
    return list(names) if names is not None and len(names) == cardinality else [str(c) for c in range(cardinality)]


def predict_proba_to_parquet(
    model: Any,
    shards: ShardedLabelMatrix | Iterable[LabelMatrix],
    path: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> Path:
    """Write a fitted label model's probabilistic labels to Parquet, one shard at a time.

    Columns, as in a pipeline run's ``probs.parquet``: ``row_id`` (the matrix's row ids,
    ints or strings), ``prob_<class>`` per class (class names when known — the shards', else
    the model's — otherwise the class index), ``n_votes``, ``predicted_label`` (the most
    probable class's name) and ``predicted_index`` (its index). Memory holds one shard; the
    file appears under ``path`` only once complete.
    """
    import pyarrow as pa

    known = shards.n_shards if isinstance(shards, ShardedLabelMatrix) else None
    chunks = shards.chunks() if isinstance(shards, ShardedLabelMatrix) else iter(shards)

    def tables() -> Iterator[pa.Table]:
        for L in tqdm(chunks, total=known, desc="Predicting", unit="shard", disable=not progress):
            if not isinstance(L, LabelMatrix):
                raise TypeError(f"shards must yield LabelMatrix chunks, got {type(L).__name__}")
            probs = np.asarray(model.predict_proba(L))
            names = L.class_names or _model_class_names(model, L.cardinality)
            ids = L.index.to_numpy()
            columns: dict[str, Any] = {
                "row_id": pa.array(ids.tolist() if ids.dtype == object else ids)
            }
            columns.update(probs_columns(probs, L.votes, names))
            yield pa.table(columns)

    empty = None
    if isinstance(shards, ShardedLabelMatrix):
        names = shards.class_names or _model_class_names(model, shards.cardinality)
        empty = pa.schema(
            [("row_id", pa.int64())]
            + [(f"prob_{name}", pa.float64()) for name in names]
            + [("n_votes", pa.int64()), ("predicted_label", pa.string()), ("predicted_index", pa.int64())]
        )
    return _write_tables(path, tables(), empty)


def _write_tables(path: str | os.PathLike[str], tables: Iterable[pa.Table], empty: pa.Schema | None = None) -> Path:
    """Write Arrow tables, one after another, as one Parquet file that appears under
    ``path`` only once complete (an empty file of schema ``empty`` when there are none;
    without ``empty``, no table is an error)."""
    pq = _import_pyarrow()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            if empty is None:
                raise ValueError("predict_proba_to_parquet got no chunks")
            writer = pq.ParquetWriter(tmp, empty)
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return path
