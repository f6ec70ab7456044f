"""The error hierarchy of the DMJY client (plain Python: no Airflow import).

Every error says whether retrying the same request can help (``retryable``). Messages carry the
HTTP status, the vendor's code and message and the request's method and path; never a header
value, the API secret or a signature.

Every error is a value that survives ``pickle`` and ``copy.deepcopy`` (Celery result backends,
multiprocessing) with its class, message and attributes: it is rebuilt from its message and
attributes, never by calling ``__init__`` again (which would need the original arguments).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DmjyAmbiguousRequestError",
    "DmjyApiError",
    "DmjyAuthenticationError",
    "DmjyBadRequestError",
    "DmjyConfigurationError",
    "DmjyConnectionError",
    "DmjyDailyCapError",
    "DmjyError",
    "DmjyInsufficientBalanceError",
    "DmjyInvalidResponseError",
    "DmjyNotFoundError",
    "DmjyPermissionError",
    "DmjyRateLimitError",
    "DmjyReconciliationError",
    "DmjyRedirectError",
    "DmjyResponseTooLargeError",
    "DmjyServerError",
    "DmjyValidationError",
    "DmjyVideoFailedError",
    "DmjyWaitTimeoutError",
    "DmjyWebhookVerificationError",
]


def _restore(cls: type[DmjyError], args: tuple[Any, ...]) -> DmjyError:
    """Unpickling: an instance of ``cls`` with the message ``args``; pickle then sets its attributes."""
    error = cls.__new__(cls)
    error.args = args
    return error


class DmjyError(Exception):
    """Base class of every error raised by this package."""

    #: Whether sending the same request again may succeed.
    retryable: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # The default (cls(*args) plus the attributes) calls __init__ with the formatted message:
        # a TypeError for subclasses whose __init__ takes other arguments, and a doubled message
        # prefix for DmjyApiError.
        return _restore, (type(self), self.args), dict(self.__dict__)


class DmjyConfigurationError(DmjyError, ValueError):
    """The connection or client settings are unusable (missing key, bad auth mode, ...)."""


class DmjyValidationError(DmjyError, ValueError):
    """An argument failed client-side validation; nothing was sent to the API.

    ``field`` is the vendor's field name (``aspectRatio``), ``argument`` the Python argument name
    (``aspect_ratio``) and ``value`` the rejected value.
    """

    def __init__(self, field: str, value: Any, reason: str, argument: str | None = None) -> None:
        self.field = field
        self.argument = argument or field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        name = self.argument if self.argument == field else f"{self.argument} ({field})"
        super().__init__(f"Invalid {name}={shown}: {reason}")


class DmjyApiError(DmjyError):
    """The API answered with an error (an HTTP error status or ``"success": false``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.vendor_message = message
        self.method = method
        self.path = path
        super().__init__(self._format())

    def _format(self) -> str:
        parts = ["DMJY API error"]
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"{' '.join(parts)}: {self.vendor_message}{where}"


class DmjyBadRequestError(DmjyApiError):
    """400: the API rejected the request's parameters."""


class DmjyAuthenticationError(DmjyApiError):
    """401: key, secret or signature rejected, or the timestamp is outside the 5-minute window."""


class DmjyPermissionError(DmjyApiError):
    """403: the key lacks permission or the caller's IP is not allow-listed."""


class DmjyNotFoundError(DmjyApiError):
    """404: no such video task or template."""


class DmjyRateLimitError(DmjyApiError):
    """429 "too many requests": waiting ``retry_after`` seconds (when the server said) helps."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class DmjyDailyCapError(DmjyApiError):
    """429 "daily cap reached": no retry helps before the cap resets (00:00 vendor time)."""


class DmjyInsufficientBalanceError(DmjyApiError):
    """The account's compute balance cannot pay for the video (code ``INSUFFICIENT_BALANCE``)."""


class DmjyServerError(DmjyApiError):
    """5xx: a server-side failure; a later retry may succeed."""

    retryable = True


class DmjyInvalidResponseError(DmjyApiError):
    """A success status whose body is not the documented JSON envelope (or is over the size cap).

    Retryable: a proxy that cut the body is the likely cause, and reading again is harmless. The
    server did answer with success, so a create that gets this may well have been applied: the
    client turns it into :class:`DmjyAmbiguousRequestError`, never into a second create.
    """

    retryable = True


class DmjyResponseTooLargeError(DmjyInvalidResponseError):
    """A success answer over the client's size cap: refused after reading the cap.

    Not retryable (the same request gets the same answer), but still unreadable, so a create that
    gets it is ambiguous like any other :class:`DmjyInvalidResponseError`.
    """

    retryable = False


class DmjyConnectionError(DmjyError):
    """The request failed at the transport level (refused, reset, timed out).

    ``reached_server`` is False only when the request provably never left (connection refused,
    DNS failure, connect timeout); otherwise the server may have acted on it.
    """

    retryable = True

    def __init__(self, message: str, *, method: str, path: str, reached_server: bool) -> None:
        self.method = method
        self.path = path
        self.reached_server = reached_server
        super().__init__(f"{message} ({method} {path})")


class DmjyAmbiguousRequestError(DmjyError):
    """A non-idempotent request (a create) may or may not have been applied by the server.

    Raised instead of retrying, so that nothing is created (and charged) twice. ``payload`` is the
    JSON body that was sent and ``sent_at`` the epoch seconds (server clock) of the last attempt:
    look the resource up before creating it again.
    """

    def __init__(
        self, *, method: str, path: str, payload: dict[str, Any] | None, sent_at: float, cause: BaseException
    ) -> None:
        self.method = method
        self.path = path
        self.payload = payload
        self.sent_at = sent_at
        self.cause = cause
        super().__init__(
            f"{method} {path} may or may not have been applied by the server ({cause}); "
            "not retried so that nothing is created twice"
        )


class DmjyReconciliationError(DmjyError):
    """Whether an earlier create took effect cannot be told yet, so nothing is created meanwhile.

    Raised when a create's answer was lost and no video carrying its marker showed up within the
    grace window, or when the search for that marker read its page cap without reaching its
    cut-off. ``retryable``: the next try (or a later call) looks again before creating.
    """

    retryable = True


class DmjyVideoFailedError(DmjyError):
    """A video render ended in ``failed``; carries the vendor's ``errorMessage``."""

    def __init__(self, video_id: str, error_message: str | None) -> None:
        self.video_id = video_id
        self.error_message = error_message
        super().__init__(f"DMJY video {video_id} failed: {error_message or 'no error message given'}")


class DmjyWaitTimeoutError(DmjyError):
    """A video did not reach a final state before the deadline.

    ``retryable``: the render may still finish, so whether a task retry tries again is for the
    task's ``retries`` to decide, not a failure forced here.
    """

    retryable = True

    def __init__(self, video_id: str, status: str | None, waited_seconds: float) -> None:
        self.video_id = video_id
        self.status = status
        self.waited_seconds = waited_seconds
        super().__init__(
            f"DMJY video {video_id} still {status or 'unknown'} after waiting {waited_seconds:.0f} s"
        )


class DmjyWebhookVerificationError(DmjyError):
    """A webhook delivery failed verification (signature, timestamp or body)."""


class DmjyRedirectError(DmjyApiError):
    """3xx: the API answered with a redirect, which API calls never follow.

    Following it would send the key and signature (in header mode, the secret) to wherever the
    ``Location`` points, and re-send a create. ``location_host`` is the host it named (None when the
    header was missing, relative or unreadable); the message names that host, never the full URL.
    """

    def __init__(self, message: str, *, location_host: str | None = None, **kwargs: Any) -> None:
        self.location_host = location_host
        super().__init__(message, **kwargs)
