"""An operator that deletes DMJY video tasks. Public home: :mod:`airflow_provider_dmjy.operators.video`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy.client.validation import check_resource_id
from airflow_provider_dmjy.exceptions import DmjyNotFoundError, DmjyValidationError
from airflow_provider_dmjy.operators.base import DmjyBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DmjyDeleteVideoOperator"]


class DmjyDeleteVideoOperator(DmjyBaseOperator):
    """Delete video tasks (an unfinished one stops rendering); returns the ids deleted.

    :param video_id: one id; and/or
    :param video_ids: several (an ``XComArg`` of a list works).
    :param missing_ok: a task that no longer exists counts as deleted (default); else it fails.
    """

    template_fields: Sequence[str] = ("video_id", "video_ids", "dmjy_conn_id")

    def __init__(
        self,
        *,
        video_id: str | None = None,
        video_ids: Sequence[str] | None = None,
        missing_ok: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if video_id is None and video_ids is None:
            raise ValueError("DmjyDeleteVideoOperator needs video_id or video_ids")
        self.video_id = video_id
        self.video_ids = video_ids
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> list[str]:
        """Check every id, then delete them one by one; returns the ids deleted."""
        with self.failures():
            ids = self._checked_ids()  # every id is checked before the first delete
            deleted = []
            for video_id in ids:
                try:
                    self.hook.delete_video(video_id)
                except DmjyNotFoundError:
                    if not self.missing_ok:
                        raise
                    self.log.info("DMJY video %s does not exist (missing_ok)", video_id)
                    continue
                self.log.info("Deleted DMJY video %s", video_id)
                deleted.append(video_id)
            return deleted

    def _checked_ids(self) -> list[str]:
        """The rendered ids, each one safe URL segment, without duplicates; raises before any delete.

        A bad id is refused rather than sent: ``..`` would be collapsed into ``DELETE /api/v1/``,
        whose 404 ``missing_ok`` would then count as "already gone".
        """
        ids = [] if self.video_id is None else [check_resource_id("video_id", self.video_id)]
        if self.video_ids is not None:
            if isinstance(self.video_ids, (str, bytes, Mapping)) or not isinstance(self.video_ids, Iterable):
                raise DmjyValidationError("video_ids", self.video_ids, "must be a list of video ids")
            ids.extend(
                check_resource_id(f"video_ids[{index}]", video_id)
                for index, video_id in enumerate(self.video_ids)
            )
        return list(dict.fromkeys(ids))
