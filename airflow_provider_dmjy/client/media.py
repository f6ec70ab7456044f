"""Downloading a rendered video or thumbnail from its media (CDN) URL into a binary file object.

Media URLs are CDN URLs: they are fetched with a plain ``requests`` session that carries none of
the API's credentials, and redirects are followed (``requests`` stops after 30). What a download
promises, and the limits of each promise:

- It ends: besides ``timeout`` per read, each attempt has a total deadline of
  ``max(min_deadline, size / min_rate)`` seconds, where size is ``Content-Length`` or, without
  one, the bytes received so far (so a server that trickles an unannounced body fails after
  ``min_deadline``). The deadline is checked between reads, so an attempt may overrun it by one
  ``timeout``. Waiting for the response headers is bounded by ``timeout`` per read only.
- A body larger than ``max_bytes`` is refused: at once when ``Content-Length`` announces it, else
  as soon as that many bytes arrived.
- A body shorter than its ``Content-Length`` is a retryable truncation. A response without
  ``Content-Length`` (or with a ``Content-Encoding``) cannot be checked: whatever arrived before
  the server closed the connection counts as the file.
- No message carries the URL's query string or user info (a signed CDN URL's token).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Protocol
from urllib.parse import urlsplit

import requests
import urllib3

from airflow_provider_dmjy.client.backoff import Backoff
from airflow_provider_dmjy.client.media_limits import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_DEADLINE,
    DEFAULT_MIN_RATE,
    DownloadLimits,
    redact_url,
)
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyConnectionError,
    DmjyError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyResponseTooLargeError,
    DmjyServerError,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_DEADLINE",
    "DEFAULT_MIN_RATE",
    "DownloadLimits",
    "MediaClient",
    "MediaFile",
    "media_error",
    "redact_url",
]

log = logging.getLogger("airflow_provider_dmjy.client")

#: The longest pause between two attempts of one download.
MAX_RETRY_WAIT = 60.0


class MediaFile(Protocol):
    """What a download writes to: any binary file open for writing (``open(path, "wb")``).

    Before another attempt the download starts the file over with ``seek(0)`` then ``truncate()``.
    """

    def write(self, data: bytes, /) -> object: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def truncate(self, size: int | None = ..., /) -> int: ...


class MediaClient:
    """Media downloads over one plain ``requests`` session (no API key, secret or signature).

    Usable without a DMJY connection: a media URL needs none. :meth:`DmjyClient.download
    <airflow_provider_dmjy.client.sync_client.DmjyClient.download>` uses one of these too.
    """

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()

    def close(self) -> None:
        """Release the pooled connections."""
        self.session.close()

    def __enter__(self) -> MediaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def download(self, url: str, fileobj: MediaFile, limits: DownloadLimits | None = None) -> int:
        """Stream ``url`` into ``fileobj`` (binary, writable); returns the bytes written.

        A retryable failure (connection error, truncation, a missed deadline, 408/429/5xx) is
        tried again up to ``limits.attempts`` times with :class:`~.backoff.Backoff`, after
        ``fileobj.seek(0)`` and ``fileobj.truncate()``; anything else, and the last failure, is
        raised as a :class:`~airflow_provider_dmjy.exceptions.DmjyError`. Nothing is chained to
        the ``requests`` exception, whose message repeats the full URL.
        """
        limits = limits or DownloadLimits()
        shown = redact_url(url)
        backoff = Backoff(limits.retry_wait, MAX_RETRY_WAIT)
        for attempt in range(1, limits.attempts + 1):
            if attempt > 1:
                fileobj.seek(0)
                fileobj.truncate()
            try:
                return self._download_once(url, fileobj, limits, shown)
            except DmjyError as error:
                if not error.retryable or attempt == limits.attempts:
                    raise
                wait = backoff.next_delay(error)
                log.warning(
                    "Downloading %s failed (%s); attempt %d of %d in %.1f s",
                    shown,
                    error,
                    attempt + 1,
                    limits.attempts,
                    wait,
                )
                time.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _download_once(self, url: str, fileobj: MediaFile, limits: DownloadLimits, shown: str) -> int:
        failure = functools.partial(DmjyConnectionError, method="GET", path=shown, reached_server=True)
        started = time.monotonic()
        try:
            # identity: Content-Length then counts the bytes read.
            with self.session.get(
                url, stream=True, timeout=limits.timeout, headers={"Accept-Encoding": "identity"}
            ) as response:
                if response.status_code >= 400:
                    raise media_error(response.status_code, response.reason, shown)
                expected = _content_length(response.headers.get("Content-Length"))
                if expected is not None and expected > limits.max_bytes:
                    what = f"announces {expected} bytes (Content-Length)"
                    raise _too_large(what, limits, response.status_code, shown)
                encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                written = 0
                while True:
                    # read1 returns what has arrived (up to chunk_size) instead of waiting for a
                    # full chunk, so a trickling server meets the deadline check below.
                    chunk = response.raw.read1(limits.chunk_size, decode_content=True)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > limits.max_bytes:
                        what = f"sent more than {limits.max_bytes} bytes"
                        raise _too_large(what, limits, response.status_code, shown)
                    fileobj.write(chunk)
                    elapsed = time.monotonic() - started
                    deadline = limits.deadline(written if expected is None else expected)
                    if elapsed > deadline:
                        of = "" if expected is None else f" of {expected}"
                        raise failure(
                            f"Download too slow: {written}{of} bytes in {elapsed:.1f} s, past its deadline "
                            f"of {deadline:.1f} s (max(min_deadline={limits.min_deadline:g} s, size / "
                            f"min_rate={limits.min_rate:g} B/s))"
                        )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
        ) as exc:
            raise failure(f"Download failed: {type(exc).__name__}: {_scrubbed(str(exc), url)}") from None
        except requests.RequestException as exc:
            # Too many redirects, a redirect to a scheme requests cannot fetch: no retry helps.
            message = f"Download failed: {type(exc).__name__}: {_scrubbed(str(exc), url)}"
            raise DmjyApiError(message, method="GET", path=shown) from None
        if expected is not None and not encoded and written != expected:
            raise failure(f"Download truncated: {written} of {expected} bytes")
        return written


def media_error(status: int, reason: str | None, shown: str) -> DmjyError:
    """The error for a media server's HTTP error ``status`` (``shown``: the redacted URL)."""
    message = f"media server answered {status} {reason or ''}".rstrip()
    if status in (408, 429) or status >= 500:
        return DmjyServerError(message, status=status, method="GET", path=shown)
    if status == 404:
        return DmjyNotFoundError(message, status=status, method="GET", path=shown)
    if status in (401, 403):  # a signed CDN URL that expired or was refused
        return DmjyPermissionError(message, status=status, method="GET", path=shown)
    return DmjyApiError(message, status=status, method="GET", path=shown)


def _too_large(what: str, limits: DownloadLimits, status: int, shown: str) -> DmjyResponseTooLargeError:
    return DmjyResponseTooLargeError(
        f"media server {what}: the limit is max_bytes={limits.max_bytes}; raise it to accept the file",
        status=status,
        method="GET",
        path=shown,
    )


def _scrubbed(text: str, url: str) -> str:
    """``text`` without the URL's user info and query string."""
    parts = urlsplit(url)
    for secret in (parts.query, parts.netloc.rpartition("@")[0]):
        if secret:
            text = text.replace(secret, "...")
    return text


def _content_length(value: str | None) -> int | None:
    # Only plain ASCII digits: int() would also take "+5", "1_000" and non-ASCII digits.
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return None
    return int(value)
