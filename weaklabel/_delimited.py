"""CSV and TSV files read without guessing.

pandas' reader is lenient: a damaged quote makes it read the lines after it as part of one
text, merging rows without a word; a short row is filled with missing values; a comment
reading ``NA`` becomes a missing value. Here the file is read twice — once by the strict
rules of RFC 4180 with Python's ``csv`` module (a quoted field ends with a quote followed
by the delimiter or the line end; every row has the header's fields), once with pandas for
the column types — and the two must agree. A quoted text spanning lines whose inner lines
read as rows of their own (the right number of fields, known labels and splits) is taken
for what it almost always is: a stray quote. The text column is taken from the strict
reading, as written.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from weaklabel.exceptions import DataError
from weaklabel.lf import repeated_names

__all__ = ["read_delimited"]

_DELIMITED = {"csv": ",", "tsv": "\t"}
_SCANNED_OPTIONS = {"sep", "dtype", "encoding", "quotechar"}
"""``read_options`` the strict reading understands; with others pandas reads alone."""
_FEW_VALUES = 20
"""A column with at most this many distinct values (labels, splits) tells rows apart from text."""
_QUOTE_HINT = 'Double the quotes inside quoted texts ("" for "), or quote the whole text'


class _Scan(NamedTuple):
    """What the strict reading found: the header, where each record starts, the text column
    as written (``None`` where its cell is empty), and the records spanning lines."""

    header: list[str]
    record_lines: list[int]
    texts: list[str | None] | None
    spans: list[tuple[int, int]]
    few_values: dict[int, set[str]]


def _delimiter(path: Path, kind: str, encoding: str) -> str:
    """The delimiter of a ``.txt`` table, read from its header: a comma or a tab, never a guess
    between both."""
    if kind in _DELIMITED:
        return _DELIMITED[kind]
    with path.open(encoding=encoding, errors="replace") as handle:
        header = handle.readline()
    commas, tabs = "," in header, "\t" in header
    if commas == tabs:
        raise DataError(
            f"{path}: cannot tell whether this .txt table is comma- or tab-separated "
            f"(its header has {'both' if commas else 'neither'}); rename it to .csv or .tsv "
            "or pass format='csv' or format='tsv'"
        )
    return "," if commas else "\t"


def _scan(path: Path, sep: str, encoding: str, quotechar: str, text_column: str) -> _Scan:
    lines: list[int] = []
    texts: list[str | None] = []
    spans: list[tuple[int, int]] = []
    values: list[set[str] | None] = []
    column = -1
    header: list[str] | None = None
    start = 1
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=sep, quotechar=quotechar, strict=True)
            for record in reader:
                if record and header is None:
                    header = record
                    column = header.index(text_column) if text_column in header else -1
                    values = [set() for _ in header]
                elif record:
                    if len(record) != len(header):  # type: ignore[arg-type]
                        _raise_width(path, header, record, start, reader.line_num)  # type: ignore[arg-type]
                    lines.append(start)
                    if column >= 0:
                        texts.append(record[column] or None)
                    if reader.line_num > start:
                        spans.append((start, reader.line_num))
                    _count_values(values, record)
                start = reader.line_num + 1
    except csv.Error as exc:
        where = f"line {start}" if start == reader.line_num else f"line {start} (read to line {reader.line_num})"
        raise DataError(
            f"{path}: {where}: {exc}: a quote in the row starting on line {start} opens a field "
            f"that does not close where it should, so the rows after it would merge into one text. {_QUOTE_HINT}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not {encoding} text (byte {exc.start} of a read block): {exc.reason}; "
            "save it as UTF-8 or pass encoding="
        ) from exc
    if header is None:
        raise DataError(f"{path}: the file is empty (no header line)")
    repeated = repeated_names(header)
    if repeated:
        raise DataError(
            f"{path}: the header names the columns {repeated} more than once; "
            "rename them so that each column has its own name"
        )
    limit = min(_FEW_VALUES, max(2, len(lines) // 2))
    few = {j: found for j, found in enumerate(values) if found is not None and 0 < len(found) <= limit}
    return _Scan(header, lines, texts if column >= 0 else None, spans, few)


def _count_values(values: list[set[str] | None], record: list[str]) -> None:
    for j, value in enumerate(record):
        found = values[j]
        if found is not None:
            found.add(value)
            if len(found) > _FEW_VALUES:
                values[j] = None


def _raise_width(path: Path, header: list[str], record: list[str], start: int, end: int) -> None:
    where = f"line {start}" if start == end else f"lines {start}-{end}"
    merged = " (a quoted text spans lines: check its quotes)" if end > start else ""
    raise DataError(
        f"{path}: {where} has {len(record)} fields, the header {len(header)}{merged}; "
        "quote texts that contain the delimiter, and give every row all columns"
    )


def _check_spans(path: Path, scan: _Scan, sep: str, encoding: str, quotechar: str) -> None:
    """Refuse a quoted text spanning lines whose first line (without its opening quote) or a
    middle line reads as a row of its own: all the header's fields, and in every column of
    few values (labels, splits) a value that column holds. A text written over several lines
    on purpose does not look like that; rows swallowed by a stray quote do."""
    if not scan.spans or not scan.few_values:
        return
    wanted = {number: (start, number == start) for start, end in scan.spans for number in range(start, end)}
    with path.open(encoding=encoding, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if number not in wanted:
                continue
            start, first = wanted[number]
            text = line.rstrip("\r\n")
            if first:
                at = text.find(quotechar)
                if at < 0 or (at > 0 and text[at - 1] != sep):
                    continue
                text = text[:at] + text[at + 1 :]
            fields = next(csv.reader([text], delimiter=sep, quoting=csv.QUOTE_NONE), [])
            if len(fields) == len(scan.header) and all(fields[j] in seen for j, seen in scan.few_values.items()):
                raise DataError(
                    f"{path}: line {number} reads as a row of its own ({text[:60]!r}), but a quote on "
                    f"line {start} makes it part of a text that runs on: the rows would merge into one. "
                    f"Remove the stray quote on line {start}. {_QUOTE_HINT}"
                )


def _refuse_second_bom(path: Path, encoding: str) -> None:
    """A file that starts with two byte-order marks: pandas drops both, a strict reading keeps
    the second as part of the first column's name, so which column is which is a guess."""
    if encoding.lower().replace("_", "-") != "utf-8-sig":
        return
    with path.open("rb") as handle:
        start = handle.read(6)
    if start == "\ufeff\ufeff".encode():
        raise DataError(
            f"{path}: starts with two byte-order marks (U+FEFF U+FEFF), probably from saving it "
            "twice with a tool that adds one; remove the second so the first column's name is plain"
        )


def read_delimited(
    path: Path, kind: str, text_column: str, read_options: dict[str, Any]
) -> tuple[pd.DataFrame, list[int] | None]:
    """The table, and the line where each row starts (``None`` when ``read_options`` ask for
    what only pandas understands, which then reads the file alone)."""
    encoding = read_options.get("encoding", "utf-8-sig")
    _refuse_second_bom(path, encoding)
    sep = read_options.pop("sep", None) or _delimiter(path, kind, encoding)
    read_options.setdefault("dtype", {text_column: str})
    read_options.setdefault("encoding", encoding)
    if not set(read_options) <= _SCANNED_OPTIONS:
        return pd.read_csv(path, sep=sep, **read_options), None
    quotechar = read_options.get("quotechar", '"')
    scan = _scan(path, sep, encoding, quotechar, text_column)
    _check_spans(path, scan, sep, encoding, quotechar)
    data = pd.read_csv(path, sep=sep, **read_options)
    if len(data) != len(scan.record_lines):
        raise DataError(
            f"{path}: read strictly the file holds {len(scan.record_lines)} rows, read leniently "
            f"{len(data)}; its quoting is ambiguous. Check the quotes, or load it yourself"
        )
    if scan.texts is not None:
        # The texts as written: pandas would read a comment "NA" or "null" as a missing value.
        data[text_column] = pd.Series(scan.texts, index=data.index, dtype=object)
    return data, scan.record_lines
