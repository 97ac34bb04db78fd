"""One ``ChatClient.run``: the work queue, the ramp, retry timers, the breaker, the stall watch.

``max_concurrency`` workers take ``(priority, position, attempt)`` items from a priority
queue: retries (0) before first attempts (1), so rows waiting on a retry finish early
instead of piling up at the end; the stop signals (2) come last. A failed attempt is put
back by a timer after its backoff, so the waiting row holds no worker.

Until the endpoint has answered once (any answer, or a 429/5xx: it knows the key and the
model), only the first worker sends, so a wrong key or model name costs one request. If
the first ``BREAKER`` requests are all refused and none answered, the requests
themselves are wrong (a bad parameter), not the rows: the run stops, and those refusals
are not recorded against the rows. If the first ``SILENT_BREAKER`` attempts all time out
or lose their connection, the endpoint is down or hung, not slow on some rows: the run
stops with one line rather than wait ``timeout`` per attempt of every row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from weaklabel.exceptions import LLMError, LLMStatusError
from weaklabel.llm._http import Outcome, display_endpoint

if TYPE_CHECKING:
    from weaklabel.llm.client import ChatClient, ChatRequest, RunEvents

__all__ = ["BREAKER", "SILENT_BREAKER", "Run", "TokenBucket"]

logger = logging.getLogger("weaklabel.llm")
BREAKER = 8
SILENT_BREAKER = 3  # attempts without any reply before the first answer: the endpoint is down
_NO_REPLY = frozenset({"timeout", "connection error"})
_RETRY, _FIRST, _STOP = 0, 1, 2


class TokenBucket:
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


class Run:
    """The state of one run; ``execute`` drives it."""

    def __init__(
        self, owner: ChatClient, client: Any, key: str, requests: Sequence[ChatRequest], events: RunEvents
    ) -> None:
        settings = owner.settings
        self.owner, self.client, self.key, self.requests, self.events = owner, client, key, requests, events
        self.queue: asyncio.PriorityQueue[tuple[int, int, int]] = asyncio.PriorityQueue()
        self.timers: set[asyncio.TimerHandle] = set()
        self.remaining = len(requests)
        self.workers = max(1, min(settings.max_concurrency, len(requests)))
        self.rpm = TokenBucket(settings.requests_per_minute) if settings.requests_per_minute else None
        self.tpm = TokenBucket(settings.tokens_per_minute) if settings.tokens_per_minute else None
        self.opened = asyncio.Event()
        self.held: list[tuple[int, str, str]] = []  # refusals before any answer (see the module docstring)
        self.silent_attempts = 0  # attempts without any reply before the endpoint first replied
        self.in_flight = 0
        self.stopping = False
        self.last_news = asyncio.get_running_loop().time()

    # ------------------------------------------------------------ bookkeeping
    def settle(self, pos: int) -> None:
        self.remaining -= 1
        self.events.settled(pos, self.owner.stats)
        if self.remaining == 0:
            self.opened.set()  # workers still waiting for the ramp must see the stop signal
            for _ in range(self.workers):
                self.queue.put_nowait((_STOP, -1, -1))

    def retry_later(self, pos: int, attempt: int, delay: float) -> None:
        def requeue() -> None:
            self.timers.discard(handle)
            self.queue.put_nowait((_RETRY, pos, attempt))

        handle = asyncio.get_running_loop().call_later(delay, requeue)
        self.timers.add(handle)

    def refuse(self, pos: int, outcome: Outcome) -> None:
        stats = self.owner.stats
        stats.refusals += 1
        if stats.answers:
            self.events.refused(pos, outcome.kind, outcome.message)
            return
        self.held.append((pos, outcome.kind, outcome.message))
        if len(self.held) >= BREAKER:
            kinds = sorted({kind for _, kind, _ in self.held})
            raise LLMStatusError(
                f"LLM labeler {self.owner.labeler!r}: the first {len(self.held)} requests to "
                f"{display_endpoint(self.owner.endpoint)} were all refused ({', '.join(kinds)}) and none "
                f"was answered, so the requests are wrong rather than some rows; check the prompt and "
                f"the settings. Last refusal: {outcome.message}",
                self.owner.labeler,
                outcome.status,
                outcome.message,
            )

    def no_reply(self, kind: str) -> None:
        """Count an attempt the endpoint never replied to before its first answer; stop the
        run at ``SILENT_BREAKER`` of them (below it, the attempt is retried as usual)."""
        self.silent_attempts += 1
        if self.silent_attempts < SILENT_BREAKER:
            return
        settings = self.owner.settings
        raise LLMError(
            f"LLM labeler {self.owner.labeler!r}: {display_endpoint(self.owner.endpoint)} has not replied to "
            f"{self.silent_attempts} requests in a row (last: {kind}; each waits up to timeout={settings.timeout:g} s) "
            "and never answered any: check that the server is running and serving this model, or raise "
            "timeout if it is only slow to start",
            self.owner.labeler,
        )

    def release_held(self) -> None:
        """Refusals held back before the first answer are real per-row refusals after all."""
        held, self.held = self.held, []
        for pos, kind, message in held:
            self.events.refused(pos, kind, message)

    # ------------------------------------------------------------ one attempt
    async def attempt(self, pos: int, attempt: int) -> float | None:
        """Send one attempt; returns the backoff before a retry, or None once settled."""
        owner, request = self.owner, self.requests[pos]
        if attempt == 0 and not self.events.allow(pos):
            self.settle(pos)
            return None
        waits = [self.rpm.reserve(1) if self.rpm else 0.0, self.tpm.reserve(request.est_tokens) if self.tpm else 0.0]
        if max(waits) > 0:
            await asyncio.sleep(max(waits))
        self.in_flight += 1
        try:
            outcome = await owner.send(self.client, request, self.key)
        finally:
            self.in_flight -= 1
            self.last_news = asyncio.get_running_loop().time()
        if outcome.kind in _NO_REPLY and not self.opened.is_set():
            self.no_reply(outcome.kind)
        if outcome.action == "answer":
            assert outcome.record is not None
            owner.stats.answers += 1
            self.events.answered(pos, outcome.record)
            self.release_held()
            self.opened.set()
        elif outcome.action == "refused":
            self.refuse(pos, outcome)
        elif attempt >= owner.settings.max_retries:
            owner.stats.gave_up += 1
            self.events.gave_up(pos, f"{outcome.kind} after {attempt + 1} attempts")
        else:
            if outcome.kind.startswith("status"):
                self.opened.set()  # the endpoint knows the key and the model
            owner.stats.retried(outcome.kind)
            delay = owner.backoff(attempt, outcome.retry_after)
            logger.debug("labeler %r: %s, retry %d in %.2fs", owner.labeler, outcome.kind, attempt + 1, delay)
            return delay
        self.settle(pos)
        return None

    # ------------------------------------------------------------ workers
    async def worker(self, number: int) -> None:
        if number:
            await self.opened.wait()
        while not self.stopping:  # a worker whose cancellation was lost still stops
            priority, pos, attempt = await self.queue.get()
            if priority == _STOP:
                return
            delay = await self.attempt(pos, attempt)
            if delay is not None:  # retry later without holding this worker
                self.retry_later(pos, attempt + 1, delay)

    async def watch(self) -> None:
        """Warn when nothing has come back for ``stall_warning`` seconds, then again each period."""
        loop = asyncio.get_running_loop()
        period = self.owner.settings.stall_warning
        warned_at = self.last_news
        while True:
            await asyncio.sleep(min(period, 5.0))
            quiet = loop.time() - max(self.last_news, warned_at)
            if quiet >= period and self.in_flight:
                warned_at = loop.time()
                logger.warning(
                    "LLM labeler %r: no answer from %s for %.0f s (%d requests in flight, %d waiting to "
                    "retry); each request gives up after timeout=%g s",
                    self.owner.labeler, display_endpoint(self.owner.endpoint), loop.time() - self.last_news,
                    self.in_flight, len(self.timers), self.owner.settings.timeout,
                )

    async def execute(self) -> None:
        for pos in range(len(self.requests)):
            self.queue.put_nowait((_FIRST, pos, 0))
        tasks = [asyncio.ensure_future(self.worker(i)) for i in range(self.workers)]
        watcher = asyncio.ensure_future(self.watch())
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
            self.release_held()
        finally:
            self.stopping = True
            for handle in self.timers:
                handle.cancel()
            for task in [*tasks, watcher]:
                task.cancel()
            await asyncio.gather(*tasks, watcher, return_exceptions=True)
