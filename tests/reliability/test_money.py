"""Money: a video is never paid for twice, and a paid video is never thrown away.

Each test is one row of ``docs/reliability.md``: a create whose answer comes too late, a server
clock that is off by a quarter of an hour, a deferral timeout that races the render's completion,
a list endpoint that never ends. The create operator runs against the simulator (or the hostile
server) over loopback HTTP, try by try, as Airflow would run it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.exceptions import TaskDeferred

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyReconciliationError, DmjyServerError
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import EVENT_TIMEOUT, DmjyVideoTrigger
from tests.hostile_server import HostileServer, Reply, Seen, envelope

IMG = "https://example.com/cup.jpg"
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}
CREATE = "POST /api/v1/videos"
DELETE = "DELETE /api/v1/videos/{id}"


class StateStore(dict[str, Any]):
    """The task state store of Airflow >= 3.3 (``get``/``set``), kept across tries."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def make_context(try_number: int = 1, store: StateStore | None = None) -> dict[str, Any]:
    """One try of task instance ``d.t`` of run ``r1`` (a DAG run that started a minute ago)."""
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r1", map_index=-1, try_number=try_number)
    ti.pushed = {}
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    dag_run = SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
    context: dict[str, Any] = {"ti": ti, "dag_run": dag_run}
    if store is not None:
        context["task_state_store"] = store
    return context


def make_op(cls: type[DmjyCreateVideoOperator] = DmjyCreateVideoOperator, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "task_id": "t",
        "description": "展示智能保温杯",
        "image_url": IMG,
        "duration": 5,
        "deferrable": False,
        **FAST,
        **kwargs,
    }
    return cls(**arguments)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def fast_sim(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    """Quick renders, and a connection whose requests time out after one second."""
    dmjy_conn.configure(render_seconds=0.4, queue_seconds=0.1)
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri + "?timeout=1")
    return dmjy_conn


class DiesAfterCreate(DmjyCreateVideoOperator):
    """A first try whose worker is lost right after the create answered."""

    def _wait_in_worker(self, context: Any, video: dict[str, Any]) -> dict[str, Any]:
        raise DmjyServerError("worker lost", status=None)


@pytest.mark.reliability(
    area="Money",
    case="create committed 4 s after a 1 s read timeout (after the grace window)",
    expected="one video; the try ends retryable, saying the outcome is unknown; the next try reattaches",
)
def test_a_create_committed_after_the_grace_window_is_not_sent_again(
    fast_sim: SimulatorHandle, evidence: Any
) -> None:
    # The server reads the create at once and commits it 4 s later: long after the client's
    # 1 s timeout and the 1 s grace window below, so the first try cannot see it.
    fast_sim.inject_fault(method="POST", path="/api/v1/videos", commit_delay_seconds=4)
    store = StateStore()  # Airflow >= 3.3: it stays empty, since the create never answered
    first = make_op()
    first.reconcile_grace_seconds = 0.0  # the window is then the request timeout alone
    with pytest.raises(DmjyReconciliationError) as info:
        first.execute(make_context(try_number=1, store=store))
    error = info.value
    assert error.retryable and not isinstance(error, AirflowFailException)
    assert "outcome of the DMJY create is unknown" in str(error) and "the next try looks" in str(error)
    assert fast_sim.state()["requests"][CREATE] == 1  # never re-sent in the same try
    wait_until(lambda: fast_sim.state()["videos_created"] == 1, "the late commit")

    result = make_op().execute(make_context(try_number=2, store=store))
    assert result["status"] == "completed"
    state = fast_sim.state()
    assert state["videos_created"] == 1 and state["requests"][CREATE] == 1
    evidence.billed(state["videos_created"], tasks=1)
    evidence.message(error)


@pytest.mark.reliability(
    area="Money",
    case="create committed 2 s after a 1 s read timeout (inside the grace window)",
    expected="one video; the same try finds it and succeeds",
)
def test_a_create_committed_inside_the_grace_window_is_found_in_the_same_try(
    fast_sim: SimulatorHandle, evidence: Any
) -> None:
    fast_sim.inject_fault(method="POST", path="/api/v1/videos", commit_delay_seconds=2)
    result = make_op().execute(make_context())  # default grace: the 1 s timeout plus 10 s
    assert result["status"] == "completed"
    state = fast_sim.state()
    assert state["videos_created"] == 1 and state["requests"][CREATE] == 1
    evidence.billed(state["videos_created"], tasks=1)


def _skew(offset: int, words: str) -> Any:
    return pytest.param(
        offset,
        id=f"server-{words.split()[0]}",
        marks=pytest.mark.reliability(
            area="Money",
            case=f"server clock 15 min {words}; the first try dies after its create",
            expected="one video; the retry finds the first try's video by its marker",
        ),
    )


@pytest.mark.parametrize("offset", [_skew(-900, "behind"), _skew(900, "ahead")])
def test_a_skewed_server_clock_does_not_hide_the_earlier_video(
    fast_sim: SimulatorHandle, evidence: Any, offset: int
) -> None:
    fast_sim.configure(clock_offset_seconds=offset)
    with pytest.raises(DmjyServerError):
        make_op(DiesAfterCreate).execute(make_context(try_number=1))
    # No state store (Airflow < 3.3, or a try lost before store.set()): the marker search decides.
    result = make_op().execute(make_context(try_number=2))
    assert result["status"] == "completed"
    state = fast_sim.state()
    # (The request counter also counts the first create refused for its timestamp: the skew.)
    assert state["videos_created"] == 1
    evidence.billed(state["videos_created"], tasks=1)


async def _timeout_event(trigger: DmjyVideoTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1 and events[0]["status"] == EVENT_TIMEOUT
    return dict(events[0])


@pytest.mark.reliability(
    area="Money",
    case="deferral timeout fires while the render completes",
    expected="the completed video is kept (no DELETE) and is the task's result",
)
async def test_a_video_completed_at_the_deferral_timeout_is_kept(
    slow_renders: SimulatorHandle, evidence: Any
) -> None:
    op = make_op(deferrable=True, timeout=0.2, cancel_on_kill=True)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, DmjyVideoTrigger)
    event = await _timeout_event(trigger)  # the trigger saw the render still running
    slow_renders.complete(event["video_id"])  # ... and it finished before the worker resumed

    result = op.execute_complete(context, event)
    assert result["status"] == "completed" and result["videoUrl"]
    state = slow_renders.state()
    assert state["videos"][event["video_id"]] == "completed"
    assert DELETE not in state["requests"]
    assert context["ti"].pushed["dmjy_video"]["status"] == "completed"
    evidence.billed(state["videos_created"], tasks=1)


def _endless_fresh_ids() -> Callable[[Seen], Reply]:
    ids = itertools.count()

    def page(_seen: Seen) -> Reply:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        tasks = [{"id": f"v{next(ids)}", "title": "someone else's", "createdAt": now} for _ in range(100)]
        return Reply(body=envelope({"tasks": tasks, "pagination": {"page": 1, "totalPages": 10**9}}))

    return page


def _same_page_forever() -> Callable[[Seen], Reply]:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tasks = [{"id": f"v{n}", "title": "someone else's", "createdAt": now} for n in range(100)]
    return lambda _seen: Reply(
        body=envelope({"tasks": tasks, "pagination": {"page": 1, "totalPages": 10**9}})
    )


def _endless(kind: str, make: Callable[[], Callable[[Seen], Reply]]) -> Any:
    return pytest.param(
        make,
        id=kind.replace(" ", "-"),
        marks=pytest.mark.reliability(
            area="Money",
            case=f"create answered 502, then a list that {kind}",
            expected="the search ends; one create sent; the try ends retryable; the retry creates nothing",
        ),
    )


@pytest.mark.parametrize(
    "list_handler",
    [_endless("brings fresh ids forever", _endless_fresh_ids), _endless("ignores page", _same_page_forever)],
)
def test_an_endless_list_cannot_make_the_reconciliation_loop_or_create_again(
    monkeypatch: pytest.MonkeyPatch, evidence: Any, list_handler: Callable[[], Callable[[Seen], Reply]]
) -> None:
    with HostileServer() as server:
        conn = {
            "conn_type": "dmjy",
            "login": "mk_sim_key",
            "password": "sim_secret",
            "host": server.base_url,
            "extra": {"timeout": 1},
        }
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        server.route("POST", "/api/v1/videos", Reply(502, envelope(success=False)))
        server.route("GET", "/api/v1/videos", list_handler())
        errors = []
        for try_number in (1, 2):
            op = make_op()
            op.reconcile_grace_seconds = 0.0
            with pytest.raises(DmjyReconciliationError) as info:
                op.execute(make_context(try_number=try_number))
            assert info.value.retryable and not isinstance(info.value, AirflowFailException)
            errors.append(info.value)
        assert len(server.seen("POST", "/api/v1/videos")) == 1
        # One search per try, each stopped by its page cap or by the first page without new ids.
        lists = len(server.seen("GET", "/api/v1/videos"))
        assert lists <= 2 * op.reconcile_max_pages
    evidence.billed(len(server.seen("POST", "/api/v1/videos")), tasks=1)
    evidence.message(errors[0])


# -- found by an adversarial review: each of these once made a retry pay twice ------------------------


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _hostile_conn(monkeypatch: pytest.MonkeyPatch, server: HostileServer) -> None:
    conn = {"conn_type": "dmjy", "login": "mk_sim_key", "password": "sim_secret", "host": server.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))


def _marked(video_id: Any, created: float) -> dict[str, Any]:
    from airflow_provider_dmjy.operators.video import task_marker

    title = f"cup [{task_marker('d', 't', 'r1')}]"
    return {"id": video_id, "title": title, "status": "processing", "createdAt": _iso(created)}


def _try_two_on(
    server: HostileServer, pages: list[list[dict[str, Any]]], date_header: float | None = None
) -> dict[str, Any] | None:
    """Serve ``pages`` as the video list and run try 2's look for the earlier video; what it found."""
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook
    from airflow_provider_dmjy.operators.reconcile import CreateOnce
    from airflow_provider_dmjy.operators.video import task_marker

    headers = {} if date_header is None else {"Date": email_date(date_header)}

    def page(seen: Seen) -> Reply:
        number = int(seen.query.get("page", ["1"])[0])
        items = pages[number - 1] if number <= len(pages) else []
        data = {"tasks": items, "pagination": {"page": number, "limit": 100, "totalPages": len(pages)}}
        return Reply(200, envelope(data), headers=headers)

    server.route("GET", "/api/v1/videos", page)
    hook = DmjyHook()
    try:
        once = CreateOnce(
            hook,
            task_marker("d", "t", "r1"),
            make_context(try_number=2),
            max_pages=10,
            grace_seconds=0.0,
            log=__import__("logging").getLogger("test"),
        )
        found = once.earlier_video()
    finally:
        hook.close()
    return None if found is None else found.to_dict()


def email_date(epoch: float) -> str:
    from email.utils import formatdate

    return formatdate(epoch, usegmt=True)


@pytest.mark.reliability(
    area="Money",
    case="an oddly dated video (1970) on top of the list, the paid one below it",
    expected="the search reads past it and reattaches; no second create",
)
def test_an_old_item_on_top_does_not_end_the_search(monkeypatch: pytest.MonkeyPatch, evidence: Any) -> None:
    with HostileServer() as server:
        _hostile_conn(monkeypatch, server)
        foreign = {"id": "other", "title": "someone else", "status": "completed", "createdAt": _iso(0)}
        found = _try_two_on(server, [[foreign, _marked("v1", time.time() - 30)]])
        evidence.billed(len(server.seen("POST", "/api/v1/videos")) + 1)
    assert found is not None and found["id"] == "v1"
    evidence.message(f"try 2 reattached to {found['id']}")


@pytest.mark.reliability(
    area="Money",
    case="the server's Date header an hour ahead of its createdAt (two clocks)",
    expected="the cut-off only ever moves back: the paid video on page 2 is found",
)
def test_a_date_header_ahead_does_not_narrow_the_search(
    monkeypatch: pytest.MonkeyPatch, evidence: Any
) -> None:
    now = time.time()
    newer = [
        {"id": f"n{i}", "title": "x", "status": "completed", "createdAt": _iso(now - 20)} for i in range(2)
    ]
    with HostileServer() as server:
        _hostile_conn(monkeypatch, server)
        found = _try_two_on(server, [newer, [_marked("v1", now - 30)]], date_header=now + 3600)
        evidence.billed(len(server.seen("POST", "/api/v1/videos")) + 1)
    assert found is not None and found["id"] == "v1"
    evidence.message(f"try 2 reattached to {found['id']} on page 2")


@pytest.mark.reliability(
    area="Money",
    case="a server that answers numeric video ids",
    expected="the marker search still sees them and reattaches",
)
def test_numeric_ids_do_not_hide_the_paid_video(monkeypatch: pytest.MonkeyPatch, evidence: Any) -> None:
    with HostileServer() as server:
        _hostile_conn(monkeypatch, server)
        found = _try_two_on(server, [[_marked(123, time.time() - 30)]])
        evidence.billed(len(server.seen("POST", "/api/v1/videos")) + 1)
    assert found is not None and str(found["id"]) == "123"
    evidence.message("try 2 reattached to video 123")


@pytest.mark.reliability(
    area="Money",
    case="a task cleared 15 min after a create whose answer was lost (the run restarts)",
    expected="the search reaches back to run_after, not the new start: one video",
)
def test_clearing_a_task_does_not_move_the_search_past_the_paid_video(
    fast_sim: SimulatorHandle, evidence: Any
) -> None:
    from airflow_provider_dmjy.client.models import CreateVideoRequest
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook
    from airflow_provider_dmjy.operators.video import task_marker

    request = CreateVideoRequest(description="展示智能保温杯", image_url=IMG, duration=5, title="cup")
    hook = DmjyHook()
    try:  # what the first try paid for, its answer lost
        hook.create_video_from(request.with_marker(task_marker("d", "t", "r1")))
    finally:
        hook.close()
    context = make_context(try_number=2)
    now = dt.datetime.now(dt.timezone.utc)
    context["dag_run"] = SimpleNamespace(
        start_date=now + dt.timedelta(minutes=15), run_after=now - dt.timedelta(minutes=1)
    )
    result = make_op().execute(context)
    state = fast_sim.state()
    evidence.billed(state["videos_created"])
    assert state["videos_created"] == 1 and state["requests"][CREATE] == 1
    evidence.message(f"the cleared try reattached to {result['id']}")


@pytest.mark.reliability(
    area="Money",
    case="a try killed mid-create (committed 3 s late), its retry starts at once",
    expected="the retry waits out the create's grace and reattaches: one video",
)
def test_a_retry_after_a_try_killed_mid_create_waits_for_its_commit(
    fast_sim: SimulatorHandle, evidence: Any
) -> None:
    import threading

    from airflow_provider_dmjy.client.models import CreateVideoRequest
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook
    from airflow_provider_dmjy.operators.reconcile import PENDING_KEY
    from airflow_provider_dmjy.operators.video import task_marker

    fast_sim.inject_fault(method="POST", path="/api/v1/videos", commit_delay_seconds=3)
    store = StateStore()
    store.set(PENDING_KEY, time.time())  # what try 1 stored just before it sent the create, then died
    request = CreateVideoRequest(description="展示智能保温杯", image_url=IMG, duration=5).with_marker(
        task_marker("d", "t", "r1")
    )

    def doomed_try() -> None:
        hook = DmjyHook()
        try:
            hook.create_video_from(request)
        except Exception:  # noqa: S110 - the try is "killed": its outcome is never learnt
            pass
        finally:
            hook.close()

    first = threading.Thread(target=doomed_try, daemon=True)
    first.start()
    result = make_op().execute(make_context(try_number=2, store=store))
    first.join(timeout=60)
    state = fast_sim.state()
    evidence.billed(state["videos_created"])
    assert state["videos_created"] == 1 and state["requests"][CREATE] == 1
    assert result["status"] == "completed"
    evidence.message(f"the retry waited for the late commit and reattached to {result['id']}")
