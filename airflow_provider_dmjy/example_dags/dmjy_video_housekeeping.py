"""Daily housekeeping: delete finished DMJY video tasks older than N days, and failed ones.

Videos are archived by ``dmjy_daily_product_videos``; the vendor-side tasks only clutter the
account after that. ``dry_run`` (on by default, so that a first run only reports) lists what would
be removed without deleting anything.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.video import DmjyDeleteVideoOperator

TIMEZONE = pendulum.timezone(os.environ.get("DMJY_TIMEZONE", "Asia/Shanghai"))

with DAG(
    dag_id="dmjy_video_housekeeping",
    description="Delete old finished and failed DMJY video tasks (dry run by default)",
    schedule="30 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    tags=["dmjy", "example"],
    params={
        "older_than_days": Param(
            30, type="integer", minimum=0, description="Delete completed videos older than"
        ),
        "delete_failed": Param(
            True, type="boolean", description="Also delete failed videos, whatever their age"
        ),
        "dry_run": Param(True, type="boolean", description="Only report what would be deleted"),
        "dmjy_conn_id": Param("dmjy_default", type="string"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def find_stale_videos(params: dict[str, Any]) -> list[str]:
        """The ids to delete: old completed tasks and (optionally) failed ones. Empty on a dry run."""
        cutoff = pendulum.now("UTC").subtract(days=params["older_than_days"])
        stale = []
        for video in DmjyHook(dmjy_conn_id=params["dmjy_conn_id"]).iter_videos():
            created = pendulum.parse(video["createdAt"])
            old_and_done = video["status"] == "completed" and created < cutoff
            if old_and_done or (params["delete_failed"] and video["status"] == "failed"):
                stale.append(video)
                print(
                    f"{video['id']}  {video['status']:<9}  {video['createdAt']}  {video.get('title') or ''}"
                )
        verb = "Would delete" if params["dry_run"] else "Deleting"
        print(f"{verb} {len(stale)} video tasks")
        return [] if params["dry_run"] else [video["id"] for video in stale]

    @task
    def report(deleted: list[str]) -> None:
        print(f"Removed {len(deleted)} video tasks: {', '.join(deleted) or 'none'}")

    ids = find_stale_videos()
    deleted = DmjyDeleteVideoOperator(
        task_id="delete_stale_videos", dmjy_conn_id="{{ params.dmjy_conn_id }}", video_ids=ids
    )
    report(deleted.output)
