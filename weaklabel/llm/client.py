"""An async chat client for any OpenAI-compatible endpoint: bounded, rate-limited, retrying.

Built on ``openai.AsyncOpenAI`` with its own retries turned off (``max_retries=0``),
because a labeling run needs retries that free their concurrency slot while they wait
(and, without a proxy, a lean connection layer: :mod:`weaklabel.llm.transport`):

- ``max_concurrency`` workers, so at most that many requests are in flight;
- optional requests-per-minute and tokens-per-minute limits (token buckets);
- exponential backoff with jitter on 429, 408, 409, 5xx, timeouts, dropped connections and
  malformed responses, honouring ``Retry-After``; the waiting row does not hold a slot;
- a per-request timeout;
- non-retryable answers (401, 403, 404 model not found, 400 context too long, 422) stop
  the run at once with an :class:`LLMStatusError` naming the labeler. The first request is
  sent alone as a probe, so a wrong key or model name costs one request, not thousands.

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
import email.utils
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from weaklabel.exceptions import LLMError, LLMResponseError, LLMStatusError, LLMTransportError
from weaklabel.llm.transport import make_http_client, proxies_configured, within

__all__ = [
    "ChatClient",
    "ChatRequest",
    "LLMError",
    "LLMResponseError",
    "LLMStatusError",
    "LLMTransportError",
    "run_sync",
]

logger = logging.getLogger("weaklabel.llm")
T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_STATUS_HINTS = {
    400: "the endpoint rejected the request (e.g. the prompt exceeds the model's context length, "
    "or a parameter such as logprobs or response_format is unsupported)",
    401: "the API key was refused; check the environment variable {api_key_env}",
    403: "the API key has no access to this model or endpoint",
    404: "model {model!r} or the chat endpoint was not found; check model= and base_url=",
    422: "the endpoint could not process the request parameters",
}
_KEY_LIKE = re.compile(r"\b(?:sk|key|api)[-_][A-Za-z0-9*_\-]{4,}", re.IGNORECASE)
_NO_KEY = "no-key-needed"


# ---------------------------------------------------------------- errors
class _Retryable(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, kind: str, retry_after: float | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retry_after = retry_after


def redact(text: str, secret: str | None) -> str:
    """Remove ``secret`` and anything that looks like an API key from ``text``."""
    if secret and secret != _NO_KEY:
        text = text.replace(secret, "[REDACTED]")
    return _KEY_LIKE.sub("[REDACTED]", text)


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


# ---------------------------------------------------------------- rate limits
class _TokenBucket:
    """Reserve-then-wait token bucket refilled at ``per_minute / 60`` per second.

    ``reserve(n)`` takes ``n`` now (the level may go negative) and returns the seconds to
    wait before using them, so concurrent callers queue fairly without a lock.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)  # at most one second's worth in a burst
        self.level = self.capacity
        self.clock = clock
        self.updated = clock()

    def reserve(self, amount: float) -> float:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        self.level -= amount
        return 0.0 if self.level >= 0 else -self.level / self.rate


# ---------------------------------------------------------------- requests
@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to fetch: its cache ``key``, JSON ``body`` (without the model)
    and an estimate of its tokens (for the tokens-per-minute limit)."""

    key: str
    body: dict[str, Any]
    est_tokens: int


def _answer_record(payload: bytes) -> dict[str, Any]:
    """The parts of a chat completion that a labeler keeps."""
    try:
        data = json.loads(payload)
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Retryable("malformed response") from None
    text = message.get("content")
    top = None
    content = (choice.get("logprobs") or {}).get("content") or []
    if content and isinstance(content[0], dict):
        top = [[t.get("token", ""), float(t.get("logprob", -1e9))] for t in content[0].get("top_logprobs") or []]
        if not top and "token" in content[0]:
            top = [[content[0]["token"], float(content[0].get("logprob", 0.0))]]
    usage = data.get("usage") or {}
    return {
        "text": text if isinstance(text, str) else None,
        "refusal": bool(message.get("refusal")),
        "top_logprobs": top,
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
        "finish_reason": choice.get("finish_reason"),
    }


class _Stats:
    """Counters the labeler's report reads (attempts, retries by kind, tokens)."""

    def __init__(self) -> None:
        self.requests_sent = 0
        self.retries = 0
        self.retry_kinds: dict[str, int] = {}

    def retried(self, kind: str) -> None:
        self.retries += 1
        self.retry_kinds[kind] = self.retry_kinds.get(kind, 0) + 1


class ChatClient:
    """Fetch many chat completions from one endpoint and model. See the module docstring.

    Parameters
    ----------
    labeler
        Name used in error messages and logs.
    model, base_url, api_key_env
        Where to send requests and which environment variable holds the key.
    max_concurrency
        Requests in flight at most.
    requests_per_minute, tokens_per_minute
        Optional client-side rate limits.
    timeout
        Seconds per request before it counts as timed out (and is retried).
    max_retries
        Retries per request after its first attempt.
    backoff_base, backoff_max
        Backoff before retry ``n`` is ``min(backoff_max, backoff_base * 2**n)`` times a
        random factor in [0.5, 1]; a ``Retry-After`` from the server is used instead.
    random_state
        Seed of the jitter.
    """

    def __init__(
        self,
        *,
        labeler: str,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        random_state: int | None = None,
    ) -> None:
        self.labeler = labeler
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = random.Random(random_state)
        self.stats = _Stats()

    @property
    def endpoint(self) -> str:
        """The base URL requests go to (what the openai client would use), without a trailing /."""
        url = self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return url.rstrip("/")

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url is None and not os.environ.get("OPENAI_BASE_URL"):
            raise LLMError(
                f"LLM labeler {self.labeler!r}: the environment variable {self.api_key_env} "
                "holding the API key is not set (set it, or pass base_url= for a local server "
                "that needs no key)",
                self.labeler,
            )
        return _NO_KEY  # local servers (vLLM, Ollama, llama.cpp) ignore the key

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(retry_after, 10 * self.backoff_max)
        return min(self.backoff_max, self.backoff_base * 2.0**attempt) * self._rng.uniform(0.5, 1.0)

    # ------------------------------------------------------------ one request
    async def _send(self, client: Any, request: ChatRequest, key: str) -> dict[str, Any]:
        import openai

        self.stats.requests_sent += 1
        body = {"model": self.model, **request.body}
        try:
            call = client.post("/chat/completions", cast_to=bytes, body=body, options={"timeout": self.timeout})
            payload = await within(call, self.timeout)  # a total deadline, connection included
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in _RETRYABLE_STATUS or status >= 500:
                raise _Retryable(f"status {status}", parse_retry_after(exc.response.headers)) from None
            raise self._status_error(exc, key) from None
        except (TimeoutError, openai.APITimeoutError):
            raise _Retryable("timeout") from None
        except openai.APIConnectionError:
            raise _Retryable("connection error") from None
        return _answer_record(payload)

    def _status_error(self, exc: Any, key: str) -> LLMStatusError:
        body = exc.body
        detail = ""
        if isinstance(body, dict):
            error = body.get("error", body)
            detail = str(error.get("message", "") if isinstance(error, dict) else error)
        elif body is not None:
            detail = str(body)
        hint = _STATUS_HINTS.get(exc.status_code, "a non-retryable error")
        hint = hint.format(api_key_env=self.api_key_env, model=self.model)
        message = (
            f"LLM labeler {self.labeler!r}: {self.endpoint} answered HTTP {exc.status_code} "
            f"for model {self.model!r}: {hint}. Server said: {detail[:500] or '(no message)'}"
        )
        return LLMStatusError(redact(message, key), self.labeler, exc.status_code, redact(detail[:500], key))

    # ------------------------------------------------------------ many requests
    async def run(
        self,
        requests: Sequence[ChatRequest],
        on_answer: Callable[[int, dict[str, Any]], None],
        *,
        allow: Callable[[int], bool] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> dict[int, str]:
        """Fetch ``requests``; returns ``{position: why}`` for those that failed every retry.

        ``on_answer(position, record)`` is called as each answer arrives (store it now);
        ``allow(position)`` is asked just before a request is first sent (a budget check);
        ``on_done(position)`` after each request is settled either way (progress).
        Raises :class:`LLMStatusError` on a non-retryable answer, after cancelling the rest.
        """
        import openai

        if not requests:
            return {}
        key = self._api_key()

        def resent() -> None:
            self.stats.requests_sent += 1
            self.stats.retried("stale connection")

        # The lean transport halves the client's CPU per request; proxies need the default one.
        http_client = None if proxies_configured() else make_http_client(openai, self.timeout, resent)
        client = openai.AsyncOpenAI(
            api_key=key, base_url=self.endpoint, max_retries=0, timeout=self.timeout, http_client=http_client
        )
        try:
            return await _Run(self, client, key, requests, on_answer, allow, on_done).execute()
        finally:
            with contextlib.suppress(Exception):
                await client.close()


class _Run:
    """One :meth:`ChatClient.run`: the work queue, the retry timers and the failures.

    ``max_concurrency`` workers take (priority, position, attempt) items from a priority
    queue: retries (0) before first attempts (1), so rows waiting on a retry finish early
    instead of piling up at the end; the stop signals (2) come last. A failed attempt is
    put back by a timer after its backoff, so the waiting row holds no worker.
    """

    def __init__(
        self,
        owner: ChatClient,
        client: Any,
        key: str,
        requests: Sequence[ChatRequest],
        on_answer: Callable[[int, dict[str, Any]], None],
        allow: Callable[[int], bool] | None,
        on_done: Callable[[int], None] | None,
    ) -> None:
        self.owner, self.client, self.key = owner, client, key
        self.requests, self.on_answer, self.allow, self.on_done = requests, on_answer, allow, on_done
        self.queue: asyncio.PriorityQueue[tuple[int, int, int]] = asyncio.PriorityQueue()
        self.timers: set[asyncio.TimerHandle] = set()
        self.failures: dict[int, str] = {}
        self.stopping = False
        self.remaining = len(requests)
        self.workers = max(1, min(owner.max_concurrency, len(requests)))
        self.rpm = _TokenBucket(owner.requests_per_minute) if owner.requests_per_minute else None
        self.tpm = _TokenBucket(owner.tokens_per_minute) if owner.tokens_per_minute else None

    def settle(self, pos: int) -> None:
        self.remaining -= 1
        if self.on_done is not None:
            self.on_done(pos)
        if self.remaining == 0:
            for _ in range(self.workers):
                self.queue.put_nowait((2, -1, -1))

    def retry_later(self, pos: int, attempt: int, delay: float) -> None:
        def requeue() -> None:
            self.timers.discard(handle)
            self.queue.put_nowait((0, pos, attempt))

        handle = asyncio.get_running_loop().call_later(delay, requeue)
        self.timers.add(handle)

    async def attempt(self, pos: int, attempt: int) -> float | None:
        """Send one attempt; returns the backoff before a retry, or None once settled."""
        owner, request = self.owner, self.requests[pos]
        if attempt == 0 and self.allow is not None and not self.allow(pos):
            self.settle(pos)
            return None
        wait = max(self.rpm.reserve(1) if self.rpm else 0.0, self.tpm.reserve(request.est_tokens) if self.tpm else 0.0)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            record = await owner._send(self.client, request, self.key)
        except _Retryable as exc:
            if attempt >= owner.max_retries:
                self.failures[pos] = f"{exc.kind} after {attempt + 1} attempts"
                logger.debug("labeler %r: row %d failed: %s", owner.labeler, pos, self.failures[pos])
                self.settle(pos)
                return None
            owner.stats.retried(exc.kind)
            delay = owner.backoff(attempt, exc.retry_after)
            logger.debug("labeler %r: %s, retry %d in %.2fs", owner.labeler, exc.kind, attempt + 1, delay)
            return delay
        self.on_answer(pos, record)
        self.settle(pos)
        return None

    async def worker(self) -> None:
        while not self.stopping:  # a worker whose cancellation was lost still stops
            priority, pos, attempt = await self.queue.get()
            if priority == 2:
                return
            delay = await self.attempt(pos, attempt)
            if delay is not None:  # retry later without holding this worker
                self.retry_later(pos, attempt + 1, delay)

    async def probe(self) -> None:
        """The first request alone (with its retries): a bad key or model costs one request."""
        attempt = 0
        while (delay := await self.attempt(0, attempt)) is not None:
            await asyncio.sleep(delay)
            attempt += 1

    async def execute(self) -> dict[int, str]:
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.probe()
            for pos in range(1, len(self.requests)):
                self.queue.put_nowait((1, pos, 0))
            if self.remaining:
                tasks = [asyncio.ensure_future(self.worker()) for _ in range(self.workers)]
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    error = task.exception()
                    if error is not None:
                        raise error
        finally:
            self.stopping = True
            for handle in self.timers:
                handle.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.failures


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
