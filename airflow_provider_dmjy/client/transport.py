"""The sync client's transport: a total deadline per attempt, a capped body, and which failures never left.

``requests`` only has per-read timeouts (a server that trickles one byte every half second never
trips them), so each attempt arms a :class:`Deadline` whose timer shuts the attempt's socket down
once the connection's ``timeout`` has passed; the blocked read then fails and the attempt ends as
a transport failure. :class:`DeadlineAdapter` is the ``HTTPAdapter`` whose connections register
with the running deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from airflow_provider_dmjy.client.responses import MAX_RESPONSE_BYTES

__all__ = ["Deadline", "DeadlineAdapter", "never_reached_server", "read_capped"]

_CHUNK_BYTES = 64 * 1024


class Deadline:
    """The total deadline of one attempt: when it passes, the attempt's socket is shut down.

    The connection in use registers itself (:class:`_DeadlineConnectionMixin`) through a context
    variable, so a pooled keep-alive connection is covered as well as a new one.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._finished = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._token = _CURRENT_DEADLINE.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:  # a timer already running must not touch a connection back in the pool
            self._finished = True
            self._connection = None
        _CURRENT_DEADLINE.reset(self._token)

    def attach(self, connection: HTTPConnection) -> None:
        """Called by the connection about to carry the request (in the calling thread)."""
        with self._lock:
            self._connection = connection
            expired = self.expired
        if expired:
            _shutdown(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            connection = self._connection
        if connection is not None:
            _shutdown(connection)


_CURRENT_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "dmjy_deadline", default=None
)


def _shutdown(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is None:
        return  # still connecting: the connect timeout bounds that, and getresponse checks again
    # socket.socket's own shutdown, not SSLSocket's, which would also drop its TLS object under the
    # thread blocked reading from it. The blocked read then sees the end of the stream.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlineConnectionMixin:
    """Registers the connection with the running attempt's :class:`Deadline`."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _CURRENT_DEADLINE.get()
        if deadline is not None:
            deadline.attach(cast(HTTPConnection, self))
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _CURRENT_DEADLINE.get()
        if deadline is not None:
            deadline.attach(cast(HTTPConnection, self))  # a new connection has its socket only now
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnection(_DeadlineConnectionMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnectionMixin, HTTPSConnection):
    pass


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOL_CLASSES = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections honour :class:`Deadline` (also through an HTTP proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES  # urllib3's documented override point

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


def read_capped(response: requests.Response, deadline: Deadline) -> bytes:
    """The body, or its first ``MAX_RESPONSE_BYTES + 1`` bytes (parse_body then refuses it)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES or deadline.expired:
            break
    return b"".join(chunks)[: MAX_RESPONSE_BYTES + 1]


def never_reached_server(error: requests.RequestException) -> bool:
    """True only for failures before any byte of the request was sent (refused, DNS, connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    # NewConnectionError (refused) and NameResolutionError (DNS) both come from opening a socket.
    return type(reason).__name__ in ("NewConnectionError", "NameResolutionError")
