"""operators/publish.py: a record is written whole or not at all, and a broken one is written again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy.operators.review_results import ReviewDecision, product_results, publish_videos

PRODUCTS = [{"sku": "CUP-001", "name": "智能保温杯"}]
VIDEO = {"id": "task_0", "status": "completed", "videoUrl": "http://m/v.mp4", "duration": 10, "map_index": 0}


class Killed(BaseException):
    """The worker's process ending mid-write (not an Exception: nothing catches it)."""


def _publish(tmp_path: Path, run_id: str) -> list[dict[str, Any]]:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "task_0.mp4").write_bytes(b"video" * 100)
    downloads = [{"video_id": "task_0", "path": str(run / "task_0.mp4"), "thumbnail_path": None}]
    results = product_results(PRODUCTS, [VIDEO], downloads, folder=run)
    decision = ReviewDecision(approved=True, reviewer="ann")
    return publish_videos(results, decision, run, tmp_path / "published", dag_id="d", run_id=run_id)


def test_a_write_killed_mid_way_leaves_no_record_and_the_retry_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []

    def killed(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        written.append(self.name)
        with open(self, "w", encoding="utf-8") as handle:
            handle.write(data[: len(data) // 2])  # half of it on disk, then the process ends
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", killed)
        with pytest.raises(Killed):
            _publish(tmp_path, "r1")
    assert written and not (tmp_path / "published" / "task_0.json").exists()
    [record] = _publish(tmp_path, "r1")  # the retry
    on_disk = json.loads((tmp_path / "published" / "task_0.json").read_text(encoding="utf-8"))
    assert on_disk == record and record["run_id"] == "r1" and record["approved_by"] == "ann"
    assert sorted(os.listdir(tmp_path / "published")) == ["task_0.json", "task_0.mp4"]


@pytest.mark.parametrize("broken", ['{"video_id": "task_0", "sk', "[]", "\udcff"])
def test_a_broken_record_is_written_again(tmp_path: Path, broken: str) -> None:
    published = tmp_path / "published"
    published.mkdir()
    (published / "task_0.json").write_bytes(broken.encode("utf-8", "surrogateescape"))
    [record] = _publish(tmp_path, "r2")
    assert json.loads((published / "task_0.json").read_text(encoding="utf-8")) == record
    assert _publish(tmp_path, "r3") == [record]  # a whole record stays as it is
