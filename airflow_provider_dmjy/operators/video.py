"""Operators for DMJY video tasks: create (and wait), delete, download (the last two live in their
own modules and are imported from here, their public home, as is what a create hands downstream:
:mod:`~airflow_provider_dmjy.operators.video_record`).

Creating a video spends compute balance: a retry finds the video its task instance already made
(:mod:`~airflow_provider_dmjy.operators.reconcile`), and with ``reuse="completed"`` another run's
completed video of the same content is returned (:mod:`~airflow_provider_dmjy.operators.reuse`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_dmjy._compat import default_deferrable
from airflow_provider_dmjy.client.calls import MARKER_SEARCH_MAX_PAGES
from airflow_provider_dmjy.client.models import CreateVideoRequest, Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyError, DmjyWaitTimeoutError
from airflow_provider_dmjy.operators.account import DEFAULT_CREDITS_PER_SECOND, check_price
from airflow_provider_dmjy.operators.base import DmjyBaseOperator, final_video_result, video_wait_result
from airflow_provider_dmjy.operators.cancel import cancel_if_rendering
from airflow_provider_dmjy.operators.delete import DmjyDeleteVideoOperator
from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator
from airflow_provider_dmjy.operators.reconcile import CreateOnce, task_marker
from airflow_provider_dmjy.operators.reuse import (
    CREATE_ARGUMENTS,
    REUSE_NEVER,
    check_reuse,
    planned_request,
    reusable_video,
    reuse_since,
)
from airflow_provider_dmjy.operators.video_record import RESULT_FIELDS, XCOM_VIDEO_KEY, publish_video
from airflow_provider_dmjy.utils.polling import (
    DEFAULT_POLL_INTERVAL,
    MAX_WAIT_SECONDS,
    PollSchedule,
    check_poll_intervals,
    check_seconds,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey  # type: ignore[attr-defined]
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import RunFacet

__all__ = [
    "RESULT_FIELDS",
    "XCOM_VIDEO_KEY",
    "DmjyCreateVideoOperator",
    "DmjyDeleteVideoOperator",
    "DmjyDownloadVideoOperator",
    "DmjyVideoLink",
    "task_marker",
]


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
        instance, so a retry recognises the video it already paid for, and ``[fp-...]``, the
        fingerprint of what is rendered (``CreateVideoRequest.fingerprint()``). A title that
        already contains ``[af-`` or ``[fp-`` is refused before any request.
    :param callback_url: where the vendor POSTs the signed ``task.completed``/``task.failed``
        callback. To turn it into an Airflow asset event, point it at this provider's api-server
        endpoint ``https://<your-airflow-api-server>/dmjy/webhooks/<dmjy_conn_id>``: the callback is
        verified with that connection's API secret and recorded on
        ``Asset("dmjy://<dmjy_conn_id>/videos")`` (see the README's "Webhooks" section).
    :param wait_for_completion: wait for ``completed``/``failed`` (default); False returns the
        create response at once.
    :param deferrable: wait in the triggerer instead of a worker slot (default
        ``[operators] default_deferrable``).
    :param poll_interval: the usual shortest gap between two status checks, in seconds (at most a
        day; as short as ``poll_interval / 4`` right at an estimated finish).
    :param max_poll_interval: the longest gap between two status checks, in seconds (at most a
        day, not less than ``poll_interval``; default 120, or ``poll_interval`` when longer).
    :param timeout: how long to wait for the render, in seconds (at most 7 days).
    :param cancel_on_kill: delete the remote task (stopping the render) when the wait times out
        or the task is killed.
    :param credits_per_second: the assumed price of one second of video, for the OpenLineage run
        facet's ``estimatedCredits`` only (the API reports no cost; default 10, the simulator's
        rate, as :class:`~airflow_provider_dmjy.operators.account.DmjyCheckBalanceOperator`;
        None leaves the estimate out).
    :param reuse: ``"never"`` (default) always renders; ``"completed"`` first returns a completed
        video with the same fingerprint created within ``reuse_within`` (no spend, no wait), after
        the look-up for this task instance's own video (:mod:`~airflow_provider_dmjy.operators.reuse`).
    :param reuse_within: how recent a reused video must be: a ``timedelta`` or seconds back from
        now, or an ISO 8601 instant with a zone ("created at or after"; default one day).

    After a run, ``video_id`` is the video's id, ``reattached`` says whether the video was one an
    earlier try of this task instance made and ``reused`` whether it was another task's (neither
    paid for again), ``fingerprint`` is the content's fingerprint.
    """

    template_fields: Sequence[str] = (
        "description",
        "image_url",
        "image_urls",
        "title",
        "callback_url",
        "duration",
        "aspect_ratio",
        "reuse",
        "reuse_within",
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
        credits_per_second: float | None = DEFAULT_CREDITS_PER_SECOND,
        reuse: str = REUSE_NEVER,
        reuse_within: timedelta | float | str = timedelta(days=1),
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
        # Not template fields: refused when the DAG is parsed, before anything is paid for.
        with self.failures():
            self.poll_interval, self.max_poll_interval = check_poll_intervals(
                poll_interval, max_poll_interval
            )
            self.timeout = check_seconds("timeout", timeout, MAX_WAIT_SECONDS)
            self.credits_per_second = check_price(credits_per_second)
            if "{{" not in str(reuse):  # a typo is refused at parse time; a template after rendering
                check_reuse(reuse)
        self.reuse, self.reuse_within = reuse, reuse_within
        self.cancel_on_kill = cancel_on_kill
        self.video_id: str | None = None
        self.video_url: str | None = None
        self.reattached = self.reused = False
        self.fingerprint: str | None = None
        # The last state of the video this task knows, for its lineage.
        self.latest_video: Video | None = None

    # -- create, exactly once ------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, reconcile, reuse, create, wait, result: the final task dict (see the class)."""
        with self.failures():
            marker = self._marker(context)
            plain = self._request()  # validated: raises before any request
            request = plain.with_marker(marker, fingerprint=True)
            since = reuse_since(self.reuse, self.reuse_within)  # None: reuse="never"
            once = CreateOnce(
                self.hook,
                marker,
                context,
                max_pages=self.reconcile_max_pages,
                grace_seconds=self.reconcile_grace_seconds,
                log=self.log,
            )
            # This task instance's own video (a retry's) always wins over another task's.
            video = once.earlier_video()
            self.reattached = video is not None
            if video is None and since is not None:
                video = reusable_video(
                    self.hook, plain, since, max_pages=self.reconcile_max_pages, log=self.log
                )
                self.reused = video is not None
            video = video or once.create(request)
            self.video_id, self.latest_video = video.id, video
            self.log.info("DMJY video %s is %s", self.video_id, video.status)
            self._publish(context, video.to_dict())
            if not self.wait_for_completion:
                return video.to_dict()
            if video.status in VideoStatus.ACTIVE:
                video = self._check(video)
            if video.status in VideoStatus.ACTIVE:
                if self.deferrable:
                    self.defer_until_final(
                        video.id,
                        timeout=self.timeout,
                        poll_interval=self.poll_interval,
                        max_poll_interval=self.max_poll_interval,
                        cancel_on_kill=self.cancel_on_kill,
                        method_name="resume_wait",
                        resume_kwargs={"reattached": self.reattached, "fingerprint": self.fingerprint},
                    )
                video = self._wait_in_worker(context, video)
            return self._result(context, video)

    def _marker(self, context: Context) -> str:
        ti = context["ti"]
        return task_marker(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))

    def _request(self, marker: str | None = None) -> CreateVideoRequest:
        """The create, validated once, with this task instance's marker and the fingerprint in its
        title (without a ``marker``: as the caller gave it, what the fingerprint is of)."""
        request = planned_request({field: getattr(self, field) for field in CREATE_ARGUMENTS})
        self.fingerprint = request.fingerprint()
        return request if marker is None else request.with_marker(marker, fingerprint=True)

    # -- waiting -------------------------------------------------------------------------------

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

    def resume_wait(
        self,
        context: Context,
        event: dict[str, Any],
        reattached: bool = False,
        fingerprint: str | None = None,
    ) -> dict[str, Any]:
        """Where a deferred create resumes, on a fresh operator instance: what :meth:`execute` learnt
        and the trigger's event does not carry (``reattached`` for the lineage, ``fingerprint`` for
        the XCom record), then :meth:`execute_complete`, which subclasses may extend as usual."""
        self.reattached, self.fingerprint = reattached, fingerprint
        return self.execute_complete(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger: the task dict on ``completed``; a precise error otherwise."""
        self.video_id = str(event.get("video_id") or self.video_id)
        with self.failures():
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
        current = self.latest_video = latest or video
        error = DmjyWaitTimeoutError(video.id, current.status, waited)
        self._publish(context, {**current.to_dict(), "status": "timeout", "errorMessage": str(error)})
        raise error

    def _result(self, context: Context, video: Video) -> dict[str, Any]:
        """The final task dict; raises (fail fast, no retry) with the vendor's message on ``failed``."""
        return final_video_result(video, functools.partial(self._publish_final, context))

    def _publish_final(self, context: Context, video: Video) -> dict[str, Any]:
        self.video_url, self.latest_video = video.video_url, video
        return self._publish(context, video.to_dict())

    def _publish(self, context: Context, video: Mapping[str, Any]) -> dict[str, Any]:
        return publish_video(context, video, fingerprint=self.fingerprint, reused=self.reused)

    # -- lineage -------------------------------------------------------------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Dataset, RunFacet]:
        """OpenLineage (called by its listener, with ``apache-airflow-providers-openlineage``): the
        product image URLs in, the video out, and a ``dmjyVideo`` run facet (docs/lineage.md)."""
        from airflow_provider_dmjy.lineage import create_video_lineage

        return create_video_lineage(
            dmjy_conn_id=self.dmjy_conn_id,
            image_url=self.image_url,
            image_urls=self.image_urls,
            video=self.latest_video,
            reused=self.reattached or self.reused,  # not paid for by this try
            credits_per_second=self.credits_per_second,
        )

    # -- cancelling ----------------------------------------------------------------------------

    def _cancel(self, video_id: str, why: str) -> Video | None:
        """Re-read the video, then stop its render (``cancel_on_kill``) only if it is still running;
        the fresh read, or None (see :func:`~airflow_provider_dmjy.operators.cancel.cancel_if_rendering`)."""
        return cancel_if_rendering(self.hook, video_id, why, delete=self.cancel_on_kill, log=self.log)

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
