"""What every DMJY operator and the sensor share: the connection id and a lazily built hook, the one
boundary where a :class:`DmjyError` becomes Airflow's failure, the deferral to a video trigger, and
the reading of that trigger's event."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyError, DmjyVideoFailedError
from airflow_provider_dmjy.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_dmjy.hooks.failures import airflow_failures

if TYPE_CHECKING:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

__all__ = ["DEFER_TIMEOUT_GRACE", "DmjyBaseOperator", "final_video_result", "video_wait_result"]

#: Extra time given to Airflow's own deferral timeout beyond the trigger's deadline: the trigger
#: fires its ``timeout`` event first (it can cancel the render, and says more); Airflow's timeout
#: only catches a trigger that hangs.
DEFER_TIMEOUT_GRACE = timedelta(minutes=5)


class DmjyBaseOperator(BaseOperator):
    """Base class of the DMJY operators (and, beside ``BaseSensorOperator``, of the sensor).

    :param dmjy_conn_id: the ``dmjy`` connection to use (default ``dmjy_default``).
    """

    def __init__(self, *, dmjy_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dmjy_conn_id = dmjy_conn_id

    @cached_property
    def hook(self) -> DmjyHook:
        """The hook for ``dmjy_conn_id`` (built on first use, at run time, never at parse time)."""
        # Imported here, not with this module: the hook loads the sync client and ``requests``,
        # which a DAG file parsed every few seconds never needs (only a running task does).
        from airflow_provider_dmjy.hooks.dmjy import DmjyHook

        return DmjyHook(dmjy_conn_id=self.dmjy_conn_id)

    def failures(self) -> contextlib.AbstractContextManager[None]:
        """The boundary around a task's work (``with self.failures(): ...``): a :class:`DmjyError`
        no retry can fix leaves as Airflow's failure (also an ``AirflowFailException``, keeping its
        class and message; see :func:`~airflow_provider_dmjy.hooks.failures.as_airflow_error`), a
        retryable one unchanged, for Airflow's task retries."""
        return airflow_failures()

    def defer_until_final(
        self,
        video_id: str,
        *,
        timeout: float,
        poll_interval: float,
        max_poll_interval: float,
        cancel_on_kill: bool = False,
        method_name: str = "execute_complete",
        resume_kwargs: Mapping[str, Any] | None = None,
    ) -> NoReturn:
        """Hand the wait for ``video_id`` to a :class:`~airflow_provider_dmjy.triggers.video.DmjyVideoTrigger`
        whose deadline is ``timeout`` seconds from now; the task resumes in ``method_name``, called
        with the event and ``resume_kwargs`` (a fresh operator instance resumes: what this one
        learnt and the event does not carry travels there)."""
        # The trigger module imports aiohttp: only when a task defers, never when a DAG is parsed.
        from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

        self.defer(
            trigger=DmjyVideoTrigger(
                video_id=video_id,
                dmjy_conn_id=self.dmjy_conn_id,
                deadline=time.time() + timeout,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                cancel_on_kill=cancel_on_kill,
            ),
            method_name=method_name,
            kwargs=dict(resume_kwargs) if resume_kwargs else None,
            timeout=timedelta(seconds=timeout) + DEFER_TIMEOUT_GRACE,
        )


def video_wait_result(
    event: Mapping[str, Any],
    video_id: str | None,
    *,
    on_timeout: Callable[[Video, str], Video],
    publish: Callable[[Video], dict[str, Any]] = Video.to_dict,
) -> dict[str, Any]:
    """The task's result from a :class:`~airflow_provider_dmjy.triggers.video.DmjyVideoTrigger` event,
    or the precise error; shared by the create operator's and the sensor's ``execute_complete``
    (inside their :meth:`~DmjyBaseOperator.failures`, which makes the errors Airflow's failures).

    - ``completed`` or ``failed``: as :func:`final_video_result` (the event's status is the video's).
    - ``timeout``: ``on_timeout(last video seen, the trigger's message)`` raises, or returns the
      video that finished after all, which then counts as above.
    - ``error`` (an API error no retry fixes ended the wait) or an event this provider never fires:
      a :class:`DmjyError` naming it.

    ``video_id`` is the video waited for, used when the event does not name it.
    """
    # The trigger module imports Airflow's trigger machinery: only when a wait resumes.
    from airflow_provider_dmjy.triggers.video import EVENT_COMPLETED, EVENT_ERROR, EVENT_FAILED, EVENT_TIMEOUT

    status, message = event.get("status"), event.get("message")
    waited_for = str(event.get("video_id") or video_id)
    if status == EVENT_ERROR:
        raise DmjyError(f"Waiting for DMJY video {waited_for} failed: {event.get('error_type')}: {message}")
    if status not in (EVENT_COMPLETED, EVENT_FAILED, EVENT_TIMEOUT):
        raise DmjyError(f"Unexpected event from the DMJY video trigger (video {waited_for}): {dict(event)!r}")
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
    the vendor's ``errorMessage`` (else ``message``)."""
    result = publish(video)
    if video.status is VideoStatus.FAILED:
        raise DmjyVideoFailedError(video.id, video.error_message or message)
    return result
