"""What a create task hands downstream: its result (the task dict, :data:`RESULT_FIELDS`) and,
under :data:`XCOM_VIDEO_KEY`, the record a run's report and review read for every product, failed
renders included. Public home: :mod:`airflow_provider_dmjy.operators.video`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["RESULT_FIELDS", "XCOM_VIDEO_KEY", "publish_video"]

#: The keys of the task dict the create operator returns (XCom).
RESULT_FIELDS = (
    "id",
    "status",
    "videoUrl",
    "thumbnailUrl",
    "duration",
    "aspectRatio",
    "title",
    "errorMessage",
    "createdAt",
    "updatedAt",
)
#: XCom key of the latest known task dict (plus ``map_index``, ``fingerprint`` and ``reused``),
#: pushed for failed renders too, so a downstream report can show every product's outcome.
XCOM_VIDEO_KEY = "dmjy_video"


def publish_video(
    context: Context, video: Mapping[str, Any], *, fingerprint: str | None, reused: bool
) -> dict[str, Any]:
    """The task dict of ``video`` (a vendor task dict: its :data:`RESULT_FIELDS`), also pushed as
    the XCom :data:`XCOM_VIDEO_KEY` with the task's ``map_index``, the content's ``fingerprint``
    and whether the video was ``reused`` (when the context has a task instance that pushes)."""
    result = {key: video.get(key) for key in RESULT_FIELDS}
    ti = context.get("ti")
    if ti is not None and hasattr(ti, "xcom_push"):
        record = {"map_index": getattr(ti, "map_index", -1), "fingerprint": fingerprint}
        ti.xcom_push(key=XCOM_VIDEO_KEY, value={**result, **record, "reused": reused})
    return result
