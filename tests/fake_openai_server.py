"""A real, scriptable OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

It speaks HTTP/1.1 with keep-alive over asyncio streams (standard library only) in a
background thread, and implements ``POST /v1/chat/completions`` the way the ``openai``
client calls it. Every request can be scripted: latency, ``429`` with ``Retry-After``,
``500``, hangs (client timeouts), dropped connections, malformed JSON, any answer text,
``logprobs``. It records every request it received, how many were in flight at most,
and how many times each row was answered.

In a test::

    with FakeOpenAIServer(latency=0.05, fault_rate=0.1) as server:
        labeler = LLMLabeler(..., base_url=server.base_url)

As a separate process (benchmarks, so the server does not share the client's GIL)::

    python tests/fake_openai_server.py --latency 0.2 --fault-rate 0.05

prints ``READY <base_url>`` and serves until its stdin closes; ``GET /stats`` returns the
counters as JSON and ``POST /reset`` clears them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Body",
    "Drop",
    "FakeOpenAIServer",
    "Hang",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Status",
    "Trickle",
    "default_answer",
    "row_text",
]


# ---------------------------------------------------------------- actions
@dataclass
class Reply:
    """A 200 answer. ``content=None`` sends a null message content (a refusal)."""

    content: str | None = "ham"
    logprobs: list[tuple[str, float]] | None = None  # top_logprobs of the first token
    prompt_tokens: int = 20
    completion_tokens: int = 1


@dataclass
class Status:
    """An HTTP error status with an OpenAI-style error body (and extra ``headers``)."""

    code: int
    retry_after: float | None = None
    message: str = "fake server error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Accept the request and never answer (the client must time out)."""

    seconds: float = 3600.0


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class Malformed:
    """A 200 whose body is not valid JSON."""


@dataclass
class Body:
    """A 200 whose body is this JSON value, whatever its shape (fields of unexpected types)."""

    value: Any


@dataclass
class Trickle:
    """A 200 answer sent one byte every ``interval`` seconds (each read is quick, the whole is slow)."""

    content: str = "ham"
    interval: float = 0.05


Action = Reply | Status | Hang | Drop | Malformed | Body | Trickle


@dataclass
class RecordedRequest:
    number: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    outcome: str = "pending"
    time: float = field(default_factory=time.monotonic)


def row_text(body: dict[str, Any] | None) -> str:
    """The last user message of a chat request (the row's rendered prompt)."""
    if not body:
        return ""
    users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


_SPAMMY = re.compile(r"check|subscribe|http|channel|free|win", re.IGNORECASE)


def default_answer(body: dict[str, Any]) -> Reply:
    """'spam' when the row's text looks spammy, else 'ham'; with logprobs when asked."""
    text = row_text(body).rsplit("\n", 1)[-1]
    answer = "spam" if _SPAMMY.search(text) else "ham"
    other = "ham" if answer == "spam" else "spam"
    return Reply(answer, logprobs=[(answer, -0.05), (other, -3.2), ("The", -5.0)])


# ---------------------------------------------------------------- server
class FakeOpenAIServer:
    """The scriptable server. See the module docstring.

    Parameters
    ----------
    latency
        Seconds before each answer (or error) is sent.
    answer
        ``answer(body) -> Reply | str``: the answer for a chat request (default: a keyword rule).
    script
        ``script(number, body) -> Action | None``: overrides per request (``number``
        counts chat requests from 0); ``None`` falls through to faults and ``answer``.
    fault_rate, faults, seed
        With probability ``fault_rate`` a request gets one of ``faults`` instead of an answer.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        answer: Callable[[dict[str, Any]], Reply | str] | None = None,
        script: Callable[[int, dict[str, Any] | None], Action | None] | None = None,
        fault_rate: float = 0.0,
        faults: tuple[Action, ...] = (Status(429, retry_after=0.0), Status(500)),
        seed: int = 0,
        model: str = "fake-model",
        chunked: bool = False,
        keep_alive: bool = True,
    ) -> None:
        self.latency = latency
        self.answer = answer or default_answer
        self.script = script
        self.fault_rate = fault_rate
        self.faults = faults
        self.model = model
        self.chunked = chunked
        self.keep_alive = keep_alive
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port: int | None = None
        self.reset()

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the recorded requests and counters."""
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.in_flight = 0
            self.max_in_flight = 0
            self.answered: collections.Counter[str] = collections.Counter()
            self.outcomes: collections.Counter[str] = collections.Counter()
            self._chat_count = 0

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fake server is not running; use it as a context manager")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "max_in_flight": self.max_in_flight,
                "outcomes": dict(self.outcomes),
                "answered_rows": len(self.answered),
                "answered_twice": sum(1 for c in self.answered.values() if c > 1),
                "answers": sum(self.answered.values()),
            }

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake server did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        def shutdown() -> None:
            server.close()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", 0)))
                keep = await self._route(method, path, headers, raw, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # server shutting down; finishing normally keeps asyncio from logging the cancel
        finally:
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], raw: bytes, writer) -> bool:
        if method == "GET" and path.endswith("/models"):
            data = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            return await self._send(writer, 200, json.dumps(data))
        if method == "GET" and path.endswith("/stats"):
            return await self._send(writer, 200, json.dumps(self.stats()))
        if method == "POST" and path.endswith("/reset"):
            self.reset()
            return await self._send(writer, 200, "{}")
        if method != "POST" or not path.endswith("/chat/completions"):
            return await self._send(writer, 404, json.dumps({"error": {"message": f"no route {path}"}}))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        with self._lock:
            number = self._chat_count
            self._chat_count += 1
            record = RecordedRequest(number, path, headers, body)
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat(number, body, record, writer)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _choose(self, number: int, body: dict[str, Any] | None) -> Action:
        action = self.script(number, body) if self.script is not None else None
        if action is not None:
            return action
        with self._lock:
            faulty = self.fault_rate > 0 and self._rng.random() < self.fault_rate
            fault = self._rng.choice(self.faults) if faulty else None
        if fault is not None:
            return fault
        if body is None:
            return Status(400, message="request body is not JSON")
        reply = self.answer(body)
        return Reply(reply) if isinstance(reply, str) else reply

    async def _chat(self, number: int, body: dict[str, Any] | None, record: RecordedRequest, writer) -> bool:
        action = self._choose(number, body)
        if self.latency:
            await asyncio.sleep(self.latency)
        record.outcome = type(action).__name__.lower()
        if isinstance(action, Status):
            record.outcome = f"status_{action.code}"
        with self._lock:
            self.outcomes[record.outcome] += 1
        if isinstance(action, Hang):
            await asyncio.sleep(action.seconds)
            return False
        if isinstance(action, Drop):
            writer.transport.abort()
            return False
        if isinstance(action, Malformed):
            return await self._send(writer, 200, '{"id": "x", "choices": [{"message": {"content": "sp')
        if isinstance(action, Body):
            return await self._send(writer, 200, json.dumps(action.value))
        if isinstance(action, Trickle):
            return await self._trickle(writer, json.dumps(self._completion(number, body or {}, Reply(action.content))), action.interval)
        if isinstance(action, Status):
            extra = {"retry-after": f"{action.retry_after:g}"} if action.retry_after is not None else {}
            extra.update(action.headers)
            error = {"error": {"message": action.message, "type": "fake", "code": action.code}}
            return await self._send(writer, action.code, json.dumps(error), extra)
        keep = await self._send(writer, 200, json.dumps(self._completion(number, body or {}, action)))
        with self._lock:
            self.answered[row_text(body)] += 1
        return keep

    def _completion(self, number: int, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply.content},
            "finish_reason": "stop",
        }
        if body.get("logprobs") and reply.logprobs is not None:
            top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in reply.logprobs]
            top = top[: int(body.get("top_logprobs") or 1)]
            first = top[0] if top else {"token": reply.content or "", "logprob": 0.0}
            choice["logprobs"] = {"content": [{**first, "top_logprobs": top}]}
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [choice],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    async def _trickle(self, writer, payload: str, interval: float) -> bool:
        data = payload.encode("utf-8")
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
        for byte in head.encode("latin-1") + data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval)
        return False

    async def _send(self, writer, code: int, payload: str, extra: dict[str, str] | None = None) -> bool:
        """Write one response: Content-Length or chunked framing. Without keep-alive the
        connection is closed afterwards *without* announcing it, like a server whose
        idle timeout ran out, so clients must cope with stale pooled connections."""
        data = payload.encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
        if self.chunked:
            half = len(data) // 2
            parts = [data[:half], data[half:]]
            framing = "transfer-encoding: chunked"
            data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
        else:
            framing = f"content-length: {len(data)}"
        lines = [
            f"HTTP/1.1 {code} {reason.get(code, 'Error')}",
            "content-type: application/json",
            framing,
            *(f"{k}: {v}" for k, v in (extra or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
        return self.keep_alive


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the 429 faults")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    faults = (Status(429, retry_after=args.retry_after), Status(500))
    with FakeOpenAIServer(latency=args.latency, fault_rate=args.fault_rate, faults=faults, seed=args.seed) as server:
        print(f"READY {server.base_url}", flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin


if __name__ == "__main__":
    _main()
