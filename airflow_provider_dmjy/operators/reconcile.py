"""Never charged twice: the look-ups around the create of :class:`DmjyCreateVideoOperator`.

Before paying, a try looks for the video an earlier try of the same task instance made: the id in
the task state store (Airflow >= 3.3), and on every retry the task instance's marker in recent
titles (:meth:`DmjyHook.find_video_by_marker`). After a create whose answer was lost, it looks for
the marker again over a grace window, never creating a second time; still nothing ends the try
with a retryable :class:`DmjyReconciliationError`, and the next try looks again before creating.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_dmjy.client.backoff import Backoff
from airflow_provider_dmjy.client.models import CreateVideoRequest, Video, VideoStatus
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyError,
    DmjyNotFoundError,
    DmjyReconciliationError,
)

if TYPE_CHECKING:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

__all__ = ["PENDING_KEY", "RECONCILE_MARGIN", "STATE_KEY", "CreateOnce", "TaskLog", "task_marker"]

#: Key of the created video id in the task state store (Airflow >= 3.3).
STATE_KEY = "dmjy_video_id"
#: Key of the time (epoch seconds) a create was about to be sent, stored before sending: a later try
#: that finds it without a video id knows a create may be in flight, whatever killed its try.
PENDING_KEY = "dmjy_create_sent_at"
#: How far back before the DAG run started a reconciling look-up still searches.
RECONCILE_MARGIN = timedelta(minutes=10)
#: Pauses between the searches for a create whose answer was lost (a Backoff): the first one's
#: ceiling and the longest.
RECONCILE_FIRST_PAUSE = 0.5
RECONCILE_MAX_PAUSE = 5.0


def task_marker(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """A short tag, stable across retries of one task instance, that is put in the video title."""
    digest = hashlib.sha256(f"{dag_id}\x1f{task_id}\x1f{run_id}\x1f{map_index}".encode()).hexdigest()
    return f"af-{digest[:12]}"


class TaskLog(Protocol):
    """The two levels used here, of a ``logging.Logger`` or of Airflow's task logger alike."""

    def info(self, message: str, /, *args: Any) -> Any: ...

    def warning(self, message: str, /, *args: Any) -> Any: ...


class CreateOnce:
    """The create of one task instance, made at most once across its tries.

    :param hook: the operator's hook.
    :param marker: the task instance's marker, carried in the title of the video it creates.
    :param context: the task's context: its task state store (Airflow >= 3.3, else absent), the
        try number, and the DAG run's start (the search's cut-off, :data:`RECONCILE_MARGIN` before).
    :param max_pages: the most list pages (100 videos each) one marker search reads.
    :param grace_seconds: after a create whose answer was lost, how long beyond the request timeout
        to keep looking for its video.
    :param log: the task's logger.
    """

    def __init__(
        self,
        hook: DmjyHook,
        marker: str,
        context: Mapping[str, Any],
        *,
        max_pages: int,
        grace_seconds: float,
        log: TaskLog,
    ) -> None:
        self.hook = hook
        self.marker = marker
        self.store: Any = context.get("task_state_store")
        self.is_retry = int(getattr(context["ti"], "try_number", 1) or 1) > 1
        self.sent_at = _stored_time(self.store)
        self.created_after = _search_cutoff(context, self.sent_at)
        self.max_pages = max_pages
        self.grace_seconds = grace_seconds
        self.log = log

    def earlier_video(self) -> Video | None:
        """The video an earlier try of this task instance created, if it is still usable."""
        stored_id = self.store.get(STATE_KEY) if self.store is not None else None
        if stored_id:
            video = self._get_if_exists(str(stored_id))
            if video is not None and video.status is not VideoStatus.FAILED:
                self.log.info("Reattaching to video %s from an earlier try (%s)", stored_id, video.status)
                return video
            self.log.info("Earlier video %s is failed or deleted", stored_id)
        if self.is_retry:
            # Even with a state store: a try whose create never answered stored nothing, yet its
            # video may exist (committed late); so may one of a try that died before store.set().
            found = self._find()
            if found is None and self.sent_at is not None and not stored_id:
                # An earlier try sent a create and never learnt its outcome (it was killed, or it
                # ended unknown): the server may still commit it, so wait out the same grace.
                return self._settle_in_flight()
            return found
        return None

    def create(self, request: CreateVideoRequest) -> Video:
        """Send ``request`` (which carries the marker) once; the video it made, also after a lost
        answer; its id is stored for the next try."""
        if self.store is not None:
            self.store.set(PENDING_KEY, time.time())
        try:
            created = Video.from_api(self.hook.create_video_from(request))
        except DmjyAmbiguousRequestError as error:
            created = self._settle_unknown_create(error)
        if self.store is not None:
            self.store.set(STATE_KEY, created.id)
        return created

    def _get_if_exists(self, video_id: str) -> Video | None:
        try:
            return Video.from_api(self.hook.get_video(video_id))
        except DmjyNotFoundError:
            return None

    def _find(self) -> Video | None:
        """The newest usable video whose title carries the marker (a bounded search)."""
        found = self.hook.find_video_by_marker(self.marker, self.created_after, max_pages=self.max_pages)
        if found is None:
            return None
        video = Video.from_api(found)
        self.log.info("Found video %s created by an earlier attempt (marker %s)", video.id, self.marker)
        return video

    def _settle_in_flight(self) -> Video | None:
        """After an earlier try's create with no known outcome: its video, or None once the grace
        since it was sent has passed (then creating is safe); a retryable error before that."""
        assert self.sent_at is not None
        settled_by = self.sent_at + self.hook.config.timeout + self.grace_seconds
        if time.time() >= settled_by:
            return None
        why = DmjyError(
            f"an earlier try sent a create at {self.sent_at:.0f} (epoch s) and never learnt its outcome"
        )
        try:
            return self._look_until(settled_by - time.time(), str(why), why)
        except DmjyReconciliationError as unknown:
            # The grace passed and nothing appeared: safe to create. A search that could not
            # conclude (its cause is the search's own error) stays unknown.
            if time.time() >= settled_by and not isinstance(unknown.__cause__, DmjyReconciliationError):
                return None
            raise

    def _settle_unknown_create(self, error: DmjyAmbiguousRequestError) -> Video:
        """The video of a create whose answer was lost, or a retryable error: never a second create.

        The server may commit the create after the client gave up (a queued request), so one look
        is not enough: the list is searched again, with a growing pause, for the request timeout
        plus ``grace_seconds``. Still nothing means still unknown: a retryable
        :class:`DmjyReconciliationError`, and the next try searches before creating.
        """
        return self._look_until(self.hook.config.timeout + self.grace_seconds, str(error), error)

    def _look_until(self, grace: float, why: str, error: DmjyError) -> Video:
        """Search for the marker for ``grace`` seconds; the video, or a retryable error."""
        self.log.warning("%s; looking for the video (marker %s) for up to %.0f s", why, self.marker, grace)
        deadline = time.monotonic() + grace
        pauses = Backoff(RECONCILE_FIRST_PAUSE, RECONCILE_MAX_PAUSE)
        while True:
            try:
                found = self._find()
            except DmjyReconciliationError as search_error:  # the search itself could not conclude
                raise self._unknown(f"{error}; {search_error}") from search_error
            except DmjyError as search_error:
                if not search_error.retryable:
                    raise
                self.log.warning("Looking for the video failed (%s); will look again", search_error)
                found = None
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unknown(
                    f"{error}; no video carrying the marker appeared within {grace:.0f} s"
                ) from error
            time.sleep(min(pauses.next_delay(), remaining))

    def _unknown(self, why: str) -> DmjyReconciliationError:
        return DmjyReconciliationError(
            f"The outcome of the DMJY create is unknown, so nothing was created again; the next try "
            f"looks for its video (marker {self.marker}) again before creating. {why}"
        )


def _stored_time(store: Any) -> float | None:
    value = store.get(PENDING_KEY) if store is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _search_cutoff(context: Mapping[str, Any], sent_at: float | None) -> float | None:
    """Epoch seconds on Airflow's clock, :data:`RECONCILE_MARGIN` before the earliest thing known
    about this task instance: the run's start, its ``run_after``, an earlier try's create.

    Clearing a task restarts its DAG run (a new ``start_date``), so the start alone could move the
    cut-off past a video the first try paid for; ``run_after`` does not move, nor does the stored
    time a create was sent. The hook compares the cut-off on the server's clock.
    """
    dag_run = context.get("dag_run")
    times = [
        moment.timestamp()
        for moment in (getattr(dag_run, "start_date", None), getattr(dag_run, "run_after", None))
        if moment is not None
    ]
    if sent_at is not None:
        times.append(sent_at)
    if not times:
        return None
    return float(min(times) - RECONCILE_MARGIN.total_seconds())
