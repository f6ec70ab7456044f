"""The simulator's fault catalogue, each fault met by the real ``DmjyCreateVideoOperator``.

Every case runs the operator as a task would (in-worker wait, and where the fault hits the wait,
also deferred: the operator raises ``TaskDeferred``, the test runs ``DmjyVideoTrigger.run()`` and
hands its event to ``execute_complete``) and asserts the task's outcome, the videos billed (the
simulator's ``videos_created``) and the message the user sees.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import (
    DmjyDailyCapError,
    DmjyError,
    DmjyNotFoundError,
    DmjyServerError,
)
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator
from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer
from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger
from tests.integration.operators.test_video import FakeStateStore, make_context
from tests.reliability.evidence import Evidence

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]

AREA = "Simulator faults"
IMG = "https://example.com/cup.jpg"
VIDEO = "/api/v1/videos/{id}"
GET_VIDEO = f"GET {VIDEO}"
POST_VIDEOS = "POST /api/v1/videos"
MODES = ("worker", "trigger")
#: Long enough for any test: a video stays pending until the test completes it.
SLOW = {"render_seconds": 120.0, "queue_seconds": 60.0}
NGINX_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center><hr><center>nginx/1.24.0</center></body></html>"
)
TRUNCATED = '{"success": true, "data": {"id": "task_0a1b2c3d4e5f", "status": "proce'
DEADLINE = 60.0


def case(mode: str | None, name: str, expected: str, *values: Any, id: str | None = None) -> Any:
    """One parametrized case with its own row in the reliability table (``mode`` names the wait)."""
    shown = name if mode is None else f"{name} ({'in-worker wait' if mode == 'worker' else 'deferred'})"
    return pytest.param(
        *values, marks=pytest.mark.reliability(area=AREA, case=shown, expected=expected), id=id or mode
    )


def make_op(mode: str = "worker", **kwargs: Any) -> DmjyCreateVideoOperator:
    arguments: dict[str, Any] = {
        "task_id": "t",
        "description": "展示智能保温杯",
        "image_url": IMG,
        "duration": 5,
        "deferrable": mode == "trigger",
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        "timeout": DEADLINE,
        **kwargs,
    }
    return DmjyCreateVideoOperator(**arguments)


def wait_until(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def polled(sim: SimulatorHandle) -> int:
    return int(sim.state()["requests"].get(GET_VIDEO, 0))


def only_video(sim: SimulatorHandle) -> str:
    videos = sim.state()["videos"]
    assert len(videos) == 1, videos
    return str(next(iter(videos)))


async def _events(trigger: DmjyVideoTrigger) -> list[Any]:
    return [event async for event in trigger.run()]


def resume(op: DmjyCreateVideoOperator, context: dict[str, Any], deferred: TaskDeferred) -> dict[str, Any]:
    """Run the deferred wait's trigger to its one event and resume the operator with it."""
    trigger = deferred.trigger
    assert isinstance(trigger, DmjyVideoTrigger)
    events = asyncio.run(asyncio.wait_for(_events(trigger), DEADLINE))
    assert len(events) == 1
    result: dict[str, Any] = getattr(op, deferred.method_name)(context, event=events[0].payload)
    return result


def run_task(
    sim: SimulatorHandle,
    mode: str,
    during_wait: Callable[[str], None],
    context: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run the operator; once its wait is under way, call ``during_wait(video_id)``.

    In-worker: the task runs in a thread and ``during_wait`` runs after its first status check;
    deferred: it runs between the deferral and the trigger's first check.
    """
    op = make_op(mode, **kwargs)
    context = context or make_context()
    if mode == "trigger":
        try:
            op.execute(context)
        except TaskDeferred as deferred:
            during_wait(only_video(sim))
            return resume(op, context, deferred)
        raise AssertionError("the operator did not defer")
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(op.execute, context)
        wait_until(lambda: running.done() or polled(sim) >= 1, "the first status check")
        if not running.done():
            during_wait(only_video(sim))
        return running.result(timeout=DEADLINE)


def client_warnings(caplog: pytest.LogCaptureFixture, since: int = 0) -> list[str]:
    """What the task log shows of the client's retries (the hook logs them before trying again)."""
    return [
        record.getMessage()
        for record in caplog.records[since:]
        if record.name == "airflow_provider_dmjy.client" and record.levelno >= logging.WARNING
    ]


@pytest.fixture
def sim(dmjy_conn: SimulatorHandle, caplog: pytest.LogCaptureFixture) -> SimulatorHandle:
    """The session simulator with slow renders, and the client's warnings captured."""
    caplog.set_level(logging.WARNING, logger="airflow_provider_dmjy.client")
    dmjy_conn.configure(**SLOW)
    return dmjy_conn


# -- faults while the render is awaited ----------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        case(m, "3 x 503 on GET /videos/{id} during the wait", "succeeds; one video; retries logged", m)
        for m in MODES
    ],
)
def test_a_burst_of_503_during_the_wait(
    sim: SimulatorHandle, mode: str, evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    def burst_then_finish(video_id: str) -> None:
        sim.inject_fault(method="GET", path=VIDEO, status=503, times=3)
        sim.complete(video_id)

    result = run_task(sim, mode, burst_then_finish)
    state = sim.state()
    evidence.billed(state["videos_created"])
    assert result["status"] == "completed"
    assert state["videos_created"] == 1 and state["requests"][POST_VIDEOS] == 1
    assert state["faults_pending"] == 0  # the burst was met, not skipped
    warnings = client_warnings(caplog)
    assert any("503" in text for text in warnings), warnings
    evidence.message(warnings[0])


@pytest.mark.parametrize(
    "mode",
    [
        case(m, "a proxy's HTML 502 page on GET /videos/{id}", "succeeds; one video; the page summarised", m)
        for m in MODES
    ],
)
def test_an_html_error_page_during_the_wait(
    sim: SimulatorHandle, mode: str, evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    def page_then_finish(video_id: str) -> None:
        sim.inject_fault(method="GET", path=VIDEO, status=502, body=NGINX_502, times=2)
        sim.complete(video_id)

    result = run_task(sim, mode, page_then_finish)
    state = sim.state()
    evidence.billed(state["videos_created"])
    assert result["status"] == "completed"
    assert state["videos_created"] == 1 and state["faults_pending"] == 0
    warnings = client_warnings(caplog)
    assert any("502" in text and "Bad Gateway" in text for text in warnings), warnings
    assert not any("<" in text for text in warnings)  # tags stripped, not dumped into the log
    evidence.message(warnings[0])


@pytest.mark.parametrize(
    "mode",
    [
        case(
            m,
            "a 200 on GET /videos/{id} whose JSON is cut mid-object",
            "the read is retried; succeeds; one video",
            m,
        )
        for m in MODES
    ],
)
def test_truncated_json_during_the_wait(
    sim: SimulatorHandle, mode: str, evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    # A success status whose body was cut (a proxy, say) tells nothing about the render: reading
    # again is harmless, so the wait goes on instead of failing a paid render.
    def cut_then_finish(video_id: str) -> None:
        sim.inject_fault(method="GET", path=VIDEO, status=200, body=TRUNCATED, times=2)
        sim.complete(video_id)

    result = run_task(sim, mode, cut_then_finish)
    state = sim.state()
    evidence.billed(state["videos_created"])
    assert result["status"] == "completed"
    assert state["videos_created"] == 1 and state["requests"][POST_VIDEOS] == 1
    assert state["faults_pending"] == 0
    warnings = client_warnings(caplog)
    assert any("expected a JSON envelope" in text for text in warnings), warnings
    evidence.message(warnings[0])


@pytest.mark.parametrize(
    "mode",
    [
        case(
            None,
            "a 200 on POST /videos whose JSON is cut mid-object (the create was applied)",
            "never re-sent; the video is found by its marker in the same try; one video",
            None,
        )
    ],
)
def test_truncated_json_on_the_create(sim: SimulatorHandle, mode: None, evidence: Evidence) -> None:
    sim.configure(render_seconds=0.5, queue_seconds=0.1)
    sim.inject_fault(method="POST", path="/api/v1/videos", status=200, body=TRUNCATED, after_commit=True)
    result = make_op().execute(make_context())
    state = sim.state()
    evidence.billed(state["videos_created"])
    evidence.message(f"succeeded in try 1 with video {result['id']} (found by its marker)")
    assert result["status"] == "completed"
    assert state["videos_created"] == 1 and state["requests"][POST_VIDEOS] == 1


@pytest.mark.parametrize(
    "mode",
    [
        case(
            m,
            "the render deleted through the API while the task waits",
            "fails fast with 404 naming the video; one video; nothing re-created",
            m,
        )
        for m in MODES
    ],
)
def test_a_render_deleted_mid_wait(sim: SimulatorHandle, mode: str, evidence: Evidence) -> None:
    def delete(video_id: str) -> None:
        hook = DmjyHook()
        try:
            hook.delete_video(video_id)
        finally:
            hook.close()

    with pytest.raises(AirflowFailException) as raised:
        run_task(sim, mode, delete)
    state = sim.state()
    evidence.billed(state["videos_created"])
    evidence.message(raised.value)
    video_id = only_video(sim)
    assert state["videos"] == {video_id: "deleted"}
    assert state["requests"][POST_VIDEOS] == 1
    assert "404" in str(raised.value) and video_id in str(raised.value)
    if mode == "worker":
        assert isinstance(raised.value, DmjyNotFoundError)


# -- faults on the create ----------------------------------------------------------------------------


@pytest.mark.reliability(
    area=AREA,
    case='a 200 on POST /videos that says "success": false',
    expected="fails fast with the vendor's message; nothing billed",
)
def test_success_false_on_the_create(sim: SimulatorHandle, evidence: Evidence) -> None:
    body = '{"success": false, "error": {"code": "IMAGE_UNREACHABLE", "message": "商品图片无法访问"}}'
    sim.inject_fault(method="POST", path="/api/v1/videos", status=200, body=body)
    with pytest.raises(AirflowFailException) as raised:
        make_op().execute(make_context())
    state = sim.state()
    evidence.billed(state["videos_created"])
    evidence.message(raised.value)
    assert state["videos_created"] == 0 and state["requests"][POST_VIDEOS] == 1  # not sent twice
    assert "商品图片无法访问" in str(raised.value) and "IMAGE_UNREACHABLE" in str(raised.value)


@pytest.mark.parametrize(
    "retry_after",
    [
        case(None, "429 with Retry-After: 1 on POST /videos", "waits 1 s, sends once more; one video", 1,
             id="1s"),
        case(None, "429 without Retry-After on POST /videos", "backs off, sends once more; one video", None,
             id="none"),
    ],
)  # fmt: skip
def test_rate_limited_create(
    sim: SimulatorHandle, retry_after: int | None, evidence: Evidence, caplog: pytest.LogCaptureFixture
) -> None:
    fault: dict[str, Any] = {"method": "POST", "path": "/api/v1/videos", "status": 429}
    if retry_after is not None:
        fault["retry_after"] = retry_after
    sim.inject_fault(**fault)
    first = make_op(wait_for_completion=False).execute(make_context())
    sim.complete(first["id"])
    state = sim.state()
    evidence.billed(state["videos_created"])
    assert state["videos_created"] == 1 and state["requests"][POST_VIDEOS] == 2  # refused, then sent
    warnings = client_warnings(caplog)
    assert len(warnings) == 1 and "429" in warnings[0], warnings
    if retry_after is not None:
        assert "in 1.0 s" in warnings[0]  # exactly Retry-After, not the backoff
    evidence.message(warnings[0])


@pytest.mark.parametrize(
    "how",
    [
        case(None, "the daily cap reached (simulator daily_cap=1), second task",
             "the second task fails fast with the cap message; one video for two tasks", "configured",
             id="configured"),
        case(None, "429 with the daily-cap message and a Retry-After on POST /videos",
             "fails fast, not retried; nothing billed", "injected", id="injected"),
    ],
)  # fmt: skip
def test_the_daily_cap(sim: SimulatorHandle, how: str, evidence: Evidence) -> None:
    if how == "configured":
        sim.configure(daily_cap=1)
        make_op(wait_for_completion=False).execute(make_context(map_index=0))
        tasks, posts = 2, 2
    else:
        sim.inject_fault(
            method="POST",
            path="/api/v1/videos",
            status=429,
            retry_after=3600,
            code="DAILY_LIMIT_REACHED",
            message="Daily video limit reached; resets at 00:00",
        )
        tasks, posts = 1, 1
    with pytest.raises(DmjyDailyCapError) as raised:
        make_op(wait_for_completion=False).execute(make_context(map_index=1))
    state = sim.state()
    evidence.billed(state["videos_created"], tasks=tasks)
    evidence.message(raised.value)
    assert isinstance(raised.value, AirflowFailException)  # no retry can help before 00:00
    assert state["videos_created"] == tasks - 1
    assert state["requests"][POST_VIDEOS] == posts  # the refused create was not sent again
    assert "Daily video limit reached" in str(raised.value)


@pytest.mark.parametrize(
    "fault",
    [
        case(None, "connection dropped on POST /videos before the commit",
             "one video over the tries; a try ends retryable or reconciles", {"drop_connection": True},
             id="before-commit"),
        case(None, "connection dropped on POST /videos after the commit",
             "one video over the tries; the video is found, not bought again",
             {"drop_connection": True, "after_commit": True}, id="after-commit"),
    ],
)  # fmt: skip
def test_a_dropped_create(
    sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any], evidence: Evidence
) -> None:
    # A short request timeout: a reconciliation may look again for about that long before it gives up.
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", sim.conn_uri + "?timeout=3")
    sim.configure(render_seconds=0.5, queue_seconds=0.1)
    sim.inject_fault(method="POST", path="/api/v1/videos", **fault)
    store = FakeStateStore()
    outcomes: list[str] = []
    result: dict[str, Any] | None = None
    for try_number in (1, 2):
        try:
            result = make_op().execute(make_context(try_number=try_number, store=store))
            break
        except AirflowFailException:
            raise  # a failed task without retries: the promise is a retryable end at worst
        except DmjyError as error:
            outcomes.append(str(error))
    state = sim.state()
    evidence.billed(state["videos_created"])
    assert result is not None and result["status"] == "completed", outcomes
    assert state["videos_created"] == 1
    assert state["faults_pending"] == 0
    evidence.message(outcomes[0] if outcomes else f"succeeded in try 1 with video {result['id']}")


class DiesAfterCreate(DmjyCreateVideoOperator):
    """A first try whose worker is lost right after the create answered (no state store)."""

    def _wait_in_worker(self, context: Any, video: dict[str, Any]) -> dict[str, Any]:
        raise DmjyServerError("worker lost", status=None)


@pytest.mark.parametrize(
    ("offset", "mode"),
    [
        case(m, f"server clock {sign}15 min, retry after a lost worker",
             "signs on the server's clock; the retry reattaches; one video", offset, m, id=f"{sign}15min-{m}")
        for offset, sign in ((900, "+"), (-900, "-"))
        for m in MODES
    ],
)  # fmt: skip
def test_clock_skew(sim: SimulatorHandle, offset: int, mode: str, evidence: Evidence) -> None:
    sim.configure(clock_offset_seconds=offset)
    first = DiesAfterCreate(
        task_id="t", description="展示智能保温杯", image_url=IMG, duration=5, deferrable=False
    )
    with pytest.raises(DmjyServerError):
        first.execute(make_context(try_number=1))
    # The first create is refused once for its timestamp and sent again on the server's clock.
    posts_in_try_1 = sim.state()["requests"][POST_VIDEOS]

    def finish(video_id: str) -> None:
        sim.complete(video_id)

    result = run_task(sim, mode, finish, context=make_context(try_number=2))
    state = sim.state()
    evidence.billed(state["videos_created"])
    evidence.message(f"try 2 reattached to {result['id']} ({result['status']})")
    assert result["status"] == "completed"
    assert state["videos_created"] == 1 and state["requests"][POST_VIDEOS] == posts_in_try_1


# -- the simulator restarted mid-wait ------------------------------------------------------------------


class OwnSimulator:
    """A simulator of this test's own (the session one must not restart), on one fixed port."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.port = 0
        self.server: SimulatorServer | None = None

    def start(self, keep_state: bool = True) -> SimulatorHandle:
        config = SimulatorConfig(
            port=self.port, state_file=str(self.state_file) if keep_state else None, **SLOW
        )
        self.server = SimulatorServer(config).start()
        self.port = self.server.port
        return self.server.handle()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_sim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[OwnSimulator, SimulatorHandle]]:
    caplog.set_level(logging.WARNING, logger="airflow_provider_dmjy.client")
    own = OwnSimulator(tmp_path / "sim-state.json")
    handle = own.start()
    # A short request timeout keeps the outage's retries quick.
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", handle.conn_uri + "?timeout=3")
    yield own, handle
    own.stop()


def restart(
    own: OwnSimulator, keep_state: bool, caplog: pytest.LogCaptureFixture
) -> tuple[SimulatorHandle, dict[str, Any]]:
    """Stop the simulator, wait until the task has met the outage, start it again on the same port."""
    assert own.server is not None
    before = own.server.handle().state()
    seen = len(caplog.records)
    own.stop()
    wait_until(lambda: client_warnings(caplog, seen), "the task to meet the outage")
    return own.start(keep_state), before


@pytest.mark.parametrize(
    ("keep_state", "mode"),
    [
        case(m, f"simulator restarted mid-wait, {'state kept (--state-file)' if keep else 'state lost'}",
             "the wait rides out the outage and succeeds; one video" if keep
             else "fails fast with 404 naming the video; no second create", keep, m,
             id=f"{'kept' if keep else 'lost'}-{m}")
        for keep in (True, False)
        for m in MODES
    ],
)  # fmt: skip
def test_simulator_restarted_mid_wait(
    own_sim: tuple[OwnSimulator, SimulatorHandle],
    keep_state: bool,
    mode: str,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
) -> None:
    own, first = own_sim
    op = make_op(mode)
    context = make_context()
    outcome: dict[str, Any] = {}

    def restart_then_finish() -> None:
        video_id = only_video(first)
        wait_until(lambda: polled(first) >= 1, "the first status check")
        again, before = restart(own, keep_state, caplog)
        outcome.update(again=again, before=before)
        if keep_state:
            again.complete(video_id)

    def run() -> dict[str, Any]:
        """The task to its end; the restart happens while it waits."""
        if mode == "trigger":
            try:
                op.execute(context)
            except TaskDeferred as deferred:
                trigger = deferred.trigger
                assert isinstance(trigger, DmjyVideoTrigger)
                restarting = threading.Thread(target=restart_then_finish)
                restarting.start()
                try:
                    events = asyncio.run(asyncio.wait_for(_events(trigger), DEADLINE))
                finally:
                    restarting.join(DEADLINE)
                result: dict[str, Any] = op.execute_complete(context, events[0].payload)
                return result
            raise AssertionError("the operator did not defer")
        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(op.execute, context)
            wait_until(lambda: running.done() or first.state()["videos"], "the create")
            restart_then_finish()
            return running.result(timeout=DEADLINE)

    if keep_state:
        result = run()
        again: SimulatorHandle = outcome["again"]
        state = again.state()
        evidence.billed(state["videos_created"])
        evidence.message(client_warnings(caplog)[-1])
        assert result["status"] == "completed"
        assert outcome["before"]["videos_created"] == state["videos_created"] == 1
        assert state["requests"][POST_VIDEOS] == 1  # counters survive the restart too
    else:
        with pytest.raises(AirflowFailException) as raised:
            run()
        again = outcome["again"]
        state = again.state()
        billed_before = int(outcome["before"]["videos_created"])
        evidence.billed(billed_before + state["videos_created"])
        evidence.message(raised.value)
        assert billed_before == 1
        assert state["videos_created"] == 0 and POST_VIDEOS not in state["requests"]  # no second create
        assert "404" in str(raised.value) and "not found" in str(raised.value)
