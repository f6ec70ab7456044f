"""A programmable hostile HTTP server on loopback, for faults the simulator cannot make.

Redirects to another host, bodies trickled a byte at a time, huge or endless bodies, list endpoints
that lie about their pages, media paths that try to leave their folder: each test says, per request,
what the server answers. Real sockets, so the clients' own timeouts, redirects and buffering are
what is tested.

    with HostileServer() as server:
        server.route("GET", "/api/v1/videos/v1", lambda request: Reply(301, headers={"Location": ...}))
        ... server.base_url ... server.requests  # what arrived, with headers

A handler gets the :class:`Seen` request and returns a :class:`Reply`, or writes to the socket
itself through ``Reply(stream=callable)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What to answer: a status, headers and a body; or ``stream`` that writes to the socket itself.

    ``trickle`` sends the body one byte at a time with that many seconds between bytes.
    ``content_length`` overrides the header (``None``: the body's length; ``-1``: no header).
    """

    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float | None = None
    content_length: int | None = None
    stream: Callable[[Any], None] | None = None


def envelope(data: Any = None, success: bool = True) -> dict[str, Any]:
    """The vendor's success envelope."""
    payload: dict[str, Any] = {"success": success}
    if data is not None:
        payload["data"] = data
    return payload


Handler = Callable[[Seen], Reply]


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 whose answers each test programs."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.fallback: Handler = lambda seen: Reply(404, envelope(success=False))
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The API base URL (``.../api/v1``), as a connection's host."""
        return self.root_url + "/api/v1"

    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        """Answer ``method path`` (exact path, query ignored) with ``handler`` (or a fixed reply)."""
        self.routes[(method.upper(), path)] = handler if callable(handler) else (lambda _seen: handler)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests that arrived, optionally filtered."""
        with self._lock:
            return [
                s
                for s in self.requests
                if (method is None or s.method == method) and (path is None or s.path == path)
            ]

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server.requests.append(seen)
                handler = server.routes.get((self.command, parts.path), server.fallback)
                try:
                    reply = handler(seen)
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                if reply.stream is not None:
                    self.close_connection = True
                    reply.stream(self.wfile)
                    return
                body = reply.body
                if isinstance(body, dict):
                    body = json.dumps(body).encode("utf-8")
                elif isinstance(body, str):
                    body = body.encode("utf-8")
                if "Date" in reply.headers:  # the reply's own Date (a skewed clock), not the stdlib's
                    self.send_response_only(reply.status)
                else:
                    self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.content_length != -1:
                    length = len(body) if reply.content_length is None else reply.content_length
                    self.send_header("Content-Length", str(length))
                else:
                    self.close_connection = True
                self.end_headers()
                if reply.trickle is None:
                    self.wfile.write(body)
                    return
                for byte in _bytes(body):
                    self.wfile.write(byte)
                    self.wfile.flush()
                    time.sleep(reply.trickle)

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _serve

        return _Handler


def _bytes(body: bytes) -> Iterable[bytes]:
    return (body[i : i + 1] for i in range(len(body)))
