"""Run labeling functions over data and collect their votes in a :class:`LabelMatrix`.

Each kind of LF runs the fastest way it allows: vectorised LFs once per batch of rows,
row-wise LFs in a Python loop (optionally over several processes, with identical
results), batch LFs (LLM labelers) once over all rows. Every vote is checked where it is
produced, so a bad one is reported with the LF, the row and the value.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from weaklabel.lf import ABSTAIN, BaseLabelingFunction, Row, as_labeling_function
from weaklabel.matrix import LabelMatrix

__all__ = ["InvalidVoteError", "LabelingFunctionError", "apply_lfs", "as_frame"]

OnError = Literal["raise", "abstain"]
_INTEGER_TYPES = frozenset(
    {int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64}
)


class LabelingFunctionError(RuntimeError):
    """A labeling function raised while voting. The original exception is the ``__cause__``."""

    def __init__(self, message: str, lf_name: str, row: Any) -> None:
        super().__init__(message, lf_name, row)
        self.lf_name = lf_name
        self.row = row

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidVoteError(ValueError):
    """A labeling function returned something that is not a vote in [-1, cardinality - 1]."""

    def __init__(self, message: str, lf_name: str, row: Any, value: Any) -> None:
        super().__init__(message, lf_name, row, value)
        self.lf_name = lf_name
        self.row = row
        self.value = value

    def __str__(self) -> str:
        return str(self.args[0])


def as_frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame, a Series, or a list of strings or dicts, and return a DataFrame.

    Strings become a ``text`` column; a Series keeps its name (``text`` if unnamed).
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name=data.name if data.name is not None else "text")
    elif isinstance(data, np.ndarray) and data.ndim == 1:
        frame = pd.DataFrame({"text": data})
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes):
        items = list(data)
        if all(isinstance(item, str) for item in items):
            frame = pd.DataFrame({"text": pd.Series(items, dtype=object)})
        elif all(isinstance(item, Mapping) for item in items):
            frame = pd.DataFrame.from_records(items)
        else:
            kinds = {type(item).__name__ for item in items}
            first = next(
                pos
                for pos, item in enumerate(items)
                if not isinstance(item, type(items[0]))
                or not isinstance(item, str | Mapping)
            )
            raise TypeError(
                "data as a list must hold only strings or only dicts; "
                f"found {sorted(kinds)} (first odd item at position {first}: {items[first]!r:.80})"
            )
    else:
        raise TypeError(
            f"cannot label data of type {type(data).__name__}; "
            "pass a DataFrame, a Series, or a list of strings or dicts"
        )
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()][0]
        raise ValueError(
            f"the data's row ids must be unique; {dup!r} appears more than once "
            "(use df.reset_index(drop=True))"
        )
    return frame


# ---------------------------------------------------------------- vote checking
def _bad_vote_error(name: str, row: Any, value: Any, cardinality: int | None) -> InvalidVoteError:
    allowed = f"[-1, {cardinality - 1}]" if cardinality else "-1 or a class index >= 0"
    if value is None:
        hint = "; return ABSTAIN (-1) instead of None"
    elif isinstance(value, bool | np.bool_):
        hint = "; booleans are not votes, return a class index or ABSTAIN"
    else:
        hint = ""
    return InvalidVoteError(
        f"LF {name!r} returned {value!r} ({type(value).__name__}) on row {row!r}; "
        f"votes must be integers in {allowed}{hint}",
        name,
        row,
        value,
    )


def _check_range(name: str, votes: np.ndarray, index: pd.Index, cardinality: int | None) -> None:
    bad = votes < ABSTAIN
    if cardinality is not None:
        bad |= votes >= cardinality
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise _bad_vote_error(name, index[pos], votes[pos].item(), cardinality)


def _votes_from_list(name: str, out: list[Any], index: pd.Index, cardinality: int | None) -> np.ndarray:
    if not set(map(type, out)) <= _INTEGER_TYPES:
        pos = next(i for i, v in enumerate(out) if type(v) not in _INTEGER_TYPES)
        raise _bad_vote_error(name, index[pos], out[pos], cardinality)
    votes = np.fromiter(out, dtype=np.int64, count=len(out))
    _check_range(name, votes, index, cardinality)
    return votes


def _votes_from_array(name: str, out: Any, index: pd.Index, cardinality: int | None) -> np.ndarray:
    if isinstance(out, pd.Series | pd.DataFrame):
        out = out.to_numpy()
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (len(index),):
        raise InvalidVoteError(
            f"LF {name!r} returned an array of shape {arr.shape} for a batch of {len(index)} rows; "
            "it must return one vote per row",
            name,
            None,
            arr.shape,
        )
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "b":
            raise _bad_vote_error(name, index[0] if len(index) else None, arr[0].item(), cardinality)
        bad = [i for i, v in enumerate(arr.tolist()) if type(v) is not int]
        if arr.dtype.kind == "f":
            finite_ints = np.isfinite(arr) & (arr == np.round(arr))
            bad = np.flatnonzero(~finite_ints).tolist() or [0]
        pos = bad[0] if bad else 0
        raise _bad_vote_error(name, index[pos], arr[pos].item() if arr.size else None, cardinality)
    votes = arr.astype(np.int64, copy=False)
    _check_range(name, votes, index, cardinality)
    return votes


# ---------------------------------------------------------------- row-wise LFs
def _rows(frame: pd.DataFrame) -> list[Row]:
    return [Row(**record) for record in frame.to_dict("records")]


def _call_row_lf(lf: BaseLabelingFunction, rows: list[Row], index: pd.Index, on_error: OnError):
    """Run one row-wise LF; returns (votes, error_count)."""
    call = lf.__call__  # type: ignore[attr-defined]
    out: list[Any] = []
    append = out.append
    errors = 0
    for pos, x in enumerate(rows):
        try:
            append(call(x))
        except Exception as exc:
            if on_error == "raise":
                raise LabelingFunctionError(
                    f"LF {lf.name!r} raised {type(exc).__name__}: {exc} on row {index[pos]!r} "
                    f"(position {pos})\n{traceback.format_exc()}",
                    lf.name,
                    index[pos],
                ) from exc
            append(ABSTAIN)
            errors += 1
    return out, errors


def _apply_row_lfs(
    lfs: list[BaseLabelingFunction],
    frame: pd.DataFrame,
    cardinality: int | None,
    on_error: OnError,
) -> tuple[np.ndarray, list[int]]:
    rows = _rows(frame)
    votes = np.empty((len(frame), len(lfs)), dtype=np.int16)
    errors = []
    for col, lf in enumerate(lfs):
        out, n_errors = _call_row_lf(lf, rows, frame.index, on_error)
        votes[:, col] = _votes_from_list(lf.name, out, frame.index, cardinality)
        errors.append(n_errors)
    return votes, errors


# State handed to forked workers without pickling (LFs defined in notebooks need not pickle).
_FORK_STATE: dict[str, Any] = {}


def _row_worker(start: int, stop: int) -> tuple[int, np.ndarray, list[int]]:
    state = _FORK_STATE
    votes, errors = _apply_row_lfs(
        state["lfs"], state["frame"].iloc[start:stop], state["cardinality"], state["on_error"]
    )
    return start, votes, errors


def _apply_row_lfs_parallel(
    lfs: list[BaseLabelingFunction],
    frame: pd.DataFrame,
    cardinality: int | None,
    on_error: OnError,
    n_jobs: int,
    batch_size: int,
    bar: tqdm,
) -> tuple[np.ndarray, list[int]]:
    n = len(frame)
    chunk = max(1, min(batch_size, -(-n // (n_jobs * 4))))
    votes = np.empty((n, len(lfs)), dtype=np.int16)
    errors = [0] * len(lfs)
    methods = multiprocessing.get_all_start_methods()
    if "fork" not in methods:
        raise RuntimeError(
            "n_jobs > 1 for row-wise LFs needs the 'fork' start method (Linux/macOS); "
            "use n_jobs=1 or vectorized LFs"
        )
    _FORK_STATE.update(lfs=lfs, frame=frame, cardinality=cardinality, on_error=on_error)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
            futures = [pool.submit(_row_worker, s, min(s + chunk, n)) for s in range(0, n, chunk)]
            for future in futures:
                try:
                    start, part, part_errors = future.result()
                except LabelingFunctionError as exc:
                    _reraise_in_process(exc, lfs, frame, on_error)
                    raise
                votes[start : start + len(part)] = part
                errors = [a + b for a, b in zip(errors, part_errors, strict=True)]
                bar.update(len(part))
    finally:
        _FORK_STATE.clear()
    return votes, errors


def _reraise_in_process(
    exc: LabelingFunctionError, lfs: list[BaseLabelingFunction], frame: pd.DataFrame, on_error: OnError
) -> None:
    """Re-run the failing row here so the error carries the real exception as its cause."""
    lf = next(lf for lf in lfs if lf.name == exc.lf_name)
    _call_row_lf(lf, _rows(frame.loc[[exc.row]]), frame.index[frame.index == exc.row], on_error)


# ---------------------------------------------------------------- batch-wise LFs
def _apply_batch_lf(
    lf: BaseLabelingFunction,
    batch: pd.DataFrame,
    cardinality: int | None,
    on_error: OnError,
    progress: bool,
) -> tuple[np.ndarray, int]:
    try:
        if lf.kind == "batch":
            out = lf.apply_batch(batch, progress=progress)  # type: ignore[attr-defined]
        else:
            out = lf.apply_batch(batch)  # type: ignore[attr-defined]
    except Exception as exc:
        where = f"rows {batch.index[0]!r}..{batch.index[-1]!r}" if len(batch) else "an empty batch"
        if on_error == "raise":
            raise LabelingFunctionError(
                f"LF {lf.name!r} raised {type(exc).__name__}: {exc} on the batch of {where}",
                lf.name,
                None,
            ) from exc
        return np.full(len(batch), ABSTAIN, dtype=np.int64), len(batch)
    return _votes_from_array(lf.name, out, batch.index, cardinality), 0


def _check_sources(lfs: Iterable[Any]) -> list[BaseLabelingFunction]:
    sources = [as_labeling_function(lf) for lf in lfs]
    if not sources:
        raise ValueError("no labeling functions given")
    names = [lf.name for lf in sources]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"labeling function names must be unique; duplicated: {duplicated}")
    return sources


def apply_lfs(
    lfs: Iterable[Any],
    data: Any,
    *,
    cardinality: int | None = None,
    class_names: Sequence[str] | None = None,
    n_jobs: int = 1,
    batch_size: int = 50_000,
    progress: bool = True,
    on_error: OnError = "raise",
) -> LabelMatrix:
    """Apply labeling functions to data and return their votes as a :class:`LabelMatrix`.

    Parameters
    ----------
    lfs
        Labeling functions of any kind (row-wise, vectorised, batch/LLM), or Snorkel LFs.
    data
        A DataFrame, a Series, or a list of strings (a ``text`` column) or dicts.
    cardinality
        Number of classes. Votes are checked against it; inferred from the votes if omitted.
    class_names
        Optional class names stored on the matrix.
    n_jobs
        Processes for row-wise LFs (``-1``: all cores). Results are identical for any value.
    batch_size
        Rows per batch for vectorised and row-wise LFs; bounds memory.
    progress
        Show a progress bar (notebook-aware).
    on_error
        ``"raise"``: an LF that raises stops the run with an error naming the LF and the row.
        ``"abstain"``: its vote becomes ABSTAIN and the count is kept in
        ``LabelMatrix.error_counts``. Invalid votes (wrong type or range) always raise.
    """
    if on_error not in ("raise", "abstain"):
        raise ValueError(f"on_error must be 'raise' or 'abstain', got {on_error!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    if cardinality is not None and cardinality < 2:
        raise ValueError(f"cardinality must be >= 2, got {cardinality}")
    sources = _check_sources(lfs)
    frame = as_frame(data)
    n = len(frame)
    votes = np.full((n, len(sources)), ABSTAIN, dtype=np.int16)
    errors = dict.fromkeys((lf.name for lf in sources), 0)
    row_cols = [j for j, lf in enumerate(sources) if lf.kind == "row"]
    vec_cols = [j for j, lf in enumerate(sources) if lf.kind == "vectorized"]
    batch_cols = [j for j, lf in enumerate(sources) if lf.kind == "batch"]

    row_lfs = [sources[j] for j in row_cols]
    with tqdm(total=n, desc="Applying LFs", unit="rows", disable=not progress or n == 0) as bar:
        if row_lfs and n_jobs > 1 and n > 1:
            part, part_errors = _apply_row_lfs_parallel(
                row_lfs, frame, cardinality, on_error, n_jobs, batch_size, bar
            )
            votes[:, row_cols] = part
            for lf, count in zip(row_lfs, part_errors, strict=True):
                errors[lf.name] += count
            bar.reset(total=n)
        for start in range(0, n, batch_size):
            batch = frame.iloc[start : start + batch_size]
            if row_lfs and n_jobs == 1:
                part, part_errors = _apply_row_lfs(row_lfs, batch, cardinality, on_error)
                votes[start : start + len(batch), row_cols] = part
                for lf, count in zip(row_lfs, part_errors, strict=True):
                    errors[lf.name] += count
            for j in vec_cols:
                column, count = _apply_batch_lf(sources[j], batch, cardinality, on_error, progress)
                votes[start : start + len(batch), j] = column
                errors[sources[j].name] += count
            bar.update(len(batch))
    for j in batch_cols:
        column, count = _apply_batch_lf(sources[j], frame, cardinality, on_error, progress)
        votes[:, j] = column
        errors[sources[j].name] += count

    return LabelMatrix(
        votes,
        [lf.name for lf in sources],
        cardinality=cardinality,
        class_names=class_names,
        index=frame.index,
        error_counts=errors,
    )
