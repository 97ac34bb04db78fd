"""A SQLite answer cache: every paid answer is kept, committed the moment it arrives.

Why SQLite in WAL mode: one file, no server, readers never block the writer, several
processes can share it, and each answer is its own committed transaction — so a crash
or Ctrl-C mid-run loses nothing and a rerun sends only the requests that are missing.

The key is a hash of everything that changes an answer (endpoint, model, prompt hash,
rendered input, sampling parameters, decoding mode). Answers never expire. Besides
answers, the cache records *permanent* per-row refusals (a prompt too long for the
context, a content filter, another 4xx that asking again would not change), so a rerun
does not pay for them again unless asked to (``retry_failed=True``); transient failures
(timeouts, 429, 5xx) are never stored. API keys and request headers are never stored.

The default location is ``.weaklabel_cache/llm.sqlite`` under the current directory, or
under ``$WEAKLABEL_CACHE_DIR`` when that is set. Keep it on a local disk: SQLite's WAL
mode does not work on network file systems.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LLMCache", "cache_key", "default_cache_path"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, record TEXT NOT NULL, labeler TEXT, "
    "model TEXT, created REAL)",
    "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, kind TEXT NOT NULL, message TEXT, "
    "labeler TEXT, model TEXT, created REAL)",
    "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)",
)
_CHUNK = 500  # keys per SELECT; stays below SQLite's bound-parameter limit


def default_cache_path() -> Path:
    """``$WEAKLABEL_CACHE_DIR/llm.sqlite``, else ``./.weaklabel_cache/llm.sqlite``."""
    folder = os.environ.get("WEAKLABEL_CACHE_DIR")
    base = Path(folder) if folder else Path.cwd() / ".weaklabel_cache"
    return base / "llm.sqlite"


def cache_key(**parts: Any) -> str:
    """A stable hash of the keyword arguments (JSON with sorted keys, then SHA-256)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LLMCache:
    """Answers keyed by ``cache_key``, in a SQLite file shared by threads and processes.

    Parameters
    ----------
    path
        The SQLite file (created with its folder). ``None``: ``default_cache_path``.
    timeout
        Seconds to wait for another process's write lock before failing.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._connect()  # fail early on an unwritable location

    def __repr__(self) -> str:
        return f"LLMCache({str(self.path)!r})"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors name neither the file nor a way out: say both.

        A damaged file (garbage, truncated) is a ValueError and is never replaced silently,
        since it holds paid answers; a location that cannot be opened or written is an OSError.
        """
        try:
            yield
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            code = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_CORRUPT) & 0xFF
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise  # another process held the write lock for longer than ``timeout``
            if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_IOERR):
                raise ValueError(
                    f"the LLM answer cache at {self.path} is not a SQLite database or is corrupt "
                    f"({exc}); move it aside (with its -wal and -shm files) to start a new cache, "
                    "or try to salvage its answers with `sqlite3 <file> .recover`"
                ) from exc
            raise OSError(f"cannot use the LLM answer cache at {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): every INSERT is its own durable transaction.
        with self._errors():
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
            except BaseException:
                conn.close()
                raise
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _select(self, query: str, keys: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``query`` (``... WHERE key IN ({marks})``) for ``keys``, in chunks."""
        conn = self._connect()
        wanted = list(dict.fromkeys(keys))
        with self._errors():
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                yield from conn.execute(query.format(marks=",".join("?" * len(chunk))), chunk).fetchall()

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored answers among ``keys`` (missing keys are simply absent)."""
        rows = self._select("SELECT key, record FROM answers WHERE key IN ({marks})", keys)
        with self._errors():
            return {key: json.loads(record) for key, record in rows}

    def get_failures(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The recorded permanent refusals among ``keys``: ``{key: (kind, message)}``."""
        rows = self._select("SELECT key, kind, message FROM failures WHERE key IN ({marks})", keys)
        return {key: (kind, message or "") for key, kind, message in rows}

    def put_failure(self, key: str, kind: str, message: str, *, labeler: str = "", model: str = "") -> None:
        """Record that the endpoint refused ``key`` for good (``kind``: why, in one word)."""
        conn = self._connect()
        with self._errors():
            conn.execute(
                "INSERT OR REPLACE INTO failures (key, kind, message, labeler, model, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key, kind, message[:500], labeler, model, time.time()),
            )

    def put(self, key: str, record: Mapping[str, Any], *, labeler: str = "", model: str = "",
            clear_failure: bool = False) -> None:
        """Store one answer now. An answer already stored under ``key`` is kept (it was paid
        first); ``clear_failure`` drops a refusal an earlier run recorded for ``key``."""
        conn = self._connect()
        with self._errors():
            conn.execute(
                "INSERT OR IGNORE INTO answers (key, record, labeler, model, created) VALUES (?, ?, ?, ?, ?)",
                (key, json.dumps(record, ensure_ascii=False), labeler, model, time.time()),
            )
            if clear_failure:
                conn.execute("DELETE FROM failures WHERE key = ?", (key,))

    def put_many(self, items: Sequence[tuple[str, Mapping[str, Any]]], *, labeler: str = "", model: str = "") -> None:
        """Store several answers in one transaction (the local backend commits per batch)."""
        now = time.time()
        self._write_many(
            ("INSERT OR IGNORE INTO answers (key, record, labeler, model, created) VALUES (?, ?, ?, ?, ?)",
             [(key, json.dumps(rec, ensure_ascii=False), labeler, model, now) for key, rec in items]),
            ("DELETE FROM failures WHERE key = ?", [(key,) for key, _ in items]),
        )

    def _write_many(self, *statements: tuple[str, list[tuple[Any, ...]]]) -> None:
        """Run ``(sql, rows)`` statements in one transaction: all stored, or none."""
        conn = self._connect()
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    conn.executemany(sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def get_vectors(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored text embeddings (few-shot selection) among ``keys``."""
        rows = self._select("SELECT key, vector FROM embeddings WHERE key IN ({marks})", keys)
        return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows}

    def put_vectors(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Store text embeddings as raw float32 bytes, in one transaction."""
        rows = [(key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in vectors.items()]
        self._write_many(("INSERT OR IGNORE INTO embeddings (key, vector) VALUES (?, ?)", rows))

    def __len__(self) -> int:
        conn = self._connect()
        with self._errors():
            return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def count(self, labeler: str) -> int:
        """Answers stored for one labeler."""
        conn = self._connect()
        with self._errors():
            row = conn.execute("SELECT COUNT(*) FROM answers WHERE labeler = ?", (labeler,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close every connection this object opened (from any thread)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
