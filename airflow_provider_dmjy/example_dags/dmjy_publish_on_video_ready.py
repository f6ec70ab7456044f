"""Publish every DMJY video as soon as it is ready: event-driven, no schedule, no waiting worker.

Scheduled on the asset ``dmjy://<conn>/videos``. Its events come from either source:

- **webhook** (``DMJY_EVENT_SOURCE=webhook``): the vendor calls the api-server plugin at
  ``POST /dmjy/webhooks/<conn>`` (give that URL as ``callback_url`` when creating videos); the
  verified callback becomes the asset event within a second. Needs an api-server the vendor can reach,
  with the receiver enabled (``[dmjy] webhooks_enabled = True``; it is off by default).
- **poll** (``DMJY_EVENT_SOURCE=poll``, the default): an ``AssetWatcher`` runs
  ``DmjyVideoEventTrigger`` in the triggerer, which lists finished videos every
  ``DMJY_EVENT_POLL_SECONDS`` (default 60). Works behind a firewall.

Each run archives the videos that completed (``DmjyDownloadVideoOperator``) and writes one record
per video, ``<published root>/<video id>.json`` with its title, URL and archived path. Writing the
same record twice is harmless, so a video announced by both sources is still published once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, ObjectStoragePath, task

from airflow_provider_dmjy.operators.video import DmjyDownloadVideoOperator
from airflow_provider_dmjy.triggers.events import DmjyVideoEventTrigger
from airflow_provider_dmjy.webhooks import EVENT_TASK_COMPLETED, event_payload, videos_asset_uri

CONN_ID = os.environ.get("DMJY_CONN_ID", "dmjy_default")
EVENT_SOURCE = os.environ.get("DMJY_EVENT_SOURCE", "poll")
POLL_SECONDS = float(os.environ.get("DMJY_EVENT_POLL_SECONDS", "60"))
_HOME = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()
ARCHIVE_ROOT = os.environ.get("DMJY_ARCHIVE_ROOT", (_HOME / "dmjy-archive").as_uri())
PUBLISHED_ROOT = os.environ.get("DMJY_PUBLISHED_ROOT", (_HOME / "dmjy-published").as_uri())

# With webhooks the api-server plugin creates the events; a watcher as well would announce each video twice.
watchers = (
    [
        AssetWatcher(
            name=f"dmjy_{CONN_ID}_videos_poll",
            trigger=DmjyVideoEventTrigger(dmjy_conn_id=CONN_ID, poll_interval=POLL_SECONDS),
        )
    ]
    if EVENT_SOURCE == "poll"
    else []
)
DMJY_VIDEOS = Asset(videos_asset_uri(CONN_ID), watchers=watchers)


def completed_videos(triggering_asset_events: Any) -> list[dict[str, Any]]:
    """``{"video_id", "video_url", "source"}`` for each ``task.completed`` event, once per video."""
    found: dict[str, dict[str, Any]] = {}
    for events in (triggering_asset_events or {}).values():
        for event in events:
            payload = event_payload(event.extra)
            data = payload.get("data") or {}
            if payload.get("event") == EVENT_TASK_COMPLETED and data.get("taskId"):
                found[data["taskId"]] = {
                    "video_id": data["taskId"],
                    "video_url": data.get("videoUrl"),
                    "source": (payload.get("dmjy") or {}).get("source", "trigger"),
                }
    return list(found.values())


def publish_record(archived: dict[str, Any], video: dict[str, Any], published_root: str) -> str:
    """Write ``<published_root>/<video id>.json``; returns its path."""
    record = {
        "video_id": archived["video_id"],
        "title": video.get("title"),
        "video_url": video.get("videoUrl"),
        "thumbnail_url": video.get("thumbnailUrl"),
        "archived_path": archived["path"],
        "size": archived.get("size"),
        "published_at": pendulum.now("UTC").to_iso8601_string(),
    }
    folder = ObjectStoragePath(published_root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{archived['video_id']}.json"
    target.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    return str(target)


with DAG(
    dag_id="dmjy_publish_on_video_ready",
    description="Archive and publish each DMJY video when it is ready (webhook or polling)",
    schedule=[DMJY_VIDEOS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dmjy", "example", "event-driven"],
    doc_md=__doc__,
) as dag:

    @task
    def ready_videos(triggering_asset_events: Any = None) -> list[str]:
        """The ids of the videos this run was triggered for (failed ones are left out)."""
        videos = completed_videos(triggering_asset_events)
        for video in videos:
            print(f"DMJY video {video['video_id']} ready (via {video['source']})")
        return [video["video_id"] for video in videos]

    archived = DmjyDownloadVideoOperator.partial(
        task_id="archive_video",
        dmjy_conn_id=CONN_ID,
        destination=ARCHIVE_ROOT.rstrip("/") + "/",
        include_thumbnail=True,
    ).expand(video_id=ready_videos())

    @task
    def publish(archived: dict[str, Any]) -> str:
        """One record per video in the published folder, with the title read from the API."""
        from airflow_provider_dmjy.hooks.dmjy import DmjyHook

        video = DmjyHook(dmjy_conn_id=CONN_ID).get_video(archived["video_id"])
        return publish_record(archived, video, PUBLISHED_ROOT)

    publish.expand(archived=archived.output)
