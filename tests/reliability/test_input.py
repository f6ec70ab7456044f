"""Input: bad ids, secrets and arguments are refused before any request, naming the field.

Each test is one row of ``docs/reliability.md``. The simulator's request counters prove that
nothing reached the API (so nothing was paid for); the refusal is a ``DmjyValidationError`` or
``DmjyConfigurationError`` (never a raw ``ValueError``/``TypeError``, which Airflow would retry)
and, where an operator raises it, also an ``AirflowFailException``.
"""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.async_client import DmjyAsyncClient
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import DmjyConfigurationError, DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook, DmjyHook
from airflow_provider_dmjy.operators.template import DmjyCreateTemplateOperator, DmjyDeleteTemplateOperator
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator, DmjyDeleteVideoOperator
from airflow_provider_dmjy.sensors.video import DmjyVideoSensor
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import EVENT_ERROR, DmjyVideoTrigger

IMG = "https://example.com/cup.jpg"
FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.2}
#: Ids that are not one safe URL segment: HTTP libraries collapse the dot segments (so ".." sent
#: DELETE /api/v1/), the others add a segment or smuggle one in percent-encoded.
BAD_IDS = ("..", " .. ", ".", "a/b", "%2e%2e", "..%2F", "task_1\n", "")


def requests_seen(sim: SimulatorHandle) -> int:
    """Every API request the simulator received since the test's reset."""
    return sum(sim.state()["requests"].values())


def make_context(try_number: int = 1, store: dict[str, Any] | None = None) -> Any:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r1", map_index=-1, try_number=try_number)
    ti.xcom_push = lambda key, value: None
    context: dict[str, Any] = {"ti": ti, "dag_run": None}
    if store is not None:
        context["task_state_store"] = SimpleNamespace(get=store.get, set=store.__setitem__)
    return context


def assert_fails_without_retry(error: BaseException, field: str) -> None:
    assert isinstance(error, DmjyValidationError), repr(error)
    assert isinstance(error, AirflowFailException), "a validation error must not burn task retries"
    assert error.field == field


# -- ids that leave their URL segment (issue item 6) ----------------------------------------------


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="delete_video('..') and other ids that leave their URL segment, sync client and hook",
    expected="DmjyValidationError naming video_id; no request reaches the server",
)
def test_ids_that_leave_their_segment_never_reach_the_server_sync(
    dmjy_conn: SimulatorHandle, hook: DmjyHook, evidence: Any
) -> None:
    client = DmjyClient(
        ClientConfig(api_key=dmjy_conn.api_key, api_secret=dmjy_conn.api_secret, base_url=dmjy_conn.base_url)
    )
    for bad in BAD_IDS:
        for call in (client.delete_video, client.get_video, hook.delete_video, hook.get_video):
            with pytest.raises(DmjyValidationError, match="video_id"):
                call(bad)
        with pytest.raises(DmjyValidationError, match="template_id"):
            hook.delete_template(bad)
    client.close()
    assert requests_seen(dmjy_conn) == 0
    with pytest.raises(DmjyValidationError) as info:
        hook.delete_video("..")
    evidence.message(info.value)


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="delete_video('..') and other bad ids in the async client, hook and trigger",
    expected="DmjyValidationError (the trigger: an error event); no request reaches the server",
)
async def test_ids_that_leave_their_segment_never_reach_the_server_async(
    dmjy_conn: SimulatorHandle, evidence: Any
) -> None:
    config = ClientConfig(
        api_key=dmjy_conn.api_key, api_secret=dmjy_conn.api_secret, base_url=dmjy_conn.base_url
    )
    async with DmjyAsyncClient(config) as client, DmjyAsyncHook() as hook:
        for bad in BAD_IDS:
            for call in (client.delete_video, client.get_video, hook.delete_video, hook.get_video):
                with pytest.raises(DmjyValidationError, match="video_id"):
                    await call(bad)
    events = [event.payload async for event in DmjyVideoTrigger("..", poll_interval=0.05).run()]
    assert [event["status"] for event in events] == [EVENT_ERROR]
    assert events[0]["error_type"] == "DmjyValidationError"
    assert requests_seen(dmjy_conn) == 0
    evidence.message(events[0]["message"])


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="DmjyDeleteVideoOperator(video_id='..', missing_ok=True), and ids in a list",
    expected="fails without retries, not counted as 'already gone'; no request, nothing deleted",
)
def test_the_delete_operator_refuses_dot_ids_instead_of_calling_them_gone(
    dmjy_conn: SimulatorHandle, hook: DmjyHook, evidence: Any
) -> None:
    keep = hook.create_video("d", image_url=IMG)["id"]
    before = requests_seen(dmjy_conn)
    for bad in BAD_IDS:
        with pytest.raises(DmjyValidationError) as info:
            DmjyDeleteVideoOperator(task_id="rm", video_id=bad, missing_ok=True).execute(make_context())
        assert_fails_without_retry(info.value, "video_id")
    # One bad id in a list stops the whole task before its first delete.
    with pytest.raises(DmjyValidationError) as listed:
        DmjyDeleteVideoOperator(task_id="rm", video_ids=[keep, ".."]).execute(make_context())
    assert_fails_without_retry(listed.value, "video_ids[1]")
    assert requests_seen(dmjy_conn) == before
    assert hook.get_video(keep)["id"] == keep
    evidence.message(info.value)


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="DmjyVideoSensor(video_id=' .. ') in poke, poke-mode execute and deferrable mode",
    expected="fails without retries before any request; nothing is deferred",
)
def test_the_sensor_refuses_a_bad_id_before_any_request(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    errors = []
    for deferrable in (False, True):
        for bad in BAD_IDS:
            sensor = DmjyVideoSensor(task_id="w", video_id=bad, deferrable=deferrable, timeout=5, **FAST)
            with pytest.raises(DmjyValidationError) as info:
                sensor.poke(context={})
            assert_fails_without_retry(info.value, "video_id")
            with pytest.raises(DmjyValidationError) as info:  # a TaskDeferred would fail the test
                sensor.execute(context={})
            assert_fails_without_retry(info.value, "video_id")
            errors.append(info.value)
    assert len(errors) == 2 * len(BAD_IDS)
    assert requests_seen(dmjy_conn) == 0
    evidence.message(errors[0])


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="the create's retry reads a stored id '..'; DmjyDeleteTemplateOperator(template_id='..')",
    expected="both fail without retries before any request; no video is created",
)
def test_reattach_and_template_delete_refuse_bad_ids(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    op = DmjyCreateVideoOperator(task_id="t", description="d", image_url=IMG, deferrable=False, **FAST)
    with pytest.raises(DmjyValidationError) as reattach:
        op.execute(make_context(try_number=2, store={"dmjy_video_id": ".."}))
    assert_fails_without_retry(reattach.value, "video_id")
    with pytest.raises(DmjyValidationError) as template:
        DmjyDeleteTemplateOperator(task_id="rm", template_id="..", missing_ok=True).execute(make_context())
    assert_fails_without_retry(template.value, "template_id")
    state = dmjy_conn.state()
    assert requests_seen(dmjy_conn) == 0 and state["videos_created"] == 0
    evidence.billed(state["videos_created"], tasks=1)
    evidence.message(reattach.value)


# -- a secret in the task log (issue item 7) --------------------------------------------------------


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="API secret 'sim_secret\\n' (trailing newline) in header mode",
    expected="refused when the connection is read, without echoing it; test_connection() neither",
)
def test_a_secret_with_a_newline_is_refused_without_echo(
    dmjy_conn: SimulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    evidence: Any,
) -> None:
    conn = {
        "conn_type": "dmjy",
        "login": dmjy_conn.api_key,
        "password": "sim_secret\n",
        "host": dmjy_conn.base_url,
        "extra": {"auth_mode": "header"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DmjyConfigurationError) as info:
        DmjyHook().get_account()
    ok, answer = DmjyHook().test_connection()
    assert not ok
    assert "API secret" in str(info.value) and "control character" in str(info.value)
    assert "API secret" in answer
    shown = (str(info.value), repr(info.value), repr(info.value.args), answer, caplog.text)
    assert evidence.no_secret_in(*shown, secrets=("sim_secret",)) == 0
    assert requests_seen(dmjy_conn) == 0
    evidence.message(info.value)


# -- bad input (issue item 11) -----------------------------------------------------------------------

BAD_WAITS: list[dict[str, Any]] = [
    {"timeout": math.nan},
    {"timeout": math.inf},
    {"timeout": -1},
    {"timeout": 0},
    {"timeout": 8 * 24 * 3600},
    {"poll_interval": math.nan},
    {"poll_interval": math.inf},
    {"poll_interval": 0},
    {"poll_interval": -5},
    {"poll_interval": 2 * 24 * 3600},
    {"poll_interval": "10"},
    {"max_poll_interval": math.nan},
    {"max_poll_interval": math.inf},
    {"max_poll_interval": 0.01},  # shorter than poll_interval
]


@pytest.mark.reliability(
    area="Input",
    case="create operator with NaN, infinite, negative or week-long timeout and poll intervals",
    expected="refused when the DAG is parsed, naming the field; nothing sent",
)
def test_the_create_operator_refuses_absurd_waits(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    messages = []
    for bad in BAD_WAITS:
        arguments: dict[str, Any] = {"task_id": "t", "description": "d", "image_url": IMG, **FAST, **bad}
        with pytest.raises(DmjyValidationError) as info:
            DmjyCreateVideoOperator(**arguments)
        assert_fails_without_retry(info.value, next(iter(bad)))
        messages.append(str(info.value))
    assert requests_seen(dmjy_conn) == 0
    evidence.message(messages[0])


@pytest.mark.reliability(
    area="Input",
    case="sensor with NaN, infinite, negative or week-long timeout and poll intervals",
    expected="refused when the DAG is parsed, naming the field (not a raw ValueError or OverflowError)",
)
def test_the_sensor_refuses_absurd_waits(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    messages = []
    for bad in [*BAD_WAITS, {"poke_interval": math.nan}, {"poke_interval": math.inf}]:
        arguments: dict[str, Any] = {"task_id": "w", "video_id": "task_1", **FAST, **bad}
        with pytest.raises(DmjyValidationError) as info:
            DmjyVideoSensor(**arguments)
        assert_fails_without_retry(info.value, next(iter(bad)))
        messages.append(str(info.value))
    assert requests_seen(dmjy_conn) == 0
    evidence.message(messages[0])


@pytest.mark.reliability(
    area="Input",
    case="duration '²', '١٥' (non-ASCII digits) or 10.5; image URL 'http://[::1/a.jpg'",
    expected="DmjyValidationError naming the field, no task retry; no create sent",
)
def test_the_create_operator_refuses_odd_numbers_and_urls(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"duration": "²"}, "duration"),
        ({"duration": "١٥"}, "duration"),
        ({"duration": 10.5}, "duration"),
        ({"image_url": "http://[::1/a.jpg"}, "imageUrl"),
        ({"image_url": None, "image_urls": [IMG, "http://[::1/b.jpg"]}, "imageUrls[1]"),
        ({"description": "d" * 5001}, "description"),
        ({"title": "t" * 201}, "title"),
    ]
    messages = []
    for arguments, field in cases:
        op = DmjyCreateVideoOperator(
            **{"task_id": "t", "description": "d", "image_url": IMG, "deferrable": False, **FAST, **arguments}
        )
        with pytest.raises(DmjyValidationError) as info:
            op.execute(make_context())
        assert_fails_without_retry(info.value, field)
        messages.append(str(info.value))
    state = dmjy_conn.state()
    assert state["requests"].get("POST /api/v1/videos", 0) == 0 and requests_seen(dmjy_conn) == 0
    evidence.billed(state["videos_created"], tasks=len(cases))
    evidence.message(messages[0])


@pytest.mark.reliability(
    area="Input",
    case="template price 'abc', '-5', 'NaN', '1e309', 'inf', '1.234'",
    expected="DmjyValidationError naming price, no task retry; no request",
)
def test_the_template_operator_refuses_prices_that_are_not_amounts(
    dmjy_conn: SimulatorHandle, evidence: Any
) -> None:
    messages = []
    for price in ("abc", "-5", "NaN", "1e309", "inf", "1.234", -5, math.inf):
        op = DmjyCreateTemplateOperator(task_id="tpl", name="n", user_id="u1", price=price)
        with pytest.raises(DmjyValidationError) as info:
            op.execute(make_context())
        assert_fails_without_retry(info.value, "price")
        messages.append(str(info.value))
    assert requests_seen(dmjy_conn) == 0
    evidence.message(messages[0])


@pytest.mark.reliability(
    area="Input",
    case="DmjyDeleteVideoOperator(video_ids=5), or a dict, or the string 'task_1'",
    expected="DmjyValidationError naming video_ids (not a TypeError), no task retry; no request",
)
def test_the_delete_operator_refuses_video_ids_that_are_not_a_list(
    dmjy_conn: SimulatorHandle, evidence: Any
) -> None:
    messages = []
    for video_ids in (5, {"task_1": 1}, "task_1", [5]):
        with pytest.raises(DmjyValidationError) as info:
            DmjyDeleteVideoOperator(task_id="rm", video_ids=video_ids).execute(make_context())  # type: ignore[arg-type]
        assert_fails_without_retry(info.value, "video_ids[0]" if video_ids == [5] else "video_ids")
        messages.append(str(info.value))
    assert requests_seen(dmjy_conn) == 0
    evidence.message(messages[0])


@pytest.mark.reliability(
    area="Input",
    case="connection host 'javascript:alert(1)', 'ftp://...', 'http://[::1'; timeout inf, nan, 0, 601",
    expected="DmjyConfigurationError naming the field; no request",
)
def test_unusable_connections_are_refused(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, evidence: Any
) -> None:
    conn = {"conn_type": "dmjy", "login": dmjy_conn.api_key, "password": dmjy_conn.api_secret}
    bad_parts: list[tuple[dict[str, Any], str]] = [
        ({"host": "javascript:alert(1)"}, "scheme 'javascript'"),
        ({"host": "ftp://files.example.com/api/v1"}, "http"),
        ({"host": "http://[::1/api/v1"}, "not a valid URL"),
        *(
            ({"host": dmjy_conn.base_url, "extra": {"timeout": value}}, "timeout")
            for value in ("inf", "nan", 0, -1, 601, "1e400")
        ),
        *(
            ({"host": dmjy_conn.base_url, "extra": {"max_retries": value}}, "max_retries")
            for value in (-1, 11, "2.5")
        ),
    ]
    messages = []
    for parts, fragment in bad_parts:
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps({**conn, **parts}))
        with pytest.raises(DmjyConfigurationError, match=fragment) as info:
            DmjyHook().get_account()
        assert isinstance(info.value, AirflowFailException)
        messages.append(str(info.value))
    # A bare host name is still fine: https is assumed (the documented behaviour).
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps({**conn, "host": "dmjyai.vip"}))
    assert DmjyHook().config.base_url == "https://dmjyai.vip/api/v1"
    assert requests_seen(dmjy_conn) == 0
    evidence.message(messages[0])
