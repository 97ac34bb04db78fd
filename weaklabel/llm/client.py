"""An async chat client for any OpenAI-compatible endpoint: bounded, rate-limited, retrying.

Built on ``openai.AsyncOpenAI`` and its stock httpx transport, with the client's own
retries turned off (``max_retries=0``), because a labeling run needs retries that free
their concurrency slot while they wait, and failures sorted by what they say about the
row:

- ``max_concurrency`` requests in flight at most; optional requests-per-minute and
  tokens-per-minute limits (token buckets);
- **transient** failures — 429, 408, 409, 5xx, timeouts, dropped connections, a body that
  is not JSON — are retried with capped exponential backoff and jitter, honouring
  ``Retry-After``/``retry-after-ms`` and the ``x-should-retry`` header; a waiting row holds
  no slot;
- **permanent per-row** refusals — another 4xx, a prompt longer than the context, a
  content filter — make that row abstain; they are counted by kind and recorded in the
  cache, and are not asked again unless ``retry_failed=True``;
- **run-level** errors stop the run at once with one line: a refused key (401, 403), an
  unknown model or endpoint (404), or the first 8 requests all refused alike (a bad
  parameter, not bad rows). Requests go out one at a time until the endpoint has answered
  once, so a wrong key or model name costs one request, not thousands;
- every request has a total deadline (``timeout``: connecting and reading), and a warning
  is logged when no answer has arrived for ``stall_warning`` seconds.

The API key is read from the environment variable named by ``api_key_env`` when a run
starts and handed to the openai client only; it is redacted from every error message,
and never logged, cached or reported.

Pointing the same code at another server takes ``base_url`` + ``model`` + ``api_key_env``:

=========  ======================================  ==============================  =================
server     base_url                                model                           api_key_env
=========  ======================================  ==============================  =================
OpenAI     ``None``                                ``"gpt-4o-mini"``               ``OPENAI_API_KEY``
vLLM       ``"http://localhost:8000/v1"``          the ``--model`` it serves       any (unset is ok)
Ollama     ``"http://localhost:11434/v1"``         ``"llama3.2"``                  any (unset is ok)
llama.cpp  ``"http://127.0.0.1:8080/v1"``          any (one model per server)      any (unset is ok)
=========  ======================================  ==============================  =================

For a server that needs no key, an unset variable is fine (a placeholder is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from weaklabel.exceptions import (
    LLMAuthError,
    LLMError,
    LLMNotFoundError,
    LLMStatusError,
    LLMUnsupportedError,
)
from weaklabel.llm._http import (
    Outcome,
    classify_status,
    display_endpoint,
    httpx_flavour,
    parse_retry_after,
    read_answer,
    redact,
    server_detail,
)
from weaklabel.llm._run import Run
from weaklabel.llm.settings import LLMSettings
from weaklabel.llm.transport import LeanTransport, proxies_configured

__all__ = ["ChatClient", "ChatRequest", "RunEvents", "RunStats", "http_client_for", "run_sync"]

T = TypeVar("T")
_NO_KEY = "no-key-needed"
_BREAKER = 8  # this many refusals before any answer: the requests are wrong, not the rows
_STATUS_HINTS = {
    400: "the endpoint rejected the request",
    401: "the API key was refused; check the environment variable {api_key_env}",
    403: "the API key has no access to this model or endpoint",
    404: "model {model!r} or the chat endpoint was not found; check model= and base_url=",
    422: "the endpoint could not process the request parameters",
}


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to fetch: its cache ``key``, JSON ``body`` (without the model)
    and an estimate of its tokens (for the tokens-per-minute limit)."""

    key: str
    body: dict[str, Any]
    est_tokens: int


class RunEvents(Protocol):
    """What a run reports to its caller (the labeler's backend), request by request."""

    def allow(self, pos: int) -> bool:
        """Asked just before a request is first sent (a budget check)."""

    def answered(self, pos: int, record: dict[str, Any]) -> None:
        """An answer arrived: store it now."""

    def refused(self, pos: int, kind: str, message: str) -> None:
        """The endpoint refused this row for good (``kind``: why, in one word)."""

    def gave_up(self, pos: int, why: str) -> None:
        """Transient failures outlasted every retry."""

    def settled(self, pos: int, stats: RunStats) -> None:
        """The request is finished either way (progress)."""


@dataclass
class RunStats:
    """Counters of a run: attempts, retries by kind, refusals by kind."""

    requests_sent: int = 0
    retries: int = 0
    retry_kinds: dict[str, int] = field(default_factory=dict)
    answers: int = 0
    refusals: int = 0
    gave_up: int = 0

    def retried(self, kind: str) -> None:
        self.retries += 1
        self.retry_kinds[kind] = self.retry_kinds.get(kind, 0) + 1


class _Callbacks:
    """The simple ``ChatClient.fetch``: answers to a callback, failures into a dict."""

    def __init__(self, on_answer: Callable[[int, dict[str, Any]], None], failures: dict[int, str]) -> None:
        self.on_answer, self.failures = on_answer, failures

    def allow(self, pos: int) -> bool:
        return True

    def answered(self, pos: int, record: dict[str, Any]) -> None:
        self.on_answer(pos, record)

    def refused(self, pos: int, kind: str, message: str) -> None:
        self.failures[pos] = f"refused ({kind}): {message}"

    def gave_up(self, pos: int, why: str) -> None:
        self.failures[pos] = why

    def settled(self, pos: int, stats: RunStats) -> None:
        pass


class ChatClient:
    """Fetch many chat completions from one endpoint and model; see the module docstring.

    ``settings`` supplies the endpoint, limits, deadlines and retry policy; ``labeler``
    names the owner in messages; ``random_state`` seeds the backoff jitter.
    """

    def __init__(self, settings: LLMSettings, *, labeler: str, random_state: int | None = None) -> None:
        self.settings = settings
        self.labeler = labeler
        self._rng = random.Random(random_state)
        self.stats = RunStats()

    @property
    def endpoint(self) -> str:
        """The base URL requests go to (what the openai client would use), without a trailing /."""
        url = self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return url.rstrip("/")

    def _api_key(self) -> str:
        key = os.environ.get(self.settings.api_key_env)
        if key:
            return key
        if self.settings.base_url is None and not os.environ.get("OPENAI_BASE_URL"):
            raise LLMError(
                f"LLM labeler {self.labeler!r}: the environment variable {self.settings.api_key_env} "
                "holding the API key is not set (set it, or pass base_url= for a local server "
                "that needs no key)",
                self.labeler,
            )
        return _NO_KEY  # local servers (vLLM, Ollama, llama.cpp) ignore the key

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(retry_after, 10 * self.settings.backoff_max)
        base, cap = self.settings.backoff_base, self.settings.backoff_max
        return min(cap, base * 2.0**attempt) * self._rng.uniform(0.5, 1.0)

    def status_error(self, status: int, detail: str, key: str, kind: type[LLMStatusError] = LLMStatusError) -> LLMStatusError:
        """A one-line error naming the labeler, endpoint, status, what to check and the server's words."""
        hint = _STATUS_HINTS.get(status, "a non-retryable error")
        hint = hint.format(api_key_env=self.settings.api_key_env, model=self.settings.model)
        said = " ".join(detail.split())[:300] or "(no message)"
        message = (
            f"LLM labeler {self.labeler!r}: {display_endpoint(self.endpoint)} answered HTTP {status} "
            f"for model {self.settings.model!r}: {hint}. Server said: {said}"
        )
        return kind(redact(message, key), self.labeler, status, redact(said, key))

    # ------------------------------------------------------------ one request
    async def send(self, client: Any, request: ChatRequest, key: str) -> Outcome:
        """One attempt, sorted into an ``Outcome`` (fatal errors raise)."""
        import openai

        self.stats.requests_sent += 1
        body = {"model": self.settings.model, **request.body}
        try:
            async with asyncio.timeout(self.settings.timeout):  # connecting and reading, in total
                payload = await client.post("/chat/completions", cast_to=bytes, body=body)
        except openai.APIStatusError as exc:
            return self._status_outcome(exc, request, key)
        except (TimeoutError, openai.APITimeoutError):
            return Outcome("retry", "timeout")
        except openai.APIConnectionError:
            return Outcome("retry", "connection error")
        return read_answer(payload)

    def _status_outcome(self, exc: Any, request: ChatRequest, key: str) -> Outcome:
        status, headers = exc.status_code, exc.response.headers
        detail = redact(server_detail(exc.body), key)
        asked_for = {"logprobs", "response_format"} & set(request.body)
        outcome = classify_status(status, headers.get("x-should-retry"), detail, bool(asked_for))
        if outcome.action == "fatal":
            kind = {401: LLMAuthError, 403: LLMAuthError, 404: LLMNotFoundError}.get(status, LLMStatusError)
            raise self.status_error(status, detail, key, kind)
        if outcome.action == "unsupported":
            raise self.status_error(status, detail, key, LLMUnsupportedError)
        if outcome.action == "retry":
            return Outcome("retry", outcome.kind, retry_after=parse_retry_after(headers))
        said = " ".join(detail.split())[:300]
        return Outcome("refused", outcome.kind, message=f"HTTP {status}: {said}", status=status)

    # ------------------------------------------------------------ many requests
    async def fetch(self, requests: Sequence[ChatRequest], on_answer: Callable[[int, dict[str, Any]], None]) -> dict[int, str]:
        """Fetch ``requests``, calling ``on_answer(position, record)`` as each answer arrives;
        returns ``{position: why}`` for those refused or failing every retry."""
        failures: dict[int, str] = {}
        await self.run(requests, _Callbacks(on_answer, failures))
        return failures

    async def run(self, requests: Sequence[ChatRequest], events: RunEvents) -> None:
        """Fetch ``requests``, reporting each outcome to ``events``.

        Raises ``LLMStatusError`` (or a subclass) on a run-level error, after
        cancelling the requests in flight; answers that arrived before are already stored.
        """
        import openai

        if not requests:
            return
        key = self._api_key()

        def resent() -> None:  # the lean transport sent a request again on a fresh connection
            self.stats.requests_sent += 1
            self.stats.retried("stale connection")

        http_client, timeout = http_client_for(openai, self.settings, resent)
        client = openai.AsyncOpenAI(
            api_key=key, base_url=self.endpoint, max_retries=0, timeout=timeout, http_client=http_client
        )
        try:
            await Run(self, client, key, requests, events).execute()
        finally:
            with contextlib.suppress(Exception):
                await client.close()


def http_client_for(openai: Any, settings: LLMSettings, on_resend: Callable[[], None]) -> tuple[Any, Any]:
    """The httpx client requests go through, and its timeout.

    The openai client's own (proxies and TLS as the environment configures them), with a
    connection per concurrent request and the settings' deadlines; or, with
    ``transport="lean"`` and no proxy, the same client over ``LeanTransport``.
    """
    httpx = httpx_flavour(openai)
    timeout = httpx.Timeout(settings.timeout, connect=min(settings.connect_timeout, settings.timeout))
    if settings.transport == "lean" and not proxies_configured():
        return openai.DefaultAsyncHttpxClient(transport=LeanTransport(httpx, on_resend), timeout=timeout), timeout
    limits = httpx.Limits(max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency)
    return openai.DefaultAsyncHttpxClient(timeout=timeout, limits=limits), timeout


# ---------------------------------------------------------------- sync entry point
def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, in scripts and in Jupyter alike.

    Without a running event loop this is ``asyncio.run``. Inside one (Jupyter, an async
    app) the coroutine runs on its own loop in a helper thread, and Ctrl-C (or any error
    while waiting) cancels it there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    loop = asyncio.new_event_loop()
    outcome: dict[str, Any] = {}
    box: dict[str, asyncio.Task[T]] = {}

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["task"] = loop.create_task(make())
            outcome["value"] = loop.run_until_complete(box["task"])
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="weaklabel-llm", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except BaseException:
        if "task" in box and not loop.is_closed():
            loop.call_soon_threadsafe(box["task"].cancel)
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
