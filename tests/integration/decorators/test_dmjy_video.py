"""``@task.dmjy_video``: found through the provider info, creates and waits like the create operator
(deferrable, one video per task instance, never charged twice), and refuses bad return values
before any request."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import airflow_provider_dmjy
from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.decorators.video import (
    XCOM_ARGUMENTS_KEY,
    DmjyVideoDecoratedOperator,
    dmjy_video_task,
)
from airflow_provider_dmjy.exceptions import DmjyServerError, DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.reconcile import CreateOnce
from airflow_provider_dmjy.operators.video import RESULT_FIELDS
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

IMG = "https://example.com/cup.jpg"
POST_VIDEOS = "POST /api/v1/videos"
EXAMPLE = Path(airflow_provider_dmjy.__file__).parent / "example_dags" / "dmjy_taskflow_product_videos.py"


def posts(sim: SimulatorHandle) -> int:
    return int(sim.state()["requests"].get(POST_VIDEOS, 0))


@pytest.fixture
def fast_sim(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    # Long enough that the create's first check sees it pending (so the task defers), short
    # enough for the trigger to see it finish quickly.
    dmjy_conn.configure(render_seconds=0.5, queue_seconds=0.2)
    return dmjy_conn


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The video ids the trigger waited for: proof that the tasks deferred."""
    runs: list[str] = []
    original_run = DmjyVideoTrigger.run

    async def counted_run(self: DmjyVideoTrigger) -> AsyncIterator[Any]:
        runs.append(self.video_id)
        async for event in original_run(self):
            yield event

    monkeypatch.setattr(DmjyVideoTrigger, "run", counted_run)
    return runs


# -- discovery ----------------------------------------------------------------------------------------


def test_task_dmjy_video_is_found_through_the_providers_manager() -> None:
    from airflow.sdk import task

    try:  # Airflow >= 3.2: task decorators are the Task SDK runtime's business
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.1
        from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment]

    assert Manager().taskflow_decorators["dmjy_video"] is dmjy_video_task
    assert task.dmjy_video is dmjy_video_task


def test_the_decorator_module_is_imported_only_when_used() -> None:
    code = (
        "import sys\n"
        "from airflow.sdk import DAG, task\n"
        "import airflow_provider_dmjy, airflow_provider_dmjy.operators.video\n"
        "task.python\n"  # the providers manager has read the provider info
        "before = 'airflow_provider_dmjy.decorators.video' in sys.modules\n"
        "task.dmjy_video\n"
        "print(f'BEFORE={before} AFTER={\"airflow_provider_dmjy.decorators.video\" in sys.modules}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip().splitlines()[-1] == "BEFORE=False AFTER=True"


def test_parsing_builds_the_decorated_operator_with_the_decorator_arguments() -> None:
    from airflow.sdk import DAG, task

    with DAG("dmjy_taskflow_parse", schedule=None) as dag:

        @task.dmjy_video(deferrable=True, retries=2, poll_interval=7, dmjy_conn_id="other")
        def video() -> dict[str, Any]:  # a Mapping annotation: still one XCom, the video
            return {"description": "d", "image_url": IMG}

        video()

    op = dag.get_task("video")
    assert isinstance(op, DmjyVideoDecoratedOperator)
    assert (op.deferrable, op.retries, op.poll_interval, op.dmjy_conn_id) == (True, 2, 7, "other")
    assert op.multiple_outputs is False
    assert op.task_type == "DmjyVideoDecoratedOperator" and op.operator_name == "@task.dmjy_video"


@pytest.mark.parametrize("argument", ["title", "description", "image_url"])
def test_create_arguments_are_not_decorator_arguments(argument: str) -> None:
    from airflow.sdk import task

    with pytest.raises(TypeError, match=f"takes {argument} from the function's return value"):
        task.dmjy_video(**{argument: "x"})


# -- the function's return value, checked before any request ------------------------------------------


def _context(try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r1", map_index=-1, try_number=try_number)
    ti.pushed = {}
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    dag_run = SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1))
    return {"ti": ti, "dag_run": dag_run}


def _operator(returned: Any, **kwargs: Any) -> DmjyVideoDecoratedOperator:
    return DmjyVideoDecoratedOperator(
        task_id="t",
        python_callable=lambda: returned,
        deferrable=False,
        poll_interval=0.05,
        max_poll_interval=0.2,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("returned", "field", "fragment"),
    [
        ([{"description": "d", "image_url": IMG}], "return_value", "map the task with .expand()"),
        (None, "return_value", "must return a dict of create arguments"),
        (
            {"description": "d", "image_url": IMG, "deferrable": True},
            "deferrable",
            "@task.dmjy_video(deferrable",
        ),
        ({"image_url": IMG}, "description", ""),
        ({"description": "d"}, "imageUrl", ""),
        ({"description": "d", "image_url": IMG, "aspect_ratio": "1:1"}, "aspectRatio", ""),
        ({"description": "d", "image_url": IMG, "duration": 0}, "duration", ""),
    ],
    ids=["list", "none", "operator-argument", "no-description", "no-image", "aspect-ratio", "duration"],
)
def test_a_bad_return_value_fails_before_any_request(
    fast_sim: SimulatorHandle, returned: Any, field: str, fragment: str
) -> None:
    context = _context()
    with pytest.raises(DmjyValidationError, match=re.escape(fragment) or None) as raised:
        _operator(returned).execute(context)
    assert raised.value.field == field
    assert isinstance(raised.value, AirflowFailException)  # no task retry spent on it
    assert fast_sim.state()["requests"] == {}
    assert context["ti"].pushed == {}


def test_creates_and_waits_in_the_worker_and_publishes_the_arguments(fast_sim: SimulatorHandle) -> None:
    arguments = {"description": "展示智能保温杯", "image_url": IMG, "duration": 5, "title": "CUP-001"}
    context = _context()
    result = _operator(arguments).execute(context)
    assert result["status"] == "completed" and result["title"].startswith("CUP-001 [af-")
    assert context["ti"].pushed[XCOM_ARGUMENTS_KEY] == arguments
    assert context["ti"].pushed["dmjy_video"]["id"] == result["id"]
    assert fast_sim.state()["videos_created"] == 1


def test_reuse_is_a_decorator_argument_and_pays_once(fast_sim: SimulatorHandle) -> None:
    arguments = {"description": "展示智能保温杯", "image_url": IMG, "duration": 5, "title": "CUP-001"}
    first = _operator(arguments, reuse="completed").execute(_context())
    context = _context()
    context["ti"].run_id = "r2"  # another run, the same product
    op = _operator(arguments, reuse="completed", reuse_within="{{ params.since }}")
    op.reuse_within = dt.timedelta(hours=1).total_seconds()  # as rendered from the template field
    second = op.execute(context)
    assert second["id"] == first["id"] and op.reused and context["ti"].pushed["dmjy_video"]["reused"] is True
    assert fast_sim.state()["videos_created"] == 1
    assert {"reuse", "reuse_within"} <= set(DmjyVideoDecoratedOperator.template_fields)


def test_a_resumed_task_gets_the_arguments_of_the_deferred_try_back() -> None:
    arguments = {"description": "d", "image_urls": [IMG], "aspect_ratio": "16:9"}
    context = _context()
    context["ti"].xcom_pull = lambda **query: arguments if query["key"] == XCOM_ARGUMENTS_KEY else None
    video = {"id": "vid_1", "status": "completed", "videoUrl": "https://v/1.mp4"}
    op = _operator({})
    result = op.execute_complete(context, {"status": "completed", "video_id": "vid_1", "video": video})
    assert result["id"] == "vid_1" and op.video_url == "https://v/1.mp4"
    assert (op.description, op.image_urls, op.aspect_ratio, op.image_url) == ("d", [IMG], "16:9", None)


# -- end to end: dag.test() runs the trigger inline ---------------------------------------------------

DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task.dmjy_video(
        deferrable=True, poll_interval=0.1, max_poll_interval=0.3, retries={retries},
        retry_delay=timedelta(0),
    )
    def product_video(product: str = "智能保温杯", image: str = "https://example.com/cup.jpg"):
        {body}

    {calls}
"""


def _dag_source(dag_id: str, calls: str, *, retries: int = 0, body: str = "") -> str:
    body = body or 'return {"description": f"展示{product}", "image_url": image, "duration": 5}'
    return DAG_SOURCE.format(dag_id=dag_id, retries=retries, body=body, calls=calls)


def _result_of(hook: DmjyHook, video_id: str) -> dict[str, Any]:
    """The task dict the create operator returns for the video as the API shows it now."""
    video = hook.get_video(video_id)
    return {key: video.get(key) for key in RESULT_FIELDS}


def _task_instances(dag_id: str, run_id: str) -> list[Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        return [
            SimpleNamespace(
                task_id=ti.task_id, map_index=ti.map_index, state=ti.state, try_number=ti.try_number
            )
            for ti in tis
        ]


def _xcoms(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> dict[int, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id, task_ids=task_id))
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}


def test_dag_test_makes_one_deferred_video_per_task_and_per_mapped_product(
    fast_sim: SimulatorHandle,
    sync_hook: DmjyHook,
    trigger_runs: list[str],
    load_dag: Callable[[str, str], Any],
) -> None:
    calls = 'product_video()\n    product_video.expand(product=["保温杯", "台灯", "乌龙茶"])'
    dag = load_dag("dmjy_taskflow_e2e", _dag_source("dmjy_taskflow_e2e", calls))
    run = dag.test()

    assert str(run.state) == "success"
    tis = _task_instances("dmjy_taskflow_e2e", run.run_id)
    assert sorted((ti.task_id, ti.map_index, ti.try_number) for ti in tis) == [
        ("product_video", -1, 1),
        ("product_video__1", 0, 1),
        ("product_video__1", 1, 1),
        ("product_video__1", 2, 1),
    ]
    single = _xcoms("dmjy_taskflow_e2e", run.run_id, "product_video")
    mapped = _xcoms("dmjy_taskflow_e2e", run.run_id, "product_video__1")
    videos = [single[-1], *(mapped[i] for i in range(3))]
    sim = fast_sim.state()
    assert sim["videos_created"] == 4 and posts(fast_sim) == 4
    assert sorted(trigger_runs) == sorted(video["id"] for video in videos)  # every task deferred
    for video in videos:
        assert video["status"] == "completed" and video == _result_of(sync_hook, video["id"])
    assert [video["title"].split(" [af-")[0] for video in videos[1:]] == [
        "展示保温杯",
        "展示台灯",
        "展示乌龙茶",
    ]
    assert len({video["title"] for video in videos}) == 4  # one marker per task instance
    arguments = _xcoms("dmjy_taskflow_e2e", run.run_id, "product_video__1", XCOM_ARGUMENTS_KEY)
    assert arguments[1] == {"description": "展示台灯", "image_url": IMG, "duration": 5}


def test_dag_test_a_bad_return_value_fails_without_retries_or_requests(
    fast_sim: SimulatorHandle, load_dag: Callable[[str, str], Any]
) -> None:
    body = 'return {"description": product, "image_url": image, "aspect_ratio": "1:1"}'
    source = _dag_source("dmjy_taskflow_bad", "product_video()", retries=3, body=body)
    run = load_dag("dmjy_taskflow_bad", source).test()

    assert str(run.state) == "failed"
    [ti] = _task_instances("dmjy_taskflow_bad", run.run_id)
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    assert fast_sim.state()["requests"] == {}


def test_dag_test_a_retry_reattaches_to_the_video_of_the_failed_try(
    fast_sim: SimulatorHandle,
    sync_hook: DmjyHook,
    load_dag: Callable[[str, str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original_create = CreateOnce.create

    def create_then_die(self: CreateOnce, request: Any) -> Any:
        video = original_create(self, request)
        if not self.is_retry:  # the first try dies right after paying
            raise DmjyServerError("worker lost after the create", status=None)
        return video

    monkeypatch.setattr(CreateOnce, "create", create_then_die)
    source = _dag_source("dmjy_taskflow_retry", "product_video()", retries=1)
    run = load_dag("dmjy_taskflow_retry", source).test()

    assert str(run.state) == "success"
    [ti] = _task_instances("dmjy_taskflow_retry", run.run_id)
    assert ti.try_number == 2
    video = _xcoms("dmjy_taskflow_retry", run.run_id, "product_video")[-1]
    assert video["status"] == "completed" and video == _result_of(sync_hook, video["id"])
    assert fast_sim.state()["videos_created"] == 1 and posts(fast_sim) == 1


def test_the_example_dag_makes_one_video_per_product(
    fast_sim: SimulatorHandle,
    trigger_runs: list[str],
    load_dag: Callable[[str, str], Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DMJY_POLL_INTERVAL", "0.1")
    run = load_dag(EXAMPLE.stem, EXAMPLE.read_text(encoding="utf-8")).test()

    assert str(run.state) == "success"
    videos = _xcoms(EXAMPLE.stem, run.run_id, "product_video")
    assert sorted(videos) == [0, 1, 2] and {video["status"] for video in videos.values()} == {"completed"}
    assert [videos[i]["title"].split(" [af-")[0] for i in range(3)] == [
        "CUP-001 智能保温杯",
        "LAMP-002 护眼台灯",
        "TEA-004 高山乌龙茶",
    ]
    assert sorted(trigger_runs) == sorted(video["id"] for video in videos.values())
    assert fast_sim.state()["videos_created"] == 3 and posts(fast_sim) == 3
