"""A lean HTTP/1.1 keep-alive transport over asyncio streams, for the openai client.

Why: a labeling run sends thousands of small JSON requests, and with the default
transport (httpx + httpcore + anyio) each one costs ~3 ms of CPU in the client, enough
to keep 32 concurrent requests of 200 ms from reaching 160 requests/s on two busy cores.
This transport keeps the openai client (its request building, auth and error types) and
replaces only the connection layer: a pool of asyncio streams per host, requests and
responses framed by ``Content-Length`` or chunked encoding, TLS verified with the
system's default context.

It is used only where it applies: no proxy configured in the environment
(``HTTP(S)_PROXY``/``ALL_PROXY``), otherwise the openai client's own transport is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["make_http_client", "proxies_configured", "within"]

_MAX_HEADER = 64 * 1024


async def within(awaitable: Any, seconds: float | None) -> Any:
    """Await with a deadline (``asyncio.TimeoutError`` past it).

    ``asyncio.timeout`` where it exists: ``asyncio.wait_for`` before Python 3.12 can
    swallow a cancellation that arrives as the awaited call completes, which would let a
    cancelled worker (Ctrl-C) run on.
    """
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


def proxies_configured() -> bool:
    """Whether the environment asks for a proxy (then the default transport handles it)."""
    names = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    return any(os.environ.get(name) or os.environ.get(name.lower()) for name in names)


def _httpx_module(openai: Any) -> Any:
    """The httpx flavour the installed openai client is built on (httpx or httpx2)."""
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return sys.modules[base.__module__.split(".")[0]]


def make_http_client(openai: Any, timeout: float, on_resend: Callable[[], None] | None = None) -> Any:
    """An ``AsyncClient`` of openai's httpx flavour that sends through the lean transport.

    ``on_resend()`` is called whenever a request is sent again on a fresh connection
    because its pooled one was closed by the server before any byte of an answer.
    """
    httpx = _httpx_module(openai)
    transport = _transport_class(httpx)(on_resend)
    return openai.DefaultAsyncHttpxClient(transport=transport, timeout=timeout)


def _transport_class(httpx: Any) -> type:
    class _Transport(httpx.AsyncBaseTransport):
        """HTTP/1.1 over pooled asyncio streams; errors become httpx's own exception types."""

        def __init__(self, on_resend: Callable[[], None] | None) -> None:
            self._idle: dict[tuple[str, str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
            self._tls: ssl.SSLContext | None = None
            self._on_resend = on_resend

        async def _connect(self, scheme: str, host: str, port: int, timeout: float | None):
            tls = None
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                tls = self._tls
            try:
                return await within(asyncio.open_connection(host, port, ssl=tls), timeout)
            except TimeoutError:
                raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
            except OSError as exc:
                raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None

        async def handle_async_request(self, request: Any) -> Any:
            url = request.url
            scheme = url.scheme
            port = url.port or (443 if scheme == "https" else 80)
            origin = (scheme, url.host, port)
            try:
                body = request.content
            except httpx.RequestNotRead:
                body = await request.aread()
            head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1".encode("ascii")]
            names = set()
            for name, value in request.headers.raw:
                names.add(name.lower())
                head.append(name + b": " + value)
            if b"host" not in names:
                head.append(b"Host: " + url.netloc)
            if body and b"content-length" not in names:
                head.append(b"Content-Length: " + str(len(body)).encode("ascii"))
            payload = b"\r\n".join(head) + b"\r\n\r\n" + body
            timeouts = request.extensions.get("timeout", {})
            read_timeout = timeouts.get("read")
            pool = self._idle.setdefault(origin, [])
            while pool:
                reader, writer = pool.pop()
                if reader.at_eof() or writer.is_closing():  # closed by the server while idle
                    writer.close()
                    continue
                try:
                    return await self._exchange(reader, writer, payload, request, read_timeout, origin)
                except _StaleConnection:
                    # Closed by the server as we reused it: send once more on a fresh one.
                    writer.close()
                    if self._on_resend is not None:
                        self._on_resend()
                    break
            reader, writer = await self._connect(scheme, url.host, port, timeouts.get("connect"))
            try:
                return await self._exchange(reader, writer, payload, request, read_timeout, origin)
            except _StaleConnection:
                raise httpx.RemoteProtocolError("the server closed the connection without answering") from None

        async def _exchange(self, reader, writer, payload: bytes, request: Any, timeout: float | None, origin):
            try:
                writer.write(payload)
                await writer.drain()
                status, headers, content, keep = await within(self._read(reader), timeout)
            except TimeoutError:
                writer.close()
                raise httpx.ReadTimeout("the server did not answer in time") from None
            except _StaleConnection:
                raise
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                writer.close()
                raise httpx.ReadError(f"connection failed: {type(exc).__name__}") from None
            if keep:
                self._idle[origin].append((reader, writer))
            else:
                writer.close()
            return httpx.Response(status, headers=headers, content=content, request=request,
                                  extensions={"http_version": b"HTTP/1.1"})

        @staticmethod
        async def _read(reader: asyncio.StreamReader):
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
            lookup = {name.lower(): value for name, value in headers}
            if int(status) in (204, 304) or int(status) < 200:
                content = b""
            elif lookup.get(b"transfer-encoding", b"").lower() == b"chunked":
                parts = []
                while True:
                    size = int((await reader.readline()).split(b";", 1)[0], 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")  # no trailers expected; the final CRLF
                        break
                    parts.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                content = b"".join(parts)
            elif b"content-length" in lookup:
                content = await reader.readexactly(int(lookup[b"content-length"]))
            else:
                content = await reader.read()
                return int(status), headers, content, False
            keep = version == "HTTP/1.1" and lookup.get(b"connection", b"").lower() != b"close"
            return int(status), headers, content, keep

        async def aclose(self) -> None:
            for pool in self._idle.values():
                for _, writer in pool:
                    with contextlib.suppress(Exception):
                        writer.close()
            self._idle.clear()

    return _Transport


class _StaleConnection(Exception):
    """A pooled connection closed by the server before it sent any byte of an answer."""
