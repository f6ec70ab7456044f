"""example_dags/dmjy_publish_on_video_ready.py: schedule, both event shapes, the published record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.events import DmjyVideoEventTrigger

DAG_FILE = Path(__file__).parents[3] / "example_dags" / "dmjy_publish_on_video_ready.py"


def load(monkeypatch: pytest.MonkeyPatch, source: str) -> Any:
    monkeypatch.setenv("DMJY_EVENT_SOURCE", source)
    spec = importlib.util.spec_from_file_location(f"publish_dag_{source}", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scheduled_on_the_videos_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    polling = load(monkeypatch, "poll")
    assert polling.dag.dag_id == "dmjy_publish_on_video_ready" and polling.dag.doc_md
    assert polling.DMJY_VIDEOS.uri == "dmjy://dmjy_default/videos"
    [watcher] = polling.DMJY_VIDEOS.watchers
    assert isinstance(watcher.trigger, DmjyVideoEventTrigger)
    assert set(polling.dag.task_ids) == {"ready_videos", "archive_video", "publish"}
    webhook = load(monkeypatch, "webhook")
    assert webhook.DMJY_VIDEOS.uri == polling.DMJY_VIDEOS.uri and not webhook.DMJY_VIDEOS.watchers


def test_reads_both_event_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(monkeypatch, "poll")
    webhook_extra = {
        "event": "task.completed",
        "timestamp": 1,
        "data": {"taskId": "t1", "videoUrl": "u1"},
        "dmjy": {"source": "webhook"},
    }
    trigger_extra = {
        "from_trigger": True,
        "payload": {"event": "task.completed", "data": {"taskId": "t2"}, "dmjy": {"source": "poll"}},
    }
    failed = {"event": "task.failed", "data": {"taskId": "t3"}}
    events = {
        "videos": [SimpleNamespace(extra=e) for e in (webhook_extra, trigger_extra, failed, webhook_extra)]
    }
    assert module.completed_videos(events) == [
        {"video_id": "t1", "video_url": "u1", "source": "webhook"},
        {"video_id": "t2", "video_url": None, "source": "poll"},
    ]


def test_publishes_a_record_per_video(
    monkeypatch: pytest.MonkeyPatch, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    module = load(monkeypatch, "poll")
    hook = DmjyHook()
    video_id = hook.create_video("展示", image_url="https://example.com/a.jpg", duration=2, title="保温杯")[
        "id"
    ]
    dmjy_conn.complete(video_id)
    archived = {"video_id": video_id, "path": str(tmp_path / "archive" / f"{video_id}.mp4"), "size": 10}
    path = module.publish_record(archived, hook.get_video(video_id), (tmp_path / "published").as_uri())
    record = json.loads(Path(path.removeprefix("file://")).read_text(encoding="utf-8"))
    assert record["title"] == "保温杯" and record["video_url"].endswith(f"{video_id}.mp4")
    assert record["archived_path"] == archived["path"]
