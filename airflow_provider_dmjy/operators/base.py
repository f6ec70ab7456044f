"""What every DMJY operator shares: the connection id and a lazily built hook, and the reading
of a video trigger's event (the create operator's and the sensor's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyError, DmjyVideoFailedError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook, as_airflow_error


class DmjyBaseOperator(BaseOperator):
    """Base class of the DMJY operators.

    :param dmjy_conn_id: the ``dmjy`` connection to use (default ``dmjy_default``).
    """

    def __init__(self, *, dmjy_conn_id: str = DmjyHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dmjy_conn_id = dmjy_conn_id

    @cached_property
    def hook(self) -> DmjyHook:
        """The hook for ``dmjy_conn_id`` (built on first use, at run time, never at parse time)."""
        return DmjyHook(dmjy_conn_id=self.dmjy_conn_id)


def video_wait_result(
    event: Mapping[str, Any],
    video_id: str | None,
    *,
    on_timeout: Callable[[Video, str], Video],
    publish: Callable[[Video], dict[str, Any]] = Video.to_dict,
) -> dict[str, Any]:
    """The task's result from a :class:`~airflow_provider_dmjy.triggers.video.DmjyVideoTrigger` event,
    or the precise error; shared by the create operator's and the sensor's ``execute_complete``.

    - ``completed`` or ``failed``: as :func:`final_video_result` (the event's status is the video's).
    - ``timeout``: ``on_timeout(last video seen, the trigger's message)`` raises, or returns the
      video that finished after all, which then counts as above.
    - ``error`` (an API error no retry fixes ended the wait) or an event this provider never fires:
      a :class:`DmjyError` naming it, also an ``AirflowFailException``.

    ``video_id`` is the video waited for, used when the event does not name it.
    """
    # The trigger module imports Airflow's trigger machinery: only when a wait resumes.
    from airflow_provider_dmjy.triggers.video import EVENT_COMPLETED, EVENT_ERROR, EVENT_FAILED, EVENT_TIMEOUT

    status, message = event.get("status"), event.get("message")
    waited_for = str(event.get("video_id") or video_id)
    if status == EVENT_ERROR:
        raise as_airflow_error(
            DmjyError(f"Waiting for DMJY video {waited_for} failed: {event.get('error_type')}: {message}")
        )
    if status not in (EVENT_COMPLETED, EVENT_FAILED, EVENT_TIMEOUT):
        raise as_airflow_error(
            DmjyError(f"Unexpected event from the DMJY video trigger (video {waited_for}): {dict(event)!r}")
        )
    data = event.get("video")
    video = Video.from_api(data) if data is not None else Video(id=waited_for)
    if status == EVENT_TIMEOUT:
        return final_video_result(on_timeout(video, str(message)), publish)
    if video.status is not VideoStatus(status):  # an event without (or out of step with) its video
        video = dataclasses.replace(video, status=VideoStatus(status))
    return final_video_result(video, publish, message if status == EVENT_FAILED else None)


def final_video_result(
    video: Video, publish: Callable[[Video], dict[str, Any]], message: str | None = None
) -> dict[str, Any]:
    """``publish(video)`` for a finished video: the result when it ``completed``; when it ``failed``
    (published too: a downstream report sees failed renders), :class:`DmjyVideoFailedError` with
    the vendor's ``errorMessage`` (else ``message``), also an ``AirflowFailException``."""
    result = publish(video)
    if video.status is VideoStatus.FAILED:
        raise as_airflow_error(DmjyVideoFailedError(video.id, video.error_message or message))
    return result
