"""Loaders: WRENCH label-matrix datasets, CSV/JSONL/Parquet tables, and the raw spam corpora.

Every loader fails with an error naming the file, the line or row, and the problem.
"""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from weaklabel.matrix import LabelMatrix

__all__ = [
    "LabeledData",
    "load_table",
    "load_wrench",
    "load_youtube_spam",
    "read_uci_sms",
    "read_uci_youtube",
    "wrench_lf_names",
]

_SPLITS = ("train", "valid", "test")


class LabeledData(NamedTuple):
    """What :func:`load_wrench` returns; unpacks as ``data, L, y``."""

    data: pd.DataFrame
    L: LabelMatrix
    y: np.ndarray


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _row_ids(keys: list[str]) -> pd.Index:
    if all(key.isdigit() for key in keys):
        return pd.Index([int(key) for key in keys], name="id")
    return pd.Index(keys, name="id")


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
            names = [name.strip(" ,\t").lower() for name in match.group(1).splitlines() if name.strip(" ,\t")]
            if len(names) == n_sources and len(set(names)) == n_sources:
                return names
    return [f"{folder.name}_{j}" for j in range(n_sources)]


def load_wrench(
    path: str | Path,
    split: str = "train",
    *,
    drop_labeled_duplicates: bool = True,
    lf_names: list[str] | None = None,
) -> LabeledData:
    """Load one split of a WRENCH-format dataset.

    Parameters
    ----------
    path
        The dataset folder (with ``train.json``, ``valid.json``, ``test.json``, ``label.json``).
    split
        ``"train"``, ``"valid"`` or ``"test"``.
    drop_labeled_duplicates
        Drop the train rows listed in ``labeled_ids.json``: labeled exemplars that repeat
        earlier train texts. Dropping them gives the published split sizes.
    lf_names
        Names for the LF columns (default: :func:`wrench_lf_names`).

    Returns
    -------
    LabeledData
        ``(data, L, y)``: the data fields as a DataFrame indexed by WRENCH id, the votes as a
        :class:`LabelMatrix`, and the gold labels (``-1`` where a row has none).
    """
    folder = Path(path)
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"no WRENCH dataset folder at {folder}")
    file = folder / f"{split}.json"
    entries = _read_json(file)
    if not isinstance(entries, dict):
        raise ValueError(f"{file}: expected a JSON object of id -> example, got {type(entries).__name__}")
    class_names = _wrench_class_names(folder)
    if drop_labeled_duplicates and split == "train" and (folder / "labeled_ids.json").is_file():
        labeled = _read_json(folder / "labeled_ids.json")
        drop = set(map(str, labeled.get("labeled_ids", []) if isinstance(labeled, dict) else labeled))
        entries = {key: value for key, value in entries.items() if key not in drop}
    keys = list(entries)
    votes, gold, records = [], [], []
    width = None
    for key in keys:
        entry = entries[key]
        for field in ("label", "weak_labels", "data"):
            if not isinstance(entry, dict) or field not in entry:
                raise ValueError(f"{file}: example {key!r} has no {field!r} field")
        weak = entry["weak_labels"]
        if width is None:
            width = len(weak)
        elif len(weak) != width:
            raise ValueError(f"{file}: example {key!r} has {len(weak)} weak labels, earlier ones have {width}")
        votes.append(weak)
        gold.append(-1 if entry["label"] is None else entry["label"])
        records.append(entry["data"] if isinstance(entry["data"], dict) else {"text": entry["data"]})
    width = width or 0
    index = _row_ids(keys)
    data = pd.DataFrame.from_records(records, index=index) if records else pd.DataFrame(index=index)
    names = lf_names or wrench_lf_names(folder, width)
    vote_array = np.asarray(votes, dtype=np.int64).reshape(len(keys), width)
    try:
        L = LabelMatrix(
            vote_array,
            names,
            cardinality=len(class_names) if class_names else None,
            class_names=class_names,
            index=index,
        )
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from exc
    return LabeledData(data, L, np.asarray(gold, dtype=np.int64))


def _wrench_class_names(folder: Path) -> list[str] | None:
    file = folder / "label.json"
    if not file.is_file():
        return None
    mapping = _read_json(file)
    try:
        return [str(mapping[str(i)]) for i in range(len(mapping))]
    except KeyError as exc:
        raise ValueError(f"{file}: class indices must be 0..{len(mapping) - 1}, missing {exc}") from exc


# ---------------------------------------------------------------- tables
def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: malformed JSON on line {lineno}: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {lineno} holds a {type(record).__name__}, expected an object")
            records.append(record)
    return pd.DataFrame.from_records(records)


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

    Labels may be class indices or class names; names are mapped through ``class_names``
    (default: the sorted distinct names). Returns ``(data, y)``, ``y`` being ``None``
    without ``label_column`` and ``-1`` where a row has no label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    kind = (format or path.suffix.lstrip(".")).lower()
    try:
        if kind in ("csv", "tsv", "txt"):
            sep = read_options.pop("sep", "\t" if kind == "tsv" else ",")
            data = pd.read_csv(path, sep=sep, **read_options)
        elif kind in ("jsonl", "ndjson"):
            data = _read_jsonl(path)
        elif kind == "parquet":
            data = pd.read_parquet(path, **read_options)
        else:
            raise ValueError(f"{path}: unknown table format {kind!r}; use csv, tsv, jsonl or parquet")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot parse as {kind}: {exc}") from exc
    for column in (text_column, label_column):
        if column is not None and column not in data.columns:
            raise KeyError(f"{path}: no column {column!r}; columns are {list(data.columns)}")
    if text_column != "text":
        data = data.rename(columns={text_column: "text"})
    if label_column is None:
        return data, None
    return data, _encode_labels(path, data[label_column], class_names)


def _encode_labels(path: Path, labels: pd.Series, class_names: list[str] | None) -> np.ndarray:
    present = labels.dropna()
    if pd.api.types.is_numeric_dtype(present) and class_names is None:
        values = labels.fillna(-1).to_numpy()
        if not np.all(values == np.round(values)):
            pos = int(np.flatnonzero(values != np.round(values))[0])
            raise ValueError(f"{path}: row {pos} has the non-integer label {values[pos]!r}")
        return values.astype(np.int64)
    names = class_names or sorted(present.astype(str).unique())
    lookup = {name: i for i, name in enumerate(names)}
    encoded = labels.astype("string").map(lookup)
    unknown = labels.notna() & encoded.isna()
    if unknown.any():
        pos = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ValueError(f"{path}: row {pos} has the label {labels.iloc[pos]!r}, not one of {names}")
    return encoded.fillna(-1).to_numpy(dtype=np.int64)


# ---------------------------------------------------------------- raw spam corpora
def read_uci_youtube(folder: str | Path) -> pd.DataFrame:
    """Read the UCI YouTube Spam Collection CSVs in ``folder``.

    Columns: ``text``, ``label`` (1 = spam), ``author``, ``date``, ``video`` (file stem),
    ``comment_id``.
    """
    folder = Path(folder)
    files = sorted(folder.glob("Youtube0*.csv"))
    if not files:
        raise FileNotFoundError(f"no Youtube0*.csv files in {folder}")
    frames = []
    for file in files:
        frame = pd.read_csv(file, encoding="utf-8-sig")
        missing = {"COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"} - set(frame.columns)
        if missing:
            raise KeyError(f"{file}: missing columns {sorted(missing)}")
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
        raise FileNotFoundError(f"missing file: {path}")
    texts, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(row) != 2 or row[0] not in ("ham", "spam"):
                raise ValueError(f"{path}: line {lineno} is not 'ham|spam<TAB>text': {row!r:.80}")
            labels.append(int(row[0] == "spam"))
            texts.append(row[1])
    return pd.DataFrame({"text": texts, "label": np.asarray(labels, dtype=np.int64)})


def load_youtube_spam(split: str | None = None, *, valid_fraction: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """The YouTube Spam Collection bundled with weaklabel, with a ``split`` column.

    test = the Shakira video (as in Snorkel's spam tutorial); valid = a seeded
    ``valid_fraction`` of the other four videos; train = the rest. ``split`` selects one.
    Source and licence (CC BY 4.0): ``weaklabel/datasets/youtube_spam/SOURCE.md``.
    """
    folder = resources.files("weaklabel.datasets") / "youtube_spam"
    with resources.as_file(folder) as local:
        data = read_uci_youtube(local)
    rng = np.random.default_rng(seed)
    is_test = (data["video"] == "Shakira").to_numpy()
    is_valid = ~is_test & (rng.random(len(data)) < valid_fraction)
    data["split"] = np.select([is_test, is_valid], ["test", "valid"], "train")
    if split is None:
        return data
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS} or None, got {split!r}")
    return data[data["split"] == split]
