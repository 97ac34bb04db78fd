"""The review app's HTTP server: a JSON API and three static files, on the standard library.

Why ``http.server``: the app serves one person on one machine. A threaded standard-library
server does that with no dependency to install, pin or audit, and it works offline; the
page is plain JavaScript and CSS shipped inside the package (no CDN, no build step).

Security, checked on every request before any handler runs:

- **Host check** (DNS rebinding): bound to a loopback address, the ``Host`` header must name
  that address or ``localhost``; a page on another site cannot reach the app through a name
  it controls.
- **Token**: bound elsewhere than loopback, every request must carry the random token the
  server printed in its URL (``?token=``, then a cookie that the browser sends back; a
  wrong or missing token is refused with 403).
- **CSRF**: every write is a ``POST`` with a JSON body and the ``X-CSRF-Token`` header that
  only a page read from this server can know (``GET /api/session``, same-origin); an
  ``Origin`` other than the server's own is refused.
- **No paths, no code**: static files come from a fixed list inside the package; requests
  name rows, classes and suggestion ids, never files or code. The LF module written by
  accepted suggestions is the one named on the command line.
- Responses carry a strict Content-Security-Policy (scripts and styles from this server
  only), ``nosniff`` and ``no-referrer`` (the token never leaks to another site).
"""

from __future__ import annotations

import http.cookies
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError

from weaklabel.exceptions import ReviewError
from weaklabel.review.loop import ReviewSession
from weaklabel.review.queries import RowQuery, describe_rows, find_rows
from weaklabel.review.views import overview, source_detail, sources_table

__all__ = ["ReviewServer", "is_loopback"]

logger = logging.getLogger("weaklabel")
_STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
_COOKIE = "weaklabel_review_token"
_MAX_BODY = 64 * 1024
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) stays on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _static(name: str) -> bytes:
    return resources.files("weaklabel.review").joinpath("static", name).read_bytes()


class ReviewServer(ThreadingHTTPServer):
    """Serve one ``ReviewSession`` at ``host:port`` (``port=0``: any free port)."""

    daemon_threads = True

    def __init__(self, session: ReviewSession, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.session = session
        self.bind_host = host
        self.token = None if is_loopback(host) else secrets.token_urlsafe(24)
        self.csrf = secrets.token_urlsafe(24)
        self.write_lock = threading.Lock()
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise ReviewError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from exc

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind_host in ("0.0.0.0", "::") else self.bind_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def allowed_hosts(self) -> set[str] | None:
        """Host headers accepted on loopback (None: any, the token guards the app)."""
        if self.token is not None:
            return None
        names = {self.bind_host, "localhost", "127.0.0.1", "[::1]"}
        return {f"{name}:{self.port}" for name in names} | {f"[{self.bind_host}]:{self.port}"}


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # the request line may hold the token: log the path only
        logger.debug("review: %s %s", self.command, urlsplit(self.path).path)

    # ------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", extra)

    def _guard(self, query: dict[str, list[str]]) -> dict[str, str]:
        """Host and token checks; the headers to add (the token cookie on first use)."""
        allowed = self.server.allowed_hosts()
        if allowed is not None and self.headers.get("Host", "") not in allowed:
            raise _HTTPError(403, "this server answers only to its own address (Host header refused)")
        token = self.server.token
        if token is None:
            return {}
        given = query.get("token", [None])[0]
        if given is not None and secrets.compare_digest(given, token):
            return {"Set-Cookie": f"{_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"}
        cookie = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
        if _COOKIE in cookie and secrets.compare_digest(cookie[_COOKIE].value, token):
            return {}
        raise _HTTPError(403, "missing or wrong token: open the URL the server printed")

    def _check_write(self) -> dict[str, Any]:
        """CSRF checks of a POST, and its JSON body."""
        given = self.headers.get("X-CSRF-Token", "")
        if not secrets.compare_digest(given, self.server.csrf):
            raise _HTTPError(403, "missing or wrong CSRF token: reload the page")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.headers.get("Host", ""):
            raise _HTTPError(403, f"requests from {origin} are refused")
        if self.headers.get_content_type() != "application/json":
            raise _HTTPError(415, "writes take a JSON body (Content-Type: application/json)")
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise _HTTPError(413, f"request body over {_MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise _HTTPError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _HTTPError(400, "the body must be a JSON object")
        return body

    def _dispatch(self, routes: dict[str, Callable[..., Any]], prefixes: dict[str, Callable[..., Any]], *args: Any) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        try:
            extra = self._guard(query)
            path = parts.path
            if path in routes:
                handler, arg = routes[path], None
            else:
                prefix = next((p for p in prefixes if path.startswith(p)), None)
                if prefix is None:
                    raise _HTTPError(404, f"no such page: {path}")
                handler, arg = prefixes[prefix], unquote(path[len(prefix):])
            result = handler(query, *args) if arg is None else handler(arg, query, *args)
            if isinstance(result, tuple):  # a static file
                self._send(200, result[0], result[1], extra)
            else:
                self._json(result, extra=extra)
        except _HTTPError as exc:
            self._json({"error": str(exc)}, exc.status)
        except (ReviewError, ValidationError) as exc:
            self._json({"error": str(exc)}, 400)
        except Exception as exc:  # the app must answer, and say what failed
            logger.exception("review: %s %s failed", self.command, parts.path)
            self._json({"error": f"{type(exc).__name__}: {exc}"}, 500)

    # ------------------------------------------------------------ routes
    def do_GET(self) -> None:
        self._dispatch(
            {
                "/": lambda q: (_static("index.html"), "text/html; charset=utf-8"),
                "/api/session": self._session,
                "/api/overview": lambda q: overview(self.server.session.data),
                "/api/sources": lambda q: sources_table(self.server.session.data),
                "/api/rows": self._rows,
                "/api/slices": lambda q: self.server.session.slices.to_json(),
                "/api/suggestions": lambda q: self.server.session.suggestions_json(),
                "/api/refit": lambda q: self.server.session.last_refit or {},
            },
            {
                "/static/": self._static_file,
                "/api/sources/": lambda name, q: source_detail(self.server.session.data, name),
            },
        )

    def do_POST(self) -> None:
        session = self.server.session

        def write(action: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, list[str]]], Any]:
            def run(query: dict[str, list[str]]) -> Any:
                body = self._check_write()
                with self.server.write_lock:
                    return action(body)
            return run

        self._dispatch(
            {
                "/api/label": write(lambda b: session.label(str(b.get("split")), str(b.get("row_id")), b.get("label"))),
                "/api/suggestions/compute": write(lambda b: session.compute_suggestions()),
                "/api/suggestions/decide": write(lambda b: session.decide(str(b.get("id")), str(b.get("decision")))),
                "/api/refit": write(lambda b: session.refit()),
            },
            {},
        )

    def _static_file(self, name: str, query: dict[str, list[str]]) -> tuple[bytes, str]:
        if name not in _STATIC or name == "index.html":
            raise _HTTPError(404, f"no such file: {name}")
        return _static(name), f"{_STATIC[name]}; charset=utf-8"

    def _session(self, query: dict[str, list[str]]) -> dict[str, Any]:
        data = self.server.session.data
        return {
            "csrf": self.server.csrf, "name": data.config.name, "classes": data.class_names,
            "sources": data.source_names, "llm_labelers": data.llm_names, "splits": data.split_names,
            "lf_module": str(self.server.session.lf_module) if self.server.session.lf_module else None,
        }

    def _rows(self, query: dict[str, list[str]]) -> dict[str, Any]:
        fields = {key: values[-1] for key, values in query.items() if key != "token" and values[-1] != ""}
        row_query = RowQuery.model_validate(fields)
        session = self.server.session
        slice_rows = session.slices.rows(row_query.slice) if row_query.slice else None
        positions, total = find_rows(session.data, row_query, slice_rows)
        return {"total": total, "offset": row_query.offset, "rows": describe_rows(session.data, positions)}
