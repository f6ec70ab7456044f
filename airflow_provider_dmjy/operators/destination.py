"""Where a download may write: a checked destination folder, safe file names, the ``.part`` file.

Everything here is decided before any request and depends only on the destination and the names;
the transfer itself is :class:`~airflow_provider_dmjy.client.media.MediaClient`'s.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_dmjy.client.media_limits import redact_url
from airflow_provider_dmjy.exceptions import DmjyValidationError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["MAX_FILE_NAME_BYTES", "Destination", "PartFile", "part_path", "remove_quietly", "safe_file_name"]

#: Decision: a derived name leaves room for ``.<name>.part`` within the 255-byte limit of
#: common file systems.
MAX_FILE_NAME_BYTES = 200
_LOCAL_PROTOCOLS = ("", "file", "local")
_RELATIVE = "must be an absolute local path (a relative one depends on the worker's directory)"
# Control, format (bidi overrides can disguise an extension) and line/paragraph separators.
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


@dataclass(frozen=True)
class Destination:
    """A checked destination: the folder every file must stay in, and the file name if one was given."""

    folder: ObjectStoragePath
    file_name: str | None
    local: bool

    @classmethod
    def of(cls, destination: Any, include_thumbnail: bool) -> Destination:
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
        for path in (target, part_path(target)):
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
            "video_url", redact_url(url), "has no file name in its path: give a destination file name"
        )
    return safe_file_name("video_url", redact_url(url), unquote(segment))


def part_path(target: ObjectStoragePath) -> ObjectStoragePath:
    return target.parent / f".{target.name}.part"


class PartFile:
    """The ``.part`` file a download writes to, as the client's :class:`~.media.MediaFile`.

    Starting over for another attempt (``seek(0)``, ``truncate()``) reopens it empty: a remote
    store's file that is being written cannot seek.
    """

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self._handle = path.open("wb")  # type: ignore[no-untyped-call]
        self._written = 0

    def write(self, data: bytes, /) -> int:
        self._handle.write(data)
        self._written += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if (offset, whence) != (0, os.SEEK_SET):
            raise OSError("a .part file only goes back to its start")
        self._handle.close()
        self._handle = self.path.open("wb")  # type: ignore[no-untyped-call]
        self._written = 0
        return 0

    def truncate(self, size: int | None = None, /) -> int:
        if self._written or size:  # the client truncates right after seek(0), at the start
            raise OSError("a .part file is only truncated at its start")
        return 0

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()


def remove_quietly(path: ObjectStoragePath) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.exists():
            path.fs.rm(path.path)
