"""reuse="completed" of DmjyCreateVideoOperator against the simulator: another run's completed video
of the same content is returned instead of paying again, and nothing else ever is."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.models import CreateVideoRequest
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator, task_marker
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.integration.operators.test_video import FakeStateStore

IMG = "https://example.com/cup.jpg"
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}
CREATE, LIST = "POST /api/v1/videos", "GET /api/v1/videos"


def make_context(
    run_id: str = "r1", try_number: int = 1, store: FakeStateStore | None = None
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id=run_id, map_index=-1, try_number=try_number)
    ti.pushed = {}
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    dag_run = SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
    context: dict[str, Any] = {"ti": ti, "dag_run": dag_run}
    if store is not None:
        context["task_state_store"] = store
    return context


def make_op(**kwargs: Any) -> DmjyCreateVideoOperator:
    arguments: dict[str, Any] = {
        "task_id": "t",
        "description": "展示智能保温杯",
        "image_url": IMG,
        "duration": 5,
        "aspect_ratio": "9:16",
        "title": "CUP-001 保温杯",
        "deferrable": False,
        "reuse": "completed",
        **FAST,
    }
    arguments.update(kwargs)
    return DmjyCreateVideoOperator(**arguments)


def forged(request: CreateVideoRequest, title: str) -> CreateVideoRequest:
    """``request`` with ``title`` as it is: another client (curl, the vendor's console) is not
    bound by this package's refusal of a title that carries its tags."""
    copy = dataclasses.replace(request)
    object.__setattr__(copy, "title", title)
    return copy


@pytest.fixture
def fast_sim(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    dmjy_conn.configure(render_seconds=0.4, queue_seconds=0.1)
    return dmjy_conn


def test_a_second_run_reuses_the_first_runs_video_and_pays_nothing(fast_sim: SimulatorHandle) -> None:
    first_context, second_context = make_context("manual__1"), make_context("scheduled__1")
    first = make_op().execute(first_context)
    requests_before = dict(fast_sim.state()["requests"])
    op = make_op()
    second = op.execute(second_context)
    state = fast_sim.state()
    assert state["videos_created"] == 1 and state["requests"][CREATE] == 1
    assert second["id"] == first["id"] and second["status"] == "completed" and second["videoUrl"]
    assert op.reused and not op.reattached and op.video_url == second["videoUrl"]
    # The reuse costs one list page and one re-read; no wait at all.
    assert state["requests"][LIST] - requests_before[LIST] == 1
    assert state["requests"]["GET /api/v1/videos/{id}"] - requests_before["GET /api/v1/videos/{id}"] == 1
    record, created_record = (
        second_context["ti"].pushed["dmjy_video"],
        first_context["ti"].pushed["dmjy_video"],
    )
    fingerprint = CreateVideoRequest(
        description="展示智能保温杯", image_url=IMG, duration=5, aspect_ratio="9:16", title="CUP-001 保温杯"
    ).fingerprint()
    assert (
        record["reused"] is True and record["fingerprint"] == fingerprint and record["status"] == "completed"
    )
    assert created_record["reused"] is False and created_record["fingerprint"] == fingerprint
    assert (
        f"[fp-{fingerprint}]" in first["title"]
        and f"[{task_marker('d', 't', 'manual__1')}]" in first["title"]
    )


def test_reuse_never_does_not_search(fast_sim: SimulatorHandle) -> None:
    make_op(reuse="never").execute(make_context("r1"))
    context = make_context("r2")
    make_op(reuse="never").execute(context)
    state = fast_sim.state()
    assert state["videos_created"] == 2 and LIST not in state["requests"]  # zero list requests
    assert context["ti"].pushed["dmjy_video"]["reused"] is False


def test_the_default_is_never(fast_sim: SimulatorHandle) -> None:
    op = DmjyCreateVideoOperator(task_id="t", description="d", image_url=IMG)
    assert op.reuse == "never"
    assert set(DmjyCreateVideoOperator.template_fields) >= {"reuse", "reuse_within"}


@pytest.mark.parametrize(
    "change",
    [
        {"duration": 6},
        {"aspect_ratio": "16:9"},
        {"image_url": "https://example.com/other.jpg"},
        {"description": "展示智能保温杯的另一面"},
        {"title": "CUP-001 保温杯 v2"},  # a variation: the reviewer asked to render again
    ],
)
def test_another_content_is_never_reused(fast_sim: SimulatorHandle, change: dict[str, Any]) -> None:
    make_op().execute(make_context("r1"))
    second = make_op(**change)
    second.execute(make_context("r2"))
    assert fast_sim.state()["videos_created"] == 2 and not second.reused


@pytest.mark.parametrize("outcome", ["failed", "processing"])
def test_a_failed_or_unfinished_video_of_the_same_content_is_never_reused(
    slow_renders: SimulatorHandle, outcome: str
) -> None:
    first = make_op(wait_for_completion=False).execute(make_context("r1"))
    if outcome == "failed":
        slow_renders.fail(first["id"], "bad image")
    second = make_op(wait_for_completion=False)
    result = second.execute(make_context("r2"))
    assert result["id"] != first["id"] and not second.reused
    assert slow_renders.state()["videos_created"] == 2


def test_a_video_older_than_reuse_within_is_not_reused(fast_sim: SimulatorHandle) -> None:
    make_op().execute(make_context("r1"))
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    make_op(reuse_within=future).execute(make_context("r2"))  # "created at or after" an hour ahead
    make_op(reuse_within=0).execute(make_context("r3"))  # a window of nothing
    assert fast_sim.state()["videos_created"] == 3
    start_of_day = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    reused = make_op(reuse_within=start_of_day.isoformat())
    reused.execute(make_context("r4"))
    assert reused.reused and fast_sim.state()["videos_created"] == 3


def test_the_tasks_own_video_wins_over_another_runs(fast_sim: SimulatorHandle) -> None:
    # Run r1 made a video; run r2's first try made its own (same content) and its worker died;
    # r2's retry reattaches to its own video, never to r1's.
    make_op().execute(make_context("r1"))
    store = FakeStateStore()
    own = make_op(wait_for_completion=False, reuse="never").execute(make_context("r2", store=store))
    retry = make_op()
    result = retry.execute(make_context("r2", try_number=2, store=store))
    assert result["id"] == own["id"] and retry.reattached and not retry.reused
    assert fast_sim.state()["videos_created"] == 2


def test_a_hand_made_title_with_a_copied_fingerprint_is_not_reused(
    fast_sim: SimulatorHandle, hook: DmjyHook
) -> None:
    # Someone with the account's key made a video of other content and pasted our tags.
    ours = make_op()
    ours.execute(make_context("r1"))
    # Its title ends exactly as ours does, and it is newer: the search finds it before ours.
    title = f"CUP-001 保温杯 [af-000000000000] [fp-{ours.fingerprint}]"
    other = CreateVideoRequest(description="别的产品", image_url=IMG, duration=5, aspect_ratio="9:16")
    video = hook.create_video_from(forged(other, title))
    fast_sim.complete(video["id"])
    again = make_op()
    result = again.execute(make_context("r2"))
    assert result["id"] != video["id"] and not again.reused  # the description told it apart: paid
    assert fast_sim.state()["videos_created"] == 3


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"reuse": "always"}, "reuse"),
        ({"reuse_within": -1}, "reuse_within"),
        ({"reuse_within": "yesterday"}, "reuse_within"),
        ({"reuse_within": "2026-11-30T00:00:00"}, "reuse_within"),  # no zone
        ({"reuse_within": float("nan")}, "reuse_within"),
        ({"reuse_within": True}, "reuse_within"),
    ],
)
def test_bad_reuse_arguments_fail_before_any_request(
    fast_sim: SimulatorHandle, kwargs: dict[str, Any], argument: str
) -> None:
    op = make_op()
    for name, value in kwargs.items():
        setattr(op, name, value)  # as rendered
    with pytest.raises(DmjyValidationError) as info:
        op.execute(make_context())
    assert info.value.field == argument and isinstance(info.value, AirflowFailException)
    assert fast_sim.state()["requests"] == {}


def test_a_bad_literal_reuse_fails_at_parse_time() -> None:
    with pytest.raises(DmjyValidationError, match="reuse"):
        make_op(reuse="sometimes")
    make_op(reuse="{{ params.reuse }}")  # a template: checked after rendering


def test_lineage_of_a_reused_video(fast_sim: SimulatorHandle) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    make_op().execute(make_context("r1"))
    op = make_op()
    result = op.execute(make_context("r2"))
    lineage = op.get_openlineage_facets_on_complete(None)
    facet = lineage.run_facets["dmjyVideo"]
    assert facet.reused is True and facet.videoId == result["id"]
    assert [dataset.name for dataset in lineage.outputs] == [f"videos/{result['id']}"]
