"""When a failed attempt is tried again, how long to wait, and when a create must not be repeated.

Reads and deletes are retried on transport errors, 429 (honouring ``Retry-After``), 5xx and
success answers whose body cannot be read (a proxy cut it). A
create is retried only when it provably never reached the server (connection refused, DNS, connect
timeout) or was refused with a plain 429; after any other failure it may have been applied, so
the caller gets :class:`DmjyAmbiguousRequestError` and must look before creating again. A 401 that
blames the timestamp is retried once, after the clock has taken the server's ``Date``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import tenacity

from airflow_provider_dmjy.client.calls import Call
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.responses import is_timestamp_error, parse_body
from airflow_provider_dmjy.exceptions import (
    DmjyAmbiguousRequestError,
    DmjyConnectionError,
    DmjyError,
    DmjyInvalidResponseError,
    DmjyNotFoundError,
    DmjyRateLimitError,
    DmjyServerError,
)

__all__ = ["CallRetry"]

log = logging.getLogger("airflow_provider_dmjy.client")


class CallRetry:
    """The retry state and decisions for one call; drives a tenacity ``Retrying``."""

    def __init__(self, call: Call, config: ClientConfig, path: str) -> None:
        self.call = call
        self.config = config
        self.path = path
        self.retries = 0
        self.skew_retried = False
        #: An earlier attempt may have been applied (its response was lost).
        self.maybe_applied = False

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
            return parse_body(status, headers, body, method, self.path)
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

    def should_retry(self, error: BaseException) -> bool:
        if is_timestamp_error(error) and not self.skew_retried:
            self.skew_retried = True
            return True
        if not isinstance(error, DmjyError) or not error.retryable:
            return False
        if self.retries >= self.config.max_retries:
            return False
        self.retries += 1
        return True

    def wait_seconds(self, error: BaseException | None) -> float:
        if error is not None and is_timestamp_error(error) and self.retries == 0:
            return 0.0
        cap = self.config.max_retry_wait
        if isinstance(error, DmjyRateLimitError) and error.retry_after is not None:
            return min(error.retry_after, cap)
        # Full jitter: spreads the retries of many tasks hitting the same outage.
        return random.uniform(0, min(cap, self.config.backoff_base * 2 ** max(0, self.retries - 1)))

    def retrying(self, asynchronous: bool = False) -> Any:
        """A tenacity controller that consults this state (``AsyncRetrying`` for the async client)."""
        kwargs: dict[str, Any] = {
            "retry": tenacity.retry_if_exception(self.should_retry),
            "wait": lambda state: self.wait_seconds(state.outcome.exception() if state.outcome else None),
            "stop": tenacity.stop_never,  # should_retry counts the retries
            "reraise": True,
            "before_sleep": self._log_retry,
        }
        return tenacity.AsyncRetrying(**kwargs) if asynchronous else tenacity.Retrying(**kwargs)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "DMJY %s %s failed (%s); retry %d of %d in %.1f s",
            self.call.method,
            self.path,
            error,
            self.retries,
            self.config.max_retries,
            wait,
        )
