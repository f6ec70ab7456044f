"""Publishing a reviewed run's videos: the approved, archived ones copied into a published folder,
with one record each (docs/review.md "Publishing").

Public home: :mod:`airflow_provider_dmjy.operators.review_results`, which re-exports
:func:`publish_videos` and calls it from inside a run (``publish_run``). No operator here.
"""

from __future__ import annotations

import json
import posixpath
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy.client.models import VideoStatus

if TYPE_CHECKING:
    from airflow_provider_dmjy.operators.review_results import ReviewDecision
    from airflow_provider_dmjy.reports import ProductResult

__all__ = ["publish_videos"]


def publish_videos(
    results: Sequence[ProductResult],
    decision: ReviewDecision | None,
    run_folder: Any,
    published_root: Any,
    *,
    dag_id: str,
    run_id: str,
) -> list[dict[str, Any]]:
    """Copy the approved, archived videos (and thumbnails) from ``run_folder`` into
    ``published_root``, with a record each; returns the records of this run's published videos.

    The layout, per video: ``<video id>.mp4``, ``<video id>.jpg`` and ``<video id>.json`` (the
    record: SKU, name, price, script, duration, aspect ratio, who approved it, from which run,
    when). Publishing is idempotent: a record is written last, after its files are complete, and
    a video with a record already is not copied or recorded again (a retry, a re-run, or another
    run that reused the same video); a copy cut short (a size that differs from the source) is
    made again. A record is written under a temporary name and renamed into place, so a try killed
    mid-write leaves none; a record that does not read as JSON (a store whose rename is a copy) is
    written again. Folders are ``pathlib.Path`` or ``ObjectStoragePath``.
    """
    if decision is None:
        return []
    published_root.mkdir(parents=True, exist_ok=True)
    records = []
    for result in results:
        if not (
            decision.publishes(result.sku) and result.status == VideoStatus.COMPLETED and result.video_file
        ):
            continue  # the report says why (ReviewDecision.note, product_results)
        record_path = published_root / f"{result.video_id}.json"
        existing = _read_record(record_path)
        if existing is not None:
            records.append(existing)
            continue
        copied = {}
        files = (("video_file", result.video_file), ("thumbnail_file", result.thumbnail_file))
        for role, name in files:
            if name:
                target = published_root / f"{result.video_id}{posixpath.splitext(name)[1]}"
                _copy(run_folder / name, target)
                copied[role] = target.name
        record = {
            "video_id": result.video_id,
            "sku": result.sku,
            "name": result.name,
            "price": result.price,
            "description": result.description,
            "duration": result.duration,
            "aspect_ratio": result.aspect_ratio,
            **copied,
            "preview_url": result.preview_url,
            "approved_by": decision.reviewer,
            "dag_id": dag_id,
            "run_id": run_id,
            "published_at": datetime.now(timezone.utc).isoformat(),
        }
        _write_whole(record_path, json.dumps(record, ensure_ascii=False, indent=2))
        records.append(record)
    return records


def _copy(source: Any, target: Any) -> None:
    """Stream ``source`` to ``target`` unless a copy of the same size is there already."""
    size = source.stat().st_size
    if target.exists() and target.stat().st_size == size:
        return
    with source.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer)


def _read_record(path: Any) -> dict[str, Any] | None:
    """The record at ``path``; None when there is none or it does not read as a record (cut short
    by a kill): the video is then published again, which only rewrites its files."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _write_whole(path: Any, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary name in the same folder, then a
    rename over ``path`` (atomic on a local disk; ``ObjectStoragePath.replace`` on other stores)."""
    partial = path.parent / f".{path.name}.partial"
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
