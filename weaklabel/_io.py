"""Versioned, checksummed envelopes for everything weaklabel saves, written atomically.

Every saved object (label models, students, label matrices) stores its content with a
``format`` name, a ``version`` and a SHA-256 ``checksum`` of the content. Loading checks
all three, so a file of another kind, of a newer format, or edited or damaged on disk is
refused with a message naming the file, instead of predicting with parameters of the wrong
shape (numpy would broadcast some). Files are written to a temporary name and moved into
place, so an interrupted save never leaves half a file under the real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "checksum", "open_envelope", "read_json", "seal", "write_json"]

_RESERVED = ("format", "version", "checksum")


def checksum(content: dict[str, Any]) -> str:
    """SHA-256 of ``content`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def seal(format: str, version: int, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``format``, ``version`` and the ``checksum`` of the body."""
    clash = [key for key in _RESERVED if key in body]
    if clash:
        raise ValueError(f"an envelope body cannot use the reserved keys {clash}")
    return {"format": format, "version": version, **body, "checksum": checksum(body)}


def open_envelope(
    payload: Any, format: str, version: int, source: str, what: str | None = None
) -> dict[str, Any]:
    """The body of a sealed ``payload`` after checking its format, version and checksum.

    ``source`` names the file and ``what`` the kind of object in the messages. A payload
    without a checksum is refused: removing the field must not switch the check off.
    """
    if not isinstance(payload, dict) or payload.get("format") != format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{source} is not a saved {what or format} (its format is {found!r})")
    if payload.get("version") != version:
        raise ValueError(
            f"{source} has format version {payload.get('version')!r}; this weaklabel reads "
            f"version {version}"
        )
    body = {key: value for key, value in payload.items() if key not in _RESERVED}
    if "checksum" not in payload:
        raise ValueError(
            f"{source} has no checksum: it was edited or damaged (or written by hand); "
            f"save the {what or format} again from the object that made it"
        )
    if payload["checksum"] != checksum(body):
        raise ValueError(
            f"{source} is corrupt: its content does not match its checksum (edited or damaged)"
        )
    return body


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved onto it when the block succeeds (removed if not)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, format: str, version: int, body: dict[str, Any]) -> Path:
    """Write ``body`` sealed (see ``seal``) as indented JSON, atomically."""
    path = Path(path)
    text = json.dumps(seal(format, version, body), indent=1)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def read_json(path: str | Path, format: str, version: int, what: str) -> dict[str, Any]:
    """The body of a JSON file written by ``write_json``, checked (``what`` names the kind
    of object in the messages, e.g. ``"label model"``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved {what} at {path}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a saved {what} (invalid JSON: {exc})") from exc
    return open_envelope(payload, format, version, str(path), what)
