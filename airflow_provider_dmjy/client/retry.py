"""When a failed attempt is tried again, how long to wait, and when a create must not be repeated.

Reads and deletes are retried on transport errors, 429 (honouring ``Retry-After``), 5xx and
success answers whose body cannot be read (a proxy cut it). A create is retried only when it
provably never reached the server (connection refused, DNS, connect timeout) or was refused with a
plain 429; after any other failure it may have been applied, so the caller gets
:class:`DmjyAmbiguousRequestError` (not retryable) and must look before creating again.

Two objects, so that the retry decision itself stays a pure function of the error:

- :class:`RetryPolicy`, one per client: the tenacity arguments, declared once and turned into a
  ``Retrying`` (sync client) or an ``AsyncRetrying`` (async client). Its predicate is
  ``error.retryable``, nothing else.
- :class:`CallAttempts`, one per call: reads each attempt's answer or failure into the error to act
  on, remembering whether an earlier attempt may have been applied (which is what makes a
  create ambiguous and a DELETE's later 404 a success).

The clients make the first attempt of a call directly and build the tenacity controller only after
a retryable failure, so a call that succeeds at once pays nothing for the retry machinery. A 401
that blames the timestamp is handled inside the attempt (signed again once on the server's clock),
not by the policy.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import tenacity

from airflow_provider_dmjy.client.backoff import backoff_delay
from airflow_provider_dmjy.client.calls import Call
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.responses import is_timestamp_error, parse_body
from airflow_provider_dmjy.client.signing import SkewClock
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyConnectionError,
    DmjyError,
    DmjyInvalidResponseError,
    DmjyNotFoundError,
    DmjyServerError,
)

__all__ = ["CallAttempts", "RetryPolicy", "is_retryable"]

log = logging.getLogger("airflow_provider_dmjy.client")
T = TypeVar("T")


def is_retryable(error: BaseException) -> bool:
    """The retry predicate: whether sending the same request again may succeed."""
    return isinstance(error, DmjyError) and error.retryable


class RetryPolicy:
    """The client's retry rules as tenacity arguments (as the Databricks hook's ``retry_args``).

    At most ``config.max_retries`` retries (``max_retries + 1`` attempts) of a retryable error;
    between attempts the server's ``Retry-After``, else exponential backoff with full jitter from
    ``config.backoff_base``, both capped by ``config.max_retry_wait``. Every retry is logged.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.max_retries = config.max_retries
        self.backoff_base = config.backoff_base
        self.max_retry_wait = config.max_retry_wait
        #: What ``Retrying`` and ``AsyncRetrying`` are both built from.
        self.arguments: dict[str, Any] = {
            "retry": tenacity.retry_if_exception(is_retryable),
            "stop": tenacity.stop_after_attempt(config.max_retries + 1),
            "wait": self.wait_seconds,
            "reraise": True,
        }

    def wait_seconds(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt, after ``state.attempt_number`` failed ones."""
        error = state.outcome.exception() if state.outcome else None
        return backoff_delay(state.attempt_number, self.backoff_base, self.max_retry_wait, error)

    def after_failure(self, failure: DmjyError, attempt: Callable[[], T], method: str, path: str) -> T:
        """Go on after a first attempt failed with ``failure``: retry ``attempt`` or raise.

        tenacity's attempt 1 is the one already made: it is handed ``failure`` without running
        anything, so the count, the wait, the log line and the stop are tenacity's as usual.
        """
        first = True
        retrying = tenacity.Retrying(**self.arguments, before_sleep=self._logger(method, path))
        for managed in retrying:
            with managed:
                if first:
                    first = False
                    raise failure
                return attempt()
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def after_failure_async(
        self, failure: DmjyError, attempt: Callable[[], Awaitable[T]], method: str, path: str
    ) -> T:
        """The same for the async client: ``AsyncRetrying`` from the same arguments."""
        first = True
        retrying = tenacity.AsyncRetrying(**self.arguments, before_sleep=self._logger(method, path))
        async for managed in retrying:
            with managed:
                if first:
                    first = False
                    raise failure
                return await attempt()
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _logger(self, method: str, path: str) -> Callable[[tenacity.RetryCallState], None]:
        return functools.partial(_log_retry, method, path, self.max_retries)


def _log_retry(method: str, path: str, max_retries: int, state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "DMJY %s %s failed (%s); retry %d of %d in %.1f s",
        method,
        path,
        error,
        state.attempt_number,
        max_retries,
        wait,
    )


class CallAttempts:
    """What the attempts of one call mean together: each answer or failure becomes the error to act on.

    :param call: the call being sent.
    :param path: its full path (with the base URL's ``/api/v1``), for messages.
    :param redact: values never to repeat from an answer (the configured key and secret): scrubbed
        from the server's text in every error built here.
    """

    def __init__(self, call: Call, path: str, *, redact: tuple[str, ...] = ()) -> None:
        self.call = call
        self.path = path
        self.redact = redact
        #: An earlier attempt may have been applied (its response was lost).
        self.maybe_applied = False
        self.signed_again = False

    def sign_again(self, error: DmjyError, clock: SkewClock) -> bool:
        """Whether to send the attempt once more at once: a 401 that blames the timestamp.

        The answer's ``Date`` has already set ``clock`` to the server's time, so a second signature
        can pass. Once per call: a second refusal is a real authentication error.
        """
        if self.signed_again or not is_timestamp_error(error):
            return False
        self.signed_again = True
        log.warning(
            "DMJY %s %s: the timestamp was refused (%s); signing again on the server's clock "
            "(offset %+.0f s)",
            self.call.method,
            self.path,
            error,
            clock.offset_seconds,
        )
        return True

    def outcome_of_error(self, error: DmjyError, sent_at: float) -> DmjyError | None:
        """The error to act on after one failed attempt, or None when the call in fact succeeded."""
        # A success status with an unreadable body counts as lost: the server did the work.
        lost_after_sending = isinstance(error, (DmjyServerError, DmjyInvalidResponseError)) or (
            isinstance(error, DmjyConnectionError) and error.reached_server
        )
        if self.call.method == "DELETE" and isinstance(error, DmjyNotFoundError) and self.maybe_applied:
            return None  # an earlier attempt whose answer was lost did the delete
        if lost_after_sending:
            self.maybe_applied = True
            if not self.call.idempotent:
                return DmjyAmbiguousRequestError(
                    method=self.call.method,
                    path=self.path,
                    payload=self.call.json,
                    sent_at=sent_at,
                    cause=error,
                )
        return error

    def settle(
        self, status: int, headers: Mapping[str, str], body: bytes, method: str, sent_at: float
    ) -> dict[str, Any]:
        """The ``data`` of one answer, or raise what the caller should act on (see ``outcome_of_error``)."""
        try:
            return parse_body(status, headers, body, method, self.path, secrets=self.redact)
        except DmjyError as error:
            outcome = self.outcome_of_error(error, sent_at)
            if outcome is None:
                return {}
            if outcome is error:
                raise
            raise outcome from error

    def transport_failure(self, message: str, reached_server: bool, sent_at: float) -> DmjyError:
        """The error to raise (``from`` the transport's exception) when no answer arrived."""
        error = DmjyConnectionError(
            message, method=self.call.method, path=self.path, reached_server=reached_server
        )
        return self.outcome_of_error(error, sent_at) or error
