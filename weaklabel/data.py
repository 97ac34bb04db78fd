"""Loaders: WRENCH label-matrix datasets, CSV/JSONL/Parquet tables, and the raw spam corpora.

Every loader fails with a ``DataError`` naming the file, the line
or row, the problem and the fix; none guesses what an ambiguous file means.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from weaklabel._delimited import read_delimited
from weaklabel.exceptions import (
    ClassOrderWarning,
    DataError,
    DataFileNotFoundError,
    MissingColumnError,
)
from weaklabel.lf import repeated_names
from weaklabel.matrix import LabelMatrix

__all__ = [
    "LabeledData",
    "load_llm_votes",
    "load_table",
    "load_trec_questions",
    "load_wrench",
    "load_wrench_stack",
    "load_youtube_spam",
    "read_uci_sms",
    "read_uci_youtube",
    "wrench_lf_names",
]

_SPLITS = ("train", "valid", "test")


class LabeledData(NamedTuple):
    """What ``load_wrench`` returns; unpacks as ``data, L, y``."""

    data: pd.DataFrame
    L: LabelMatrix
    y: np.ndarray


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataFileNotFoundError(f"missing file: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from exc


def _row_ids(keys: list[str]) -> pd.Index:
    """WRENCH ids as ints when they all are canonical integers ("7", not "07"), else strings."""
    if keys and all(key.isascii() and key.isdigit() and str(int(key)) == key for key in keys):
        return pd.Index([int(key) for key in keys], name="id")
    return pd.Index(keys, name="id")


def _labeled_duplicates(file: Path, entries: dict[str, Any], labeled_ids: Any) -> set[str]:
    """The ``labeled_ids.json`` rows to drop: those that repeat the text of another train row.

    Some WRENCH copies append their labeled exemplars to train as copies of earlier rows
    (YouTube, TREC: every one repeats a train text); others list original rows (SMS: most
    texts are unique). Only when every listed row is such a copy are they dropped, which
    gives the published train sizes (1586, 4571 and 4965).
    """
    ids = labeled_ids.get("labeled_ids", []) if isinstance(labeled_ids, dict) else labeled_ids
    if not isinstance(ids, list):
        raise DataError(f"{file}: expected a list of ids, got {type(ids).__name__}")
    listed = {str(key) for key in ids} & set(entries)

    def text(key: str) -> str:
        data = entries[key].get("data") if isinstance(entries[key], dict) else None
        return json.dumps(data, sort_keys=True)

    others = {text(key) for key in entries if key not in listed}
    return listed if listed and all(text(key) in others for key in listed) else set()


def wrench_lf_names(folder: str | Path, n_sources: int) -> list[str]:
    """Names for a WRENCH dataset's LF columns.

    Taken from the ``Labeling functions list`` of its ``readme.txt`` when that lists exactly
    ``n_sources`` identifiers (YouTube does); otherwise ``<folder>_<j>``, so that columns of
    different datasets stay distinct when stacked.
    """
    folder = Path(folder)
    readme = folder / "readme.txt"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"Labeling functions list:\s*\n((?:\s*\w+,?\s*\n)+)", text, re.IGNORECASE)
        if match:
            names = [
                name.strip(" ,\t").lower()
                for name in match.group(1).splitlines()
                if name.strip(" ,\t")
            ]
            if len(names) == n_sources and len(set(names)) == n_sources:
                return names
    return [f"{folder.name}_{j}" for j in range(n_sources)]


def load_wrench(
    path: str | Path,
    split: str = "train",
    *,
    drop_labeled_duplicates: bool = True,
    lf_names: list[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> LabeledData:
    """Load one split of a WRENCH-format dataset.

    Parameters
    ----------
    path
        The dataset folder (with ``train.json``, ``valid.json``, ``test.json``, ``label.json``).
    split
        ``"train"``, ``"valid"`` or ``"test"``.
    drop_labeled_duplicates
        Drop the train rows listed in ``labeled_ids.json`` when they are labeled exemplars
        appended as copies of other train rows (YouTube, TREC); lists of original rows
        (SMS) are kept. This gives the published split sizes.
    lf_names
        Names for the LF columns (default: ``wrench_lf_names``).
    class_names
        The classes in the order you want (default: the order of ``label.json``): the
        names of ``label.json``, reordered; votes and gold labels are renumbered to it.
        Without ``label.json``, the names of the class indices 0, 1, ...

    Returns
    -------
    LabeledData
        ``(data, L, y)``: the data fields as a DataFrame indexed by WRENCH id, the votes as a
        ``LabelMatrix``, and the gold labels (``-1`` where a row has none).
    """
    folder = Path(path)
    if split not in _SPLITS:
        raise DataError(f"split must be one of {_SPLITS}, got {split!r}")
    if not folder.is_dir():
        raise DataFileNotFoundError(f"no WRENCH dataset folder at {folder}")
    file = folder / f"{split}.json"
    entries = _read_json(file)
    if not isinstance(entries, dict):
        raise DataError(
            f"{file}: expected a JSON object of id -> example, got {type(entries).__name__}"
        )
    file_names = _wrench_class_names(folder)
    if drop_labeled_duplicates and split == "train" and (folder / "labeled_ids.json").is_file():
        labeled_file = folder / "labeled_ids.json"
        drop = _labeled_duplicates(labeled_file, entries, _read_json(labeled_file))
        entries = {key: value for key, value in entries.items() if key not in drop}
    keys = list(entries)
    votes, gold, records, width = _wrench_examples(file, entries)
    names_given = file_names if class_names is None else [str(name) for name in class_names]
    cardinality = len(file_names or names_given or []) or None
    index = _row_ids(keys)
    data = pd.DataFrame.from_records(records, index=index) if records else pd.DataFrame(index=index)
    names = lf_names or wrench_lf_names(folder, width)
    vote_array = _int_table(file, keys, votes, "weak label", cardinality).reshape(len(keys), width)
    y = _int_table(file, keys, [[g] for g in gold], "label", cardinality).reshape(len(keys))
    if file_names and names_given is not None and names_given != file_names:
        renumber = _class_order(folder, file_names, names_given)
        vote_array = np.where(vote_array >= 0, renumber[np.maximum(vote_array, 0)], vote_array)
        y = np.where(y >= 0, renumber[np.maximum(y, 0)], y)
    class_names = names_given
    try:
        L = LabelMatrix(
            vote_array, names, cardinality=cardinality, class_names=class_names, index=index
        )
    except ValueError as exc:
        raise DataError(f"{file}: {exc}") from exc
    return LabeledData(data, L, y)


def _wrench_examples(file: Path, entries: dict[str, Any]) -> tuple[list[Any], list[Any], list[dict[str, Any]], int]:
    """Each example's votes, gold label and data fields, checked; and the number of LFs."""
    votes, gold, records = [], [], []
    width = None
    for key, entry in entries.items():
        for field in ("label", "weak_labels", "data"):
            if not isinstance(entry, dict) or field not in entry:
                raise DataError(f"{file}: example {key!r} has no {field!r} field")
        weak = entry["weak_labels"]
        if not isinstance(weak, list):
            raise DataError(
                f"{file}: example {key!r} has weak_labels {weak!r:.60}, expected a list"
            )
        if width is None:
            width = len(weak)
        elif len(weak) != width:
            raise DataError(
                f"{file}: example {key!r} has {len(weak)} weak labels, earlier ones have {width}"
            )
        votes.append(weak)
        gold.append(-1 if entry["label"] is None else entry["label"])
        records.append(
            entry["data"] if isinstance(entry["data"], dict) else {"text": entry["data"]}
        )
    return votes, gold, records, width or 0


def load_wrench_stack(
    paths: Sequence[str | Path], split: str = "train", **options: Any
) -> LabeledData:
    """One split of several WRENCH datasets over the same examples, their votes side by side.

    Why: the LLM-prompted datasets (``youtube_prompted_original``) share their examples with
    the LF datasets (``youtube``); stacking the vote matrices merges LLM votes with
    hand-written LFs. The examples and gold labels must agree (checked); ``data`` and ``y``
    come from the first dataset. ``options`` go to ``load_wrench``.
    """
    if not paths:
        raise DataError("load_wrench_stack needs at least one dataset folder")
    parts = [load_wrench(path, split, **options) for path in paths]
    first = parts[0]
    for path, part in zip(paths[1:], parts[1:], strict=True):
        if not part.L.index.equals(first.L.index):
            raise DataError(
                f"{path} ({split}) has other examples than {paths[0]}: they cannot be stacked"
            )
        differ = np.flatnonzero(part.y != first.y)
        if differ.size:
            raise DataError(
                f"{path} ({split}) gives example {first.L.index[differ[0]]!r} gold label "
                f"{part.y[differ[0]]}, {paths[0]} gives {first.y[differ[0]]}"
            )
    return LabeledData(first.data, LabelMatrix.hstack([part.L for part in parts]), first.y)


def load_llm_votes(path: str | Path) -> LabeledData:
    """The one split of an ``llms_for_css``-style task: real votes of several LLMs, with gold.

    Such a folder holds a single WRENCH-format ``test.json`` (one evaluation split, no train
    split: label models are fitted and scored on the same rows, transductively), a
    ``label.json`` and an ``lf_names.json`` naming the LLM behind each vote column.
    """
    folder = Path(path)
    names_file = folder / "lf_names.json"
    names = _read_json(names_file)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{names_file}: expected a JSON list of source names")
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{names_file}: source names repeat: {repeated}; give each source its own name")
    return load_wrench(folder, "test", lf_names=names)  # a count mismatch names test.json


def _int_table(
    file: Path, keys: list[str], rows: list[list[Any]], what: str, cardinality: int | None
) -> np.ndarray:
    """Rows of class indices (-1 = none) as an int64 array; a bad value names its example."""
    flat = [v for row in rows for v in row]
    good = all(type(v) is int for v in flat)
    arr = np.asarray(flat, dtype=np.int64) if good else np.empty(0, dtype=np.int64)
    upper = cardinality if cardinality is not None else np.iinfo(np.int64).max
    if good and (arr.size == 0 or (arr.min() >= -1 and arr.max() < upper)):
        return arr
    key, j, v = next(
        (key, j, v)
        for key, row in zip(keys, rows, strict=True)
        for j, v in enumerate(row)
        if type(v) is not int or not -1 <= v < upper
    )
    where = f" (column {j})" if what == "weak label" else ""
    below = f" below {cardinality}" if cardinality is not None else ""
    raise DataError(
        f"{file}: example {key!r} has the {what} {v!r}{where}; expected -1 or a class index{below}"
    )


def _class_order(folder: Path, file_names: list[str], wanted: list[str]) -> np.ndarray:
    """``renumber[i]``: the index in ``wanted`` of the class ``label.json`` numbers ``i``."""
    if sorted(wanted) != sorted(file_names):
        raise DataError(
            f"class_names {wanted} are not the classes of {folder / 'label.json'} {file_names}: "
            "give the same names, in the order you want"
        )
    return np.asarray([wanted.index(name) for name in file_names], dtype=np.int64)


def _wrench_class_names(folder: Path) -> list[str] | None:
    file = folder / "label.json"
    if not file.is_file():
        return None
    mapping = _read_json(file)
    if not isinstance(mapping, dict):
        raise DataError(
            f"{file}: expected a JSON object of class index -> name, got {type(mapping).__name__}"
        )
    try:
        return [str(mapping[str(i)]) for i in range(len(mapping))]
    except KeyError as exc:
        raise DataError(
            f"{file}: class indices must be 0..{len(mapping) - 1}, missing {exc}"
        ) from exc


# ---------------------------------------------------------------- tables
def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []

    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        repeated = repeated_names(keys)
        if repeated:
            raise DataError(f"{path}: line {lineno} names the keys {repeated} more than once")
        return dict(pairs)

    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, object_pairs_hook=no_repeats)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: malformed JSON on line {lineno}: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}: line {lineno} holds a {type(record).__name__}, expected an object"
                )
            records.append(record)
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path, **read_options: Any) -> pd.DataFrame:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    repeated = repeated_names(names)
    if repeated:
        raise DataError(f"{path}: the columns {repeated} appear more than once; rename them")
    return pd.read_parquet(path, **read_options)


def _read(path: Path, kind: str, text_column: str, read_options: dict[str, Any]) -> tuple[pd.DataFrame, list[int] | None]:
    """The table, and for CSV/TSV the line where each row starts (for error messages)."""
    if kind in ("jsonl", "ndjson"):
        return _read_jsonl(path), None
    if kind == "parquet":
        return _read_parquet(path, **read_options), None
    return read_delimited(path, kind, text_column, read_options)


def load_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    class_names: list[str] | None = None,
    format: str | None = None,
    **read_options: Any,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Load a CSV/TSV, JSONL or Parquet file of texts, with optional gold labels.

    The text column is renamed ``text`` (what keyword and regex LFs read by default); in
    CSV/TSV files it is read as strings even where a text looks like a number. Labels may
    be class indices or class names; names are mapped through ``class_names``, in that
    order. Without ``class_names`` the names found are sorted, with a
    ``ClassOrderWarning`` (the order decides which index is
    which class), and stored in ``data.attrs["class_names"]``. Returns ``(data, y)``, ``y``
    being ``None`` without ``label_column`` and ``-1`` where a row has no label.

    Nothing is guessed: a header naming a column twice, a damaged quote that would merge
    rows, a row with too few or too many fields, texts that are not strings, labels mixing
    indices and names or outside ``class_names`` — each is a
    ``DataError`` naming the file, the line or row, and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"missing file: {path}")
    kind = (format or path.suffix.lstrip(".")).lower()
    if kind not in ("csv", "tsv", "txt", "jsonl", "ndjson", "parquet"):
        raise DataError(f"{path}: unknown table format {kind!r}; use csv, tsv, jsonl or parquet")
    try:
        data, lines = _read(path, kind, text_column, dict(read_options))
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' and pyarrow's errors
        raise DataError(f"{path}: cannot parse as {kind}: {exc}") from exc
    for column in (text_column, label_column):
        if column is not None and column not in data.columns:
            raise MissingColumnError(
                f"{path}: no column {column!r}; columns are {list(data.columns)} "
                f"(set data.{'text' if column == text_column else 'label'}_column)"
            )
    if text_column != "text":
        if "text" in data.columns:
            raise DataError(
                f"{path}: text_column={text_column!r} would be renamed 'text', "
                "but the table already has a 'text' column"
            )
        data = data.rename(columns={text_column: "text"})
        if label_column == text_column:
            label_column = "text"
    _check_texts(path, data["text"], text_column, lines)
    if label_column is None:
        return data, None
    y, names = _encode_labels(path, data[label_column], class_names, lines)
    if names is not None:
        data.attrs["class_names"] = names
    return data, y


def _where(pos: int, lines: list[int] | None) -> str:
    return f"row {pos} (line {lines[pos]})" if lines is not None else f"row {pos}"


def _check_texts(path: Path, texts: pd.Series, column: str, lines: list[int] | None) -> None:
    """Every text is a string or missing: a number, list or object in the text column is an
    error (a JSONL ``"text": 42`` or a numeric Parquet column), not a text read as ``'42'``."""
    if pd.api.types.is_string_dtype(texts.dtype) and texts.dtype != object:
        return
    bad = ~texts.map(lambda v: isinstance(v, str) or (pd.api.types.is_scalar(v) and bool(pd.isna(v))))
    if pd.api.types.is_float_dtype(texts.dtype) and texts.isna().all():
        return  # a column with no text at all: every row is a missing text
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        value = _py(texts.iloc[pos])
        raise DataError(
            f"{path}: {_where(pos, lines)} has {value!r:.60} ({type(value).__name__}) in the text column "
            f"{column!r} ({int(bad.sum())} of {len(texts)} rows hold no string there); texts must be strings "
            "(quote them in JSON, or convert the column)"
        )


def _encode_labels(
    path: Path, labels: pd.Series, class_names: list[str] | None, lines: list[int] | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """Class indices for the labels (-1 where missing), and the class names if known."""
    present = labels.dropna()
    if class_names is not None:
        repeated = repeated_names([str(name) for name in class_names])
        if repeated:
            raise DataError(f"class_names names {repeated} more than once; each class needs its own name")
    if not pd.api.types.is_numeric_dtype(present):
        as_text = present.astype(str).str.strip()
        numeric = as_text.str.fullmatch(r"-?\d+")
        if numeric.all() and len(present) and not (class_names and set(as_text) <= set(class_names)):
            labels = labels.map(lambda v: int(str(v).strip()) if pd.notna(v) else np.nan)
            present = labels.dropna()
        elif numeric.any() and not numeric.all() and not class_names:
            pos = labels.index.get_loc(numeric[numeric].index[0])
            raise DataError(
                f"{path}: the label column mixes class indices ({as_text[numeric].iloc[0]!r} at "
                f"{_where(int(pos), lines)}) and class names ({as_text[~numeric].iloc[0]!r}); "
                "use one or the other, and give data.class_names"
            )
    if pd.api.types.is_numeric_dtype(present):
        values = labels.astype("float64").fillna(-1).to_numpy()
        upper = len(class_names) if class_names is not None else np.inf
        bad = (values != np.round(values)) | (values < -1) | (values >= upper)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: {_where(pos, lines)} has the label {_py(labels.iloc[pos])!r}; expected a class index"
                + (f" below {len(class_names)}" if class_names is not None else "")
                + " (or a missing value)"
            )
        return values.astype(np.int64), class_names
    found = sorted(present.astype(str).unique())
    if class_names is None:
        names = found
        warnings.warn(
            f"{path}: the class order was inferred by sorting the label names: "
            + ", ".join(f"{i} = {name!r}" for i, name in enumerate(names))
            + "; give class_names (data.class_names) in the order your LFs and prompts use",
            ClassOrderWarning,
            stacklevel=3,
        )
    else:
        names = [str(name) for name in class_names]
    lookup = {name: i for i, name in enumerate(names)}
    encoded = labels.map(lambda v: lookup.get(str(v), -2) if pd.notna(v) else -1).to_numpy(dtype=np.int64)
    if (encoded == -2).any():
        pos = int(np.flatnonzero(encoded == -2)[0])
        unknown = sorted(set(found) - set(names))
        near = {u: n for u in unknown for n in names if u.strip().casefold() == n.strip().casefold()}
        hint = f" ({', '.join(f'{u!r} differs from {n!r} only in case or spaces' for u, n in near.items())})" if near else ""
        raise DataError(
            f"{path}: {_where(pos, lines)} has the label {_py(labels.iloc[pos])!r}, not one of {names}; "
            f"{int((encoded == -2).sum())} rows hold labels outside class_names: {unknown[:10]}{hint}. "
            "Fix the labels or the class_names"
        )
    return encoded, names


def _py(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for readable error messages."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- raw spam corpora
def read_uci_youtube(folder: str | Path) -> pd.DataFrame:
    """Read the UCI YouTube Spam Collection CSVs in ``folder``.

    Columns: ``text``, ``label`` (1 = spam), ``author``, ``date``, ``video`` (file stem),
    ``comment_id``.
    """
    folder = Path(folder)
    files = sorted(folder.glob("Youtube0*.csv"))
    if not files:
        raise DataFileNotFoundError(f"no Youtube0*.csv files in {folder}")
    frames = []
    for file in files:
        try:
            frame = pd.read_csv(file, encoding="utf-8-sig", dtype={"CONTENT": str})
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{file}: cannot parse as CSV: {exc}") from exc
        missing = {"COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"} - set(frame.columns)
        if missing:
            raise MissingColumnError(f"{file}: missing columns {sorted(missing)}")
        for column in ("CONTENT", "CLASS"):
            if frame[column].isna().any():
                pos = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
                raise DataError(f"{file}: row {pos} has no {column}")
        if not frame["CLASS"].isin([0, 1]).all():
            pos = int(np.flatnonzero(~frame["CLASS"].isin([0, 1]).to_numpy())[0])
            raise DataError(
                f"{file}: row {pos} has CLASS {_py(frame['CLASS'].iloc[pos])!r}, expected 0 or 1"
            )
        frames.append(
            pd.DataFrame(
                {
                    "text": frame["CONTENT"].astype(str),
                    "label": frame["CLASS"].astype(np.int64),
                    "author": frame["AUTHOR"].astype(str),
                    "date": frame["DATE"].astype(str),
                    "video": file.stem.split("-", 1)[-1],
                    "comment_id": frame["COMMENT_ID"].astype(str),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def read_uci_sms(path: str | Path) -> pd.DataFrame:
    """Read the UCI SMS Spam Collection (``label<TAB>text`` lines). Columns ``text``, ``label`` (1 = spam)."""
    path = Path(path)
    if path.is_dir():
        path = path / "SMSSpamCollection"
    if not path.is_file():
        raise DataFileNotFoundError(f"missing file: {path}")
    texts, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for lineno, row in enumerate(
            csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1
        ):
            if len(row) != 2 or row[0] not in ("ham", "spam"):
                raise DataError(f"{path}: line {lineno} is not 'ham|spam<TAB>text': {row!r:.80}")
            labels.append(int(row[0] == "spam"))
            texts.append(row[1])
    return pd.DataFrame({"text": texts, "label": np.asarray(labels, dtype=np.int64)})


def load_trec_questions(split: str | None = None) -> pd.DataFrame:
    """A sample of the TREC question-classification set bundled with weaklabel (6 classes).

    Columns ``text``, ``label`` (the class name: DESC, ENTY, HUM, ABBR, LOC, NUM) and
    ``split`` (400 train, 150 valid, 300 test questions); ``split`` selects one. Source
    and licence: ``weaklabel/datasets/trec_questions/SOURCE.md``.
    """
    if split is not None and split not in _SPLITS:
        raise DataError(f"split must be one of {_SPLITS} or None, got {split!r}")
    source = resources.files("weaklabel.datasets") / "trec_questions" / "trec_questions.csv"
    with resources.as_file(source) as path:
        data = pd.read_csv(path, dtype=str, keep_default_na=False)
    return data if split is None else data[data["split"] == split]


def load_youtube_spam(
    split: str | None = None, *, valid_fraction: float = 0.1, seed: int = 0
) -> pd.DataFrame:
    """The YouTube Spam Collection bundled with weaklabel, with a ``split`` column.

    test = the Shakira video (as in Snorkel's spam tutorial); valid = a seeded
    ``valid_fraction`` of the other four videos; train = the rest. ``split`` selects one.
    Source and licence (CC BY 4.0): ``weaklabel/datasets/youtube_spam/SOURCE.md``.
    """
    if split is not None and split not in _SPLITS:
        raise DataError(f"split must be one of {_SPLITS} or None, got {split!r}")
    if not 0 <= valid_fraction < 1:
        raise DataError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    folder = resources.files("weaklabel.datasets") / "youtube_spam"
    with resources.as_file(folder) as local:
        data = read_uci_youtube(local)
    rng = np.random.default_rng(seed)
    is_test = (data["video"] == "Shakira").to_numpy()
    is_valid = ~is_test & (rng.random(len(data)) < valid_fraction)
    data["split"] = np.select([is_test, is_valid], ["test", "valid"], "train")
    if split is None:
        return data
    return data[data["split"] == split]
