"""A sensor that waits for an existing DMJY video task to finish rendering."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_dmjy._compat import AirflowFailException, AirflowSkipException, default_deferrable
from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyError, DmjyVideoFailedError
from airflow_provider_dmjy.hooks.failures import airflow_failures
from airflow_provider_dmjy.operators.base import DmjyBaseOperator, video_wait_result
from airflow_provider_dmjy.utils.polling import (
    DEFAULT_POLL_INTERVAL,
    MAX_POLL_INTERVAL_LIMIT,
    MAX_WAIT_SECONDS,
    PollSchedule,
    check_poll_intervals,
    check_seconds,
)

try:  # Airflow >= 3.2 (Task SDK exceptions)
    from airflow.sdk.exceptions import AirflowSensorTimeout  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DmjyVideoSensor"]


class DmjyVideoSensor(DmjyBaseOperator, BaseSensorOperator):
    """Wait until video task ``video_id`` is ``completed``; returns (and pushes to XCom) the task dict.

    Works in ``poke``, ``reschedule`` and deferrable mode. A render that ends ``failed`` fails the
    task at once, without retries, with the vendor's error message; with ``soft_fail=True`` it
    (like a timeout or an API error no retry can fix) skips the task instead. Transient API errors
    (5xx, 429, resets) never fail the wait: the next check simply comes later.

    Checks follow the adaptive poll schedule of the trigger (near the estimated finish, between
    ``poll_interval`` and ``max_poll_interval``) unless ``exponential_backoff`` is set. Also a
    :class:`DmjyBaseOperator`: the operators' ``dmjy_conn_id``, hook, failure boundary and deferral.

    :param video_id: the video task id (templated); checked when the sensor runs, before any
        request: an id that is not one safe URL segment fails the task without retries.
    :param dmjy_conn_id: the ``dmjy`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``); the
        sensor's ``timeout`` (at most 7 days) becomes the trigger's deadline.
    :param poll_interval: the usual shortest gap between two checks, in seconds (as short as
        ``poll_interval / 4`` right at an estimated finish; the default
        ``poke_interval``; at most a day).
    :param max_poll_interval: the longest gap between two checks, in seconds (at most a day, not
        less than ``poll_interval``; default 120, or ``poll_interval`` when longer).
    """

    template_fields: Sequence[str] = ("video_id", "dmjy_conn_id")
    ui_color = "#fde9d9"

    def __init__(
        self,
        *,
        video_id: str,
        deferrable: bool | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        # Not template fields: refused when the DAG is parsed, and before the base class, which
        # turns NaN or infinity into a bare ValueError or OverflowError. (Not self.failures(): no
        # soft_fail before the base class has read it, and a bad DAG is no skip.)
        with airflow_failures():
            poll_interval, max_poll_interval = check_poll_intervals(poll_interval, max_poll_interval)
            for name, maximum in (("timeout", MAX_WAIT_SECONDS), ("poke_interval", MAX_POLL_INTERVAL_LIMIT)):
                if kwargs.get(name) is not None:
                    value = kwargs[name]
                    seconds = value.total_seconds() if isinstance(value, timedelta) else value
                    kwargs[name] = check_seconds(name, seconds, maximum)
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)  # DmjyBaseOperator takes dmjy_conn_id, BaseSensorOperator the rest
        self.video_id = video_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self._next_delay: float | None = None

    @cached_property
    def _schedule(self) -> PollSchedule:
        return PollSchedule(self.poll_interval, self.max_poll_interval)

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """The operators' boundary (:meth:`DmjyBaseOperator.failures`), plus the sensor's own rule:
        with ``soft_fail`` (or ``never_fail``) a failure (a failed render, an API error no retry
        can fix, the timeout) skips the task instead.

        Explicit rather than left to ``BaseSensorOperator``: its conversion covers only the poke loop
        and ``resume_execution``, not the first check a deferrable ``execute`` makes.
        """
        try:
            with super().failures():
                yield
        except (AirflowFailException, AirflowSensorTimeout) as error:
            for flag in ("soft_fail", "never_fail"):
                if getattr(self, flag, False):
                    raise AirflowSkipException(f"Skipping ({flag}=True): {error}") from error
            raise

    def poke(self, context: Context) -> PokeReturnValue:
        """One check: done with the task dict when completed; raises when the render failed."""
        with self.failures():
            video = self._check()
        if video is not None and video.status is VideoStatus.COMPLETED:
            return PokeReturnValue(is_done=True, xcom_value=video.to_dict())
        return PokeReturnValue(is_done=False)

    def _check(self) -> Video | None:
        """The task (None after a transient error); raises for a failed render or a permanent error."""
        try:
            video = Video.from_api(self.hook.get_video(self.video_id))
        except DmjyError as error:
            if not error.retryable:
                raise
            # The hook already retried; a wait must outlive a flaky API, so just look again later.
            self.log.warning("DMJY video %s: transient error, checking again later: %s", self.video_id, error)
            self._next_delay = None
            return None
        if video.status is VideoStatus.FAILED:
            raise DmjyVideoFailedError(self.video_id, video.error_message)
        if video.status is not VideoStatus.COMPLETED:
            self._next_delay = self._schedule.next_delay(video.status, video.progress)
            self.log.info("DMJY video %s is %s (%s%%)", self.video_id, video.status, video.progress)
        return video

    def _get_next_poke_interval(
        self,
        started_at: datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        """The adaptive poll schedule's delay (capped by the time left), unless exponential backoff."""
        if self.exponential_backoff or self._next_delay is None:
            # After a transient error or with the user's own backoff: the base class's interval.
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        delay = min(self._next_delay, max(self.timeout - run_duration(), 0.0))
        if self.max_wait:
            delay = min(delay, self.max_wait.total_seconds())
        return delay

    def execute(self, context: Context) -> Any:
        """Poke or reschedule as configured; in deferrable mode, check once and then defer."""
        if not self.deferrable:
            return super().execute(context)
        # One check before deferring: a finished video needs no round trip through the triggerer.
        with self.failures():
            video = self._check()
        if video is not None and video.status is VideoStatus.COMPLETED:
            self.log.info("DMJY video %s is already completed", self.video_id)
            return video.to_dict()
        self.defer_until_final(
            self.video_id,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the completed task dict or a precise exception."""
        with self.failures():
            return video_wait_result(event, self.video_id, on_timeout=self._timed_out)

    def _timed_out(self, video: Video, message: str) -> NoReturn:
        """The trigger's deadline is this sensor's ``timeout``: over (a skip with ``soft_fail``)."""
        raise AirflowSensorTimeout(message)
