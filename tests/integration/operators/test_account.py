"""DmjyCheckBalanceOperator against the simulator over loopback HTTP."""

from __future__ import annotations

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
        "dmjy_conn_id",
    }
