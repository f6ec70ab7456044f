"""Faults on real Airflow components: processes SIGKILLed in the middle of a paid render's wait.

Each test is a case of the reliability table (``make reliability``). The simulator renders slowly
(ten minutes) and the test completes a render through the simulator's control endpoint only when
the fault is over, so nothing depends on how fast this machine is; the money is counted with the
simulator's ``videos_created``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.reliability.evidence import Evidence

from .airflow_stack import COMPONENTS, AirflowStack, wait_for

LOGICAL_DATE = "2026-03-02T04:00:00+00:00"
#: Renders never finish by themselves during a test: the test completes them.
SLOW_RENDERS = ("--render-seconds", "600", "--queue-seconds", "1")
#: Generous: components start slowly on a busy two-core machine, yet conditions end waits early.
START_TIMEOUT = 180.0
STEP_TIMEOUT = 180.0
#: The triggerer failover settings of the test: heartbeat every second, dead after 5 s without one
#: (defaults: 5 s and 30 s; Airflow reads the threshold as an integer).
TRIGGERER_HEARTBEAT_SEC = 1
TRIGGERER_HEALTH_CHECK_THRESHOLD = 5
#: The create operator's log line naming the video a try goes on with, created or found.
ATTACHED = re.compile(r"DMJY video (\S+) is ")


def _events(path: Path) -> list[str]:
    """The ``event`` texts of an Airflow JSON-lines log file (task or trigger log)."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            events.append(str(record.get("event", "")))
    return events


def _start(stack: AirflowStack, dag_id: str, components: list[str]) -> None:
    stack.start_simulator(*SLOW_RENDERS)
    stack.cli("db", "migrate")
    stack.start_components(components)
    stack.wait_api_ready(timeout=START_TIMEOUT)
    stack.wait_dag_parsed(dag_id, timeout=START_TIMEOUT)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.reliability(
    area="Real components",
    case="the worker's task process SIGKILLed mid-wait (non-deferrable create, retries=1)",
    expected="the retry reattaches to the first try's video; one video; the task succeeds",
)
def test_task_process_killed_mid_wait_the_retry_reattaches(
    fault_stack: AirflowStack, evidence: Evidence
) -> None:
    stack = fault_stack
    dag_id, run_id, task_id = "dmjy_fault_worker_killed", "worker_killed", "create_video"
    started = time.monotonic()
    # The wait happens in the worker: no triggerer needed.
    _start(stack, dag_id, [name for name in COMPONENTS if name != "triggerer"])
    stack.trigger_run(dag_id, run_id, LOGICAL_DATE)
    first_log = stack.task_log(dag_id, run_id, task_id, attempt=1)

    def waiting_in_first_try() -> str | None:
        """The video id, once try 1 has created it and logged its first "next check in"."""
        stack.check_alive()
        videos = list(stack.simulator_state()["videos"])
        polling = [e for e in _events(first_log) if "next check in" in e]
        if len(videos) == 1 and any(f"DMJY video {videos[0]} " in event for event in polling):
            return str(videos[0])
        return None

    video_id = wait_for("the first try to wait for its video", waiting_in_first_try, STEP_TIMEOUT)
    ti = stack.task_instances(dag_id, run_id)[task_id]
    assert (ti["state"], ti["try_number"]) == ("running", 1), ti
    killed_pid = stack.kill_task_process(str(ti["id"]))
    killed_at = time.monotonic()

    # The supervisor reports the killed try as failed; the scheduler queues try 2, which must find
    # the video of try 1 (state store on Airflow >= 3.3, title marker before) instead of paying again.
    second_log = stack.task_log(dag_id, run_id, task_id, attempt=2)

    def second_try_attached() -> str | None:
        """The video try 2 went on with (the operator logs "DMJY video <id> is <status>")."""
        stack.check_alive()
        found = [m.group(1) for m in map(ATTACHED.match, _events(second_log)) if m is not None]
        return found[0] if found else None

    second_video = wait_for("the second try to attach to a video", second_try_attached, STEP_TIMEOUT)
    retry_seconds = time.monotonic() - killed_at
    sim = stack.simulator_state()
    evidence.billed(int(sim["videos_created"]), tasks=1)  # recorded before the asserts: a red row counts
    assert second_video == video_id, f"try 2 went on with {second_video}\n{sim}"
    assert sim["videos_created"] == 1, stack.diagnostics(dag_id, run_id)
    SimulatorHandle.for_base_url(stack.simulator_url).complete(video_id)

    state = stack.wait_run_finished(dag_id, run_id, timeout=STEP_TIMEOUT)
    sim = stack.simulator_state()
    ti = stack.task_instances(dag_id, run_id)[task_id]
    print(
        f"\ntask process {killed_pid} killed; try 2 attached to {video_id} {retry_seconds:.1f} s later; "
        f"test {time.monotonic() - started:.0f} s"
    )
    evidence.billed(int(sim["videos_created"]), tasks=1)
    # What the user sees in try 2's log: how it found the video of try 1.
    reattached = [e for e in _events(second_log) if video_id in e]
    evidence.message(reattached[0])
    assert state == "success", stack.diagnostics(dag_id, run_id)
    assert (ti["state"], ti["try_number"]) == ("success", 2), ti
    assert sim["videos_created"] == 1, sim
    assert sim["videos"] == {video_id: "completed"}, sim
    returned = stack.api(
        "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    ).json()["value"]
    assert returned["id"] == video_id, returned


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.reliability(
    area="Real components",
    case="PostgreSQL, two triggerers: the one holding the waits SIGKILLed mid-wait",
    expected="the other triggerer takes the waits over; every task succeeds with one video each",
)
def test_triggerer_killed_mid_wait_the_other_takes_over(
    postgres_fault_stack: AirflowStack, evidence: Evidence
) -> None:
    stack = postgres_fault_stack
    dag_id, run_id = "dmjy_fault_triggerer_killed", "triggerer_killed"
    started = time.monotonic()
    stack.env["AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC"] = str(TRIGGERER_HEARTBEAT_SEC)
    stack.env["AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD"] = str(TRIGGERER_HEALTH_CHECK_THRESHOLD)
    stack.start_simulator(*SLOW_RENDERS)
    stack.cli("db", "migrate")
    # The triggerers start one after the other, so that each job id in the database is known to
    # belong to one process: the triggerer log names its job only in the trigger log files.
    stack.start_components(["api-server", "scheduler", "dag-processor", "triggerer"])
    stack.wait_api_ready(timeout=START_TIMEOUT)

    def triggerer_jobs(count: int) -> list[int] | None:
        stack.check_alive()
        ids = stack.triggerer_job_ids()
        return ids if len(ids) == count else None

    first_job = wait_for("the first triggerer's job", lambda: triggerer_jobs(1), START_TIMEOUT)[0]
    stack.start_components(["triggerer-2"])
    second_job = wait_for("the second triggerer's job", lambda: triggerer_jobs(2), START_TIMEOUT)[1]
    process_of = {first_job: "triggerer", second_job: "triggerer-2"}
    stack.wait_dag_parsed(dag_id, timeout=START_TIMEOUT)
    stack.trigger_run(dag_id, run_id, LOGICAL_DATE)
    task_dir = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"

    def trigger_log(task_id: str, job_id: int) -> Path:
        return task_dir / f"task_id={task_id}" / f"attempt=1.log.trigger.{job_id}.log"

    def waits_running(on: set[int]) -> dict[str, int] | None:
        """Task id -> triggerer job, once every task's wait runs on one of the triggerers ``on``."""
        stack.check_alive()
        instances = stack.task_instances(dag_id, run_id)
        holders: dict[str, int] = {}
        for task_id, ti in instances.items():
            trigger = ti.get("trigger") or {}
            job_id = trigger.get("triggerer_id")
            if ti["state"] != "deferred" or job_id not in on:
                return None
            if not any(e.startswith("Waiting for DMJY video") for e in _events(trigger_log(task_id, job_id))):
                return None
            holders[task_id] = job_id
        return holders if instances else None

    holders = wait_for(
        "every create to wait in a triggerer", lambda: waits_running({first_job, second_job}), STEP_TIMEOUT
    )
    tasks = len(holders)
    sim = stack.simulator_state()
    assert sim["videos_created"] == tasks, sim
    # The victim: the triggerer holding the most waits (all of them, or at least two of three).
    victim = max((first_job, second_job), key=lambda job: list(holders.values()).count(job))
    survivor = second_job if victim == first_job else first_job
    moved = sorted(task_id for task_id, job in holders.items() if job == victim)
    assert len(moved) >= 2, f"several waits on the triggerer to kill: {holders}"
    stack.kill_component(process_of[victim])
    killed_at = time.monotonic()

    def reassigned() -> bool | None:
        stack.check_alive()
        instances = stack.task_instances(dag_id, run_id)
        on_survivor = all(
            (instances[task_id].get("trigger") or {}).get("triggerer_id") == survivor for task_id in moved
        )
        return True if on_survivor else None

    wait_for("the waits to be reassigned", reassigned, STEP_TIMEOUT, interval=0.2)
    reassigned_after = time.monotonic() - killed_at
    wait_for(
        "the waits to run on the survivor", lambda: waits_running({survivor}), STEP_TIMEOUT, interval=0.2
    )
    failover = time.monotonic() - killed_at
    assert stack.simulator_state()["videos_created"] == tasks

    # Now the renders end; every event is delivered through the surviving triggerer.
    handle = SimulatorHandle.for_base_url(stack.simulator_url)
    completing = time.monotonic()
    for video_id in sim["videos"]:
        handle.complete(video_id)
    state = stack.wait_run_finished(dag_id, run_id, timeout=STEP_TIMEOUT)
    delivered = time.monotonic() - completing

    sim = stack.simulator_state()
    instances = stack.task_instances(dag_id, run_id)
    summary = (
        f"triggerer job {victim} (holding {len(moved)} of {tasks} waits) SIGKILLed; job {survivor} took them "
        f"over: reassigned after {reassigned_after:.1f} s, waits running after {failover:.1f} s "
        f"(heartbeat {TRIGGERER_HEARTBEAT_SEC} s, threshold {TRIGGERER_HEALTH_CHECK_THRESHOLD} s); "
        f"all {tasks} tasks done {delivered:.1f} s after the renders completed"
    )
    print(f"\n{summary}; test {time.monotonic() - started:.0f} s")
    evidence.billed(int(sim["videos_created"]), tasks=tasks)
    evidence.message(summary)
    assert state == "success", stack.diagnostics(dag_id, run_id)
    assert {(ti["state"], ti["try_number"]) for ti in instances.values()} == {("success", 1)}, instances
    assert sim["videos_created"] == tasks, sim
    assert sorted(sim["videos"].values()) == ["completed"] * tasks, sim
    for task_id in moved:
        ended = [e for e in _events(trigger_log(task_id, survivor)) if "wait ended: completed" in e]
        assert ended, f"{task_id}: the survivor's trigger log shows no completed wait"
