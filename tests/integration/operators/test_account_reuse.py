"""DmjyCheckBalanceOperator with ``videos`` and ``reuse="completed"``: the estimate counts only the
videos the creates will pay for, found by one bounded search. The simulator over loopback HTTP (the
hostile server only for a list that errors); the creates are the real create operator's."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.account import DmjyCheckBalanceOperator
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

LIST = "GET /api/v1/videos"
START_OF_DAY = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
#: What the flagship expands create_video with (catalog.video_arguments, duration and aspect ratio).
VIDEOS: list[dict[str, Any]] = [
    {
        "description": "为「智能保温杯」制作一支商品短视频",
        "image_url": "https://example.com/cup.jpg",
        "image_urls": None,
        "title": "CUP-001 智能保温杯",
        "duration": 5,
        "aspect_ratio": "9:16",
    },
    {
        "description": "为「护眼台灯」制作一支商品短视频",
        "image_url": None,
        "image_urls": ["https://example.com/lamp-1.jpg", "https://example.com/lamp-2.jpg"],
        "title": "LAMP-002 护眼台灯",
        "duration": "5",  # as a template renders it: the create reads it as 5
        "aspect_ratio": "16:9",
    },
    # No title (the description's start is shown), the vendor's default duration and aspect ratio.
    {"description": "为「钢笔」制作一支商品短视频", "image_url": "https://example.com/pen.jpg", "title": ""},
]


class Ti(SimpleNamespace):
    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def create(index: int, run_id: str = "manual__1") -> dict[str, Any]:
    """The flagship's create of ``VIDEOS[index]`` in run ``run_id``; its ``dmjy_video`` record."""
    ti = Ti(dag_id="daily", task_id="create_video", run_id=run_id, map_index=index, try_number=1, pushed={})
    op = DmjyCreateVideoOperator(
        task_id="create_video",
        reuse="completed",
        reuse_within=START_OF_DAY.isoformat(),
        deferrable=False,
        poll_interval=0.05,
        max_poll_interval=0.2,
        **VIDEOS[index],
    )
    op.execute({"ti": ti, "dag_run": SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc))})
    record: dict[str, Any] = ti.pushed["dmjy_video"]
    return record


def check(**kwargs: Any) -> tuple[DmjyCheckBalanceOperator, dict[str, Any]]:
    """The balance check the flagship makes, run; the operator and its ``dmjy_budget`` numbers."""
    arguments = {"videos": VIDEOS, "reuse": "completed", "reuse_within": START_OF_DAY.isoformat(), **kwargs}
    op = DmjyCheckBalanceOperator(task_id="check_balance", **arguments)
    ti = Ti(pushed={})
    op.execute(context={"ti": ti})
    return op, ti.pushed["dmjy_budget"]


@pytest.fixture
def fast(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    dmjy_conn.configure(render_seconds=0.2, queue_seconds=0.05)
    return dmjy_conn


def test_the_fingerprints_are_the_ones_the_create_operator_puts_in_the_title(fast: SimulatorHandle) -> None:
    _op, budget = check()
    records = [create(index) for index in range(len(VIDEOS))]
    assert budget["videos"] == [record["fingerprint"] for record in records]
    assert all(f"[fp-{fp}]" in record["title"] for fp, record in zip(budget["videos"], records, strict=True))
    assert len(set(budget["videos"])) == 3


def test_the_estimate_counts_only_the_videos_that_will_be_paid_for(fast: SimulatorHandle) -> None:
    first = [create(0), create(1)]  # the day's first run rendered two of the three
    lists_before = fast.state()["requests"].get(LIST, 0)
    _op, budget = check(video_duration=10)
    # Only the pen is paid for, at the vendor's default duration (video_duration): 10 s x 10.
    assert budget["required_credits"] == 100
    assert budget["reusable"] == {budget["videos"][i]: first[i]["id"] for i in (0, 1)}
    assert fast.state()["requests"][LIST] - lists_before == 1  # one walk for the three fingerprints


def test_a_second_run_fits_a_budget_just_above_the_first_runs_spend(fast: SimulatorHandle) -> None:
    for index in range(len(VIDEOS)):
        create(index)
    spent = fast.state()["videos_created"]
    assert spent == 3  # 5 s + 5 s + 10 s (the default): 200 credits today
    _op, budget = check(daily_budget_credits=201)
    assert budget["required_credits"] == 0 and budget["usage_today"] == 200
    with pytest.raises(AirflowFailException, match=r"200 credits spent today \+ 200 credits"):
        check(daily_budget_credits=201, reuse="never")  # the creates would render again: it counts
    again = [create(index, "scheduled__2") for index in range(len(VIDEOS))]
    assert all(record["reused"] for record in again) and fast.state()["videos_created"] == spent


def test_a_search_that_cannot_conclude_counts_every_video_as_paid(fast: SimulatorHandle) -> None:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

    hook = DmjyHook()
    try:  # 100 other videos of today, so the list has two pages
        for n in range(100):
            hook.create_video(f"其他 {n}", image_url="https://example.com/x.jpg", duration=1)
    finally:
        hook.close()
    cup = create(0)  # the newest: on the first page, but the others are not found there
    lists_before = fast.state()["requests"].get(LIST, 0)
    op = DmjyCheckBalanceOperator(
        task_id="check_balance", videos=VIDEOS, reuse="completed", reuse_within=START_OF_DAY.isoformat()
    )
    op.reuse_search_max_pages = 1
    ti = Ti(pushed={})
    op.execute(context={"ti": ti})
    assert ti.pushed["dmjy_budget"]["reusable"] == {}
    assert ti.pushed["dmjy_budget"]["required_credits"] == 200  # all three counted
    assert fast.state()["requests"][LIST] - lists_before == 1
    # With room for the whole day (the default cap), the same search concludes and finds the cup.
    _op, budget = check()
    assert budget["reusable"] == {cup["fingerprint"]: cup["id"]} and budget["required_credits"] == 150


def test_reuse_never_makes_no_search(fast: SimulatorHandle) -> None:
    create(0)
    lists_before = fast.state()["requests"].get(LIST, 0)
    _op, budget = check(reuse="never")
    assert budget["required_credits"] == 200 and budget["reusable"] == {}
    assert fast.state()["requests"].get(LIST, 0) == lists_before


def test_a_list_that_errors_counts_every_video_as_paid(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.hostile_server import HostileServer, Reply, envelope

    with HostileServer() as server:
        conn = {"conn_type": "dmjy", "login": "mk_k", "password": "s", "host": server.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        account = {"userId": "u", "balance": 100_000, "usage": {"today": 0}}
        server.route("GET", "/api/v1/account", Reply(200, envelope(account)))
        server.route("GET", "/api/v1/videos", Reply(500, {"error": "boom"}))
        _op, budget = check()
        assert server.seen("GET", "/api/v1/videos")
    assert budget["reusable"] == {} and budget["required_credits"] == 200


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"video_count": 2}, "video_count"),
        ({"videos": "not a list"}, "videos"),
        ({"videos": [1, 2]}, "videos"),
        ({"videos": [{"image_url": "https://example.com/a.jpg"}]}, "description"),
        ({"reuse_within": "yesterday"}, "reuse_within"),
        ({"reuse": "{{ params.reuse }}"}, "reuse"),  # a template left unrendered
    ],
)
def test_a_bad_plan_names_the_argument_before_any_request(
    dmjy_conn: SimulatorHandle, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(DmjyValidationError, match=argument):
        check(**kwargs)
    assert dmjy_conn.state()["requests"] == {}


def test_a_reuse_typo_fails_at_parse_time() -> None:
    with pytest.raises(DmjyValidationError, match="reuse"):
        DmjyCheckBalanceOperator(task_id="check_balance", reuse="always")
