"""Cache of intermediate benchmark results (peer predictions, per-set scores) in
``benchmarks/.cache`` (ignored by git), so that reruns of one set or one part are cheap.

Keys name what was computed; a digest of the inputs is part of the file name, so changed
votes never reuse a stale result. Delete the folder to recompute everything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._results import ROOT

__all__ = ["CACHE", "cached_array", "cached_json"]

CACHE = ROOT / "benchmarks" / ".cache"


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.shape).encode())
    return h.hexdigest()[:16]


def _path(key: str, suffix: str, arrays: tuple[np.ndarray, ...]) -> Any:
    safe = key.replace("/", "_").replace(" ", "_")
    return CACHE / f"{safe}-{_digest(*arrays)}{suffix}"


def cached_array(key: str, arrays: tuple[np.ndarray, ...], compute: Callable[[], Any]) -> np.ndarray:
    """``compute()``'s array, stored under ``key`` and the digest of ``arrays``."""
    path = _path(key, ".npy", arrays)
    if path.exists():
        return np.load(path)
    result = np.asarray(compute())
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, result)
    tmp.replace(path)
    return result


def cached_json(key: str, compute: Callable[[], Any], arrays: tuple[np.ndarray, ...] = ()) -> Any:
    """``compute()``'s JSON-able result, stored under ``key`` (and the digest of ``arrays``).

    Results that depend on library code (not only on data) must put a version in ``key``;
    ``--fresh`` in the benchmark scripts clears the folder.
    """
    path = _path(key, ".json", arrays)
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return result
