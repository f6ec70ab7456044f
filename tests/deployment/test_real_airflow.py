"""The flagship DAG in a real Airflow deployment: api-server, scheduler, dag-processor, triggerer.

``dag.test()`` runs deferrable operators in-process; here the renders really wait in the
triggerer, the tasks run through LocalExecutor and the task SDK's execution API, and the run is
triggered through the REST API the way the UI and ``airflow dags trigger`` do in Airflow 3: without
a logical date, named by Airflow. The components run on loopback with SQLite in a temporary
Airflow home; every process is stopped afterwards, pass or fail.
"""

from __future__ import annotations

import csv
import time

import pytest

from .airflow_stack import AirflowStack
from .reviewer import (
    DAG_ID,
    VALID_SKUS,
    read_manifest,
    run_folder,
    trigger_without_logical_date,
    videos_created,
    wait_parsed,
)

RUN_TIMEOUT = 240.0


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_flagship_dag_in_real_airflow_components(airflow_stack: AirflowStack) -> None:
    stack = airflow_stack
    timings: dict[str, float] = {}
    started = time.monotonic()

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    # Renders of a few seconds (minutes for the real service), not less: when a trigger fires before the
    # scheduler has processed the deferring worker's exit, and the scheduler has already queued the task
    # again, Airflow (3.1.8 and 3.3.2 alike) fails it: "finished with state success, but the task
    # instance's state attribute is queued". [workers] min_heartbeat_interval=1 makes that exit known
    # within about a second (5 s by default); the renders take longer.
    stack.start_simulator("--render-seconds", "5", "--queue-seconds", "0.5")
    stack.cli("db", "migrate")
    stack.cli("pools", "set", "dmjy_creates", "4", "Caps concurrent DMJY creates")
    lap("db ready")
    stack.start_components()
    stack.wait_api_ready(timeout=120)
    lap("api ready")

    wait_parsed(stack, timeout=120)
    lap("dag parsed")
    # As the UI triggers: no logical date, no run id (Airflow names the run after its run_after, so
    # the id has ":" and "+" in it), the demo's review="auto" (nobody is asked).
    conf = {"archive_root": stack.archive_root.as_uri(), "review": "auto"}
    run = trigger_without_logical_date(stack, None, conf)
    run_id = str(run["dag_run_id"])
    state = stack.wait_run_finished(DAG_ID, run_id, timeout=RUN_TIMEOUT)
    lap("run finished")
    assert state == "success", f"run {run_id} {state}\n{stack.diagnostics(DAG_ID, run_id)}"

    # Every valid product got exactly one video, and every render completed.
    sim = stack.simulator_state()
    assert videos_created(stack) == len(VALID_SKUS), sim
    assert sorted(sim["videos"].values()) == ["completed"] * len(VALID_SKUS), sim["videos"]
    video_ids = set(sim["videos"])

    # The run's own folder, <archive>/<day of run_after>/<safe run id>/: the report lists what is there.
    folder = run_folder(stack.archive_root, run)
    manifest = read_manifest(folder)
    assert (manifest["run_id"], manifest["state"]) == (run_id, "success"), manifest
    products = manifest["products"]
    assert [product["sku"] for product in products] == VALID_SKUS
    assert {product["video_id"] for product in products} == video_ids
    assert {(product["status"], product["reused"]) for product in products} == {("completed", False)}
    assert [row["sku"] for row in manifest["skipped"]] == ["PEN-007", "SOAP-008"]
    for product in products:
        assert (folder / product["video_file"]).stat().st_size > 0, product
        assert (folder / product["thumbnail_file"]).stat().st_size > 0, product
        assert product["missing_files"] == [], product
    assert sorted(path.name for path in folder.glob("*.mp4")) == sorted(f"{v}.mp4" for v in video_ids)
    with (folder / "manifest.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert [row["video_id"] for row in csv.DictReader(handle)] == [p["video_id"] for p in products]
    gallery = (folder / "index.html").read_text(encoding="utf-8")
    assert all(product["video_file"] in gallery for product in products)
    # review="auto" approved every video: published, each with its record.
    published = stack.archive_root / "published"
    assert sorted(path.stem for path in published.glob("*.json")) == sorted(video_ids)

    # The renders waited in the triggerer: it writes each deferred task's trigger log next to the
    # task log, as <task log>.trigger.<triggerer job id>.log (Airflow 3.1 and 3.3 alike).
    triggerer_ids = {str(job_id) for job_id in stack.triggerer_job_ids()}
    assert triggerer_ids, "no triggerer job recorded"
    task_dir = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=create_video"
    for index, product in enumerate(products):
        trigger_logs = sorted((task_dir / f"map_index={index}").glob("attempt=*.log.trigger.*.log"))
        assert trigger_logs, f"no trigger log for create_video[{index}]\n{stack.diagnostics(DAG_ID, run_id)}"
        assert {path.name.rsplit(".", 2)[-2] for path in trigger_logs} <= triggerer_ids, trigger_logs
        text = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in trigger_logs)
        assert f"Waiting for DMJY video {product['video_id']}" in text, text[-2000:]
        assert f"DMJY video {product['video_id']} wait ended: completed" in text, text[-2000:]
    lap("checked")
    print(f"\ndeployment test timings (s since start): {timings}")
