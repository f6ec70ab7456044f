"""An operator that archives a rendered DMJY video (and its thumbnail) to any object storage.

Media URLs are CDN URLs: they are fetched with a plain ``requests`` session that carries none of
the API's credentials. Public home: :mod:`airflow_provider_dmjy.operators.video`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyConnectionError,
    DmjyError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyServerError,
    DmjyValidationError,
)
from airflow_provider_dmjy.hooks.dmjy import as_airflow_error
from airflow_provider_dmjy.operators.base import DmjyBaseOperator

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context, ObjectStoragePath

__all__ = ["DEFAULT_CHUNK_SIZE", "DmjyDownloadVideoOperator"]

DEFAULT_CHUNK_SIZE = 1024 * 1024
# A template that rendered an absent upstream value; "None" is what Jinja makes of None.
_UNSET_RENDERED = ("", "None")


class DmjyDownloadVideoOperator(DmjyBaseOperator):
    """Download a completed video (and optionally its thumbnail) to a file or a folder.

    Give exactly one of ``video_id`` (the task must be ``completed``; its ``videoUrl`` is used)
    and ``video_url``. The file is streamed to ``.<name>.part`` beside the final name, its size
    is checked against ``Content-Length``, and only then moved into place: a failed or truncated
    download never leaves a file under the final name. Transient failures (connection errors,
    truncation, 408/429/5xx) are retried ``download_attempts`` times, then raised as retryable.

    :param video_id: the DMJY video task id.
    :param video_url: a media URL to download directly (no API call is made).
    :param destination: an ``ObjectStoragePath`` or a URL string (``file:///...``, ``s3://...``,
        ``gs://...`` with the matching provider installed, or a plain local path). A string ending
        in ``/`` or an existing directory is a folder: the file is then named ``<video id>.mp4``,
        or after the URL's last path segment when only ``video_url`` is given. Parent folders
        are created.
    :param include_thumbnail: also download ``thumbnailUrl`` beside the video, as ``<stem>.jpg``
        (needs ``video_id``).
    :param chunk_size: bytes read and written at a time.
    :param timeout: seconds to wait for the media server to connect or send the next bytes.
    :param dmjy_conn_id: the ``dmjy`` connection (used only with ``video_id``).
    :return: ``{"video_id": str | None, "path": str, "size": int, "thumbnail_path": str | None}``.
    """

    template_fields: Sequence[str] = ("video_id", "video_url", "destination", "dmjy_conn_id")

    #: Attempts per file before a transient failure is raised (Airflow's own retries come after).
    download_attempts: int = 3
    #: Seconds before the second attempt; doubles after each failed attempt.
    download_retry_wait: float = 1.0

    def __init__(
        self,
        *,
        destination: ObjectStoragePath | str,
        video_id: str | None = None,
        video_url: str | None = None,
        include_thumbnail: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_source_at_parse_time(video_id, video_url, include_thumbnail)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of bytes (got {chunk_size!r})")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds (got {timeout!r})")
        self.video_id = video_id
        self.video_url = video_url
        self.destination = destination
        self.include_thumbnail = include_thumbnail
        self.chunk_size = chunk_size
        self.timeout = timeout

    def execute(self, context: Context) -> dict[str, Any]:
        """Resolve the media URLs, download them, and return where they were written."""
        import requests

        try:
            video_id, video_url = _rendered_source(self.video_id, self.video_url, self.include_thumbnail)
        except DmjyValidationError as error:
            raise as_airflow_error(error) from None
        thumbnail_url: str | None = None
        if video_id is not None:
            video_url, thumbnail_url = self._media_urls(video_id)
        assert video_url is not None  # _rendered_source returns exactly one of the two

        target = self._target(video_id, video_url)
        thumbnail_target = target.with_suffix(".jpg") if thumbnail_url else None

        # A plain session: media URLs are CDN URLs and must never see the API key or secret.
        with requests.Session() as session:
            size = self._download(session, video_url, target)
            if thumbnail_url is not None and thumbnail_target is not None:
                self._download(session, thumbnail_url, thumbnail_target)
        return {
            "video_id": video_id,
            "path": str(target),
            "size": size,
            "thumbnail_path": None if thumbnail_target is None else str(thumbnail_target),
        }

    def _media_urls(self, video_id: str) -> tuple[str, str | None]:
        video = self.hook.get_video(video_id)
        status = video.get("status")
        if status != "completed":
            detail = f": {video['errorMessage']}" if status == "failed" and video.get("errorMessage") else ""
            raise AirflowFailException(
                f"DMJY video {video_id} is {status or 'in an unknown state'}{detail}, not completed: "
                "nothing to download (wait for it with DmjyVideoSensor or wait_for_completion first)"
            )
        if not video.get("videoUrl"):
            raise AirflowFailException(f"DMJY video {video_id} is completed but has no videoUrl")
        # A relative media URL, should the API ever answer one, is relative to the API host.
        base = self.hook.config.base_url
        video_url = urljoin(base, str(video["videoUrl"]))
        thumbnail_url = None
        if self.include_thumbnail:
            if not video.get("thumbnailUrl"):
                raise AirflowFailException(f"DMJY video {video_id} has no thumbnailUrl to download")
            thumbnail_url = urljoin(base, str(video["thumbnailUrl"]))
        return video_url, thumbnail_url

    def _target(self, video_id: str | None, video_url: str) -> ObjectStoragePath:
        """The final path of the video file."""
        from airflow.sdk import ObjectStoragePath

        destination = self.destination
        if isinstance(destination, ObjectStoragePath):
            path, is_folder = destination, destination.is_dir()
        elif isinstance(destination, (str, os.PathLike)):
            text = os.fspath(destination).strip()
            if not text:
                raise as_airflow_error(DmjyValidationError("destination", destination, "must not be empty"))
            # The trailing slash is the only way to name a folder that does not exist yet, and
            # ObjectStoragePath drops it: read it from the string.
            path = ObjectStoragePath(text)
            is_folder = text.endswith(("/", os.sep)) or path.is_dir()
        else:
            raise as_airflow_error(
                DmjyValidationError(
                    "destination",
                    destination,
                    f"must be an ObjectStoragePath or a path/URL string, not {type(destination).__name__}",
                )
            )
        if not is_folder:
            return path
        return path / (f"{video_id}.mp4" if video_id is not None else _file_name(video_url))

    def _download(self, session: requests.Session, url: str, target: ObjectStoragePath) -> int:
        """Stream ``url`` into ``target``; returns its size in bytes."""
        target.fs.makedirs(target.parent.path, exist_ok=True)
        part = target.parent / f".{target.name}.part"
        shown = _redacted(url)
        wait = self.download_retry_wait
        for attempt in range(1, self.download_attempts + 1):
            try:
                size = self._download_once(session, url, target, part)
            except DmjyError as error:
                if not error.retryable or attempt == self.download_attempts:
                    raise as_airflow_error(error) from None
                self.log.warning(
                    "Downloading %s failed (%s); attempt %d of %d in %.1f s",
                    shown,
                    error,
                    attempt + 1,
                    self.download_attempts,
                    wait,
                )
                time.sleep(wait)
                wait *= 2
            else:
                self.log.info("Downloaded %s to %s (%d bytes)", shown, target, size)
                return size
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _download_once(
        self, session: requests.Session, url: str, target: ObjectStoragePath, part: ObjectStoragePath
    ) -> int:
        import requests

        shown = _redacted(url)
        try:
            # identity: Content-Length then counts the bytes iter_content yields.
            with session.get(
                url, stream=True, timeout=self.timeout, headers={"Accept-Encoding": "identity"}
            ) as response:
                if response.status_code >= 400:
                    raise _http_error(response.status_code, response.reason, shown)
                expected = _content_length(response.headers.get("Content-Length"))
                encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                written = 0
                with part.open("wb") as handle:  # type: ignore[no-untyped-call]
                    for chunk in response.iter_content(chunk_size=self.chunk_size):
                        handle.write(chunk)
                        written += len(chunk)
            if expected is not None and not encoded and written != expected:
                raise DmjyConnectionError(
                    f"Download truncated: {written} of {expected} bytes",
                    method="GET",
                    path=shown,
                    reached_server=True,
                )
            part.fs.mv(part.path, target.path)
            return written
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            # Not chained: requests repeats the full URL, query string (a CDN token) included.
            raise DmjyConnectionError(
                f"Download failed: {type(exc).__name__}: {_scrubbed(str(exc), url)}",
                method="GET",
                path=shown,
                reached_server=True,
            ) from None
        finally:
            _remove(part)


def _is_unrendered(value: Any) -> bool:
    """True for a value only known after rendering: an XComArg or a Jinja string."""
    return value is not None and (not isinstance(value, str) or "{{" in value or "{%" in value)


def _check_source_at_parse_time(video_id: Any, video_url: Any, include_thumbnail: bool) -> None:
    if _is_unrendered(video_id) or _is_unrendered(video_url):
        if video_id is None and video_url is None:
            raise ValueError("Give exactly one of video_id and video_url (got neither)")
        return  # the rendered values are checked in execute
    _rendered_source(video_id, video_url, include_thumbnail, error=ValueError)


def _rendered_source(
    video_id: Any, video_url: Any, include_thumbnail: bool, error: type[Exception] = DmjyValidationError
) -> tuple[str | None, str | None]:
    """``(video_id, None)`` or ``(None, video_url)`` from the rendered arguments."""

    def fail(argument: str, value: Any, reason: str) -> Exception:
        if error is DmjyValidationError:
            return DmjyValidationError(argument, value, reason)
        return error(f"Invalid {argument}={value!r}: {reason}")

    given_id = None if video_id is None or str(video_id).strip() in _UNSET_RENDERED else str(video_id).strip()
    given_url = None if video_url is None or str(video_url).strip() in _UNSET_RENDERED else video_url
    if given_id is not None and given_url is not None:
        reason = f"give exactly one of video_id and video_url (video_url={video_url!r})"
        raise fail("video_id", video_id, reason)
    if given_id is None and given_url is None:
        raise fail("video_id", video_id, "give exactly one of video_id and video_url (got neither)")
    if given_url is not None:
        parts = urlsplit(str(given_url).strip()) if isinstance(given_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail("video_url", video_url, "must be an http:// or https:// URL")
        if include_thumbnail:
            reason = "needs video_id (the thumbnail URL comes from the API)"
            raise fail("include_thumbnail", include_thumbnail, reason)
        return None, str(given_url).strip()
    return given_id, None


def _file_name(url: str) -> str:
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    if not name or name in (".", ".."):
        raise as_airflow_error(
            DmjyValidationError(
                "video_url", _redacted(url), "has no file name in its path: give a destination file name"
            )
        )
    return name


def _redacted(url: str) -> str:
    """The URL without user info, query or fragment: a signed CDN URL carries its token there."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scrubbed(text: str, url: str) -> str:
    """``text`` without the URL's user info and query string."""
    parts = urlsplit(url)
    for secret in (parts.query, parts.netloc.rpartition("@")[0]):
        if secret:
            text = text.replace(secret, "...")
    return text


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _http_error(status: int, reason: str | None, shown: str) -> DmjyError:
    message = f"media server answered {status} {reason or ''}".rstrip()
    if status in (408, 429) or status >= 500:
        return DmjyServerError(message, status=status, method="GET", path=shown)
    if status == 404:
        return DmjyNotFoundError(message, status=status, method="GET", path=shown)
    if status in (401, 403):
        return DmjyPermissionError(message, status=status, method="GET", path=shown)
    return DmjyApiError(message, status=status, method="GET", path=shown)


def _remove(path: ObjectStoragePath) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.exists():
            path.fs.rm(path.path)
