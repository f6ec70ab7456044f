"""Secrets a server echoes back: the key and secret never reach an error, a log line or the UI toast.

A 401 that quotes the key it refused, a 400 that repeats the request, a proxy's 500 page that dumps
the request headers, an account whose e-mail field is the key: each is answered by a hostile
loopback server, to the sync and the async client, and to ``DmjyHook.test_connection`` (whose
message the UI shows unmasked).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import airflow_provider_dmjy.hooks.connection as connection_module
from airflow_provider_dmjy.client.responses import redact
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyAuthenticationError,
    DmjyBadRequestError,
    DmjyError,
    DmjyInvalidResponseError,
    DmjyServerError,
)
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook
from airflow_provider_dmjy.hooks.connection import config_from_connection
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from tests.hostile_server import HostileServer, Reply, envelope
from tests.reliability.evidence import Evidence

KEY = "mk_live_ABCDEF123456"
#: With a slash, which PHP's json_encode sends as "\/": the scrub must work on the decoded text.
SECRET = "s3cr3t_XYZ/987654"
CREDENTIALS = (KEY, SECRET)
ACCOUNT = "/api/v1/account"
AREA = "Secrets and the local disk"


def _json_echo(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).replace("/", "\\/").encode("utf-8")


#: (name, the server's answer, the error class the caller gets).
ECHOES: list[tuple[str, Reply, type[DmjyApiError]]] = [
    (
        "401 JSON",
        Reply(
            401,
            _json_echo(
                {
                    "success": False,
                    "error": {"code": "UNAUTHORIZED", "message": f"bad key {KEY} / secret {SECRET}"},
                }
            ),
        ),
        DmjyAuthenticationError,
    ),
    (
        "400 JSON, the key as the code",
        Reply(400, {"success": False, "code": KEY, "message": f"invalid request from {KEY}:{SECRET}"}),
        DmjyBadRequestError,
    ),
    (
        "500 HTML page",
        Reply(
            500,
            f"<html><body><h1>Internal Server Error</h1><pre>X-API-Key: {KEY}\nX-API-Secret: {SECRET}"
            "</pre></body></html>",
            headers={"Content-Type": "text/html"},
        ),
        DmjyServerError,
    ),
    (
        "200 HTML page",
        Reply(200, f"<html><p>Welcome {KEY} ({SECRET})</p></html>", headers={"Content-Type": "text/html"}),
        DmjyInvalidResponseError,
    ),
]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[[HostileServer], str]:
    """Point connection ``echo`` (header mode, the key and secret above) at a server."""

    def point(server: HostileServer) -> str:
        extra = {"auth_mode": "header", "timeout": 1, "max_retries": 0}
        conn = {
            "conn_type": "dmjy",
            "login": KEY,
            "password": SECRET,
            "host": server.base_url,
            "extra": extra,
        }
        monkeypatch.setenv("AIRFLOW_CONN_ECHO", json.dumps(conn))
        return "echo"

    return point


def _assert_scrubbed(error: DmjyError, expected: type[DmjyError]) -> None:
    assert isinstance(error, expected), repr(error)
    assert "***" in str(error), str(error)
    for text in (str(error), repr(error), getattr(error, "vendor_message", ""), getattr(error, "code", "")):
        assert KEY not in str(text) and SECRET not in str(text), text


@pytest.mark.reliability(
    area=AREA,
    case="sync: the server echoes key and secret in a 401, a 400, a 500 and a 200 page",
    expected="the error and the log show *** in their place",
    secrets=CREDENTIALS,
)
def test_sync_errors_never_repeat_the_credentials(
    server: HostileServer,
    connect: Callable[[HostileServer], str],
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = DmjyHook(connect(server))
    errors: list[DmjyError] = []
    for _name, reply, expected in ECHOES:
        server.route("GET", ACCOUNT, reply)
        with pytest.raises(DmjyError) as caught:
            hook.get_account()
        _assert_scrubbed(caught.value, expected)
        errors.append(caught.value)
    hook.close()

    assert evidence.no_secret_in(*errors, caplog.text) == 0
    evidence.message(errors[0])


@pytest.mark.reliability(
    area=AREA,
    case="async: the server echoes key and secret in a 401, a 400, a 500 and a 200 page",
    expected="the error and the log show *** in their place",
    secrets=CREDENTIALS,
)
async def test_async_errors_never_repeat_the_credentials(
    server: HostileServer,
    connect: Callable[[HostileServer], str],
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[DmjyError] = []
    async with DmjyAsyncHook(connect(server)) as hook:
        for _name, reply, expected in ECHOES:
            server.route("GET", ACCOUNT, reply)
            with pytest.raises(DmjyError) as caught:
                await hook.get_account()
            _assert_scrubbed(caught.value, expected)
            errors.append(caught.value)

    assert evidence.no_secret_in(*errors, caplog.text) == 0
    evidence.message(errors[0])


@pytest.mark.reliability(
    area=AREA,
    case="test_connection: the account's fields or a 401 echo the key and secret",
    expected="the UI toast shows *** in their place",
    secrets=CREDENTIALS,
)
def test_the_connection_test_never_repeats_the_credentials(
    server: HostileServer,
    connect: Callable[[HostileServer], str],
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    conn_id = connect(server)
    server.route("GET", ACCOUNT, Reply(200, envelope({"email": KEY, "balance": 5, "plan": f"for {SECRET}"})))
    hook = DmjyHook(conn_id)
    connected, message = hook.test_connection()
    hook.close()
    assert connected and message.startswith("Connected to 127.0.0.1:") and " as ***: balance 5" in message
    assert message.endswith("(plan for ***)")

    server.route("GET", ACCOUNT, ECHOES[0][1])
    hook = DmjyHook(conn_id)
    refused, reason = hook.test_connection()
    hook.close()
    assert not refused and reason.startswith("DMJY API error 401 UNAUTHORIZED: bad key *** / secret ***")

    assert evidence.no_secret_in(message, reason, caplog.text) == 0
    evidence.message(message)


def test_the_key_is_registered_with_the_masker(
    server: HostileServer, connect: Callable[[HostileServer], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    masked: list[object] = []
    monkeypatch.setattr(connection_module, "mask_secret", masked.append)
    config_from_connection(DmjyHook.get_connection(connect(server)))
    assert sorted(map(str, masked)) == sorted(CREDENTIALS)


@pytest.mark.parametrize(
    ("text", "secrets", "scrubbed"),
    [
        ("key abcd, again abcd", ("abcd",), "key ***, again ***"),
        ("key abc stays", ("abc",), "key abc stays"),  # under 4 characters: not scrubbed
        ("both mk_key_secret", ("mk_key_secret", "secret"), "both ***"),  # the longer one first
        ("nothing to hide", ("", "abcd"), "nothing to hide"),
    ],
)
def test_redact(text: str, secrets: tuple[str, ...], scrubbed: str) -> None:
    assert redact(text, secrets) == scrubbed
