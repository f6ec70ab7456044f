"""DmjyCreateVideoOperator / DmjyDeleteVideoOperator against the simulator: waits, failures, and
the promise that nothing is charged twice."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.models import Video
from airflow_provider_dmjy.exceptions import (
    DmjyNotFoundError,
    DmjyReconciliationError,
    DmjyServerError,
    DmjyValidationError,
    DmjyVideoFailedError,
    DmjyWaitTimeoutError,
)
from airflow_provider_dmjy.operators.video import (
    RESULT_FIELDS,
    DmjyCreateVideoOperator,
    DmjyDeleteVideoOperator,
    DmjyVideoLink,
    task_marker,
)
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

IMG = "https://example.com/cup.jpg"
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}


class FakeStateStore:
    """The task state store of Airflow >= 3.3 (``get``/``set``), kept in a dict across tries."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


def make_context(
    try_number: int = 1, store: FakeStateStore | None = None, map_index: int = -1
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r1", map_index=map_index, try_number=try_number)
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
        "deferrable": False,
        **FAST,
    }
    arguments.update(kwargs)
    return DmjyCreateVideoOperator(**arguments)


@pytest.fixture
def fast_sim(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    dmjy_conn.configure(render_seconds=0.4, queue_seconds=0.1)
    return dmjy_conn


def posts(sim: SimulatorHandle) -> int:
    return int(sim.state()["requests"].get("POST /api/v1/videos", 0))


def test_creates_and_waits_in_the_worker(fast_sim: SimulatorHandle) -> None:
    op = make_op(title="保温杯")
    result = op.execute(make_context())
    assert set(result) == set(RESULT_FIELDS)
    assert result["status"] == "completed" and result["videoUrl"].endswith(".mp4")
    fingerprint = op._request().fingerprint()
    assert result["title"] == f"保温杯 [{task_marker('d', 't', 'r1')}] [fp-{fingerprint}]"
    assert op.fingerprint == fingerprint and not op.reused
    assert fast_sim.state()["videos_created"] == 1
    assert DmjyVideoLink().get_link(op, ti_key=None) == result["videoUrl"]  # type: ignore[arg-type]


def test_without_waiting_returns_the_create_response(fast_sim: SimulatorHandle) -> None:
    result = make_op(wait_for_completion=False).execute(make_context())
    assert result["status"] == "pending" and "imageCount" in result


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"description": ""}, "description"),
        ({"image_url": None}, "imageUrl"),
        ({"image_url": "not a url"}, "imageUrl"),
        ({"image_url": None, "image_urls": []}, "imageUrls"),
        ({"duration": 0}, "duration"),
        ({"duration": "ten"}, "duration"),
        ({"aspect_ratio": "1:1"}, "aspectRatio"),
        ({"callback_url": "ftp://x"}, "callbackUrl"),
    ],
)
def test_bad_input_fails_before_any_request(
    fast_sim: SimulatorHandle, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(DmjyValidationError) as info:
        make_op(**kwargs).execute(make_context())
    assert info.value.field == field
    assert isinstance(info.value, AirflowFailException)  # no task retry for a typo
    assert fast_sim.state()["requests"] == {}


def test_failed_render_raises_with_the_vendor_message(fast_sim: SimulatorHandle) -> None:
    fast_sim.configure(fail_rate=1.0)
    context = make_context(map_index=3)
    with pytest.raises(DmjyVideoFailedError, match="Rendering failed") as info:
        make_op().execute(context)
    assert isinstance(info.value, AirflowFailException)
    # The outcome is still published for a downstream report.
    record = context["ti"].pushed["dmjy_video"]
    assert record["status"] == "failed" and "Rendering failed" in record["errorMessage"]
    assert record["map_index"] == 3


RENDERED = {"id": "v1", "status": "completed", "progress": 100, "videoUrl": "https://x/v.mp4", "userId": "u"}


def test_execute_complete_rebuilds_the_video_of_the_event() -> None:
    op, context = make_op(deferrable=True), make_context()
    result = op.execute_complete(context, {"status": "completed", "video_id": "v1", "video": RENDERED})
    assert result == {key: RENDERED.get(key) for key in RESULT_FIELDS}
    assert op.video_id == "v1" and op.video_url == "https://x/v.mp4"
    assert context["ti"].pushed["dmjy_video"] == {
        **result,
        "map_index": -1,
        "fingerprint": None,
        "reused": False,
    }


def test_resume_wait_carries_the_fingerprint_into_the_record() -> None:
    op, context = make_op(deferrable=True), make_context()
    event = {"status": "completed", "video_id": "v1", "video": RENDERED}
    op.resume_wait(context, event, reattached=False, fingerprint="0123456789abcdef")
    assert context["ti"].pushed["dmjy_video"]["fingerprint"] == "0123456789abcdef"


def test_execute_complete_publishes_a_failed_render_then_fails() -> None:
    op, context = make_op(deferrable=True), make_context()
    failed = {**RENDERED, "status": "failed", "videoUrl": None, "errorMessage": "审核未通过"}
    event = {"status": "failed", "video_id": "v1", "video": failed, "message": "审核未通过"}
    with pytest.raises(DmjyVideoFailedError, match="审核未通过") as info:
        op.execute_complete(context, event)
    assert isinstance(info.value, AirflowFailException)
    assert context["ti"].pushed["dmjy_video"]["status"] == "failed"


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"status": "error", "video_id": "v1", "message": "404", "error_type": "DmjyNotFoundError"}, "404"),
        ({"status": "weird", "video_id": "v1"}, "Unexpected event"),
    ],
)
def test_execute_complete_fails_for_an_event_without_a_video(event: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AirflowFailException, match=fragment):
        make_op(deferrable=True).execute_complete(make_context(), event)


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_timeout_cancels_the_render_when_asked(fast_sim: SimulatorHandle, cancel_on_kill: bool) -> None:
    fast_sim.configure(render_seconds=60)
    op = make_op(timeout=0.3, cancel_on_kill=cancel_on_kill)
    context = make_context()
    with pytest.raises(DmjyWaitTimeoutError) as raised:
        op.execute(context)
    assert not isinstance(raised.value, AirflowFailException)  # task retries stay Airflow's to allow
    assert context["ti"].pushed["dmjy_video"]["status"] == "timeout"
    assert list(fast_sim.state()["videos"].values()) == ["deleted" if cancel_on_kill else "processing"]


def test_on_kill_deletes_the_remote_task(fast_sim: SimulatorHandle) -> None:
    fast_sim.configure(render_seconds=60)
    op = make_op(wait_for_completion=False)
    video_id = op.execute(make_context())["id"]
    op.on_kill()
    assert fast_sim.state()["videos"][video_id] == "deleted"


def test_transient_errors_while_waiting_do_not_fail_the_task(fast_sim: SimulatorHandle) -> None:
    fast_sim.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503, times=5)
    assert make_op().execute(make_context())["status"] == "completed"


class DiesAfterCreate(DmjyCreateVideoOperator):
    """A first try whose worker dies right after the create call answered."""

    def _wait_in_worker(self, context: Any, video: dict[str, Any]) -> dict[str, Any]:
        raise DmjyServerError("worker lost", status=None)


@pytest.mark.parametrize("with_state_store", [True, False], ids=["state-store", "marker-lookup"])
def test_a_retry_reattaches_instead_of_paying_again(
    fast_sim: SimulatorHandle, with_state_store: bool
) -> None:
    store = FakeStateStore() if with_state_store else None
    first = DiesAfterCreate(task_id="t", description="d", image_url=IMG, deferrable=False, **FAST)
    with pytest.raises(DmjyServerError):
        first.execute(make_context(try_number=1, store=store))
    result = make_op(description="d").execute(make_context(try_number=2, store=store))
    assert result["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 1
    assert posts(fast_sim) == 1


def test_retry_after_a_failed_render_creates_a_new_video(fast_sim: SimulatorHandle) -> None:
    store = FakeStateStore()
    first = make_op(wait_for_completion=False).execute(make_context(store=store))
    fast_sim.fail(first["id"], "bad image")
    second = make_op().execute(make_context(try_number=2, store=store))
    assert second["id"] != first["id"] and second["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 2


def test_retry_of_another_map_index_does_not_steal_a_video(fast_sim: SimulatorHandle) -> None:
    make_op(wait_for_completion=False).execute(make_context(map_index=0))
    make_op(wait_for_completion=False).execute(make_context(try_number=2, map_index=1))
    assert fast_sim.state()["videos_created"] == 2


@pytest.mark.parametrize(
    "fault",
    [
        {"after_commit": True, "drop_connection": True},
        {"after_commit": True, "status": 502},
    ],
    ids=["lost-answer", "502-after-commit"],
)
def test_a_create_whose_answer_was_lost_is_charged_once(
    fast_sim: SimulatorHandle, fault: dict[str, Any]
) -> None:
    fast_sim.inject_fault(method="POST", path="/api/v1/videos", **fault)
    result = make_op().execute(make_context())
    assert result["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 1


@pytest.mark.parametrize("with_state_store", [True, False], ids=["state-store", "marker-lookup"])
def test_a_create_dropped_before_commit_is_sent_again_only_by_the_next_try(
    fast_sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, with_state_store: bool
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", fast_sim.conn_uri + "?timeout=1")
    fast_sim.inject_fault(method="POST", path="/api/v1/videos", drop_connection=True)
    store = FakeStateStore() if with_state_store else None
    first = make_op()
    first.reconcile_grace_seconds = 0.0
    with pytest.raises(DmjyReconciliationError) as info:
        first.execute(make_context(store=store))
    assert info.value.retryable and not isinstance(info.value, AirflowFailException)
    assert posts(fast_sim) == 1 and fast_sim.state()["videos_created"] == 0
    # The next try searches (finding nothing: the create never took effect) and only then creates.
    result = make_op().execute(make_context(try_number=2, store=store))
    assert result["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 1 and posts(fast_sim) == 2


def test_the_list_is_searched_again_while_its_errors_are_transient(
    fast_sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", fast_sim.conn_uri + "?timeout=1")
    fast_sim.inject_fault(method="POST", path="/api/v1/videos", after_commit=True, status=502)
    # Every read of the first search fails (the hook's own retries included); a later one finds it.
    fast_sim.inject_fault(method="GET", path="/api/v1/videos", status=503, times=4)
    assert make_op().execute(make_context())["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 1 and posts(fast_sim) == 1


def test_a_retry_searches_by_marker_when_the_stored_video_failed(fast_sim: SimulatorHandle) -> None:
    """Try 1's video failed; try 2's create never answered (nothing stored); try 3 must find it."""
    store = FakeStateStore()
    first = make_op(wait_for_completion=False).execute(make_context(store=store))
    fast_sim.fail(first["id"], "bad image")
    second = make_op(wait_for_completion=False).execute(make_context(try_number=2, store=store))
    store.set("dmjy_video_id", first["id"])  # as if try 2's create had not answered
    third = make_op().execute(make_context(try_number=3, store=store))
    assert third["id"] == second["id"] and third["status"] == "completed"
    assert fast_sim.state()["videos_created"] == 2


class CompletesAtTheDeadline(DmjyCreateVideoOperator):
    """The render completes after the worker's last check and before its timeout cancels it."""

    simulator: SimulatorHandle

    def _timed_out(self, context: Any, video: Video, waited: float) -> Video:
        self.simulator.complete(video.id)
        return super()._timed_out(context, video, waited)


def test_a_video_completed_at_the_worker_timeout_is_the_result(slow_renders: SimulatorHandle) -> None:
    op = CompletesAtTheDeadline(
        task_id="t", description="d", image_url=IMG, deferrable=False, timeout=0.2, **FAST
    )
    op.simulator = slow_renders
    context = make_context()
    result = op.execute(context)
    assert result["status"] == "completed"
    state = slow_renders.state()
    assert list(state["videos"].values()) == ["completed"]
    assert "DELETE /api/v1/videos/{id}" not in state["requests"]
    assert context["ti"].pushed["dmjy_video"]["status"] == "completed"


def test_a_video_failed_at_the_worker_timeout_fails_with_the_vendor_message(
    slow_renders: SimulatorHandle,
) -> None:
    op = make_op(timeout=0.2)
    original = op._cancel

    def fails_first(video_id: str, why: str) -> Any:
        slow_renders.fail(video_id, "bad image")
        return original(video_id, why)

    op._cancel = fails_first  # type: ignore[method-assign]
    with pytest.raises(DmjyVideoFailedError, match="bad image"):
        op.execute(make_context())
    assert list(slow_renders.state()["videos"].values()) == ["failed"]


def test_on_kill_keeps_a_finished_video(slow_renders: SimulatorHandle) -> None:
    op = make_op(wait_for_completion=False)
    video_id = op.execute(make_context())["id"]
    slow_renders.complete(video_id)
    op.on_kill()
    state = slow_renders.state()
    assert state["videos"][video_id] == "completed"
    assert "DELETE /api/v1/videos/{id}" not in state["requests"]


def test_on_kill_leaves_a_video_whose_status_cannot_be_read(slow_renders: SimulatorHandle) -> None:
    op = make_op(wait_for_completion=False)
    video_id = op.execute(make_context())["id"]
    slow_renders.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503, times=10)
    op.on_kill()
    state = slow_renders.state()
    assert state["videos"][video_id] == "pending"
    assert "DELETE /api/v1/videos/{id}" not in state["requests"]


def test_delete_operator(fast_sim: SimulatorHandle) -> None:
    ids = [make_op(wait_for_completion=False).execute(make_context(map_index=i))["id"] for i in range(3)]
    op = DmjyDeleteVideoOperator(task_id="del", video_id=ids[0], video_ids=[*ids[1:], "task_missing"])
    assert op.execute({}) == ids
    assert set(fast_sim.state()["videos"].values()) == {"deleted"}
    strict = DmjyDeleteVideoOperator(task_id="del2", video_ids=["task_missing"], missing_ok=False)
    with pytest.raises(DmjyNotFoundError) as info:
        strict.execute({})
    assert isinstance(info.value, AirflowFailException)


def test_delete_operator_checks_ids_first(fast_sim: SimulatorHandle) -> None:
    with pytest.raises(DmjyValidationError):
        DmjyDeleteVideoOperator(task_id="del", video_ids=["task_a", ""]).execute({})
    with pytest.raises(AirflowFailException):
        DmjyDeleteVideoOperator(task_id="del", video_ids="task_a").execute({})  # type: ignore[arg-type]
    assert fast_sim.state()["requests"] == {}
