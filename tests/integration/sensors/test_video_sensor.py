"""DmjyVideoSensor against the simulator: poke, reschedule and deferrable paths, and one dag.test()."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException, AirflowSkipException
from airflow_provider_dmjy.exceptions import DmjyNotFoundError, DmjyVideoFailedError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.sensors.video import DmjyVideoSensor
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowRescheduleException,
        AirflowSensorTimeout,
        TaskDeferred,
    )

IMG = "https://example.com/cup.jpg"
GET_VIDEO = "GET /api/v1/videos/{id}"


@pytest.fixture
def video_id(sync_hook: DmjyHook) -> str:
    return str(sync_hook.create_video("展示智能保温杯", image_url=IMG, duration=5)["id"])


def sensor(video_id: str, **kwargs: Any) -> DmjyVideoSensor:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("timeout", 10)
    return DmjyVideoSensor(task_id="wait_for_video", video_id=video_id, **kwargs)


# -- construction ---------------------------------------------------------------------------------


def test_defaults() -> None:
    s = DmjyVideoSensor(task_id="w", video_id="{{ ti.xcom_pull('create') }}")
    assert s.template_fields == ("video_id", "dmjy_conn_id")
    assert s.dmjy_conn_id == "dmjy_default"
    assert s.poll_interval == 10.0 and s.max_poll_interval == 120.0
    assert s.poke_interval == 10.0  # follows poll_interval
    assert s.deferrable is False  # [operators] default_deferrable is off in the test config
    assert DmjyVideoSensor(task_id="w", video_id="v", poll_interval=3).poke_interval == 3
    assert DmjyVideoSensor(task_id="w", video_id="v", poll_interval=3, poke_interval=7).poke_interval == 7


def test_importing_the_sensor_does_not_import_aiohttp() -> None:
    code = (
        "import sys, airflow_provider_dmjy.sensors.video\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
        "assert 'airflow_provider_dmjy.triggers.video' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)  # noqa: S603 - our own code


# -- poke ----------------------------------------------------------------------------------------


def test_poke_completed(dmjy_conn: SimulatorHandle, video_id: str) -> None:
    dmjy_conn.complete(video_id)
    result = sensor(video_id).poke(context={})
    assert result.is_done
    assert result.xcom_value["id"] == video_id and result.xcom_value["status"] == "completed"


def test_poke_pending(slow_renders: SimulatorHandle, video_id: str) -> None:
    assert not sensor(video_id).poke(context={}).is_done


def test_poke_failed_fails_fast(dmjy_conn: SimulatorHandle, video_id: str) -> None:
    dmjy_conn.fail(video_id, "图片内容审核未通过")
    with pytest.raises(DmjyVideoFailedError, match="图片内容审核未通过") as raised:
        sensor(video_id).poke(context={})
    assert isinstance(raised.value, AirflowFailException)  # no task retries
    assert raised.value.video_id == video_id


def test_poke_failed_with_soft_fail_skips(dmjy_conn: SimulatorHandle, video_id: str) -> None:
    dmjy_conn.fail(video_id, "图片内容审核未通过")
    with pytest.raises(AirflowSkipException, match="图片内容审核未通过"):
        sensor(video_id, soft_fail=True).poke(context={})


def test_poke_not_found_fails_fast(dmjy_conn: SimulatorHandle) -> None:
    with pytest.raises(DmjyNotFoundError) as raised:
        sensor("vid_missing").poke(context={})
    assert isinstance(raised.value, AirflowFailException)


def test_poke_transient_error_is_not_done(slow_renders: SimulatorHandle, video_id: str) -> None:
    slow_renders.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503, times=4)
    assert not sensor(video_id).poke(context={}).is_done
    assert slow_renders.state()["faults_pending"] == 0


def test_execute_in_poke_mode_waits_for_completion(dmjy_conn: SimulatorHandle, sync_hook: DmjyHook) -> None:
    dmjy_conn.configure(render_seconds=0.5, queue_seconds=0.1)
    video_id = str(sync_hook.create_video("杯", image_url=IMG, duration=5)["id"])
    dmjy_conn.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503, times=5)
    video = sensor(video_id, max_poll_interval=0.2).execute(context={})
    assert video["id"] == video_id and video["status"] == "completed"
    assert 3 <= dmjy_conn.state()["requests"][GET_VIDEO] <= 40


def test_execute_in_poke_mode_failed_ends_failed_or_skipped(
    dmjy_conn: SimulatorHandle, video_id: str
) -> None:
    dmjy_conn.fail(video_id, "bad image")
    with pytest.raises(AirflowFailException, match="bad image"):
        sensor(video_id).execute(context={})
    with pytest.raises(AirflowSkipException, match="bad image"):
        sensor(video_id, soft_fail=True).execute(context={})


def test_execute_in_poke_mode_times_out(slow_renders: SimulatorHandle, video_id: str) -> None:
    with pytest.raises(AirflowSensorTimeout):
        sensor(video_id, timeout=0.3).execute(context={})


def test_execute_in_reschedule_mode_reschedules(slow_renders: SimulatorHandle, video_id: str) -> None:
    class FakeTI:
        def get_first_reschedule_date(self, context: Any) -> None:
            return None

    with pytest.raises(AirflowRescheduleException):
        sensor(video_id, mode="reschedule").execute(context={"ti": FakeTI()})  # type: ignore[typeddict-item]


def test_next_poke_interval_follows_the_poll_schedule(slow_renders: SimulatorHandle, video_id: str) -> None:
    s = sensor(video_id, poll_interval=2, max_poll_interval=5, timeout=100)
    s.poke(context={})
    first = s._get_next_poke_interval(0.0, lambda: 0.0, 1)
    assert 2 <= first <= 5
    assert s._get_next_poke_interval(0.0, lambda: 99.5, 1) == pytest.approx(0.5)  # never past the timeout


# -- deferrable ------------------------------------------------------------------------------------


def test_deferrable_execute_defers_to_the_trigger(slow_renders: SimulatorHandle, video_id: str) -> None:
    s = sensor(video_id, deferrable=True, timeout=600, poll_interval=4, max_poll_interval=60)
    before = time.time()
    with pytest.raises(TaskDeferred) as raised:
        s.execute(context={})
    deferred = raised.value
    assert deferred.method_name == "execute_complete"
    trigger = deferred.trigger
    assert isinstance(trigger, DmjyVideoTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_dmjy.triggers.video.DmjyVideoTrigger"
    assert kwargs["video_id"] == video_id and kwargs["dmjy_conn_id"] == "dmjy_default"
    assert kwargs["poll_interval"] == 4 and kwargs["max_poll_interval"] == 60
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600
    # the triggerer's own timeout is only a backstop behind the trigger's deadline
    assert deferred.timeout is not None and deferred.timeout.total_seconds() > 600


def test_deferrable_execute_returns_a_completed_video_at_once(
    dmjy_conn: SimulatorHandle, video_id: str
) -> None:
    dmjy_conn.complete(video_id)
    video = sensor(video_id, deferrable=True).execute(context={})
    assert video["status"] == "completed" and video["id"] == video_id


def test_deferrable_execute_fails_a_failed_video_at_once(dmjy_conn: SimulatorHandle, video_id: str) -> None:
    dmjy_conn.fail(video_id, "bad image")
    with pytest.raises(DmjyVideoFailedError, match="bad image") as raised:
        sensor(video_id, deferrable=True).execute(context={})
    assert isinstance(raised.value, AirflowFailException)
    with pytest.raises(AirflowSkipException, match="bad image"):
        sensor(video_id, deferrable=True, soft_fail=True).execute(context={})


def test_deferrable_execute_defers_after_a_transient_error(
    slow_renders: SimulatorHandle, video_id: str
) -> None:
    slow_renders.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503, times=4)
    with pytest.raises(TaskDeferred):
        sensor(video_id, deferrable=True).execute(context={})


VIDEO = {"id": "vid_1", "status": "completed", "progress": 100, "videoUrl": "https://x/v.mp4"}


def test_execute_complete_completed() -> None:
    event = {"status": "completed", "video_id": "vid_1", "video": VIDEO}
    assert sensor("vid_1").execute_complete({}, event) == VIDEO


def test_execute_complete_failed() -> None:
    event = {
        "status": "failed",
        "video_id": "vid_1",
        "video": {**VIDEO, "status": "failed"},
        "message": "审核未通过",
    }
    with pytest.raises(DmjyVideoFailedError, match="审核未通过") as raised:
        sensor("vid_1").execute_complete({}, event)
    assert isinstance(raised.value, AirflowFailException)
    with pytest.raises(AirflowSkipException, match="审核未通过"):
        sensor("vid_1", soft_fail=True).execute_complete({}, event)


def test_execute_complete_timeout() -> None:
    event = {"status": "timeout", "video_id": "vid_1", "video": None, "message": "still pending after 600 s"}
    with pytest.raises(AirflowSensorTimeout, match="still pending"):
        sensor("vid_1").execute_complete({}, event)
    with pytest.raises(AirflowSkipException, match="still pending"):
        sensor("vid_1", soft_fail=True).execute_complete({}, event)


def test_execute_complete_error() -> None:
    event = {"status": "error", "video_id": "vid_1", "message": "DMJY API error 401", "error_type": "X"}
    with pytest.raises(AirflowFailException, match="DMJY API error 401"):
        sensor("vid_1").execute_complete({}, event)


def test_execute_complete_unknown_event() -> None:
    with pytest.raises(AirflowFailException, match="Unexpected event"):
        sensor("vid_1").execute_complete({}, {"status": "weird"})


# -- end to end: dag.test() runs the trigger inline ---------------------------------------------------


DAG_SOURCE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_dmjy.sensors.video import DmjyVideoSensor

with DAG("dmjy_sensor_e2e", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    # The connection comes from AIRFLOW_CONN_DMJY_DEFAULT.
    DmjyVideoSensor(
        task_id="wait_for_video",
        video_id="{video_id}",
        deferrable=True,
        poll_interval=0.1,
        max_poll_interval=0.3,
        timeout=60,
    )
"""


def test_dag_test_runs_the_deferrable_sensor_end_to_end(
    dmjy_conn: SimulatorHandle,
    sync_hook: DmjyHook,
    load_dag: Callable[[str, str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    # A render that would outlast the test: it completes only once the trigger is polling, which
    # proves the sensor deferred and dag.test() ran the trigger (a fixed short render could finish
    # during dag.test()'s start-up and never defer).
    dmjy_conn.configure(render_seconds=120, queue_seconds=60)
    video_id = str(sync_hook.create_video("展示智能保温杯", image_url=IMG, duration=5)["id"])

    trigger_runs: list[str] = []
    original_run = DmjyVideoTrigger.run

    async def counted_run(self: DmjyVideoTrigger) -> AsyncIterator[Any]:
        trigger_runs.append(self.video_id)
        threading.Timer(0.3, dmjy_conn.complete, args=[self.video_id]).start()
        async for event in original_run(self):
            yield event

    monkeypatch.setattr(DmjyVideoTrigger, "run", counted_run)

    dag = load_dag("dmjy_sensor_e2e", DAG_SOURCE.replace("{video_id}", video_id))
    dag_run = dag.test()

    assert trigger_runs == [video_id]  # the sensor deferred and dag.test() ran the trigger inline
    assert dmjy_conn.state()["requests"][GET_VIDEO] >= 3  # execute's check, then the trigger's polls
    with create_session() as session:
        ti = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == "dmjy_sensor_e2e",
                TaskInstance.run_id == dag_run.run_id,
                TaskInstance.task_id == "wait_for_video",
            )
        ).one()
        assert ti.state == TaskInstanceState.SUCCESS
        row = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id,
                key="return_value",
                dag_ids="dmjy_sensor_e2e",
                task_ids="wait_for_video",
            )
        ).first()
        assert row is not None
        value = XComModel.deserialize_value(row)
    assert value["id"] == video_id and value["status"] == "completed" and value["videoUrl"]
    assert value == sync_hook.get_video(video_id)
