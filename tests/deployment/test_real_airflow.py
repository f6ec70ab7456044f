"""The flagship DAG in a real Airflow deployment: api-server, scheduler, dag-processor, triggerer.

``dag.test()`` runs deferrable operators in-process; here the renders really wait in the
triggerer, the tasks run through LocalExecutor and the task SDK's execution API, and the run is
triggered through the REST API - the way users run the provider. The components run on loopback
with SQLite in a temporary Airflow home; every process is stopped afterwards, pass or fail.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .airflow_stack import AirflowStack

DAG_ID = "dmjy_daily_product_videos"
RUN_ID = "deployment_test"
LOGICAL_DATE = "2026-03-02T04:00:00+00:00"  # the same day in UTC and in the DAG's Asia/Shanghai
DS = "2026-03-02"
#: The valid rows of example_dags/data/products.csv (PEN-007 has no name, SOAP-008 an ftp:// image).
VALID_SKUS = ["CUP-001", "LAMP-002", "BAG-003", "TEA-004", "EAR-005", "MAT-006", "PLANT-009", "FAN-010"]
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

    stack.wait_dag_parsed(DAG_ID, timeout=120)
    lap("dag parsed")
    stack.trigger_run(DAG_ID, RUN_ID, LOGICAL_DATE, conf={"archive_root": stack.archive_root.as_uri()})
    state = stack.wait_run_finished(DAG_ID, RUN_ID, timeout=RUN_TIMEOUT)
    lap("run finished")
    assert state == "success", f"run {RUN_ID} {state}\n{stack.diagnostics(DAG_ID, RUN_ID)}"

    # Every valid product got exactly one video, and every render completed.
    sim = stack.simulator_state()
    assert sim["videos_created"] == len(VALID_SKUS), sim
    assert sorted(sim["videos"].values()) == ["completed"] * len(VALID_SKUS), sim["videos"]
    video_ids = set(sim["videos"])

    # The report next to the archived files.
    folder = stack.archive_root / DS
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["videos"]
    assert [row["sku"] for row in rows] == VALID_SKUS
    assert {row["video_id"] for row in rows} == video_ids
    assert {row["status"] for row in rows} == {"completed"}
    assert [row["sku"] for row in manifest["skipped_rows"]] == ["PEN-007", "SOAP-008"]
    for row in rows:
        video = Path(urlsplit(row["video_path"]).path)
        assert video == folder / f"{row['video_id']}.mp4", row
        assert video.stat().st_size > 0, row
        assert Path(urlsplit(row["thumbnail_path"]).path).is_file(), row
    with (folder / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        assert [row["video_id"] for row in csv.DictReader(handle)] == [row["video_id"] for row in rows]
    gallery = (folder / "index.html").read_text(encoding="utf-8")
    assert all(f"{video_id}.mp4" in gallery for video_id in video_ids)

    # The renders waited in the triggerer: it writes each deferred task's trigger log next to the
    # task log, as <task log>.trigger.<triggerer job id>.log (Airflow 3.1 and 3.3 alike).
    triggerer_ids = {str(job_id) for job_id in stack.triggerer_job_ids()}
    assert triggerer_ids, "no triggerer job recorded"
    task_dir = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / "task_id=create_video"
    for index, row in enumerate(rows):
        trigger_logs = sorted((task_dir / f"map_index={index}").glob("attempt=*.log.trigger.*.log"))
        assert trigger_logs, f"no trigger log for create_video[{index}]\n{stack.diagnostics(DAG_ID, RUN_ID)}"
        assert {path.name.rsplit(".", 2)[-2] for path in trigger_logs} <= triggerer_ids, trigger_logs
        text = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in trigger_logs)
        assert f"Waiting for DMJY video {row['video_id']}" in text, text[-2000:]
        assert f"DMJY video {row['video_id']} wait ended: completed" in text, text[-2000:]
    lap("checked")
    print(f"\ndeployment test timings (s since start): {timings}")
