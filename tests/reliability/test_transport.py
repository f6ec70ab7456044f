"""The HTTP transport at its edges, against the hostile loopback server (real sockets).

Redirects never carry credentials away, every call ends at its total deadline however slowly the
server trickles, a huge body is refused after the cap instead of read whole, and pagination ends
whatever the server claims about its pages: sync and async.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyConnectionError,
    DmjyError,
    DmjyInvalidResponseError,
    DmjyRedirectError,
    DmjyServerError,
)
from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook, DmjyHook
from airflow_provider_dmjy.triggers import events
from tests.hostile_server import HostileServer, Reply, Seen, envelope
from tests.reliability.evidence import Evidence

SECRET = "sim_secret"
KEY = "mk_sim_key"
IMG = "https://example.com/cup.jpg"
ACCOUNT = "/api/v1/account"
VIDEOS = "/api/v1/videos"
#: Generous on a busy two-core machine; without a total deadline these calls run for a minute.
BOUND_SECONDS = 15.0
FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """The host a redirect points to: it must never receive anything."""
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Point connection ``hostile`` at a server; returns the connection id."""

    def point(server: HostileServer, auth_mode: str = "signature", timeout: float = 1.0) -> str:
        extra = {"auth_mode": auth_mode, "timeout": timeout, "max_retries": 1}
        conn = {
            "conn_type": "dmjy",
            "login": KEY,
            "password": SECRET,
            "host": server.base_url,
            "extra": extra,
        }
        monkeypatch.setenv("AIRFLOW_CONN_HOSTILE", json.dumps(conn))
        return "hostile"

    return point


def _credentials_in(seen: list[Seen]) -> list[str]:
    return [f"{s.method} {s.path}: {k}" for s in seen for k in s.headers if k.lower().startswith("x-")]


def _redirect_to(target: HostileServer, status: int) -> Reply:
    # A query that must never show up in the error message.
    return Reply(status, headers={"Location": f"{target.root_url}/api/v1/account?token=stolen"})


# -- item 4: redirects ------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="sync: 301/302/307 from the API to another host, header and signature mode",
    expected="not followed: the other host gets nothing; an error naming the host; a 307 create sent once",
)
@pytest.mark.parametrize("auth_mode", ["header", "signature"])
def test_sync_redirects_are_not_followed(
    server: HostileServer,
    elsewhere: HostileServer,
    connect: Callable[..., str],
    evidence: Evidence,
    auth_mode: str,
) -> None:
    hook = DmjyHook(connect(server, auth_mode))
    target_host = elsewhere.root_url.removeprefix("http://")
    errors: list[DmjyError] = []
    for status in (301, 302, 307):
        server.route("GET", ACCOUNT, _redirect_to(elsewhere, status))
        with pytest.raises(DmjyRedirectError) as caught:
            hook.get_account()
        errors.append(caught.value)
    server.route("POST", VIDEOS, _redirect_to(elsewhere, 307))
    with pytest.raises(DmjyRedirectError) as caught:
        hook.create_video("d", image_url=IMG, duration=5)
    errors.append(caught.value)

    assert elsewhere.requests == [], _credentials_in(elsewhere.requests)
    assert len(server.seen("GET", ACCOUNT)) == 3  # a redirect is not retried
    assert len(server.seen("POST", VIDEOS)) == 1  # the create was sent once, never re-sent
    for error in errors:
        assert target_host in str(error) and "stolen" not in str(error) and not error.retryable
    assert evidence.no_secret_in(*errors, *(e.__cause__ for e in errors)) == 0
    evidence.message(errors[-1])


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="async: 301/302/307 from the API to another host, header and signature mode",
    expected="not followed: the other host receives nothing; an error naming the host",
)
@pytest.mark.parametrize("auth_mode", ["header", "signature"])
async def test_async_redirects_are_not_followed(
    server: HostileServer,
    elsewhere: HostileServer,
    connect: Callable[..., str],
    evidence: Evidence,
    auth_mode: str,
) -> None:
    target_host = elsewhere.root_url.removeprefix("http://")
    errors: list[DmjyError] = []
    async with DmjyAsyncHook(connect(server, auth_mode)) as hook:
        for status in (301, 302, 307):
            server.route("GET", ACCOUNT, _redirect_to(elsewhere, status))
            server.route("DELETE", f"{VIDEOS}/v1", _redirect_to(elsewhere, status))
            with pytest.raises(DmjyRedirectError) as caught:
                await hook.get_account()
            errors.append(caught.value)
            with pytest.raises(DmjyRedirectError) as caught:
                await hook.delete_video("v1")
            errors.append(caught.value)

    assert elsewhere.requests == [], _credentials_in(elsewhere.requests)
    assert len(server.requests) == 6
    for error in errors:
        assert target_host in str(error) and "stolen" not in str(error) and not error.retryable
    assert evidence.no_secret_in(*errors) == 0
    evidence.message(errors[0])


# -- item 8: a total deadline -------------------------------------------------------------------------

#: A valid answer that takes about 40 s at one byte per half second.
_SLOW_BODY = json.dumps(envelope({"balance": 1})) + " " * 60


def _trickled_headers(wfile: Any) -> None:
    wfile.write(b"HTTP/1.1 200 OK\r\n")
    wfile.flush()
    for byte in b"X-Padding: " + b"a" * 80:
        wfile.write(bytes([byte]))
        wfile.flush()
        time.sleep(0.5)


@pytest.mark.reliability(
    area="Time and memory",
    case="sync: body or headers trickled one byte per 0.5 s, 1 s timeout",
    expected="each attempt ends at its 1 s deadline; a read retries then fails; a create is ambiguous",
)
def test_sync_calls_end_at_their_deadline(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence
) -> None:
    hook = DmjyHook(connect(server, timeout=1))
    server.route("GET", ACCOUNT, Reply(body=_SLOW_BODY, trickle=0.5))
    server.route("POST", VIDEOS, Reply(body=_SLOW_BODY, trickle=0.5))
    server.route("GET", f"{VIDEOS}/v1", Reply(stream=_trickled_headers))

    started = time.monotonic()
    with pytest.raises(DmjyConnectionError) as read:
        hook.get_account()
    with pytest.raises(DmjyConnectionError) as headers:
        hook.get_video("v1")
    with pytest.raises(DmjyAmbiguousRequestError) as create:
        hook.create_video("d", image_url=IMG, duration=5)
    elapsed = time.monotonic() - started

    assert elapsed < BOUND_SECONDS
    assert read.value.retryable and read.value.reached_server and "1 s deadline" in str(read.value)
    assert "1 s deadline" in str(headers.value)
    assert len(server.seen("GET", ACCOUNT)) == 2  # the read was retried once (max_retries=1)
    assert len(server.seen("POST", VIDEOS)) == 1  # the create was not
    evidence.message(read.value)
    evidence.message(create.value)


@pytest.mark.reliability(
    area="Time and memory",
    case="async: body trickled one byte per 0.5 s, 1 s timeout",
    expected="each attempt ends at its 1 s deadline; the read retries, then fails retryable",
)
async def test_async_calls_end_at_their_deadline(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence
) -> None:
    server.route("GET", ACCOUNT, Reply(body=_SLOW_BODY, trickle=0.5))
    started = time.monotonic()
    async with DmjyAsyncHook(connect(server, timeout=1)) as hook:
        with pytest.raises(DmjyConnectionError) as caught:
            await hook.get_account()
    assert time.monotonic() - started < BOUND_SECONDS
    assert caught.value.retryable and "1 s deadline" in str(caught.value)
    assert len(server.seen("GET", ACCOUNT)) == 2
    evidence.message(caught.value)


# -- item 10: capped bodies ---------------------------------------------------------------------------


def _fifty_megabytes(status: str, start: bytes, filler: bytes) -> Callable[[Any], None]:
    """A 50 MB answer written lazily (the server stops when the client hangs up)."""

    def write(wfile: Any) -> None:
        wfile.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {FIFTY_MB}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        wfile.write(start)
        chunk = (filler * 65536)[:65536]
        remaining = FIFTY_MB - len(start)
        while remaining > 0:
            wfile.write(chunk[:remaining])
            remaining -= len(chunk)

    return write


def _huge_routes(server: HostileServer) -> None:
    server.route(
        "GET", ACCOUNT, Reply(stream=_fifty_megabytes("200 OK", b'{"success": true, "data": "', b"x"))
    )
    server.route("GET", VIDEOS, Reply(stream=_fifty_megabytes("502 Bad Gateway", b"<html>", b"<p>down")))


@pytest.mark.reliability(
    area="Time and memory",
    case="sync: a 50 MB answer and a 50 MB HTML error page",
    expected="refused after 4 MiB with an error naming the limit; memory stays far below the body size",
)
def test_sync_huge_bodies_are_refused(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence
) -> None:
    _huge_routes(server)
    hook = DmjyHook(connect(server, timeout=30))
    tracemalloc.start()
    try:
        with pytest.raises(DmjyInvalidResponseError) as caught:
            hook.get_account()
        with pytest.raises(DmjyServerError) as page:
            hook.list_videos()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "4 MiB limit" in str(caught.value) and not caught.value.retryable
    assert page.value.status == 502 and len(str(page.value)) < 400
    assert peak < 24 * 1024 * 1024  # a few copies of 4 MiB, never 50 MB
    evidence.message(caught.value)
    evidence.message(page.value)


@pytest.mark.reliability(
    area="Time and memory",
    case="async: a 50 MB answer and a 50 MB HTML error page",
    expected="refused after 4 MiB with an error naming the limit; memory stays far below the body size",
)
async def test_async_huge_bodies_are_refused(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence
) -> None:
    _huge_routes(server)
    tracemalloc.start()
    try:
        async with DmjyAsyncHook(connect(server, timeout=30)) as hook:
            with pytest.raises(DmjyInvalidResponseError) as caught:
                await hook.get_account()
            with pytest.raises(DmjyServerError) as page:
                await hook.list_videos()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "4 MiB limit" in str(caught.value)
    assert page.value.status == 502 and len(str(page.value)) < 400
    assert peak < 24 * 1024 * 1024
    evidence.message(caught.value)


# -- item 9: pagination ------------------------------------------------------------------------------

#: The test's own safety stop: a client that would page forever gets an error here instead.
_SAFETY_STOP = 300


def _lister(
    page_for: Callable[[int], tuple[list[str], dict[str, Any]]], key: str = "tasks"
) -> Callable[[Seen], Reply]:
    """A list endpoint whose n-th answer (counting requests, not ``page``) is ``page_for(n)``."""
    answered = [0]

    def answer(seen: Seen) -> Reply:
        answered[0] += 1
        if answered[0] > _SAFETY_STOP:
            return Reply(400, {"success": False, "message": "safety stop: the client never stopped paging"})
        ids, pagination = page_for(answered[0])
        tasks = [{"id": i, "status": "completed", "createdAt": "2999-01-01T00:00:00Z"} for i in ids]
        return Reply(body=envelope({key: tasks, "pagination": pagination}))

    return answer


def _ignores_page(n: int) -> tuple[list[str], dict[str, Any]]:
    return ["a", "b", "c"], {"page": 1, "totalPages": 5, "total": 500, "limit": 100}


def _a_billion_pages(n: int) -> tuple[list[str], dict[str, Any]]:
    return [f"v{n}-{i}" for i in range(100)], {"page": 1, "totalPages": 1e9, "total": 1e11, "limit": 100}


def _overlapping(n: int) -> tuple[list[str], dict[str, Any]]:
    return [f"v{n - 1}", f"v{n}", f"v{n + 1}"], {"page": n, "totalPages": 4, "total": 12, "limit": 100}


@pytest.mark.reliability(
    area="Time and memory",
    case="list endpoints that ignore `page`, claim 1e9 pages, or repeat ids (sync hook)",
    expected="each id once; stops at a page without new ids, at max_pages, or at the 1,000-page ceiling",
)
def test_sync_pagination_ends_whatever_the_server_says(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = DmjyHook(connect(server))
    server.route("GET", VIDEOS, _lister(_ignores_page))
    assert [v["id"] for v in hook.iter_videos()] == ["a", "b", "c"]
    assert len(server.seen("GET", VIDEOS)) == 2  # the second page brought nothing new

    server.requests.clear()
    server.route("GET", VIDEOS, _lister(_a_billion_pages))
    assert len(list(hook.iter_videos(max_pages=5))) == 500
    assert [s.query["page"] for s in server.seen("GET", VIDEOS)] == [[str(p)] for p in range(1, 6)]

    server.requests.clear()
    server.route("GET", VIDEOS, _lister(_a_billion_pages))
    monkeypatch.setattr(calls, "MAX_PAGES", 20)  # the default ceiling (1,000), made small
    assert len(list(hook.iter_videos())) == 2000
    assert len(server.seen("GET", VIDEOS)) == 20

    server.requests.clear()
    server.route("GET", "/api/v1/templates", _lister(_overlapping, "templates"))
    ids = [t["id"] for t in hook.iter_templates()]
    assert ids == ["v0", "v1", "v2", "v3", "v4", "v5"]
    evidence.message(f"{len(ids)} ids from 4 overlapping pages; 5 of 1e9 pages read with max_pages=5")


@pytest.mark.reliability(
    area="Time and memory",
    case="list endpoints that ignore `page` or claim 1e9 pages (async hook, event trigger)",
    expected="each id once; the async walk and the event trigger's scan stop at their caps",
)
async def test_async_pagination_ends_whatever_the_server_says(
    server: HostileServer, connect: Callable[..., str], evidence: Evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "MAX_PAGES", 20)
    async with DmjyAsyncHook(connect(server)) as hook:
        server.route("GET", VIDEOS, _lister(_ignores_page))
        assert [v["id"] async for v in hook.iter_videos()] == ["a", "b", "c"]

        server.route("GET", VIDEOS, _lister(_a_billion_pages))
        assert len([v async for v in hook.iter_videos(max_pages=3)]) == 300

        server.requests.clear()
        server.route("GET", VIDEOS, _lister(_a_billion_pages))
        found = await events._scan(hook, None, created_after=0.0)
    assert len(found) == 2000 and len({v["id"] for v in found}) == 2000
    assert len(server.seen("GET", VIDEOS)) == 20
    evidence.message("the event trigger's scan read 20 of 1e9 announced pages (ceiling lowered to 20)")
