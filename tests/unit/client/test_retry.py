"""The retry policy (one tenacity declaration for both clients) and what one call's attempts mean."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import responses
import tenacity

from airflow_provider_dmjy.client.calls import Call
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.retry import CallAttempts, RetryPolicy, is_retryable
from airflow_provider_dmjy.client.signing import SkewClock
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyAuthenticationError,
    DmjyBadRequestError,
    DmjyConnectionError,
    DmjyRateLimitError,
    DmjyServerError,
)

BASE_URL = "http://dmjy.test/api/v1"


def config(**overrides: Any) -> ClientConfig:
    settings: dict[str, Any] = {"api_key": "k", "api_secret": "s", "base_url": BASE_URL, "backoff_base": 0.0}
    return ClientConfig(**{**settings, **overrides})


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses tenacity takes, without taking them."""
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    return pauses


def test_the_predicate_looks_only_at_the_error() -> None:
    busy = DmjyServerError("busy", status=503)
    assert all(is_retryable(busy) for _ in range(100))  # no count, no state: the same answer
    assert not is_retryable(DmjyBadRequestError("bad", status=400))
    assert not is_retryable(ValueError("not ours"))


def test_a_failing_call_stops_after_max_retries_plus_one_attempts(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[int] = []

    def attempt() -> dict[str, Any]:
        sent.append(1)
        raise DmjyServerError("busy", status=503)

    policy = RetryPolicy(config(max_retries=3))
    with caplog.at_level(logging.WARNING, "airflow_provider_dmjy.client"), pytest.raises(DmjyServerError):
        policy.after_failure(DmjyServerError("busy", status=503), attempt, "GET", "/api/v1/account")
    assert len(sent) == 3  # the first attempt was made by the caller: 1 + 3 in all
    assert len(slept) == 3
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith(
        "DMJY GET /api/v1/account failed (DMJY API error 503: busy); retry 1 of 3 in"
    )
    assert [m.split("; ")[1].split(" in ")[0] for m in messages] == [f"retry {n} of 3" for n in (1, 2, 3)]


def test_a_permanent_error_is_not_retried(slept: list[float]) -> None:
    attempts: list[int] = []

    def attempt() -> dict[str, Any]:
        attempts.append(1)
        raise DmjyBadRequestError("bad", status=400)

    with pytest.raises(DmjyBadRequestError):
        RetryPolicy(config()).after_failure(DmjyServerError("busy", status=503), attempt, "GET", "/x")
    assert len(attempts) == 1 and len(slept) == 1


def test_retry_after_is_the_wait_capped_by_max_retry_wait(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    policy = RetryPolicy(config(max_retry_wait=5.0))
    for retry_after, expected in ((2.0, 2.0), (100.0, 5.0)):
        limited = DmjyRateLimitError("slow down", status=429, retry_after=retry_after)
        assert policy.after_failure(limited, lambda: {"ok": True}, "GET", "/x") == {"ok": True}
        assert slept[-1] == expected
    assert "retry 1 of 3 in 5.0 s" in caplog.records[-1].getMessage()


def test_the_async_face_is_built_from_the_same_arguments() -> None:
    policy = RetryPolicy(config(max_retries=2))
    sent: list[int] = []

    async def attempt() -> dict[str, Any]:
        sent.append(1)
        if len(sent) < 2:
            raise DmjyConnectionError("reset", method="GET", path="/x", reached_server=True)
        return {"ok": True}

    first = DmjyServerError("busy", status=502)
    assert asyncio.run(policy.after_failure_async(first, attempt, "GET", "/x")) == {"ok": True}
    assert len(sent) == 2
    assert policy.arguments["stop"].max_attempt_number == 3  # max_retries + 1


@responses.activate
def test_a_call_that_succeeds_at_once_never_builds_the_retry_machinery(
    monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    built: list[object] = []
    original = tenacity.Retrying

    def counting(*args: Any, **kwargs: Any) -> tenacity.Retrying:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tenacity, "Retrying", counting)  # looked up by the policy at each use
    responses.add(responses.GET, f"{BASE_URL}/account", json={"success": True, "data": {"balance": 1}})
    with DmjyClient(config()) as client:
        assert client.get_account() == {"balance": 1}
        assert built == []
        responses.reset()  # now one 503, then a success
        responses.add(responses.GET, f"{BASE_URL}/account", status=503)
        responses.add(responses.GET, f"{BASE_URL}/account", json={"success": True, "data": {"balance": 2}})
        assert client.get_account() == {"balance": 2}
    assert built == [1] and len(slept) == 1


def test_a_lost_create_is_ambiguous_and_not_retryable() -> None:
    attempts = CallAttempts(Call("POST", "/videos", json={"description": "d"}), "/api/v1/videos")
    lost = DmjyConnectionError("reset", method="POST", path="/api/v1/videos", reached_server=True)
    outcome = attempts.outcome_of_error(lost, sent_at=1.0)
    assert isinstance(outcome, DmjyAmbiguousRequestError) and not outcome.retryable
    assert outcome.payload == {"description": "d"} and outcome.sent_at == 1.0


def test_a_create_that_never_left_or_got_a_429_stays_retryable() -> None:
    attempts = CallAttempts(Call("POST", "/videos", json={}), "/api/v1/videos")
    refused = DmjyConnectionError("refused", method="POST", path="/api/v1/videos", reached_server=False)
    assert attempts.outcome_of_error(refused, 0.0) is refused and refused.retryable
    limited = DmjyRateLimitError("slow down", status=429)
    assert attempts.outcome_of_error(limited, 0.0) is limited and limited.retryable


def test_a_delete_whose_answer_was_lost_counts_a_later_404_as_done() -> None:
    attempts = CallAttempts(Call("DELETE", "/videos/v1"), "/api/v1/videos/v1")
    not_found: tuple[int, dict[str, str], bytes, str, float] = (
        404,
        {},
        b'{"success": false, "error": {"message": "not found"}}',
        "DELETE",
        0.0,
    )
    with pytest.raises(Exception, match="not found"):
        attempts.settle(*not_found)  # a plain 404: the video was never there
    lost = attempts.transport_failure("reset", reached_server=True, sent_at=0.0)
    assert isinstance(lost, DmjyConnectionError) and lost.retryable
    assert attempts.settle(*not_found) == {}  # the lost attempt did the delete


def test_a_timestamp_401_is_signed_again_once_per_call(caplog: pytest.LogCaptureFixture) -> None:
    attempts = CallAttempts(Call("GET", "/account"), "/api/v1/account")
    stale = DmjyAuthenticationError("timestamp expired", status=401, code="TIMESTAMP_EXPIRED")
    wrong_key = DmjyAuthenticationError("invalid api key", status=401)
    assert not attempts.sign_again(wrong_key, SkewClock())
    assert attempts.sign_again(stale, SkewClock(900.0))
    assert not attempts.sign_again(stale, SkewClock(900.0))  # a second refusal is real
    assert "signing again on the server's clock (offset +900 s)" in caplog.records[-1].getMessage()
