"""DmjyHook against the simulator over real loopback HTTP: endpoints, auth, retries, skew, secrets."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
import responses

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyAuthenticationError,
    DmjyBadRequestError,
    DmjyConnectionError,
    DmjyDailyCapError,
    DmjyInsufficientBalanceError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyRateLimitError,
    DmjyServerError,
    DmjyValidationError,
)
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

IMG = "https://example.com/cup.jpg"
VIDEO = "/api/v1/videos/{id}"


def requests_to(sim: SimulatorHandle, key: str) -> int:
    return int(sim.state()["requests"].get(key, 0))


def test_account(hook: DmjyHook) -> None:
    account = hook.get_account()
    assert account["balance"] == 100000
    assert {"userId", "email", "plan", "usage", "lowBalanceThreshold", "isLowBalance"} <= set(account)


def test_video_lifecycle(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    created = hook.create_video("展示智能保温杯的核心功能", image_urls=[IMG, IMG], duration=5, title="杯")
    assert created["status"] == "pending" and created["imageCount"] == 2 and created["imageMerged"] is True
    video = hook.get_video(created["id"])
    assert video["id"] == created["id"] and video["title"] == "杯" and video["duration"] == 5
    dmjy_conn.complete(created["id"])
    done = hook.get_video(created["id"])
    assert done["status"] == "completed" and done["progress"] == 100
    assert requests.get(done["videoUrl"], timeout=5).content[4:8] == b"ftyp"
    assert hook.get_account()["balance"] == 100000 - 5 * 10
    assert hook.delete_video(created["id"]) == {}
    with pytest.raises(DmjyNotFoundError):
        hook.get_video(created["id"])


def test_list_and_iterate_videos(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    ids = [hook.create_video(f"v{i}", image_url=IMG, duration=1)["id"] for i in range(5)]
    page = hook.list_videos(page=2, limit=2)
    assert page["pagination"] == {"total": 5, "page": 2, "limit": 2, "totalPages": 3}
    assert [t["id"] for t in page["tasks"]] == list(reversed(ids))[2:4]
    dmjy_conn.complete(ids[0])
    assert [t["id"] for t in hook.list_videos(status="completed")["tasks"]] == [ids[0]]
    assert sorted(t["id"] for t in hook.iter_videos()) == sorted(ids)


def test_templates_crud_and_pagination(hook: DmjyHook) -> None:
    created = [
        hook.create_template(f"模板{i}", user_id="user_sim", price=99, product_name="杯") for i in range(105)
    ]
    first = hook.list_templates(limit=100, user_id="user_sim")
    assert first["pagination"]["totalPages"] == 2 and len(first["templates"]) == 100
    everything = list(hook.iter_templates(user_id="user_sim"))
    assert len(everything) == 105 and {t["id"] for t in everything} == {t["id"] for t in created}
    assert everything[0]["price"] == "99.00"
    hook.delete_template(created[0]["id"])
    assert len(list(hook.iter_templates())) == 104
    with pytest.raises(DmjyNotFoundError):
        hook.delete_template(created[0]["id"])


def test_template_user_id_defaults_to_connection_extra(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_TPL", dmjy_conn.conn_uri + "?user_id=team_a")
    hook = DmjyHook(dmjy_conn_id="dmjy_tpl")
    hook.create_template("n")
    assert hook.list_templates(user_id="team_a")["templates"][0]["userId"] == "team_a"


@pytest.mark.parametrize("auth_mode", ["signature", "header"])
def test_both_auth_modes(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, auth_mode: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_MODE", f"{dmjy_conn.conn_uri}?auth_mode={auth_mode}")
    hook = DmjyHook(dmjy_conn_id="dmjy_mode")
    assert hook.get_account()["balance"] > 0
    assert hook.list_videos(page=1, limit=5)["tasks"] == []


def test_json_connection_form(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_JSON", dmjy_conn.conn_json)
    assert DmjyHook(dmjy_conn_id="dmjy_json").get_account()["userId"]


def test_query_string_signing(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    dmjy_conn.configure(sign_query_string=True)
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_PLAIN", dmjy_conn.conn_uri)
    with pytest.raises(DmjyAuthenticationError):
        DmjyHook(dmjy_conn_id="dmjy_plain").list_videos(page=2)
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_QS", dmjy_conn.conn_uri + "?sign_query_string=true")
    assert DmjyHook(dmjy_conn_id="dmjy_qs").list_videos(page=2)["tasks"] == []


def test_wrong_secret_fails_fast(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_BAD", dmjy_conn.conn_uri.replace("sim_secret", "wrong_secret"))
    with pytest.raises(DmjyAuthenticationError) as info:
        DmjyHook(dmjy_conn_id="dmjy_bad").get_account()
    assert isinstance(info.value, AirflowFailException)
    assert requests_to(dmjy_conn, "GET /api/v1/account") == 1  # an auth error is not retried


def test_validation_happens_before_any_request(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    with pytest.raises(DmjyValidationError, match="aspectRatio") as info:
        hook.create_video("d", image_url=IMG, aspect_ratio="1:1")
    assert isinstance(info.value, AirflowFailException)
    assert dmjy_conn.state()["requests"] == {}


@pytest.mark.parametrize(
    ("fault", "error_class", "fails_fast"),
    [
        ({"status": 400, "code": "INVALID_PARAMETER", "message": "bad"}, DmjyBadRequestError, True),
        ({"status": 401, "code": "INVALID_API_KEY", "message": "no such key"}, DmjyAuthenticationError, True),
        ({"status": 403, "code": "FORBIDDEN", "message": "IP not allow-listed"}, DmjyPermissionError, True),
        ({"status": 404, "code": "NOT_FOUND", "message": "gone"}, DmjyNotFoundError, True),
        (
            {"status": 429, "code": "DAILY_LIMIT_REACHED", "message": "Daily video limit reached"},
            DmjyDailyCapError,
            True,
        ),
        (
            {"status": 402, "code": "INSUFFICIENT_BALANCE", "message": "balance 0"},
            DmjyInsufficientBalanceError,
            True,
        ),
        ({"status": 500, "times": 4}, DmjyServerError, False),
        ({"status": 429, "times": 4, "retry_after": 0}, DmjyRateLimitError, False),
    ],
)
def test_each_status_maps_to_its_exception(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, fault: dict[str, Any], error_class: type, fails_fast: bool
) -> None:
    dmjy_conn.inject_fault(method="GET", path="/api/v1/account", **fault)
    with pytest.raises(error_class) as info:
        hook.get_account()
    assert isinstance(info.value, AirflowFailException) is fails_fast
    # Permanent errors are sent once; transient ones 1 + max_retries (3) times.
    assert requests_to(dmjy_conn, "GET /api/v1/account") == (1 if fails_fast else 4)


def test_get_retries_transient_errors_then_succeeds(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    video_id = hook.create_video("d", image_url=IMG)["id"]
    dmjy_conn.inject_fault(method="GET", path=VIDEO, status=503, times=1)
    dmjy_conn.inject_fault(method="GET", path=VIDEO, drop_connection=True, times=1)
    dmjy_conn.inject_fault(method="GET", path=VIDEO, status=502, body="<html><h1>502 Bad Gateway</h1></html>")
    assert hook.get_video(video_id)["id"] == video_id
    assert requests_to(dmjy_conn, "GET " + VIDEO) == 4


def test_rate_limit_honours_retry_after(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    dmjy_conn.inject_fault(
        method="POST", path="/api/v1/videos", status=429, retry_after=1, code="RATE_LIMITED"
    )
    with caplog.at_level(logging.WARNING, logger="airflow_provider_dmjy.client"):
        hook.create_video("d", image_url=IMG)
    assert "retry 1 of 3 in 1.0 s" in caplog.text
    # A plain 429 proves the create was refused, so retrying it charges nothing twice.
    assert dmjy_conn.state()["videos_created"] == 1


def test_rate_limit_from_the_simulators_own_limiter(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    # One token per 5 s: the second call is refused however slowly this machine sends it, and is
    # retried after the Retry-After the simulator gives.
    dmjy_conn.configure(rate_limit=0.2)
    hook.get_account()
    hook.get_account()
    assert requests_to(dmjy_conn, "GET /api/v1/account") == 3  # the second was answered 429 once


def test_daily_cap_is_not_retried(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(daily_cap=1)
    hook.create_video("d", image_url=IMG)
    with pytest.raises(DmjyDailyCapError) as info:
        hook.create_video("d", image_url=IMG)
    assert isinstance(info.value, AirflowFailException) and "Daily" in str(info.value)
    assert requests_to(dmjy_conn, "POST /api/v1/videos") == 2


def test_insufficient_balance(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=50)
    with pytest.raises(DmjyInsufficientBalanceError) as info:
        hook.create_video("d", image_url=IMG, duration=10)
    assert isinstance(info.value, AirflowFailException)
    assert dmjy_conn.state()["videos_created"] == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "after_commit": True},
        {"drop_connection": True, "after_commit": True},
        {"status": 503},
        {"drop_connection": True},
    ],
)
def test_create_is_never_retried_once_it_may_have_arrived(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, fault: dict[str, Any]
) -> None:
    dmjy_conn.inject_fault(method="POST", path="/api/v1/videos", **fault)
    with pytest.raises(DmjyAmbiguousRequestError) as info:
        hook.create_video("杯", image_url=IMG, title="marker-1")
    error = info.value
    assert isinstance(error, AirflowFailException)
    assert error.payload == {"description": "杯", "imageUrl": IMG, "title": "marker-1"}
    assert error.sent_at > 0 and error.method == "POST" and error.path == "/api/v1/videos"
    assert requests_to(dmjy_conn, "POST /api/v1/videos") == 1
    assert dmjy_conn.state()["videos_created"] == (1 if fault.get("after_commit") else 0)


def test_timeout_after_sending_a_create_is_ambiguous(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_SLOW", dmjy_conn.conn_uri + "?timeout=0.3")
    dmjy_conn.inject_fault(method="POST", path="/api/v1/videos", delay_seconds=1.0)
    with pytest.raises(DmjyAmbiguousRequestError):
        DmjyHook(dmjy_conn_id="dmjy_slow").create_video("d", image_url=IMG)
    assert requests_to(dmjy_conn, "POST /api/v1/videos") == 1


def test_delete_whose_answer_was_lost_counts_as_done(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    video_id = hook.create_video("d", image_url=IMG)["id"]
    dmjy_conn.inject_fault(method="DELETE", path=VIDEO, drop_connection=True, after_commit=True)
    assert hook.delete_video(video_id) == {}
    assert dmjy_conn.state()["videos"][video_id] == "deleted"
    assert requests_to(dmjy_conn, "DELETE " + VIDEO) == 2


@responses.activate
def test_create_retried_when_the_connection_was_refused(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    # A refused connection is the one transport fault the simulator cannot make while serving.
    from urllib3.exceptions import NewConnectionError

    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    responses.add(responses.POST, f"{dmjy_conn.base_url}/videos", body=refused)
    responses.add(responses.PassthroughResponse(responses.POST, f"{dmjy_conn.base_url}/videos"))
    responses.add_passthru(dmjy_conn.root_url)
    created = hook.create_video("d", image_url=IMG)
    assert created["status"] == "pending"
    assert dmjy_conn.state()["videos_created"] == 1


def test_refused_connection_exhausts_retries(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_DMJY_DOWN", f"dmjy://k:secret@http%3A%2F%2F127.0.0.1%3A{port}%2Fapi%2Fv1?max_retries=1"
    )
    hook = DmjyHook(dmjy_conn_id="dmjy_down")
    with pytest.raises(DmjyConnectionError) as info:
        hook.get_account()
    assert info.value.reached_server is False and info.value.retryable


def test_clock_skew_is_corrected(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(clock_offset_seconds=600)
    assert hook.get_account()["balance"] > 0
    # The first request was refused for its timestamp and retried once with the server's clock;
    # later ones are signed right away.
    assert requests_to(dmjy_conn, "GET /api/v1/account") == 2
    assert 590 < hook.client.clock.offset_seconds < 610
    hook.create_video("d", image_url=IMG)
    assert requests_to(dmjy_conn, "POST /api/v1/videos") == 1


def test_secret_never_logged(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri)
    hook = DmjyHook()
    dmjy_conn.inject_fault(method="GET", path="/api/v1/account", status=500)
    messages = []
    with caplog.at_level(logging.DEBUG):
        hook.get_account()
        video_id = hook.create_video("d", image_url=IMG)["id"]
        hook.get_video(video_id)
        dmjy_conn.configure(clock_offset_seconds=900)
        hook.get_video(video_id)
        for fault in ({"status": 401, "code": "INVALID_SIGNATURE"}, {"status": 500, "after_commit": True}):
            dmjy_conn.inject_fault(method="POST", path="/api/v1/videos", **fault)
            with pytest.raises(Exception) as info:  # noqa: PT011 - any error; its text is what matters
                hook.create_video("d", image_url=IMG)
            messages.append(f"{info.value!s} {info.value!r}")
    text = caplog.text + " ".join(messages) + repr(hook.config)
    assert "DMJY" in caplog.text  # something was logged
    assert dmjy_conn.api_secret not in text
    assert "X-Signature" not in text and "X-API-Secret" not in text


def test_test_connection(hook: DmjyHook, dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = hook.test_connection()
    assert ok and "balance 100000" in message
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_BAD", dmjy_conn.conn_uri.replace("sim_secret", "nope_nope"))
    ok, message = DmjyHook(dmjy_conn_id="dmjy_bad").test_connection()
    assert not ok and "401" in message and "nope_nope" not in message
