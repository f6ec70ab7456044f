"""An operator that archives a rendered DMJY video (and its thumbnail) to any object storage.

Media URLs are CDN URLs: they are fetched with a plain ``requests`` session that carries none of
the API's credentials. Public home: :mod:`airflow_provider_dmjy.operators.video`.

What a download promises (and the limits of each promise):

- Nothing is requested before the destination and the file names are known to be usable: a bad
  destination fails the task without an API or media request.
- Every file lands under the destination folder. A name the operator derives (from the video id,
  or from the media URL's last path segment) must be one plain file name (see
  :func:`safe_file_name`); the final path, its ``.part`` temporary and the thumbnail's paths are
  checked again after resolving symbolic links (local paths) or normalising the key (remote paths).
- A file is written to ``.<name>.part`` and moved into place only once complete: its size is
  checked against ``Content-Length``. A response without ``Content-Length`` (or with a
  ``Content-Encoding``) cannot be checked for truncation: whatever arrived before the server
  closed the connection is kept.
- A download ends: besides ``timeout`` per read, each attempt has a total deadline of
  ``max(min_deadline, size / min_rate)`` seconds, where size is ``Content-Length`` or, without
  one, the bytes received so far (so a server that trickles an unannounced body fails after
  ``min_deadline``). The deadline is checked between reads, so an attempt may overrun it by one
  ``timeout``. Waiting for the response headers is bounded by ``timeout`` per read only.
- A body larger than ``max_bytes`` is refused: at once when ``Content-Length`` announces it, else
  as soon as that many bytes arrived; the partial file is removed.
"""

from __future__ import annotations

import contextlib
import math
import os
import posixpath
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.validation import check_resource_id
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyConnectionError,
    DmjyError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyResponseTooLargeError,
    DmjyServerError,
    DmjyValidationError,
)
from airflow_provider_dmjy.hooks.dmjy import as_airflow_error
from airflow_provider_dmjy.operators.base import DmjyBaseOperator

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context, ObjectStoragePath

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_DEADLINE",
    "DEFAULT_MIN_RATE",
    "MAX_FILE_NAME_BYTES",
    "DmjyDownloadVideoOperator",
    "safe_file_name",
]

DEFAULT_CHUNK_SIZE = 1024 * 1024
#: Decision: a product clip of at most a minute is tens of MB; 2 GiB is far above any real one
#: and still fits a worker's temporary disk.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Decision: 64 KiB/s is slower than any working CDN link; below it a download is stuck.
DEFAULT_MIN_RATE = 64 * 1024
#: Decision: every download gets at least a minute, however small the file.
DEFAULT_MIN_DEADLINE = 60.0
#: Decision: a derived name leaves room for ``.<name>.part`` within the 255-byte limit of
#: common file systems.
MAX_FILE_NAME_BYTES = 200
# A template that rendered an absent upstream value; "None" is what Jinja makes of None.
_UNSET_RENDERED = ("", "None")
_LOCAL_PROTOCOLS = ("", "file", "local")
_RELATIVE = "must be an absolute local path (a relative one depends on the worker's directory)"
# Control, format (bidi overrides can disguise an extension) and line/paragraph separators.
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


class DmjyDownloadVideoOperator(DmjyBaseOperator):
    """Download a completed video (and optionally its thumbnail) to a file or a folder.

    Give exactly one of ``video_id`` (the task must be ``completed``; its ``videoUrl`` is used)
    and ``video_url``. The destination and the file names are checked before any request. The
    file is streamed to ``.<name>.part`` beside the final name, its size is checked against
    ``Content-Length``, and only then moved into place: a failed or truncated download never
    leaves a file under the final name. Transient failures (connection errors, truncation, a
    missed deadline, 408/429/5xx) are retried ``download_attempts`` times, then raised as
    retryable; everything else fails the task without a retry.

    :param video_id: the DMJY video task id.
    :param video_url: a media URL to download directly (no API call is made).
    :param destination: an ``ObjectStoragePath`` or a URL string (``file:///...``, ``s3://...``,
        ``gs://...`` with the matching provider installed, or an absolute local path). A string
        ending in ``/`` or an existing directory is a folder: the file is then named
        ``<video id>.mp4``, or after the URL's percent-decoded last path segment when only
        ``video_url`` is given (refused unless it is a plain file name, see
        :func:`safe_file_name`). Parent folders are created.
    :param include_thumbnail: also download ``thumbnailUrl`` beside the video, as ``<stem>.jpg``
        (needs ``video_id``).
    :param chunk_size: the most bytes read and written at a time.
    :param timeout: seconds to wait for the media server to connect or send the next bytes.
    :param max_bytes: the largest file accepted (default 2 GiB); a larger body is refused.
    :param min_rate: bytes per second below which a download counts as stuck (default 64 KiB/s).
    :param min_deadline: seconds every download may take, however small (default 60).
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
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_rate: float = DEFAULT_MIN_RATE,
        min_deadline: float = DEFAULT_MIN_DEADLINE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_source_at_parse_time(video_id, video_url, include_thumbnail)
        try:  # not template fields: refused when the DAG is parsed, like the create operator's waits
            for name, value in (("chunk_size", chunk_size), ("max_bytes", max_bytes)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise DmjyValidationError(name, value, "must be a positive whole number of bytes")
            for name, number in (
                ("timeout", timeout),
                ("min_rate", min_rate),
                ("min_deadline", min_deadline),
            ):
                if (
                    isinstance(number, bool)
                    or not isinstance(number, (int, float))
                    or not 0 < number < math.inf
                ):
                    raise DmjyValidationError(name, number, "must be a positive finite number")
        except DmjyValidationError as error:
            raise as_airflow_error(error) from None
        self.video_id = video_id
        self.video_url = video_url
        self.destination = destination
        self.include_thumbnail = include_thumbnail
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.min_rate = min_rate
        self.min_deadline = min_deadline

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the destination, resolve the media URLs, download them, return where they went."""
        import requests

        # Everything that can be refused without a request is refused here, before the first one.
        try:
            video_id, video_url = _rendered_source(self.video_id, self.video_url, self.include_thumbnail)
            if video_id is not None:
                video_id = check_resource_id("video_id", video_id)
            destination = _Destination.of(self.destination, self.include_thumbnail)
            target = destination.file_for(video_id, video_url)
            thumbnail_target = target.with_suffix(".jpg") if self.include_thumbnail else None
            if thumbnail_target is not None:
                destination.check_contains(thumbnail_target)
        except DmjyValidationError as error:
            raise as_airflow_error(error) from None

        thumbnail_url: str | None = None
        if video_id is not None:
            video_url, thumbnail_url = self._media_urls(video_id)
        assert video_url is not None  # _rendered_source returns exactly one of the two

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
        answered_id = video.get("id")
        if answered_id is not None and answered_id != video_id:
            # Not DmjyInvalidResponseError (retryable: a cut body): asking again gets the same answer.
            raise as_airflow_error(
                DmjyApiError(
                    f"asked for video {video_id!r}, the API answered video {str(answered_id)[:80]!r}",
                    method="GET",
                    path="/videos/{id}",
                )
            )
        status = video.get("status")
        if status != "completed":
            detail = f": {video['errorMessage']}" if status == "failed" and video.get("errorMessage") else ""
            raise AirflowFailException(
                f"DMJY video {video_id} is {status or 'in an unknown state'}{detail}, not completed: "
                "nothing to download (wait for it with DmjyVideoSensor or wait_for_completion first)"
            )
        if not video.get("videoUrl"):
            raise AirflowFailException(f"DMJY video {video_id} is completed but has no videoUrl")
        video_url = self._media_url(video_id, "videoUrl", video["videoUrl"])
        thumbnail_url = None
        if self.include_thumbnail:
            if not video.get("thumbnailUrl"):
                raise AirflowFailException(f"DMJY video {video_id} has no thumbnailUrl to download")
            thumbnail_url = self._media_url(video_id, "thumbnailUrl", video["thumbnailUrl"])
        return video_url, thumbnail_url

    def _media_url(self, video_id: str, field: str, value: Any) -> str:
        # A relative media URL, should the API ever answer one, is relative to the API host.
        url = urljoin(self.hook.config.base_url, str(value))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise as_airflow_error(
                DmjyApiError(
                    f"video {video_id} has a {field} that is not an http(s) URL: {_redacted(url)[:120]!r}",
                    method="GET",
                    path="/videos/{id}",
                )
            )
        return url

    def _download(self, session: requests.Session, url: str, target: ObjectStoragePath) -> int:
        """Stream ``url`` into ``target``; returns its size in bytes."""
        target.fs.makedirs(target.parent.path, exist_ok=True)
        part = _part_path(target)
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
        import urllib3

        shown = _redacted(url)
        started = time.monotonic()
        try:
            # identity: Content-Length then counts the bytes read.
            with session.get(
                url, stream=True, timeout=self.timeout, headers={"Accept-Encoding": "identity"}
            ) as response:
                if response.status_code >= 400:
                    raise _http_error(response.status_code, response.reason, shown)
                expected = _content_length(response.headers.get("Content-Length"))
                if expected is not None and expected > self.max_bytes:
                    raise self._too_large(
                        f"announces {expected} bytes (Content-Length)", response.status_code, shown
                    )
                encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                written = 0
                with part.open("wb") as handle:  # type: ignore[no-untyped-call]
                    while True:
                        # read1 returns what has arrived (up to chunk_size) instead of waiting for a
                        # full chunk, so a trickling server meets the deadline check below.
                        chunk = response.raw.read1(self.chunk_size, decode_content=True)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > self.max_bytes:
                            what = f"sent more than {self.max_bytes} bytes"
                            raise self._too_large(what, response.status_code, shown)
                        handle.write(chunk)
                        self._check_deadline(started, written, expected, shown)
            if expected is not None and not encoded and written != expected:
                raise DmjyConnectionError(
                    f"Download truncated: {written} of {expected} bytes",
                    method="GET",
                    path=shown,
                    reached_server=True,
                )
            part.fs.mv(part.path, target.path)
            return written
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError,
        ) as exc:
            # Not chained: requests repeats the full URL, query string (a CDN token) included.
            raise DmjyConnectionError(
                f"Download failed: {type(exc).__name__}: {_scrubbed(str(exc), url)}",
                method="GET",
                path=shown,
                reached_server=True,
            ) from None
        except requests.RequestException as exc:
            # Too many redirects, a redirect to a scheme requests cannot fetch: no retry helps.
            raise DmjyApiError(
                f"Download failed: {type(exc).__name__}: {_scrubbed(str(exc), url)}", method="GET", path=shown
            ) from None
        finally:
            _remove(part)

    def _check_deadline(self, started: float, written: int, expected: int | None, shown: str) -> None:
        """Raise a retryable error once the attempt has outlived ``max(min_deadline, size / min_rate)``."""
        elapsed = time.monotonic() - started
        size = written if expected is None else expected
        deadline = max(self.min_deadline, size / self.min_rate)
        if elapsed > deadline:
            of = "" if expected is None else f" of {expected}"
            raise DmjyConnectionError(
                f"Download too slow: {written}{of} bytes in {elapsed:.1f} s, past its deadline of "
                f"{deadline:.1f} s (max(min_deadline={self.min_deadline:g} s, size / "
                f"min_rate={self.min_rate:g} B/s))",
                method="GET",
                path=shown,
                reached_server=True,
            )

    def _too_large(self, what: str, status: int, shown: str) -> DmjyResponseTooLargeError:
        return DmjyResponseTooLargeError(
            f"media server {what}: the limit is max_bytes={self.max_bytes}; raise it to accept the file",
            status=status,
            method="GET",
            path=shown,
        )


@dataclass(frozen=True)
class _Destination:
    """A checked destination: the folder every file must stay in, and the file name if one was given."""

    folder: ObjectStoragePath
    file_name: str | None
    local: bool

    @classmethod
    def of(cls, destination: Any, include_thumbnail: bool) -> _Destination:
        """Check ``destination`` without any API or media request (a remote store may be asked)."""
        from airflow.sdk import ObjectStoragePath

        def fail(reason: str) -> DmjyValidationError:
            return DmjyValidationError("destination", destination, reason)

        text: str | None = None
        if isinstance(destination, ObjectStoragePath):
            path = destination
        elif isinstance(destination, (str, os.PathLike)):
            text = os.fspath(destination).strip()
            if not text:
                raise fail("must not be empty")
            if text == "None":
                raise fail("rendered to 'None': the value it was templated from is missing")
            parts = urlsplit(text)
            if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
                raise fail("names a host: a local file URL is file:///absolute/path")
            # Read from the string: Airflow 3.1 makes "videos/" absolute ("/videos"), 3.3 keeps it.
            if parts.scheme in ("", "file") and not os.path.isabs(parts.path):
                raise fail(_RELATIVE)
            try:
                path = ObjectStoragePath(text)
            except ValueError as error:
                raise fail(f"has an unsupported scheme ({error})") from None
        else:
            reason = f"must be an ObjectStoragePath or a path/URL string, not {type(destination).__name__}"
            raise fail(reason)
        try:
            path.fs  # noqa: B018 - building the file system is the check
        except ValueError as error:
            reason = f"has an unsupported scheme {path.protocol!r} ({error}): install the provider for it"
            raise fail(reason) from None
        local = path.protocol in _LOCAL_PROTOCOLS
        if local and not os.path.isabs(path.path):
            raise fail(_RELATIVE)
        # The trailing slash is the only way to name a folder that does not exist yet, and
        # ObjectStoragePath drops it: read it from the string.
        is_folder = (text is not None and text.endswith(("/", os.sep))) or path.is_dir()
        folder, file_name = (path, None) if is_folder else (path.parent, path.name)
        if local:
            _check_local_folder(folder.path, fail)
        if file_name is not None and include_thumbnail and path.suffix.lower() == ".jpg":
            raise fail("is a .jpg file name: the thumbnail (<stem>.jpg) would overwrite the video")
        return cls(folder=folder, file_name=file_name, local=local)

    def file_for(self, video_id: str | None, video_url: str | None) -> ObjectStoragePath:
        """The video's final path: the given file, or a checked name in the folder."""
        if self.file_name is not None:
            name = self.file_name
        elif video_id is not None:
            name = safe_file_name("video_id", video_id, f"{video_id}.mp4")
        else:
            assert video_url is not None
            name = _url_file_name(video_url)
        target = self.folder / name
        self.check_contains(target)
        return target

    def check_contains(self, target: ObjectStoragePath) -> None:
        """Refuse ``target`` or its ``.part`` temporary unless they resolve to a file of the folder."""
        for path in (target, _part_path(target)):
            if self.local:
                # Symbolic links resolved: a link planted in the folder cannot redirect the write.
                folder, resolved = os.path.realpath(self.folder.path), os.path.realpath(path.path)
                parent = os.path.dirname(resolved)
            else:
                folder, resolved = posixpath.normpath(self.folder.path), posixpath.normpath(path.path)
                parent = posixpath.dirname(resolved)
            if parent != folder:
                raise DmjyValidationError(
                    "destination",
                    str(self.folder),
                    f"would receive {str(path)!r}, which resolves to {resolved!r}, outside the folder",
                )


def _check_local_folder(folder: str, fail: Callable[[str], DmjyValidationError]) -> None:
    """Refuse a folder that cannot be created because it, or a parent, exists as something else."""
    current = folder
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent
    if not os.path.isdir(current):
        raise fail(f"cannot hold files: {current} exists and is not a folder")


def safe_file_name(argument: str, value: Any, name: str) -> str:
    """``name`` if it is one plain file name; else a :class:`DmjyValidationError` on ``argument``.

    Refused: empty, ``.`` and ``..``, a leading ``.`` (a hidden file such as ``.bashrc``) or
    leading/trailing whitespace, ``/`` or ``\\``, ``%`` (still percent-encoded after decoding),
    control and format characters (NUL, newlines, bidi overrides) and more than
    :data:`MAX_FILE_NAME_BYTES` bytes of UTF-8. Never repaired: a refused name fails the task.
    """

    def fail(reason: str) -> DmjyValidationError:
        return DmjyValidationError(argument, value, f"cannot name a local file: {name!r} {reason}")

    if not name:
        raise fail("is empty")
    if name in (".", ".."):
        raise fail("is a relative folder reference")
    if "/" in name or "\\" in name:
        raise fail("contains a path separator")
    if any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in name):
        raise fail("contains a control character")
    if name.startswith("."):
        raise fail("starts with '.' (a hidden file)")
    if name != name.strip():
        raise fail("starts or ends with whitespace")
    if "%" in name:
        raise fail("is still percent-encoded after decoding")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        raise fail(f"is longer than {MAX_FILE_NAME_BYTES} bytes")
    return name


def _url_file_name(url: str) -> str:
    """The URL's percent-decoded last path segment, if it is a plain file name."""
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if not segment:
        raise DmjyValidationError(
            "video_url", _redacted(url), "has no file name in its path: give a destination file name"
        )
    return safe_file_name("video_url", _redacted(url), unquote(segment))


def _part_path(target: ObjectStoragePath) -> ObjectStoragePath:
    return target.parent / f".{target.name}.part"


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
    # Only plain ASCII digits: int() would also take "+5", "1_000" and non-ASCII digits.
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return None
    return int(value)


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
