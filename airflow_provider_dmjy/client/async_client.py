"""The asynchronous DMJY client (aiohttp), for triggers: never blocks the event loop.

A triggerer runs thousands of waits in one event loop. Opening an HTTP session per poll costs
several times the CPU of a request on a warm pooled session (DESIGN.md), so :class:`SharedSessions`
hands every client of the same connection in the same loop one ``ClientSession`` and closes it
when the last user leaves.

As in the sync client, API calls never follow redirects, read at most ``MAX_RESPONSE_BYTES`` (plus
one byte) of a body, and end at a total deadline (aiohttp's ``ClientTimeout(total=...)`` covers
connecting, sending and reading the whole body).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Hashable
from typing import Any

import aiohttp
from yarl import URL

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.calls import PAGE_SIZE, USER_AGENT, Call, PageWalker
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.ratelimit import RequestBudget
from airflow_provider_dmjy.client.responses import MAX_RESPONSE_BYTES
from airflow_provider_dmjy.client.retry import CallAttempts, RetryPolicy, is_retryable
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers
from airflow_provider_dmjy.exceptions import DmjyAuthenticationError, DmjyError, DmjyRateLimitError

__all__ = ["DmjyAsyncClient", "SharedSessions", "shared_sessions"]

log = logging.getLogger("airflow_provider_dmjy.client")


def _never_reached_server(error: BaseException) -> bool:
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())  # aiohttp >= 3.10
    return isinstance(error, aiohttp.ClientConnectorError) or (
        bool(connect_timeout) and isinstance(error, connect_timeout)
    )


class DmjyAsyncClient:
    """The read/delete endpoints a wait needs, over aiohttp; methods return the envelope's ``data``.

    With a ``budget`` (:class:`~airflow_provider_dmjy.client.ratelimit.RequestBudget`; the async
    hook passes the one its key shares in the loop), every HTTP request waits for its turn, retries
    and re-signed attempts included, and a plain 429 holds the budget for its ``Retry-After``.
    """

    def __init__(
        self,
        config: ClientConfig,
        session: aiohttp.ClientSession | None = None,
        clock: SkewClock | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self.config = config
        self.budget = budget
        self.clock = clock or SkewClock()
        self.retry = RetryPolicy(config)
        # Built once: the total deadline of every attempt (connect, send, read the whole body).
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._session = session
        self._owns_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        """Close the session if this client opened it (a shared one is left to its owner)."""
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> DmjyAsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, call: Call) -> dict[str, Any]:
        """Send one call with the same retry policy as the sync client (``AsyncRetrying``)."""
        url = self.config.url(call.path)
        attempts = CallAttempts(call, self.config.base_path + call.path, redact=self.config.credentials)
        try:
            return await self._attempt(url, attempts)
        except DmjyError as error:
            if not is_retryable(error):
                raise
            failure = error
        # Only now the retry machinery: a poll that succeeds at once never builds it.
        retry = functools.partial(self._attempt, url, attempts)
        return await self.retry.after_failure_async(failure, retry, call.method, attempts.path)

    async def _attempt(self, url: str, attempts: CallAttempts) -> dict[str, Any]:
        try:
            return await self._exchange(url, attempts)
        except DmjyAuthenticationError as error:
            if not attempts.sign_again(error, self.clock):
                raise
        return await self._exchange(url, attempts)

    async def _exchange(self, url: str, attempts: CallAttempts) -> dict[str, Any]:
        call, path = attempts.call, attempts.path
        if self.budget is not None:
            await self.budget.acquire()
        sent_at = self.clock.now()
        started = time.monotonic()
        # A status poll has no query: its URL string is signed and sent as it is (no yarl round trip).
        request_url: URL | str = URL(url).with_query(call.params) if call.params else url
        headers = auth_headers(
            auth_mode=self.config.auth_mode,
            api_key=self.config.api_key,
            api_secret=self.config.api_secret,
            method=call.method,
            url=str(request_url),
            clock=self.clock,
            sign_query_string=self.config.sign_query_string,
        )
        try:
            async with self.session.request(
                call.method,
                request_url,
                json=call.json,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # a redirect would take the key and signature elsewhere
            ) as response:
                body = await _read_capped(response)
                status, response_headers = response.status, response.headers
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if isinstance(exc, asyncio.TimeoutError):
                message = f"no complete answer within the {self.config.timeout:g} s deadline"
            else:
                message = f"{type(exc).__name__}: could not complete the request"
            raise attempts.transport_failure(message, not _never_reached_server(exc), sent_at) from exc
        self.clock.observe_date_header(response_headers.get("Date"))
        log.debug(
            "DMJY %s %s -> %s in %.0f ms", call.method, path, status, 1000 * (time.monotonic() - started)
        )
        try:
            return attempts.settle(status, response_headers, body, call.method, sent_at)
        except DmjyRateLimitError as error:
            if self.budget is not None:
                # The retry waits the same Retry-After (or its first backoff step), capped alike;
                # every other request of the key now waits with it.
                wait = self.config.backoff_base if error.retry_after is None else error.retry_after
                self.budget.hold_off(min(wait, self.config.max_retry_wait))
            raise

    async def get_account(self) -> dict[str, Any]:
        """The key's account (balance, plan, usage)."""
        return await self.send(calls.get_account())

    async def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task."""
        return await self.send(calls.get_video(video_id))

    async def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task (stops it when unfinished)."""
        return await self.send(calls.delete_video(video_id))

    async def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page of video tasks, newest first."""
        return await self.send(calls.list_videos(page, limit, status))

    async def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every video task (newest first), each once, reading at most ``max_pages`` pages.

        The same walk as the sync client's (:class:`~airflow_provider_dmjy.client.calls.PageWalker`).
        """
        walker = PageWalker("tasks", max_pages)
        while (page := walker.next_page) is not None:
            for item in walker.take(await self.send(calls.list_videos(page, PAGE_SIZE, status))):
                yield item
        if walker.capped:
            log.log(
                logging.WARNING if max_pages is None else logging.INFO,
                "DMJY tasks: stopped after %d pages (the cap) although the server announced more",
                walker.pages_read,
            )


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, or its first ``MAX_RESPONSE_BYTES + 1`` bytes (parse_body then refuses it)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    response.close()  # the rest stays unread: this connection cannot be reused
    return b"".join(chunks)


def new_session() -> aiohttp.ClientSession:
    """A session with a connection pool sized for many concurrent polls of one host."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        headers={"User-Agent": USER_AGENT},
    )


class SharedSessions:
    """Reference-counted ``ClientSession`` + clock per (event loop, key): one pool per connection.

    Sessions are bound to the loop that created them, so the loop is part of the key.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, Hashable], tuple[aiohttp.ClientSession, SkewClock, int]] = {}

    def acquire(self, key: Hashable) -> tuple[aiohttp.ClientSession, SkewClock]:
        """The shared session and clock for ``key`` in the running loop; pair with :meth:`release`."""
        full_key = (id(asyncio.get_running_loop()), key)
        entry = self._entries.get(full_key)
        if entry is None or entry[0].closed:
            entry = (new_session(), SkewClock(), 0)
        session, clock, users = entry
        self._entries[full_key] = (session, clock, users + 1)
        return session, clock

    async def release(self, key: Hashable) -> None:
        """Drop one user; the last one closes the session."""
        full_key = (id(asyncio.get_running_loop()), key)
        entry = self._entries.get(full_key)
        if entry is None:
            return
        session, clock, users = entry
        if users > 1:
            self._entries[full_key] = (session, clock, users - 1)
            return
        del self._entries[full_key]
        await session.close()

    def users(self, key: Hashable) -> int:
        """How many clients share ``key``'s session in the running loop (for tests and metrics)."""
        entry = self._entries.get((id(asyncio.get_running_loop()), key))
        return entry[2] if entry else 0


#: The process-wide registry the async hook uses.
shared_sessions = SharedSessions()
