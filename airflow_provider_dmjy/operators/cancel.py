"""Cancelling a render without ever throwing a paid video away.

Every cancel path (the in-worker wait's timeout, a timeout event from the trigger, ``on_kill``)
re-reads the video first: a finished video (``completed`` or ``failed``) is paid for, and deleting
it refunds nothing; one whose status cannot be read is left alone too. Only a video still
rendering is deleted, and only when the operator's ``cancel_on_kill`` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyError, DmjyNotFoundError
from airflow_provider_dmjy.operators.reconcile import TaskLog

if TYPE_CHECKING:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

__all__ = ["cancel_if_rendering"]


def cancel_if_rendering(
    hook: DmjyHook, video_id: str, why: str, *, delete: bool, log: TaskLog
) -> Video | None:
    """Re-read ``video_id``; delete it only if it is still rendering and ``delete`` is set.

    Returns the fresh read (None when it failed or the video is gone), so a caller can turn a
    video that completed meanwhile into its result.
    """
    try:
        video = Video.from_api(hook.get_video(video_id))
    except DmjyNotFoundError:
        log.info("DMJY video %s is already gone (%s)", video_id, why)
        return None
    except DmjyError as error:
        log.warning("Could not read DMJY video %s (%s), so it is left as it is: %s", video_id, why, error)
        return None
    if video.status not in VideoStatus.ACTIVE:
        log.info("DMJY video %s is already %s (%s): nothing to cancel", video_id, video.status, why)
    elif not delete:
        log.info("Leaving DMJY video %s running (%s; cancel_on_kill=False)", video_id, why)
    else:
        try:
            hook.delete_video(video_id)
            log.info("Deleted DMJY video %s so its render stops (%s)", video_id, why)
        except DmjyNotFoundError:
            pass
        except DmjyError as error:
            log.warning("Could not delete DMJY video %s (%s): %s", video_id, why, error)
    return video
