"""The synchronous DMJY client (requests): one pooled session, signing as an ``AuthBase``.

API calls never follow redirects, read at most ``MAX_RESPONSE_BYTES`` (plus one byte) of a body
(see :mod:`airflow_provider_dmjy.client.responses`), and end at a total deadline. ``requests`` only
has per-read timeouts (a server that trickles one byte every half second never trips them), so
each attempt arms a :class:`_Deadline` whose timer shuts the attempt's socket down once the
connection's ``timeout`` has passed; the blocked read then fails and the attempt ends as a
transport failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.calls import PAGE_SIZE, USER_AGENT, Call, PageWalker
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.responses import MAX_RESPONSE_BYTES
from airflow_provider_dmjy.client.retry import CallRetry
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers

__all__ = ["DmjyAuth", "DmjyClient"]

log = logging.getLogger("airflow_provider_dmjy.client")
_CHUNK_BYTES = 64 * 1024


class _Deadline:
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

    def __enter__(self) -> _Deadline:
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


_CURRENT_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
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
    """Registers the connection with the running attempt's :class:`_Deadline`."""

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


class _DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections honour :class:`_Deadline` (also through an HTTP proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES  # urllib3's documented override point

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


def _read_capped(response: requests.Response, deadline: _Deadline) -> bytes:
    """The body, or its first ``MAX_RESPONSE_BYTES + 1`` bytes (parse_body then refuses it)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES or deadline.expired:
            break
    return b"".join(chunks)[: MAX_RESPONSE_BYTES + 1]


class DmjyAuth(requests.auth.AuthBase):
    """Signs each prepared request (a fresh timestamp per attempt); the transport knows nothing of it."""

    def __init__(self, config: ClientConfig, clock: SkewClock) -> None:
        self.config = config
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(
            auth_headers(
                auth_mode=self.config.auth_mode,
                api_key=self.config.api_key,
                api_secret=self.config.api_secret,
                method=request.method or "GET",
                url=request.url or "",
                clock=self.clock,
                sign_query_string=self.config.sign_query_string,
            )
        )
        return request


def _never_reached_server(error: requests.RequestException) -> bool:
    """True only for failures before any byte of the request was sent (refused, DNS, connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    # NewConnectionError (refused) and NameResolutionError (DNS) both come from opening a socket.
    return type(reason).__name__ in ("NewConnectionError", "NameResolutionError")


class DmjyClient:
    """The DMJY video API over ``requests``; every method returns the envelope's ``data``.

    Usable without Airflow: ``DmjyClient(ClientConfig(api_key=..., api_secret=...))``.
    """

    def __init__(self, config: ClientConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.clock = SkewClock()
        self.session = session or requests.Session()
        adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.auth = DmjyAuth(config, self.clock)

    def close(self) -> None:
        """Release the pooled connections."""
        self.session.close()

    def __enter__(self) -> DmjyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def send(self, call: Call) -> dict[str, Any]:
        """Send one call with the retry policy of :mod:`airflow_provider_dmjy.client.retry`."""
        url = self.config.url(call.path)
        path = self.config.base_path + call.path
        policy = CallRetry(call, self.config, path)
        for attempt in policy.retrying():
            with attempt:
                return self._attempt(call, url, path, policy)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _attempt(self, call: Call, url: str, path: str, policy: CallRetry) -> dict[str, Any]:
        sent_at = self.clock.now()
        started = time.monotonic()
        timeout = self.config.timeout
        expired = f"no complete answer within the {timeout:g} s deadline"
        with _Deadline(timeout) as deadline:
            try:
                response = self.session.request(
                    call.method,
                    url,
                    params=call.params,
                    json=call.json,
                    auth=self.auth,
                    timeout=timeout,
                    allow_redirects=False,  # a redirect would take the key and signature elsewhere
                    stream=True,  # read below, capped and under the deadline
                )
                try:
                    body = _read_capped(response, deadline)
                finally:
                    response.close()
            except requests.RequestException as exc:
                if deadline.expired:
                    raise policy.transport_failure(expired, True, sent_at) from exc
                message = f"{type(exc).__name__}: could not complete the request"
                raise policy.transport_failure(message, not _never_reached_server(exc), sent_at) from exc
        if deadline.expired:  # a body without Content-Length looks complete when its socket is shut
            raise policy.transport_failure(expired, True, sent_at)
        self.clock.observe_date_header(response.headers.get("Date"))
        log.debug(
            "DMJY %s %s -> %s in %.0f ms",
            call.method,
            path,
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        return policy.settle(response.status_code, response.headers, body, call.method, sent_at)

    # -- endpoints ------------------------------------------------------------------------------

    def get_account(self) -> dict[str, Any]:
        """The key's account: ``balance``, ``plan``, ``usage``, ``isLowBalance``, ..."""
        return self.send(calls.get_account())

    def create_video(
        self,
        description: str,
        image_url: str | None = None,
        image_urls: list[str] | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        title: str | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Create a (charged) video task; validated first. Never retried once it may have arrived."""
        return self.send(
            calls.create_video(
                description=description,
                image_url=image_url,
                image_urls=image_urls,
                duration=duration,
                aspect_ratio=aspect_ratio,
                title=title,
                callback_url=callback_url,
            )
        )

    def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task with ``status``, ``progress``, ``videoUrl``, ``errorMessage``, ..."""
        return self.send(calls.get_video(video_id))

    def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task (stops it when unfinished)."""
        return self.send(calls.delete_video(video_id))

    def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page: ``tasks`` (newest first) and ``pagination``."""
        return self.send(calls.list_videos(page, limit, status))

    def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every video task (newest first), each once even when new tasks shift the pages meanwhile.

        Reads at most ``max_pages`` pages of :data:`~airflow_provider_dmjy.client.calls.PAGE_SIZE`
        (default :data:`~airflow_provider_dmjy.client.calls.MAX_PAGES`); see
        :class:`~airflow_provider_dmjy.client.calls.PageWalker` for when the walk ends.
        """
        yield from self._walk(lambda page: calls.list_videos(page, PAGE_SIZE, status), "tasks", max_pages)

    def create_template(
        self,
        name: str,
        user_id: str | None = None,
        image_url: str | None = None,
        description: str | None = None,
        product_name: str | None = None,
        price: str | float | None = None,
    ) -> dict[str, Any]:
        """Create a product template for ``user_id`` (the connection's ``user_id`` by default)."""
        return self.send(
            calls.create_template(
                user_id=user_id if user_id is not None else self.config.user_id,
                name=name,
                image_url=image_url,
                description=description,
                product_name=product_name,
                price=price,
            )
        )

    def list_templates(self, page: int = 1, limit: int = 20, user_id: str | None = None) -> dict[str, Any]:
        """One page: ``templates`` and ``pagination``."""
        return self.send(calls.list_templates(page, limit, user_id))

    def iter_templates(
        self, user_id: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every template, each once, reading at most ``max_pages`` pages (as :meth:`iter_videos`)."""
        yield from self._walk(
            lambda page: calls.list_templates(page, PAGE_SIZE, user_id), "templates", max_pages
        )

    def delete_template(self, template_id: str) -> dict[str, Any]:
        """Delete a template."""
        return self.send(calls.delete_template(template_id))

    def _walk(
        self, call_for_page: Callable[[int], Call], key: str, max_pages: int | None
    ) -> Iterator[dict[str, Any]]:
        walker = PageWalker(key, max_pages)
        while (page := walker.next_page) is not None:
            yield from walker.take(self.send(call_for_page(page)))
        if walker.capped:  # the default ceiling deserves a warning; a caller's own cap is expected
            log.log(
                logging.WARNING if max_pages is None else logging.INFO,
                "DMJY %s: stopped after %d pages (the cap) although the server announced more",
                key,
                walker.pages_read,
            )
