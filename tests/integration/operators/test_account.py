"""DmjyCheckBalanceOperator against the simulator over loopback HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.account import DmjyCheckBalanceOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle


def check(**kwargs: Any) -> DmjyCheckBalanceOperator:
    return DmjyCheckBalanceOperator(task_id="check_balance", **kwargs)


def test_enough_balance_returns_the_account(dmjy_conn: SimulatorHandle) -> None:
    account = check(video_count=5, video_duration=10, required_credits=1000).execute(context={})
    assert account["balance"] == 100_000 and "isLowBalance" in account
    assert dmjy_conn.state()["requests"] == {"GET /api/v1/account": 1}


def test_no_requirement_only_reads_the_account(dmjy_conn: SimulatorHandle) -> None:
    assert check().execute(context={})["balance"] == 100_000


def test_not_enough_for_the_videos_names_the_numbers(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=5000)
    with pytest.raises(AirflowFailException) as info:
        check(video_count=60, video_duration=10).execute(context={})
    message = str(info.value)
    assert "5000" in message and "6000" in message
    assert "60 videos x 10 s x 10 credits/s" in message


def test_required_credits_wins_when_larger(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=5000)
    with pytest.raises(AirflowFailException, match=r"required 7000 credits.*required_credits=7000"):
        check(video_count=1, required_credits=7000).execute(context={})
    # Covered by the larger of the two: passes.
    check(video_count=1, required_credits=4000).execute(context={})


def test_credits_per_second_is_configurable(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=5000)
    check(video_count=10, video_duration=10, credits_per_second=50).execute(context={})
    with pytest.raises(AirflowFailException, match="10 videos x 10 s x 51 credits/s = 5100"):
        check(video_count=10, video_duration=10, credits_per_second=51).execute(context={})


def test_min_balance(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=5000)
    check(min_balance=5000).execute(context={})
    with pytest.raises(AirflowFailException, match=r"balance 5000 credits is below min_balance=5001"):
        check(min_balance=5001).execute(context={})


def test_low_balance_logs_a_warning(dmjy_conn: SimulatorHandle) -> None:
    # self.log is a structlog logger (not seen by caplog): capture at structlog's level.
    dmjy_conn.configure(balance=500)
    with structlog.testing.capture_logs() as logs:
        account = check().execute(context={})
    assert account["isLowBalance"] is True
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1 and "500" in warnings[0] and "1000" in warnings[0]


def test_no_warning_when_the_balance_is_fine(dmjy_conn: SimulatorHandle) -> None:
    with structlog.testing.capture_logs() as logs:
        check().execute(context={})
    assert not [entry for entry in logs if entry["log_level"] == "warning"]


def test_rendered_strings_are_coerced(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(balance=1000)
    check(video_count="10", video_duration="10", min_balance=" 1000 ").execute(context={})
    with pytest.raises(AirflowFailException, match="11 videos x 10 s"):
        check(video_count="11", video_duration="10").execute(context={})


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"video_count": "eight"}, "video_count"),
        ({"video_count": "2.5"}, "video_count"),
        ({"video_duration": "-1"}, "video_duration"),
        ({"min_balance": "lots"}, "min_balance"),
        ({"required_credits": [1]}, "required_credits"),
    ],
)
def test_bad_rendered_value_names_the_argument(
    dmjy_conn: SimulatorHandle, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(DmjyValidationError, match=argument) as info:
        check(**kwargs).execute(context={})
    assert isinstance(info.value, AirflowFailException) and info.value.argument == argument
    assert dmjy_conn.state()["requests"] == {}


def test_bad_literal_fails_at_parse_time() -> None:
    with pytest.raises(DmjyValidationError, match="video_count"):
        check(video_count=-3)
    with pytest.raises(DmjyValidationError, match="credits_per_second"):
        check(credits_per_second=float("inf"))


def test_template_fields() -> None:
    assert set(DmjyCheckBalanceOperator.template_fields) == {
        "min_balance",
        "required_credits",
        "video_count",
        "video_duration",
        "credits_per_second",
        "daily_budget_credits",
        "videos",
        "reuse",
        "reuse_within",
        "dmjy_conn_id",
    }


# -- the daily budget ---------------------------------------------------------------------------------


def spend_today(sim: SimulatorHandle, credits: int) -> None:
    """Make the simulator's usage.today ``credits`` (10 credits per second of video)."""
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

    hook = DmjyHook()
    try:
        while credits:
            seconds = min(credits // 10, 60)
            hook.create_video("d", image_url="https://example.com/a.jpg", duration=seconds)
            credits -= seconds * 10
    finally:
        hook.close()


class Ti:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_over_the_daily_budget_fails_before_any_create_with_the_numbers(dmjy_conn: SimulatorHandle) -> None:
    spend_today(dmjy_conn, 4300)
    created = dmjy_conn.state()["videos_created"]
    ti = Ti()
    with pytest.raises(AirflowFailException) as info:
        check(video_count=8, video_duration=10, daily_budget_credits=5000).execute(context={"ti": ti})
    message = str(info.value)
    assert "4300 credits spent today + 800 credits for this run" in message
    assert "= 5100 credits > daily_budget_credits=5000" in message and "8 videos x 10 s" in message
    assert dmjy_conn.state()["videos_created"] == created  # nothing more
    assert ti.pushed["dmjy_budget"] == {
        "required_credits": 800,
        "daily_budget_credits": 5000,
        "usage_today": 4300,
        "balance": 100_000 - 4300,
        "videos": None,
        "reusable": {},
    }


def test_exactly_at_the_budget_passes(dmjy_conn: SimulatorHandle) -> None:
    spend_today(dmjy_conn, 4200)
    ti = Ti()
    account = check(video_count=8, video_duration=10, daily_budget_credits="5000").execute(context={"ti": ti})
    assert account["usage"]["today"] == 4200
    assert ti.pushed["dmjy_budget"]["usage_today"] == 4200
    # Fractions add up exactly: 0.1 + 0.2 fits 0.3.
    with pytest.raises(AirflowFailException, match="daily budget exceeded"):
        check(required_credits="0.2", daily_budget_credits="4200.1").execute(context={})
    check(required_credits="0.1", daily_budget_credits="4200.1").execute(context={})


def test_without_a_budget_the_numbers_are_still_pushed(dmjy_conn: SimulatorHandle) -> None:
    ti = Ti()
    check(video_count=2).execute(context={"ti": ti})
    assert ti.pushed["dmjy_budget"] == {
        "required_credits": 200,
        "daily_budget_credits": None,
        "usage_today": 0,
        "balance": 100_000,
        "videos": None,
        "reusable": {},
    }


@pytest.mark.parametrize(
    "usage",
    [None, {}, {"today": None}, {"today": "lots"}, {"today": -5000}, {"today": True}, {"today": "NaN"}, "9"],
    ids=["missing", "empty", "null", "text", "negative", "bool", "nan", "not-an-object"],
)
def test_an_unreadable_usage_today_fails_closed_with_a_budget(
    monkeypatch: pytest.MonkeyPatch, usage: Any
) -> None:
    from tests.hostile_server import HostileServer, Reply, envelope

    account = {"userId": "u", "balance": 100_000}
    if usage is not None:
        account["usage"] = usage
    with HostileServer() as server:
        conn = {"conn_type": "dmjy", "login": "mk_k", "password": "s", "host": server.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        server.route("GET", "/api/v1/account", Reply(200, envelope(account)))
        with pytest.raises(AirflowFailException, match=r"no usable usage\.today.*daily_budget_credits=5000"):
            check(video_count=1, daily_budget_credits=5000).execute(context={})
        # Without a budget, nothing depends on it: the check passes.
        ti = Ti()
        check(video_count=1).execute(context={"ti": ti})
        assert ti.pushed["dmjy_budget"]["usage_today"] is None


def test_a_numeric_string_usage_today_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.hostile_server import HostileServer, Reply, envelope

    with HostileServer() as server:
        conn = {"conn_type": "dmjy", "login": "mk_k", "password": "s", "host": server.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        account = {"userId": "u", "balance": 100_000, "usage": {"today": " 4900.5 "}}
        server.route("GET", "/api/v1/account", Reply(200, envelope(account)))
        with pytest.raises(AirflowFailException, match=r"4900\.5 credits spent today \+ 100 credits"):
            check(video_count=1, daily_budget_credits=5000).execute(context={})


@pytest.mark.parametrize("budget", ["-1", "abc", "inf", True])
def test_a_bad_budget_names_the_argument_before_any_request(dmjy_conn: SimulatorHandle, budget: Any) -> None:
    op = check(video_count=1)
    op.daily_budget_credits = budget  # as rendered
    with pytest.raises(DmjyValidationError, match="daily_budget_credits"):
        op.execute(context={})
    assert dmjy_conn.state()["requests"] == {}
