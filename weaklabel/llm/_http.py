"""What an HTTP answer means for a labeling run: retry, refuse the row, stop, or use it.

Pure functions over status codes, headers and bodies, so each rule is testable alone:
``classify_status`` sorts an error status, ``read_answer`` turns a 200 body into
the record the cache keeps (a body that fits no chat completion is an unparsable answer,
never a crash), ``redact`` keeps keys out of every message.
"""

from __future__ import annotations

import email.utils
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Outcome",
    "classify_status",
    "display_endpoint",
    "httpx_flavour",
    "parse_retry_after",
    "read_answer",
    "redact",
    "server_detail",
]

Action = Literal["answer", "retry", "refused", "fatal", "unsupported"]

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_FATAL_STATUS = frozenset({401, 403, 404})
_UNSUPPORTED = re.compile(r"logprob|response_format|json_schema|structured output", re.IGNORECASE)
_CONTEXT = re.compile(
    r"context.{0,20}length|context_length_exceeded|maximum context|too many tokens|prompt is too long|"
    r"reduce the length|input is too long|exceeds? the (?:model'?s? )?(?:maximum|context)",
    re.IGNORECASE,
)
_FILTER = re.compile(r"content[ _-]?(?:filter|management|policy)|safety system|flagged|moderation", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\b(?:sk|key|api|hf|gsk|xai)[-_][A-Za-z0-9*_\-]{4,}|\bAIza[0-9A-Za-z_\-]{10,}", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: an answer ``record``, or what to do about the failure.

    ``kind`` names a failure in one word (``"status 429"``, ``"timeout"``,
    ``"context_length"``); ``retry_after`` is the server's wait hint in seconds.
    """

    action: Action
    kind: str = ""
    record: dict[str, Any] | None = None
    retry_after: float | None = None
    message: str = ""
    status: int = 0


def classify_status(status: int, should_retry: str | None, detail: str, asked_for_decoding: bool) -> Outcome:
    """Sort an HTTP error status into retry, a permanent per-row refusal, or a run-level stop.

    A refused key or unknown model stops the run whatever else the server says; otherwise
    an explicit ``x-should-retry`` header decides, then the status: 408, 409, 429 and 5xx
    are transient, a 400 that names ``logprobs`` or ``response_format`` means the endpoint
    lacks that decoding, and any other 4xx is about this row (context length, content
    filter, or the status itself).
    """
    if status in _FATAL_STATUS:
        return Outcome("fatal", f"http_{status}")
    if should_retry == "true":
        return Outcome("retry", f"status {status}")
    if should_retry != "false" and (status in _RETRYABLE_STATUS or status >= 500):
        return Outcome("retry", f"status {status}")
    if status == 400 and asked_for_decoding and _UNSUPPORTED.search(detail):
        return Outcome("unsupported", f"http_{status}")
    if _CONTEXT.search(detail):
        return Outcome("refused", "context_length")
    if _FILTER.search(detail):
        return Outcome("refused", "content_filter")
    return Outcome("refused", f"http_{status}")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def server_detail(body: Any) -> str:
    """The server's own words from an error body (OpenAI-style ``{"error": {"message": ...}}``)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        return str(error.get("message", "") if isinstance(error, dict) else error)
    return "" if body is None else str(body)


def redact(text: str, secret: str | None) -> str:
    """Remove ``secret`` and anything that looks like an API key from ``text``."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[REDACTED]")
    return _KEY_LIKE.sub("[REDACTED]", text)


def display_endpoint(url: str) -> str:
    """``url`` without user info or query (they may carry credentials), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def httpx_flavour(openai: Any) -> Any:
    """The httpx module the installed openai client is built on (httpx or httpx2)."""
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return sys.modules[base.__module__.split(".")[0]]


# ---------------------------------------------------------------- 200 bodies
def read_answer(payload: bytes) -> Outcome:
    """The record a labeler keeps from a 200 body.

    A body that is not JSON at all is a damaged transfer (retried). JSON that does not fit
    a chat completion — a missing choice, a message or content of the wrong type —
    still yields a record, with ``text`` None and the problem in ``schema_error``: the row
    counts as unparsable, and the answer is cached like any other.
    """
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Outcome("retry", "malformed response")
    problems: list[str] = []
    choice = _first_choice(data, problems)
    message = _field(choice, "message", dict, problems) or {}
    text = _field(message, "content", str, problems)
    usage = _field(data if isinstance(data, dict) else {}, "usage", dict, problems) or {}
    record: dict[str, Any] = {
        "text": text,
        "refusal": bool(_field(message, "refusal", str, problems)),
        "top_logprobs": _top_logprobs(choice, problems),
        "prompt_tokens": _count(usage.get("prompt_tokens"), "prompt_tokens", problems),
        "completion_tokens": _count(usage.get("completion_tokens"), "completion_tokens", problems),
        "finish_reason": _field(choice, "finish_reason", str, problems),
    }
    if problems:
        record["schema_error"] = "; ".join(problems)[:300]
    return Outcome("answer", record=record)


def _first_choice(data: Any, problems: list[str]) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        problems.append(f"no choice (choices is {type(choices).__name__})")
        return {}
    return choices[0]


def _field(container: Any, name: str, kind: type, problems: list[str]) -> Any:
    """``container[name]`` when it has type ``kind``; None (and a problem noted) otherwise."""
    value = container.get(name) if isinstance(container, dict) else None
    if value is None or isinstance(value, kind):
        return value
    problems.append(f"{name} is {type(value).__name__}, not {kind.__name__}")
    return None


def _count(value: Any, name: str, problems: list[str]) -> int:
    if value is None:
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 and value == value:
        return int(value)
    problems.append(f"usage.{name} is {value!r:.20}")
    return 0


def _top_logprobs(choice: dict[str, Any], problems: list[str]) -> list[list[Any]] | None:
    """``[[token, logprob], ...]`` of the first generated token, or None."""
    logprobs = _field(choice, "logprobs", dict, problems)
    content = _field(logprobs, "content", list, problems) if logprobs else None
    if not content:
        return None
    first = content[0]
    if not isinstance(first, dict):
        problems.append("logprobs.content[0] is not an object")
        return None
    items = first.get("top_logprobs") or []
    if not isinstance(items, list):
        problems.append("top_logprobs is not a list")
        items = []
    top = [[t["token"], float(t["logprob"])] for t in items if _token_logprob(t)]
    if not top and _token_logprob(first):
        top = [[first["token"], float(first["logprob"])]]
    return top or None


def _token_logprob(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("token"), str)
        and isinstance(item.get("logprob"), int | float)
        and not isinstance(item.get("logprob"), bool)
    )
