"""What a person does to the flagship's runs through Airflow's REST API, for the deployment tests.

Triggers runs the way the UI and ``airflow dags trigger`` do in Airflow 3 (no logical date), finds
the human-in-the-loop requests a run is waiting on (``GET .../hitlDetails``), answers them
(``PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails``) and reads the run's folder. The
same paths and bodies serve Airflow 3.1 and 3.3; what differs is the waiting task's state:
``deferred`` (3.1, the standard provider's ``HITLTrigger`` polls for the answer) or
``awaiting_input`` (3.3, parked without a trigger).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pendulum

from .airflow_stack import AirflowStack, wait_for

DAG_ID = "dmjy_daily_product_videos"
#: The flagship's timezone in the stack (DMJY_TIMEZONE is not set there): it names the day folder.
DAG_TIMEZONE = "Asia/Shanghai"
#: The valid rows of example_dags/data/products.csv (PEN-007 has no name, SOAP-008 an ftp:// image).
VALID_SKUS = ["CUP-001", "LAMP-002", "BAG-003", "TEA-004", "EAR-005", "MAT-006", "PLANT-009", "FAN-010"]
#: Task instance states in which a human-in-the-loop task waits for its answer (3.1, 3.3).
WAITING = ("deferred", "awaiting_input")
FINISHED_TI = ("success", "failed", "skipped", "upstream_failed", "removed")
FINISHED_RUN = ("success", "failed")


def trigger_without_logical_date(
    stack: AirflowStack, run_id: str | None, conf: dict[str, Any], dag_id: str = DAG_ID
) -> dict[str, Any]:
    """Trigger a run with ``"logical_date": null`` (as the UI does; ``run_id=None``: Airflow names
    it); the run, as the API returns it."""
    run = stack.trigger_run(dag_id, run_id, None, conf=conf)
    assert run["logical_date"] is None, run
    return run


def wait_parsed(stack: AirflowStack, timeout: float, dag_id: str = DAG_ID) -> None:
    """Wait until the dag-processor has parsed ``dag_id``; fail at once on its file's import error."""

    def probe() -> bool | None:
        stack.check_alive()
        if stack.api("GET", f"/dags/{dag_id}").status_code == 200:
            return True
        errors = stack.api("GET", "/importErrors").json().get("import_errors", [])
        mine = [error for error in errors if str(error.get("filename", "")).endswith(f"{dag_id}.py")]
        assert not mine, f"{dag_id} does not parse:\n{mine[0].get('stack_trace', mine[0])}"
        return None

    wait_for(f"the dag-processor to parse {dag_id}", probe, timeout)


def get_run(stack: AirflowStack, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
    response = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def list_runs(stack: AirflowStack, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
    """Every run of ``dag_id``, oldest first."""
    response = stack.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["dag_runs"])


def task_instance(
    stack: AirflowStack, run_id: str, task_id: str, map_index: int = -1, dag_id: str = DAG_ID
) -> dict[str, Any] | None:
    """One task instance (REST API), or ``None`` while the scheduler has not created it."""
    suffix = f"/{map_index}" if map_index >= 0 else ""
    response = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{suffix}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_task_state(
    stack: AirflowStack,
    run_id: str,
    task_id: str,
    states: tuple[str, ...],
    timeout: float,
    dag_id: str = DAG_ID,
) -> str:
    """Wait until ``task_id`` (not mapped) is in one of ``states``; its state.

    Fails at once, with diagnostics, when the task or the run ends in a state not asked for.
    """

    def probe() -> str | None:
        stack.check_alive()
        ti = task_instance(stack, run_id, task_id, dag_id=dag_id)
        state = (ti or {}).get("state")
        if state in states:
            return str(state)
        run_state = get_run(stack, run_id, dag_id)["state"]
        if state in FINISHED_TI or run_state in FINISHED_RUN:
            raise AssertionError(
                f"{task_id} is {state} (run {run_state}), expected one of {states}\n"
                f"{stack.diagnostics(dag_id, run_id)}"
            )
        return None

    try:
        return wait_for(f"{task_id} of {run_id} to be {'/'.join(states)}", probe, timeout, interval=1)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{stack.diagnostics(dag_id, run_id)}") from error


def pending_requests(stack: AirflowStack, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
    """The run's human-in-the-loop requests nobody has answered yet, as a reviewer's inbox lists them."""
    response = stack.api(
        "GET", f"/dags/{dag_id}/dagRuns/{run_id}/hitlDetails", params={"response_received": False}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["hitl_details"])


def wait_exit_processed(
    stack: AirflowStack, run_id: str, task_id: str, timeout: float, dag_id: str = DAG_ID
) -> None:
    """Wait until the scheduler has handled the exit of the worker that left ``task_id`` waiting.

    An answer that comes sooner resumes the task (state ``scheduled``, then ``queued``) before the
    scheduler reads the parking worker's "success" event, and the scheduler then fails the task:
    "finished with state success, but the task instance's state attribute is queued" (seen on
    Airflow 3.3.2 with an answer 1 s after the question; the same race as a trigger firing early,
    see test_real_airflow.py). A person takes longer than that; a test waits for the scheduler's
    own log line of the event.
    """
    ti = task_instance(stack, run_id, task_id, dag_id=dag_id) or {}
    key = (
        f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', "
        f"try_number={ti.get('try_number')}, map_index=-1)"
    )
    log = stack.component_logs / "scheduler.log"

    def seen() -> bool | None:
        stack.check_alive()
        text = log.read_text(encoding="utf-8", errors="replace")
        return True if f"Received executor event with state success for task instance {key}" in text else None

    wait_for(f"the scheduler to handle the exit of {task_id}'s worker", seen, timeout)


def wait_request(
    stack: AirflowStack, run_id: str, task_id: str, timeout: float, dag_id: str = DAG_ID
) -> dict[str, Any]:
    """The request of ``task_id`` once the task waits for the answer (its HITL detail, REST API)."""
    wait_task_state(stack, run_id, task_id, WAITING, timeout, dag_id)
    wait_exit_processed(stack, run_id, task_id, timeout, dag_id)
    [request] = [
        item
        for item in pending_requests(stack, run_id, dag_id)
        if item["task_instance"]["task_id"] == task_id
    ]
    response = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails")
    assert response.status_code == 200, response.text
    detail = dict(response.json())
    assert detail["subject"] == request["subject"] and not detail["response_received"], detail
    return detail


def answer(
    stack: AirflowStack,
    run_id: str,
    request: dict[str, Any],
    option: str,
    params: dict[str, Any] | None = None,
    dag_id: str = DAG_ID,
) -> dict[str, Any]:
    """Answer a request as the UI's form does: one option, and every param (its default unless given)."""
    assert option in request["options"], (option, request["options"])
    params_input = {name: spec["value"] for name, spec in (request.get("params") or {}).items()}
    params_input.update(params or {})
    task_id = request["task_instance"]["task_id"]
    response = stack.api(
        "PATCH",
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
        json={"chosen_options": [option], "params_input": params_input},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def run_folder(archive_root: Path, run: dict[str, Any]) -> Path:
    """``<archive_root>/<day of run_after in the DAG's timezone>/<safe run id>/`` of a run."""
    from airflow_provider_dmjy.reports import safe_folder_name

    run_after = pendulum.instance(datetime.fromisoformat(str(run["run_after"])))
    day = run_after.in_timezone(DAG_TIMEZONE).to_date_string()
    return archive_root / day / safe_folder_name(str(run["dag_run_id"]))


def read_manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text(encoding="utf-8")))


def videos_created(stack: AirflowStack) -> int:
    """How many videos the simulator was asked to create (each one is paid for)."""
    return int(stack.simulator_state()["videos_created"])
