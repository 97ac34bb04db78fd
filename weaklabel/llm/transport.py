"""An optional lean HTTP/1.1 transport for the openai client (``transport="lean"``).

The default is the openai client's own httpx transport: proxies, HTTP/2-capable servers
and every TLS setting work as the environment configures them. This one exists because a
benchmark shows it matters on a busy machine: a labeling run sends thousands of small
requests, and the stock stack (httpx + httpcore + h11 + anyio) spends several times more
CPU per request in the client, two socket writes each; on two shared cores that capped
the stock client at about half the requests per second of this transport
(benchmarks/results/llm_throughput.md).

It keeps the openai client (request building, auth, error types) and replaces only the
connection layer: a pool of asyncio streams per origin, one write per request, answers
framed by ``Content-Length`` or chunked encoding, TLS verified with the system's default
context. A request sent on a pooled connection that the server had closed is sent once
more on a fresh one. With a proxy configured (``HTTP(S)_PROXY``, ``ALL_PROXY``) the stock
transport is used instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["LeanTransport", "proxies_configured"]

_MAX_HEADER = 64 * 1024
Origin = tuple[str, str, int]
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def proxies_configured() -> bool:
    """Whether the environment asks for a proxy (then the stock transport handles it)."""
    names = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    return any(os.environ.get(name) or os.environ.get(name.lower()) for name in names)


class _StaleConnection(Exception):
    """A pooled connection closed by the server before it sent any byte of an answer."""


class LeanTransport:
    """HTTP/1.1 over pooled asyncio streams, with the interface of an httpx async transport.

    ``httpx`` is the httpx flavour the openai client is built on: answers are its
    ``Response`` objects and failures its exception types, so the openai client treats
    them as its own. ``on_resend()`` is called when a request goes out again on a fresh
    connection (the server may or may not have seen the first copy).
    """

    def __init__(self, httpx: Any, on_resend: Callable[[], None] | None = None) -> None:
        self.httpx = httpx
        self._idle: dict[Origin, list[Stream]] = {}
        self._tls: ssl.SSLContext | None = None
        self._on_resend = on_resend

    async def __aenter__(self) -> LeanTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._idle.values():
            for _, writer in pool:
                with contextlib.suppress(Exception):
                    writer.close()
        self._idle.clear()

    async def handle_async_request(self, request: Any) -> Any:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        origin = (url.scheme, url.host, port)
        payload = self._payload(request, await self._body(request))
        timeouts = request.extensions.get("timeout", {})
        pool = self._idle.setdefault(origin, [])
        while pool:
            stream = pool.pop()
            if stream[0].at_eof() or stream[1].is_closing():  # closed by the server while idle
                stream[1].close()
                continue
            try:
                return await self._exchange(stream, payload, request, timeouts.get("read"), origin)
            except _StaleConnection:
                stream[1].close()
                if self._on_resend is not None:
                    self._on_resend()
                break
        stream = await self._connect(origin, timeouts.get("connect"))
        try:
            return await self._exchange(stream, payload, request, timeouts.get("read"), origin)
        except _StaleConnection:
            raise self.httpx.RemoteProtocolError("the server closed the connection without answering") from None

    async def _body(self, request: Any) -> bytes:
        try:
            return request.content
        except self.httpx.RequestNotRead:
            return await request.aread()

    @staticmethod
    def _payload(request: Any, body: bytes) -> bytes:
        """Request line, headers and body, written in one go."""
        url = request.url
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1".encode("ascii")]
        names = set()
        for name, value in request.headers.raw:
            names.add(name.lower())
            head.append(name + b": " + value)
        if b"host" not in names:
            head.append(b"Host: " + url.netloc)
        if body and b"content-length" not in names:
            head.append(b"Content-Length: " + str(len(body)).encode("ascii"))
        return b"\r\n".join(head) + b"\r\n\r\n" + body

    async def _connect(self, origin: Origin, timeout: float | None) -> Stream:
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.open_connection(host, port, ssl=self._tls if scheme == "https" else None)
        except TimeoutError:
            raise self.httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise self.httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None

    async def _exchange(self, stream: Stream, payload: bytes, request: Any, timeout: float | None, origin: Origin) -> Any:
        reader, writer = stream
        try:
            writer.write(payload)
            await writer.drain()
            async with asyncio.timeout(timeout):
                status, headers, keep = await _read_head(reader)
                content, keep = await _read_body(reader, status, headers, keep)
        except TimeoutError:
            writer.close()
            raise self.httpx.ReadTimeout("the server did not answer in time") from None
        except _StaleConnection:
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise self.httpx.ReadError(f"connection failed: {type(exc).__name__}") from None
        if keep:
            self._idle[origin].append(stream)
        else:
            writer.close()
        return self.httpx.Response(status, headers=headers, content=content, request=request,
                                   extensions={"http_version": b"HTTP/1.1"})


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """Status, headers, and whether the connection may be reused (so far)."""
    try:
        line = await reader.readline()
    except (ConnectionResetError, BrokenPipeError):
        raise _StaleConnection from None
    if not line:
        raise _StaleConnection
    version, status, *_ = line.decode("latin-1").split(" ", 2)
    headers = []
    size = 0
    while (item := await reader.readline()) not in (b"\r\n", b"\n", b""):
        size += len(item)
        if size > _MAX_HEADER:
            raise ValueError("response headers too large")
        name, _, value = item.partition(b":")
        headers.append((name.strip(), value.strip()))
    close = any(n.lower() == b"connection" and v.lower() == b"close" for n, v in headers)
    return int(status), headers, version == "HTTP/1.1" and not close


async def _read_body(reader: asyncio.StreamReader, status: int, headers: list[tuple[bytes, bytes]], keep: bool) -> tuple[bytes, bool]:
    """The body, framed by chunked encoding, Content-Length, or the connection's end."""
    lookup = {name.lower(): value for name, value in headers}
    if status in (204, 304) or status < 200:
        return b"", keep
    if lookup.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while size := int((await reader.readline()).split(b";", 1)[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # no trailers expected; the final CRLF
        return b"".join(parts), keep
    if b"content-length" in lookup:
        return await reader.readexactly(int(lookup[b"content-length"])), keep
    return await reader.read(), False
