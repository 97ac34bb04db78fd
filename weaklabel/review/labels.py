"""The review app's store: labels given by people, and their decisions on suggested LFs.

One SQLite file in the run folder (``LABELS_FILE``), each label committed the moment it
is given, so closing the browser or killing the server loses nothing. ``weaklabel.fit`` reads
the labels back (``read_review_labels``) as dev labels for the next fit of the same
output folder. The file carries SQLite's ``application_id`` so that a file of the same name
that the review app did not create is never written to: it is refused with the fix.
The fit pipeline imports this module: it needs nothing beyond the standard library and NumPy.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from weaklabel.exceptions import ReviewError
from weaklabel.matrix import LabelMatrix

__all__ = ["LABELS_FILE", "LabelStore", "dev_rows", "read_review_labels", "train_targets"]

logger = logging.getLogger("weaklabel")

LABELS_FILE = "review_labels.sqlite"
"""The store's file name inside a run folder."""
_APPLICATION_ID = 0x574C5256  # "WLRV"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    split TEXT NOT NULL, row_id TEXT NOT NULL, label INTEGER NOT NULL, class_name TEXT,
    updated REAL NOT NULL, PRIMARY KEY (split, row_id)
);
CREATE TABLE IF NOT EXISTS decisions (
    suggestion_id TEXT PRIMARY KEY, decision TEXT NOT NULL, record TEXT NOT NULL, updated REAL NOT NULL
);
"""


def _check_ours(connection: sqlite3.Connection, path: Path) -> None:
    (app_id,) = connection.execute("PRAGMA application_id").fetchone()
    if app_id != _APPLICATION_ID:
        raise ReviewError(
            f"{path} is not a weaklabel review store (the review app did not create it); "
            "move it away so that the app can keep its labels under that name"
        )


def _open(path: Path, create: bool) -> sqlite3.Connection:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ReviewError(f"{path} is not a plain file; move it away so the review app can keep its labels there")
    existed = path.exists()
    if not existed and not create:
        raise FileNotFoundError(path)
    try:
        connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        if existed:
            _check_ours(connection, path)
        else:
            connection.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
        connection.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise ReviewError(f"{path} cannot be read as the review store ({exc}); move it away") from exc
    return connection


class LabelStore:
    """Labels by (split, row id) and LF-suggestion decisions, in ``<run folder>/review_labels.sqlite``.

    The file is created on the first write, never before: opening a run to browse it leaves
    the folder as it was.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LABELS_FILE
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        if self.path.exists() or self.path.is_symlink():
            self._connection = _open(self.path, create=False)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._connection is None:
                self._connection = _open(self.path, create=True)
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._connection is None:
                return []
            return self._connection.execute(sql, params).fetchall()

    # ------------------------------------------------------------ labels
    def set_label(self, split: str, row_id: str, label: int, class_name: str | None) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO labels VALUES (?, ?, ?, ?, ?) ON CONFLICT (split, row_id) DO UPDATE SET "
                "label = excluded.label, class_name = excluded.class_name, updated = excluded.updated",
                (split, row_id, int(label), class_name, time.time()),
            )

    def remove_label(self, split: str, row_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM labels WHERE split = ? AND row_id = ?", (split, row_id))

    def labels(self) -> dict[tuple[str, str], int]:
        """(split, row id) -> class index, for every label given."""
        return {(s, r): int(c) for s, r, c in self._read("SELECT split, row_id, label FROM labels")}

    def labels_with_names(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT split, row_id, label, class_name, updated FROM labels ORDER BY updated")
        return [dict(zip(("split", "row_id", "label", "class_name", "updated"), row, strict=True)) for row in rows]

    # ------------------------------------------------------------ suggestion decisions
    def decide(self, suggestion_id: str, decision: str, record: dict[str, Any]) -> None:
        if decision not in ("accepted", "rejected"):
            raise ValueError(f"decision must be 'accepted' or 'rejected', got {decision!r}")
        with self._write() as db:
            db.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?) ON CONFLICT (suggestion_id) DO UPDATE SET "
                "decision = excluded.decision, record = excluded.record, updated = excluded.updated",
                (suggestion_id, decision, json.dumps(record), time.time()),
            )

    def decisions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Suggestion id -> (decision, the suggestion's record), in the order they were made."""
        rows = self._read("SELECT suggestion_id, decision, record FROM decisions ORDER BY updated")
        return {sid: (decision, json.loads(record)) for sid, decision, record in rows}

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def read_review_labels(run_dir: str | Path) -> dict[tuple[str, str], int]:
    """The labels given in the review app for the run in ``run_dir`` ((split, row id) ->
    class index); empty when there is no store. A store the review app did not write is
    refused (``ReviewError``)."""
    path = Path(run_dir) / LABELS_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    store = LabelStore(run_dir)
    try:
        return store.labels()
    finally:
        store.close()


def _positions(split: Any, labels: dict[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``split`` of the rows labeled in the app, and their labels."""
    ids = split.data.index.astype(str)
    wanted = {row_id: label for (name, row_id), label in labels.items() if name == split.name}
    where = np.flatnonzero(ids.isin(list(wanted)))
    return where, np.array([wanted[ids[i]] for i in where], dtype=np.int64)


def dev_rows(splits: dict[str, Any], labels: dict[tuple[str, str], int]) -> tuple[LabelMatrix | None, np.ndarray | None]:
    """The label model's dev rows: the valid split's gold rows, with the labels given in the
    app filling in or replacing gold there, and the train rows labeled in the app. Without
    app labels: the valid split as it is (or nothing without gold). Labels of test rows and
    of rows the data no longer has are left out, with a warning."""
    valid, train = splits.get("valid"), splits["train"]
    if not labels:
        return (valid.L, valid.y) if valid is not None and valid.has_gold else (None, None)
    parts: list[tuple[LabelMatrix, np.ndarray, str]] = []
    used = 0
    if valid is not None and len(valid.data):
        y = valid.y.copy() if valid.y is not None else np.full(len(valid.data), -1, dtype=np.int64)
        where, given = _positions(valid, labels)
        y[where] = given
        used += len(where)
        if (y >= 0).any():
            parts.append((valid.L.take(np.flatnonzero(y >= 0)), y[y >= 0], "valid"))
    where, given = _positions(train, labels)
    used += len(where)
    if len(where):
        parts.append((train.L.take(where), given, "train"))
    skipped = len(labels) - used
    if skipped:
        logger.warning("  %d labels from the review app name test rows or rows the data no longer has: left out", skipped)
    if not parts:
        return None, None
    logger.info("  %d labels from the review app join the label model's dev rows", used)
    first = parts[0][0]
    votes = np.vstack([L.votes for L, _, _ in parts])
    index = [f"{name}:{row_id}" for L, _, name in parts for row_id in L.index]
    L_dev = LabelMatrix(votes, first.lf_names, cardinality=first.cardinality, class_names=first.class_names, index=index)
    return L_dev, np.concatenate([y for _, y, _ in parts])


def train_targets(train: Any, probs: np.ndarray, labeled: np.ndarray,
                  labels: dict[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
    """The student's training targets with the train rows labeled in the app set to their
    label (one-hot, and counted as labeled rows)."""
    where, given = _positions(train, labels)
    if not len(where):
        return probs, labeled
    probs, labeled = probs.copy(), labeled.copy()
    probs[where] = np.eye(probs.shape[1])[given]
    labeled[where] = True
    return probs, labeled
