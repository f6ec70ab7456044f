"""What a media download may take, and a media URL fit to show: the parts of
:mod:`airflow_provider_dmjy.client.media` that need no ``requests``.

The download operator checks its limits and destination when a DAG file is parsed; it imports them
from here so that parsing never loads ``requests`` (the transfer, :class:`~.media.MediaClient`, is
imported when a task runs). :mod:`~airflow_provider_dmjy.client.media` re-exports every name.
"""

from __future__ import annotations

import dataclasses
import math
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_DEADLINE",
    "DEFAULT_MIN_RATE",
    "DownloadLimits",
    "redact_url",
]

DEFAULT_CHUNK_SIZE = 1024 * 1024
#: Decision: a product clip of at most a minute is tens of MB; 2 GiB is far above any real one
#: and still fits a worker's temporary disk.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Decision: 64 KiB/s is slower than any working CDN link; below it a download is stuck.
DEFAULT_MIN_RATE = 64 * 1024
#: Decision: every download gets at least a minute, however small the file.
DEFAULT_MIN_DEADLINE = 60.0


@dataclasses.dataclass(frozen=True)
class DownloadLimits:
    """How long, how large and how often one download may be; checked when built.

    :param timeout: seconds to wait for the media server to connect or send the next bytes.
    :param max_bytes: the largest body accepted.
    :param min_rate: bytes per second below which a download counts as stuck.
    :param min_deadline: seconds every attempt may take, however small the file.
    :param chunk_size: the most bytes read and written at a time.
    :param attempts: attempts before a retryable failure is raised.
    :param retry_wait: the backoff's first step, in seconds (see :class:`~.backoff.Backoff`).
    """

    timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES
    min_rate: float = DEFAULT_MIN_RATE
    min_deadline: float = DEFAULT_MIN_DEADLINE
    chunk_size: int = DEFAULT_CHUNK_SIZE
    attempts: int = 3
    retry_wait: float = 1.0

    def __post_init__(self) -> None:
        for name in ("chunk_size", "max_bytes", "attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DmjyValidationError(name, value, "must be a positive whole number")
        for name in ("timeout", "min_rate", "min_deadline", "retry_wait"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise DmjyValidationError(name, number, "must be a positive finite number")
            # No pause between attempts is a choice; no time to download is not. (NaN fails both.)
            if not (number > 0 or (name == "retry_wait" and number == 0)) or number == math.inf:
                raise DmjyValidationError(name, number, "must be a positive finite number")

    def deadline(self, size: int) -> float:
        """The total seconds an attempt for a body of ``size`` bytes may take."""
        return max(self.min_deadline, size / self.min_rate)


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment: a signed CDN URL carries its token there."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
