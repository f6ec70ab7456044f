"""Operators for DMJY video tasks: create (and wait), delete, download.

Creating a video spends compute balance, so :class:`DmjyCreateVideoOperator` makes sure a retry
never pays twice: the created id goes into the task state store (Airflow >= 3.3) and every video
carries a marker derived from the task instance in its title, so a retry (or a create whose
answer was lost) finds the video it already made instead of ordering another.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_dmjy._compat import default_deferrable
from airflow_provider_dmjy.client.backoff import Backoff
from airflow_provider_dmjy.client.models import CreateVideoRequest, Video, VideoStatus
from airflow_provider_dmjy.client.validation import check_resource_id
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyError,
    DmjyNotFoundError,
    DmjyReconciliationError,
    DmjyValidationError,
    DmjyWaitTimeoutError,
)
from airflow_provider_dmjy.hooks.dmjy import MARKER_SEARCH_MAX_PAGES, as_airflow_error
from airflow_provider_dmjy.operators.base import DmjyBaseOperator, final_video_result, video_wait_result
from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator
from airflow_provider_dmjy.utils.polling import (
    DEFAULT_POLL_INTERVAL,
    MAX_WAIT_SECONDS,
    PollSchedule,
    check_poll_intervals,
    check_seconds,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey  # type: ignore[attr-defined]

__all__ = [
    "RESULT_FIELDS",
    "DmjyCreateVideoOperator",
    "DmjyDeleteVideoOperator",
    "DmjyDownloadVideoOperator",
    "DmjyVideoLink",
    "task_marker",
]

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
#: Key of the created video id in the task state store (Airflow >= 3.3).
STATE_KEY = "dmjy_video_id"
#: XCom key of the latest known task dict (plus ``map_index``), pushed for failed renders too, so
#: a downstream report can show every product's outcome.
XCOM_VIDEO_KEY = "dmjy_video"
#: How far back before the DAG run started a reconciling look-up still searches.
RECONCILE_MARGIN = timedelta(minutes=10)
#: Extra time given to Airflow's own deferral timeout, so the trigger's deadline (which can cancel
#: the render) always fires first.
DEFER_TIMEOUT_GRACE = timedelta(minutes=5)
#: Pauses between the searches for a create whose answer was lost (a Backoff): the first one's
#: ceiling and the longest.
RECONCILE_FIRST_PAUSE = 0.5
RECONCILE_MAX_PAUSE = 5.0


def task_marker(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """A short tag, stable across retries of one task instance, that is put in the video title."""
    digest = hashlib.sha256(f"{dag_id}\x1f{task_id}\x1f{run_id}\x1f{map_index}".encode()).hexdigest()
    return f"af-{digest[:12]}"


class DmjyVideoLink(BaseOperatorLink):
    """ "DMJY Video" in the task's extra links: opens the finished video."""

    name = "DMJY Video"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        # Called on the worker when the run (or the deferral) ends; Airflow stores the answer in XCom.
        return str(getattr(operator, "video_url", None) or "")


class DmjyCreateVideoOperator(DmjyBaseOperator):
    """Create a DMJY video task and (by default) wait for the render; returns the final task dict.

    The arguments are those of :meth:`DmjyHook.create_video`, validated after rendering and before
    any request, so bad input costs nothing.

    :param description: what the video should show (required).
    :param image_url: one product image URL; or
    :param image_urls: several, merged by the vendor into one grid image (at most 9).
    :param duration: seconds, 1-60 (vendor default 10).
    :param aspect_ratio: ``9:16`` or ``16:9`` (vendor default ``9:16``).
    :param title: the video's title; a marker ``[af-...]`` is appended that identifies this task
        instance, so a retry recognises the video it already paid for.
    :param callback_url: where the vendor POSTs the signed ``task.completed``/``task.failed``
        callback. To turn it into an Airflow asset event, point it at this provider's api-server
        endpoint ``https://<your-airflow-api-server>/dmjy/webhooks/<dmjy_conn_id>``: the callback is
        verified with that connection's API secret and recorded on
        ``Asset("dmjy://<dmjy_conn_id>/videos")`` (see the README's "Webhooks" section).
    :param wait_for_completion: wait for ``completed``/``failed`` (default); False returns the
        create response at once.
    :param deferrable: wait in the triggerer instead of a worker slot (default
        ``[operators] default_deferrable``).
    :param poll_interval: the shortest gap between two status checks, in seconds (at most a day).
    :param max_poll_interval: the longest gap between two status checks, in seconds (at most a
        day, not less than ``poll_interval``; default 120, or ``poll_interval`` when longer).
    :param timeout: how long to wait for the render, in seconds (at most 7 days).
    :param cancel_on_kill: delete the remote task (stopping the render) when the wait times out
        or the task is killed.
    """

    template_fields: Sequence[str] = (
        "description",
        "image_url",
        "image_urls",
        "title",
        "callback_url",
        "duration",
        "aspect_ratio",
        "dmjy_conn_id",
    )
    operator_extra_links = (DmjyVideoLink(),)
    ui_color = "#f5e6ff"
    #: After a create whose answer was lost, how long (beyond the request timeout) to keep looking
    #: for its video before ending the try with a retryable error.
    reconcile_grace_seconds: float = 10.0
    #: The most list pages (100 videos each) one search for this task's marker reads.
    reconcile_max_pages: int = MARKER_SEARCH_MAX_PAGES

    def __init__(
        self,
        *,
        description: str,
        image_url: str | None = None,
        image_urls: list[str] | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        title: str | None = None,
        callback_url: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float = 3600.0,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.description = description
        self.image_url = image_url
        self.image_urls = image_urls
        self.duration = duration
        self.aspect_ratio = aspect_ratio
        self.title = title
        self.callback_url = callback_url
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        try:  # not template fields: refused when the DAG is parsed, before anything is paid for
            self.poll_interval, self.max_poll_interval = check_poll_intervals(
                poll_interval, max_poll_interval
            )
            self.timeout = check_seconds("timeout", timeout, MAX_WAIT_SECONDS)
        except DmjyValidationError as error:
            raise as_airflow_error(error) from None
        self.cancel_on_kill = cancel_on_kill
        self.video_id: str | None = None
        self.video_url: str | None = None

    # -- create, exactly once ------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        marker = self._marker(context)
        request = self._request(marker)  # validated: raises before any request
        video = self._find_earlier_video(context, marker) or self._create(context, request, marker)
        self.video_id = video.id
        self.log.info("DMJY video %s is %s", self.video_id, video.status)
        self._publish(context, video.to_dict())
        if not self.wait_for_completion:
            return video.to_dict()
        if video.status in VideoStatus.ACTIVE:
            video = self._check(video)
        if video.status in VideoStatus.ACTIVE:
            if self.deferrable:
                self._defer(video)
            video = self._wait_in_worker(context, video)
        return self._result(context, video)

    def _marker(self, context: Context) -> str:
        ti = context["ti"]
        return task_marker(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))

    def _request(self, marker: str) -> CreateVideoRequest:
        """The create, validated once, with this task instance's marker in its title."""
        try:
            return CreateVideoRequest(
                description=self.description,
                image_url=self.image_url,
                image_urls=self.image_urls,
                duration=self.duration,
                aspect_ratio=self.aspect_ratio,
                title=self.title or None,  # an empty rendered title: the description's start
                callback_url=self.callback_url,
            ).with_marker(marker)
        except DmjyValidationError as error:
            raise as_airflow_error(error) from error

    def _find_earlier_video(self, context: Context, marker: str) -> Video | None:
        """The video an earlier try of this task instance created, if it is still usable."""
        store: Any = context.get("task_state_store")  # Airflow >= 3.3; absent (None) before
        if store is not None:
            stored_id = store.get(STATE_KEY)
            if stored_id:
                video = self._get_if_exists(str(stored_id))
                if video is not None and video.status is not VideoStatus.FAILED:
                    self.log.info("Reattaching to video %s from an earlier try (%s)", stored_id, video.status)
                    return video
                self.log.info("Earlier video %s is failed or deleted", stored_id)
        if int(getattr(context["ti"], "try_number", 1) or 1) > 1:
            # Even with a state store: a try whose create never answered stored nothing, yet its
            # video may exist (committed late); so may one of a try that died before store.set().
            return self._find_by_marker(context, marker)
        return None

    def _get_if_exists(self, video_id: str) -> Video | None:
        try:
            return Video.from_api(self.hook.get_video(video_id))
        except DmjyNotFoundError:
            return None

    def _find_by_marker(self, context: Context, marker: str) -> Video | None:
        """The newest usable video whose title carries this task's marker (a bounded search)."""
        found = self.hook.find_video_by_marker(
            marker, self._search_cutoff(context), max_pages=self.reconcile_max_pages
        )
        if found is None:
            return None
        video = Video.from_api(found)
        self.log.info("Found video %s created by an earlier attempt (marker %s)", video.id, marker)
        return video

    @staticmethod
    def _search_cutoff(context: Context) -> float | None:
        """Epoch seconds on Airflow's clock; the hook compares them on the server's clock."""
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None) or getattr(dag_run, "run_after", None)
        if started is None:
            return None
        return float(started.timestamp() - RECONCILE_MARGIN.total_seconds())

    def _create(self, context: Context, request: CreateVideoRequest, marker: str) -> Video:
        try:
            created = Video.from_api(self.hook.create_video_from(request))
        except DmjyAmbiguousRequestError as error:
            created = self._settle_unknown_create(context, marker, error)
        store: Any = context.get("task_state_store")  # Airflow >= 3.3; absent (None) before
        if store is not None:
            store.set(STATE_KEY, created.id)
        return created

    def _settle_unknown_create(
        self, context: Context, marker: str, error: DmjyAmbiguousRequestError
    ) -> Video:
        """The video of a create whose answer was lost, or a retryable error: never a second create.

        The server may commit the create after the client gave up (a queued request), so one look
        is not enough: the list is searched again, with a growing pause, for the request timeout
        plus :attr:`reconcile_grace_seconds`. Still nothing means still unknown: the try ends with
        a retryable :class:`DmjyReconciliationError` and the next try searches before creating.
        """
        grace = self.hook.config.timeout + self.reconcile_grace_seconds
        self.log.warning("%s; looking for the video (marker %s) for up to %.0f s", error, marker, grace)
        deadline = time.monotonic() + grace
        pauses = Backoff(RECONCILE_FIRST_PAUSE, RECONCILE_MAX_PAUSE)
        while True:
            try:
                found = self._find_by_marker(context, marker)
            except DmjyReconciliationError as search_error:  # the search itself could not conclude
                raise self._unknown_create(marker, f"{error}; {search_error}") from search_error
            except DmjyError as search_error:
                if not search_error.retryable:
                    raise
                self.log.warning("Looking for the video failed (%s); will look again", search_error)
                found = None
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unknown_create(
                    marker, f"{error}; no video carrying the marker appeared within {grace:.0f} s"
                ) from error
            time.sleep(min(pauses.next_delay(), remaining))

    @staticmethod
    def _unknown_create(marker: str, why: str) -> DmjyReconciliationError:
        return DmjyReconciliationError(
            f"The outcome of the DMJY create is unknown, so nothing was created again; the next try "
            f"looks for its video (marker {marker}) again before creating. {why}"
        )

    # -- waiting -------------------------------------------------------------------------------

    def _defer(self, video: Video) -> None:
        from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

        self.defer(
            trigger=DmjyVideoTrigger(
                video_id=video.id,
                dmjy_conn_id=self.dmjy_conn_id,
                deadline=time.time() + self.timeout,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFER_TIMEOUT_GRACE,
        )

    def _wait_in_worker(self, context: Context, video: Video) -> Video:
        """Poll on the same adaptive schedule as the trigger until final or the timeout."""
        started = time.monotonic()
        deadline = started + self.timeout
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        while video.status in VideoStatus.ACTIVE:
            now = time.monotonic()
            if now >= deadline:
                return self._timed_out(context, video, now - started)
            delay = min(schedule.next_delay(video.status, video.progress), deadline - now)
            self.log.info(
                "DMJY video %s %s (%s%%); next check in %.0f s",
                video.id,
                video.status,
                video.progress or 0,
                delay,
            )
            time.sleep(delay)
            video = self._check(video)
        return video

    def _check(self, video: Video) -> Video:
        """The video's current state; the last one known when a transient error hides it."""
        try:
            return Video.from_api(self.hook.get_video(video.id))
        except DmjyError as error:
            if not error.retryable:
                raise
            self.log.warning("Checking video %s failed (%s); will try again", video.id, error)
            return video

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the task dict on ``completed``; a precise error otherwise."""
        self.video_id = str(event.get("video_id") or self.video_id)
        return video_wait_result(
            event,
            self.video_id,
            on_timeout=lambda video, _message: self._timed_out(context, video, self.timeout),
            publish=functools.partial(self._publish_final, context),
        )

    def _timed_out(self, context: Context, video: Video, waited: float) -> Video:
        """The wait's deadline passed: the video if it finished meanwhile, else cancel and raise.

        The render can complete between the last check and now (a deferral timeout fires while it
        finishes): a video a fresh read shows ``completed`` is the task's result, a ``failed`` one
        fails with the vendor's message. Only a video still rendering is cancelled.
        """
        latest = self._cancel(video.id, "the wait timed out")
        if latest is not None and latest.status in VideoStatus.TERMINAL:
            self.log.info("DMJY video %s is %s after all: using it", video.id, latest.status)
            return latest
        current = latest or video
        error = DmjyWaitTimeoutError(video.id, current.status, waited)
        self._publish(context, {**current.to_dict(), "status": "timeout", "errorMessage": str(error)})
        raise error

    def _result(self, context: Context, video: Video) -> dict[str, Any]:
        """The final task dict; raises (fail fast, no retry) with the vendor's message on ``failed``."""
        return final_video_result(video, functools.partial(self._publish_final, context))

    def _publish_final(self, context: Context, video: Video) -> dict[str, Any]:
        self.video_url = video.video_url
        return self._publish(context, video.to_dict())

    def _publish(self, context: Context, video: Mapping[str, Any]) -> dict[str, Any]:
        result = {key: video.get(key) for key in RESULT_FIELDS}
        ti = context.get("ti")
        if ti is not None and hasattr(ti, "xcom_push"):
            ti.xcom_push(key=XCOM_VIDEO_KEY, value={**result, "map_index": getattr(ti, "map_index", -1)})
        return result

    # -- cancelling ----------------------------------------------------------------------------

    def _cancel(self, video_id: str, why: str) -> Video | None:
        """Re-read the video, then stop its render (``cancel_on_kill``) only if it is still running.

        A finished video (``completed`` or ``failed``) is never deleted: it is paid for and
        deleting refunds nothing. Nor is one whose status cannot be read. Returns the fresh read
        (None when it failed or the video is gone).
        """
        try:
            video = Video.from_api(self.hook.get_video(video_id))
        except DmjyNotFoundError:
            self.log.info("DMJY video %s is already gone (%s)", video_id, why)
            return None
        except DmjyError as error:
            self.log.warning(
                "Could not read DMJY video %s (%s), so it is left as it is: %s", video_id, why, error
            )
            return None
        if video.status not in VideoStatus.ACTIVE:
            self.log.info("DMJY video %s is already %s (%s): nothing to cancel", video_id, video.status, why)
        elif not self.cancel_on_kill:
            self.log.info("Leaving DMJY video %s running (%s; cancel_on_kill=False)", video_id, why)
        else:
            try:
                self.hook.delete_video(video_id)
                self.log.info("Deleted DMJY video %s so its render stops (%s)", video_id, why)
            except DmjyNotFoundError:
                pass
            except DmjyError as error:
                self.log.warning("Could not delete DMJY video %s (%s): %s", video_id, why, error)
        return video

    def on_kill(self) -> None:
        """Stop the render of a video this (killed) task is waiting for, when ``cancel_on_kill``;
        a video that already finished is left alone."""
        if not self.video_id:
            return
        if not self.cancel_on_kill:
            self.log.info(
                "Leaving DMJY video %s running (the task was killed; cancel_on_kill=False)", self.video_id
            )
            return
        self._cancel(self.video_id, "the task was killed")


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
        try:  # every id is checked before the first delete
            ids = self._checked_ids()
        except DmjyValidationError as error:
            raise as_airflow_error(error) from None
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
