"""Run labeling functions over data and collect their votes in a ``LabelMatrix``.

Each kind of LF runs the fastest way it allows: vectorised LFs once per batch of rows,
row-wise LFs in a Python loop (optionally over several processes, with identical
results), batch LFs (LLM labelers) once over all rows. Every vote is checked where it is
produced, so a bad one is reported with the LF, the row and the value.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import threading
import traceback
import types
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from weaklabel._validation import MAX_CARDINALITY, check_cardinality, check_class_names
from weaklabel.exceptions import InvalidVoteError, LabelingFunctionError
from weaklabel.lf import (
    ABSTAIN,
    BaseLabelingFunction,
    LabelingFunction,
    RegexLabelingFunction,
    Row,
    VectorizedLabelingFunction,
    as_labeling_function,
    repeated_names,
)
from weaklabel.matrix import LabelMatrix

__all__ = ["InvalidVoteError", "LabelingFunctionError", "apply_lfs", "as_frame"]

OnError = Literal["raise", "abstain"]


class _Classes(NamedTuple):
    """What a vote is checked against: the number of classes and the names that map to them."""

    cardinality: int | None
    names: Sequence[str] | None = None


def as_frame(data: Any) -> pd.DataFrame:
    """Accept a DataFrame, a Series, a list of strings, dicts or namespaces, or a 2-D array,
    and return a DataFrame.

    Strings become a ``text`` column; a Series keeps its name (``text`` if unnamed); the
    columns of a 2-D array are named 0..m-1 (an LF reads ``x[0]``). Row ids (the index)
    must be unique, and so must column names.
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name=data.name if data.name is not None else "text")
    elif isinstance(data, np.ndarray) and data.ndim == 1:
        frame = pd.DataFrame({"text": data})
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        frame = pd.DataFrame(data)  # columns 0..m-1: an LF reads x[0], x[1], ...
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes):
        items = list(data)
        if all(isinstance(item, str) for item in items):
            try:
                frame = pd.DataFrame({"text": items})
            except UnicodeEncodeError:  # a lone surrogate: Arrow strings cannot hold it, objects can
                frame = pd.DataFrame({"text": pd.Series(items, dtype=object)})
        elif all(isinstance(item, Mapping) for item in items):
            frame = pd.DataFrame.from_records(items)
        elif all(isinstance(item, types.SimpleNamespace) for item in items):
            frame = pd.DataFrame.from_records([vars(item) for item in items])
        else:
            kinds = {type(item).__name__ for item in items}
            first = next(
                pos
                for pos, item in enumerate(items)
                if not isinstance(item, type(items[0]))
                or not isinstance(item, str | Mapping | types.SimpleNamespace)
            )
            raise TypeError(
                "data as a list must hold only strings, only dicts or only namespaces; "
                f"found {sorted(kinds)} (first odd item at position {first}: {items[first]!r:.80})"
            )
    else:
        raise TypeError(
            f"cannot label data of type {type(data).__name__}; "
            "pass a DataFrame, a Series, or a list of strings or dicts"
        )
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()].tolist()[0]  # a Python value in the message
        raise ValueError(
            f"the data's row ids must be unique; {dup!r} appears more than once "
            "(use df.reset_index(drop=True))"
        )
    if not frame.columns.is_unique:
        dup = frame.columns[frame.columns.duplicated()].tolist()[0]
        raise ValueError(f"the data's column names must be unique; {dup!r} appears more than once")
    return frame


# ---------------------------------------------------------------- vote checking
def _name_hint(value: str, class_names: Sequence[str] | None) -> str:
    if class_names:
        return f"; {value!r} is not one of the class names {list(class_names)}"
    return "; a class name needs apply_lfs(..., class_names=[...]) to map it"


def _bad_vote_error(
    name: str, row: Any, value: Any, cardinality: int | None, class_names: Any = None
) -> InvalidVoteError:
    allowed = f"in [0, {cardinality - 1}]" if cardinality else ">= 0"
    if isinstance(value, str):
        hint = _name_hint(value, class_names)
    elif value is None:
        hint = "; return ABSTAIN (-1) instead of None"
    elif isinstance(value, bool | np.bool_):
        hint = "; booleans are not votes, return a class index or ABSTAIN"
    elif isinstance(value, float | np.floating):
        hint = "; floats are not votes, return an int"
    else:
        hint = ""
    shown = repr(value.item()) if isinstance(value, np.generic) else repr(value)
    return InvalidVoteError(
        f"LF {name!r} returned {shown:.80} ({type(value).__name__}) on row {row!r}; "
        f"a vote is ABSTAIN (-1) or an integer class index {allowed}"
        + (" or a class name" if isinstance(value, str) else "")
        + hint,
        name,
        row,
        value,
    )


def _check_range(name: str, votes: np.ndarray, index: pd.Index, cardinality: int | None) -> None:
    bad = (votes < ABSTAIN) | (
        votes >= (cardinality if cardinality is not None else MAX_CARDINALITY)
    )
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise _bad_vote_error(name, index[pos], votes[pos].item(), cardinality)


def _is_int_type(kind: type) -> bool:
    return issubclass(kind, int | np.integer) and not issubclass(kind, bool | np.bool_)


def _names_to_indices(
    name: str, out: list[Any], index: pd.Index, classes: _Classes
) -> list[Any]:
    """Votes given as class names (``"SPAM"``) replaced by their class index."""
    lookup = {c: i for i, c in enumerate(classes.names or ())}
    mapped = list(out)
    for pos, value in enumerate(out):
        if isinstance(value, str):
            if value not in lookup:
                raise _bad_vote_error(name, index[pos], value, *classes)
            mapped[pos] = lookup[value]
    return mapped


def _votes_from_list(
    name: str,
    out: list[Any],
    index: pd.Index,
    cardinality: int | None,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Check a row-wise LF's return values (ints, IntEnums, numpy ints, class names) and
    make an array."""
    kinds = set(map(type, out))
    if str in kinds or any(issubclass(kind, str) for kind in kinds):
        out = _names_to_indices(name, out, index, _Classes(cardinality, class_names))
        kinds = set(map(type, out))
    if not all(_is_int_type(kind) for kind in kinds):
        pos = next(i for i, v in enumerate(out) if not _is_int_type(type(v)))
        raise _bad_vote_error(name, index[pos], out[pos], cardinality)
    try:
        votes = np.fromiter(out, dtype=np.int64, count=len(out))
    except OverflowError:  # a Python int beyond int64
        pos = next(i for i, v in enumerate(out) if not -(2**63) <= int(v) < 2**63)
        raise _bad_vote_error(name, index[pos], out[pos], cardinality) from None
    _check_range(name, votes, index, cardinality)
    return votes


def _votes_from_array(
    name: str,
    out: Any,
    index: pd.Index,
    cardinality: int | None,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Check a vectorised or batch LF's result: one vote per row (an integer or a class
    name), in row order."""
    if isinstance(out, list | tuple):  # check the items themselves: numpy would coerce True to 1
        if len(out) != len(index):
            raise _wrong_length(name, (len(out),), len(index))
        return _votes_from_list(name, list(out), index, cardinality, class_names)
    if isinstance(out, pd.DataFrame) and out.shape[1] == 1:
        out = out.iloc[:, 0]
    if isinstance(out, pd.Series) and not out.index.equals(index):
        if len(out) == len(index) and out.index.is_unique and out.index.isin(index).all():
            out = out.reindex(index)  # same rows in another order: align them by id
    if isinstance(out, pd.Series | pd.DataFrame):
        out = out.to_numpy()
    arr = np.asarray(out)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (len(index),):
        raise _wrong_length(name, arr.shape, len(index))
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind in "OUT":
        return _votes_from_list(name, arr.tolist(), index, cardinality, class_names)
    if arr.dtype.kind not in "iu":
        pos = 0
        if arr.dtype.kind == "f":
            odd = ~(np.isfinite(arr) & (arr == np.round(arr)))
            odd = odd if odd.any() else arr != ABSTAIN
            pos = int(np.flatnonzero(odd)[0]) if odd.any() else 0
        elif arr.dtype.kind == "b":
            pos = int(np.argmax(arr))
        error = _bad_vote_error(name, index[pos], arr[pos].item(), cardinality)
        error.args = (
            f"{error.args[0]} (the LF returned an array of dtype {arr.dtype})",
            *error.args[1:],
        )
        raise error
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        pos = int(np.argmax(arr))
        raise _bad_vote_error(name, index[pos], arr[pos].item(), cardinality)
    votes = arr.astype(np.int64, copy=False)
    _check_range(name, votes, index, cardinality)
    return votes


def _wrong_length(name: str, shape: tuple[int, ...], n_rows: int) -> InvalidVoteError:
    return InvalidVoteError(
        f"LF {name!r} returned an array of shape {shape} for a batch of {n_rows} rows; "
        "it must return one vote per row",
        name,
        None,
        shape,
    )


# ---------------------------------------------------------------- row-wise LFs
def _rows(frame: pd.DataFrame) -> list[Row]:
    names = list(frame.columns)
    ids = frame.index.tolist()
    if not names:
        return [Row(row_id) for row_id in ids]
    columns = [frame[name].tolist() for name in names]  # Python scalars, column by column
    if all(isinstance(name, str) for name in names):
        return [
            Row(row_id, **dict(zip(names, values, strict=True)))
            for row_id, values in zip(ids, zip(*columns, strict=True), strict=True)
        ]
    rows = []
    for row_id, values in zip(ids, zip(*columns, strict=True), strict=True):
        row = Row(row_id)
        row.__dict__.update(zip(names, values, strict=True))  # non-string column names
        rows.append(row)
    return rows


def _call_row_lf(
    lf: BaseLabelingFunction, rows: list[Row], index: pd.Index, on_error: OnError
) -> tuple[list[Any], int]:
    """Run one row-wise LF; returns (votes, error_count)."""
    call = lf.row_function() if isinstance(lf, LabelingFunction) else lf.__call__  # type: ignore[operator]
    out: list[Any] = []
    append = out.append
    errors = 0
    for pos, x in enumerate(rows):
        try:
            append(call(x))
        except Exception as exc:
            if on_error == "raise":
                raise LabelingFunctionError(
                    f"LF {lf.name!r} raised {type(exc).__name__}: {exc} on row {index[pos]!r}",
                    lf.name,
                    index[pos],
                ) from exc
            append(ABSTAIN)
            errors += 1
    return out, errors


def _apply_row_lfs(
    lfs: list[BaseLabelingFunction],
    frame: pd.DataFrame,
    classes: _Classes,
    on_error: OnError,
) -> tuple[np.ndarray, list[int]]:
    rows = _rows(frame)
    votes = np.empty((len(frame), len(lfs)), dtype=np.int16)
    errors = []
    for col, lf in enumerate(lfs):
        out, n_errors = _call_row_lf(lf, rows, frame.index, on_error)
        votes[:, col] = _votes_from_list(lf.name, out, frame.index, *classes)
        errors.append(n_errors)
    return votes, errors


# State handed to forked workers without pickling (LFs defined in notebooks need not pickle).
_FORK_STATE: dict[str, Any] = {}
_FORK_LOCK = threading.Lock()


def _row_worker(start: int, stop: int) -> tuple[int, np.ndarray, list[int]]:
    state = _FORK_STATE
    try:
        votes, errors = _apply_row_lfs(
            state["lfs"], state["frame"].iloc[start:stop], state["classes"], state["on_error"]
        )
    except LabelingFunctionError as exc:
        # The cause does not survive the trip to the parent process: keep its traceback.
        cause = "".join(traceback.format_exception(exc.__cause__)) if exc.__cause__ else ""
        raise LabelingFunctionError(
            f"{exc.args[0]}\n\nTraceback in the worker process:\n{cause}", exc.lf_name, exc.row
        ) from None
    except InvalidVoteError as exc:
        try:
            pickle.dumps(exc.value)
        except Exception:
            exc.value = repr(exc.value)
            exc.args = (*exc.args[:3], exc.value)
        raise
    return start, votes, errors


def _apply_row_lfs_parallel(
    lfs: list[BaseLabelingFunction],
    frame: pd.DataFrame,
    classes: _Classes,
    on_error: OnError,
    n_jobs: int,
    batch_size: int,
    bar: tqdm,
) -> tuple[np.ndarray, list[int]]:
    n = len(frame)
    chunk = max(1, min(batch_size, -(-n // (n_jobs * 4))))
    votes = np.empty((n, len(lfs)), dtype=np.int16)
    errors = [0] * len(lfs)
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError(
            "n_jobs > 1 for row-wise LFs needs the 'fork' start method (Linux/macOS); "
            "use n_jobs=1 or vectorized LFs"
        )
    with _FORK_LOCK:
        _FORK_STATE.update(lfs=lfs, frame=frame, classes=classes, on_error=on_error)
        try:
            context = multiprocessing.get_context("fork")
            # Keep the children's garbage collector off the inherited objects: scanning them
            # touches every page and turns copy-on-write into copying.
            gc.freeze()
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
                futures = [
                    pool.submit(_row_worker, s, min(s + chunk, n)) for s in range(0, n, chunk)
                ]
                for future in futures:
                    try:
                        start, part, part_errors = future.result()
                    except BaseException as exc:
                        for other in futures:
                            other.cancel()
                        if isinstance(exc, LabelingFunctionError):
                            _reraise_in_process(exc, lfs, frame, classes, on_error)
                        raise
                    votes[start : start + len(part)] = part
                    errors = [a + b for a, b in zip(errors, part_errors, strict=True)]
                    bar.update(len(part))
        finally:
            _FORK_STATE.clear()
            gc.unfreeze()
    return votes, errors


def _reraise_in_process(
    exc: LabelingFunctionError,
    lfs: list[BaseLabelingFunction],
    frame: pd.DataFrame,
    classes: _Classes,
    on_error: OnError,
) -> None:
    """Re-run the failing row here so the error carries the real exception as its cause."""
    lf = next(lf for lf in lfs if lf.name == exc.lf_name)
    row = frame.loc[[exc.row]]
    _apply_row_lfs([lf], row, classes, on_error)


# ---------------------------------------------------------------- batch-wise LFs
def _apply_batch_lf(
    lf: BaseLabelingFunction,
    batch: pd.DataFrame,
    classes: _Classes,
    on_error: OnError,
    progress: bool,
    cache: dict[Any, Any],
) -> tuple[np.ndarray, int]:
    try:
        if lf.kind == "batch":
            out = lf.apply_batch(batch, progress=progress)  # type: ignore[attr-defined]
        elif isinstance(lf, RegexLabelingFunction):
            out = lf.apply_batch(batch, cache=cache, class_names=classes.names)
        elif isinstance(lf, VectorizedLabelingFunction):
            out = lf.apply_batch(batch, cache=cache)
        else:
            out = lf.apply_batch(batch)  # type: ignore[attr-defined]
    except InvalidVoteError:
        raise  # a vote checked inside the LF (a label set function's): invalid votes always raise
    except Exception as exc:
        where = f"rows {batch.index[0]!r}..{batch.index[-1]!r}" if len(batch) else "an empty batch"
        if on_error == "raise":
            raise LabelingFunctionError(
                f"LF {lf.name!r} raised {type(exc).__name__}: {exc} on the batch of {where} "
                f"({len(batch)} rows)",
                lf.name,
                None,
            ) from exc
        return np.full(len(batch), ABSTAIN, dtype=np.int64), len(batch)
    return _votes_from_array(lf.name, out, batch.index, *classes), 0


def _check_sources(lfs: Any) -> list[BaseLabelingFunction]:
    if isinstance(lfs, str):
        raise TypeError(
            f"lfs must be labeling functions, got the string {lfs!r}; use load_lfs({lfs!r})"
        )
    if isinstance(lfs, BaseLabelingFunction) or not isinstance(lfs, Iterable):
        lfs = [lfs]
    sources = [as_labeling_function(lf) for lf in lfs]
    if not sources:
        raise ValueError("no labeling functions given")
    for lf in sources:
        if not isinstance(getattr(lf, "name", None), str) or not lf.name.strip():
            raise ValueError(
                f"{type(lf).__name__} has no name; set self.name to a non-empty string"
            )
    names = [lf.name for lf in sources]
    duplicated = repeated_names(names)
    if duplicated:
        raise ValueError(f"labeling function names must be unique; duplicated: {duplicated}")
    return sources


def _check_arguments(
    on_error: Any, batch_size: Any, n_jobs: Any, cardinality: Any, class_names: Any
) -> tuple[int, int | None]:
    if on_error not in ("raise", "abstain"):
        raise ValueError(f"on_error must be 'raise' or 'abstain', got {on_error!r}")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    if cardinality is None and class_names is not None:
        cardinality = len(class_names)
    return int(n_jobs), None if cardinality is None else check_cardinality(cardinality)


def _check_before_running(sources: list[Any], classes: _Classes, frame: pd.DataFrame) -> None:
    """Problems no LF run can fix, raised before any LF runs: a class name that does not
    map, a column the data lacks (a data error, never an LF failure to abstain on)."""
    for lf in sources:
        label = getattr(lf, "label", None)
        if isinstance(lf, RegexLabelingFunction) and isinstance(label, str):
            if label not in (classes.names or ()):
                raise InvalidVoteError(
                    f"LF {lf.name!r} votes the class name {label!r}{_name_hint(label, classes.names)}",
                    lf.name,
                    None,
                    label,
                )
        column = getattr(lf, "column", None)
        if lf.kind == "vectorized" and column is not None and column not in frame.columns:
            raise KeyError(
                f"LF {lf.name!r} reads column {column!r}, which the data lacks "
                f"(columns: {list(frame.columns)})"
            )


def _apply_row_and_vectorized(
    sources: list[Any],
    frame: pd.DataFrame,
    classes: _Classes,
    votes: np.ndarray,
    errors: dict[str, int],
    bar: Any,
    *,
    on_error: OnError,
    n_jobs: int,
    batch_size: int,
    progress: bool,
) -> None:
    """Fill the row-wise (in ``n_jobs`` processes, or batch by batch) and vectorised LFs'
    columns of ``votes`` and add their error counts."""
    n = len(frame)
    row_cols = [j for j, lf in enumerate(sources) if lf.kind == "row"]
    vec_cols = [j for j, lf in enumerate(sources) if lf.kind == "vectorized"]
    row_lfs = [sources[j] for j in row_cols]
    parallel = bool(row_lfs) and n_jobs > 1 and n > 1
    if parallel:
        part, part_errors = _apply_row_lfs_parallel(row_lfs, frame, classes, on_error, n_jobs, batch_size, bar)
        votes[:, row_cols] = part
        for lf, count in zip(row_lfs, part_errors, strict=True):
            errors[lf.name] += count
    serial_rows = bool(row_lfs) and not parallel
    if not (vec_cols or serial_rows):
        return
    if parallel:
        bar.reset(total=n)
    for start in range(0, n, batch_size):
        batch = frame.iloc[start : start + batch_size]
        if serial_rows:
            part, part_errors = _apply_row_lfs(row_lfs, batch, classes, on_error)
            votes[start : start + len(batch), row_cols] = part
            for lf, count in zip(row_lfs, part_errors, strict=True):
                errors[lf.name] += count
        cache: dict[Any, Any] = {}  # columns prepared once per batch, shared by LFs
        for j in vec_cols:
            column, count = _apply_batch_lf(sources[j], batch, classes, on_error, progress, cache)
            votes[start : start + len(batch), j] = column
            errors[sources[j].name] += count
        bar.update(len(batch))


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
    """Apply labeling functions to data and return their votes as a ``LabelMatrix``.

    Parameters
    ----------
    lfs
        Labeling functions of any kind (row-wise, vectorised, batch/LLM), or Snorkel LFs.
    data
        A DataFrame, a Series, or a list of strings (a ``text`` column) or dicts. Its index
        becomes the matrix's row ids, so it must be unique.
    cardinality
        Number of classes. Votes are checked against it; taken from ``class_names`` or
        inferred from the votes (largest vote + 1) if omitted. Needed for empty data.
    class_names
        The class names, in class-index order: stored on the matrix, and the names LFs may
        vote (``keyword_lf(..., "SPAM")`` or an LF returning ``"SPAM"``) map through them.
    n_jobs
        Processes for row-wise LFs (``-1``: all cores). Results are identical for any value.
    batch_size
        Rows per batch for vectorised and row-wise LFs; bounds memory. Results are
        identical for any value.
    progress
        Show a progress bar (notebook-aware).
    on_error
        ``"raise"``: an LF that raises stops the run with a ``LabelingFunctionError``
        naming the LF and the row (the original exception is its ``__cause__``).
        ``"abstain"``: its vote becomes ABSTAIN and the count is kept in
        ``LabelMatrix.error_counts`` (a vectorised LF that raises abstains on its whole
        batch). Invalid votes (wrong type or range) always raise ``InvalidVoteError``.
    """
    n_jobs, cardinality = _check_arguments(on_error, batch_size, n_jobs, cardinality, class_names)
    classes = _Classes(cardinality, check_class_names(class_names, cardinality))
    sources = _check_sources(lfs)
    frame = as_frame(data)
    _check_before_running(sources, classes, frame)
    n = len(frame)
    votes = np.full((n, len(sources)), ABSTAIN, dtype=np.int16)
    errors = dict.fromkeys((lf.name for lf in sources), 0)
    with tqdm(total=n, desc="Applying LFs", unit="rows", disable=not progress or n == 0) as bar:
        _apply_row_and_vectorized(
            sources, frame, classes, votes, errors, bar,
            on_error=on_error, n_jobs=n_jobs, batch_size=batch_size, progress=progress,
        )
    if n:
        for j, lf in enumerate(sources):
            if lf.kind == "batch":
                column, count = _apply_batch_lf(lf, frame, classes, on_error, progress, {})
                votes[:, j] = column
                errors[lf.name] += count

    return LabelMatrix(
        votes,
        [lf.name for lf in sources],
        cardinality=cardinality,
        class_names=class_names,
        index=frame.index,
        error_counts=errors,
    )
