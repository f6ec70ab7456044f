"""An operator that archives a rendered DMJY video (and its thumbnail) to any object storage.

The transfer itself (a plain session without the API's credentials, the deadline, the size cap,
the truncation check, the attempts) is :class:`~airflow_provider_dmjy.client.media.MediaClient`'s;
see :mod:`airflow_provider_dmjy.client.media` for its promises. This module is about paths. Public
home: :mod:`airflow_provider_dmjy.operators.video`.

What a download promises here:

- Nothing is requested before the destination and the file names are known to be usable: a bad
  destination fails the task without an API or media request.
- Every file lands under the destination folder. A name the operator derives (from the video id,
  or from the media URL's last path segment) must be one plain file name (see
  :func:`safe_file_name`); the final path, its ``.part`` temporary and the thumbnail's paths are
  checked again after resolving symbolic links (local paths) or normalising the key (remote paths).
- A file is written to ``.<name>.part`` and moved into place only once complete (whole
  ``Content-Length``, within the limits); a failed attempt leaves no file under either name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.media_limits import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_DEADLINE,
    DEFAULT_MIN_RATE,
    DownloadLimits,
    redact_url,
)
from airflow_provider_dmjy.client.models import VideoStatus
from airflow_provider_dmjy.client.validation import check_resource_id
from airflow_provider_dmjy.exceptions import DmjyApiError, DmjyValidationError
from airflow_provider_dmjy.operators.base import DmjyBaseOperator
from airflow_provider_dmjy.operators.destination import (
    MAX_FILE_NAME_BYTES,
    Destination,
    PartFile,
    part_path,
    remove_quietly,
    safe_file_name,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context, ObjectStoragePath
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import RunFacet

    from airflow_provider_dmjy.client.media import MediaClient

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_DEADLINE",
    "DEFAULT_MIN_RATE",
    "MAX_FILE_NAME_BYTES",
    "DmjyDownloadVideoOperator",
    "safe_file_name",
]

# A template that rendered an absent upstream value; "None" is what Jinja makes of None.
_UNSET_RENDERED = ("", "None")


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
    #: The ceiling of the pause before the second attempt; doubles after each failed attempt
    #: (full jitter, see :class:`~airflow_provider_dmjy.client.backoff.Backoff`).
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
        self.video_id = video_id
        self.video_url = video_url
        self.destination = destination
        self.include_thumbnail = include_thumbnail
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.min_rate = min_rate
        self.min_deadline = min_deadline
        #: The files this run wrote (the video, then its thumbnail), for its lineage.
        self.written: list[ObjectStoragePath] = []
        with self.failures():  # not template fields: refused when the DAG is parsed, like the waits
            self._limits()

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the destination, resolve the media URLs, download them, return where they went."""
        with self.failures():
            return self._archive()

    def _archive(self) -> dict[str, Any]:
        self.written = []
        # Everything that can be refused without a request is refused here, before the first one.
        video_id, video_url = _rendered_source(self.video_id, self.video_url, self.include_thumbnail)
        if video_id is not None:
            video_id = check_resource_id("video_id", video_id)
        destination = Destination.of(self.destination, self.include_thumbnail)
        target = destination.file_for(video_id, video_url)
        thumbnail_target = target.with_suffix(".jpg") if self.include_thumbnail else None
        if thumbnail_target is not None:
            destination.check_contains(thumbnail_target)

        thumbnail_url: str | None = None
        if video_id is not None:
            video_url, thumbnail_url = self._media_urls(video_id)
        assert video_url is not None  # _rendered_source returns exactly one of the two

        # Not the hook's client: a media URL needs no connection, and must never see its credentials.
        # Imported here: the transfer loads ``requests``, which parsing a DAG file never needs.
        from airflow_provider_dmjy.client.media import MediaClient

        with MediaClient() as media:
            size = self._download(media, video_url, target)
            if thumbnail_url is not None and thumbnail_target is not None:
                self._download(media, thumbnail_url, thumbnail_target)
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
            raise DmjyApiError(
                f"asked for video {video_id!r}, the API answered video {str(answered_id)[:80]!r}",
                method="GET",
                path="/videos/{id}",
            )
        status = video.get("status")
        if status != VideoStatus.COMPLETED:
            failed = status == VideoStatus.FAILED and video.get("errorMessage")
            detail = f": {video['errorMessage']}" if failed else ""
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
            raise DmjyApiError(
                f"video {video_id} has a {field} that is not an http(s) URL: {redact_url(url)[:120]!r}",
                method="GET",
                path="/videos/{id}",
            )
        return url

    def _download(self, media: MediaClient, url: str, target: ObjectStoragePath) -> int:
        """Stream ``url`` into ``target`` through its ``.part`` file; returns its size in bytes."""
        target.fs.makedirs(target.parent.path, exist_ok=True)
        part = part_path(target)
        try:
            with PartFile(part) as fileobj:
                size = media.download(url, fileobj, self._limits())
            part.fs.mv(part.path, target.path)
        finally:
            remove_quietly(part)
        self.written.append(target)
        self.log.info("Downloaded %s to %s (%d bytes)", redact_url(url), target, size)
        return size

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Dataset, RunFacet]:
        """OpenLineage (called by its listener, with ``apache-airflow-providers-openlineage``): the
        video in (its media URL when only ``video_url`` was given), the written files out
        (docs/lineage.md)."""
        from airflow_provider_dmjy.lineage import download_lineage

        try:
            video_id, video_url = _rendered_source(self.video_id, self.video_url, self.include_thumbnail)
        except DmjyValidationError:  # the task failed on its arguments: nothing was read
            video_id = video_url = None
        return download_lineage(
            dmjy_conn_id=self.dmjy_conn_id, video_id=video_id, video_url=video_url, written=self.written
        )

    def _limits(self) -> DownloadLimits:
        return DownloadLimits(
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            min_rate=self.min_rate,
            min_deadline=self.min_deadline,
            chunk_size=self.chunk_size,
            attempts=self.download_attempts,
            retry_wait=self.download_retry_wait,
        )


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
