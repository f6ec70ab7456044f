"""Client settings, and how they are read from the parts of an Airflow-style connection.

Every setting is checked when the config is made, so a bad connection fails before any request
with a :class:`~airflow_provider_dmjy.exceptions.DmjyConfigurationError` naming the field. The
error never repeats the API key or secret: it says only what is wrong with them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_dmjy.exceptions import DmjyConfigurationError

__all__ = [
    "AUTH_MODES",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_REQUESTS_PER_SECOND",
    "MAX_MAX_REQUESTS_PER_SECOND",
    "MAX_MAX_RETRIES",
    "MAX_REQUEST_TIMEOUT",
    "ClientConfig",
]

DEFAULT_BASE_URL = "https://dmjyai.vip/api/v1"
DEFAULT_PATH = "/api/v1"
AUTH_MODES = ("signature", "header")
#: Decision: longest accepted per-request ``timeout`` (s); an API call that needs more is lost.
MAX_REQUEST_TIMEOUT = 600.0
#: Decision: most accepted ``max_retries``; with backoff, more only delays the inevitable.
MAX_MAX_RETRIES = 10
#: Decision: the async hook's default request budget per API key and triggerer (requests/s). The
#: vendor publishes no limit; 10/s keeps two triggerers (a common deployment) at 20/s together
#: (docs/connection.md).
DEFAULT_MAX_REQUESTS_PER_SECOND = 10.0
#: Decision: the highest accepted budget; more is a typo, not a rate limit (0 switches it off).
MAX_MAX_REQUESTS_PER_SECOND = 1000.0
#: Decision: the lowest accepted budget above 0 (one request every 10 s).
MIN_MAX_REQUESTS_PER_SECOND = 0.1
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
# Key and secret go into HTTP headers (the key always, the secret in header mode): visible ASCII
# only. A trailing newline or other control character would otherwise make the HTTP library raise
# an error that quotes the header value, secret included, where no log masker looks for it.
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
# "javascript:alert(1)" or "mailto:x": a scheme without "//". "localhost:8787" is a host and port.
_BARE_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?![0-9]*(?:/|$))")


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """Everything the client needs to talk to the API.

    ``repr`` never shows the secret, so a config can be logged or put in an exception safely.
    """

    api_key: str
    api_secret: str = dataclasses.field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    auth_mode: str = "signature"
    timeout: float = 30.0
    max_retries: int = 3
    sign_query_string: bool = False
    user_id: str | None = None
    #: Longest wait between two retries, including a server's ``Retry-After``.
    max_retry_wait: float = 60.0
    #: First backoff step; doubles on every retry, with full jitter.
    backoff_base: float = 0.5
    #: The async hook's request budget per key and event loop (requests/s); 0 switches it off.
    #: The sync client does not apply it (see ``client/ratelimit.py``).
    max_requests_per_second: float = DEFAULT_MAX_REQUESTS_PER_SECOND

    def __post_init__(self) -> None:
        _check_credential(self.api_key, "API key", "Login (API Key)")
        _check_credential(self.api_secret, "API secret", "Password (API Secret)")
        if self.auth_mode not in AUTH_MODES:
            raise DmjyConfigurationError(
                f"auth_mode must be one of {', '.join(AUTH_MODES)} (got {self.auth_mode!r})"
            )
        _check_seconds("timeout", self.timeout, minimum=0.0, maximum=MAX_REQUEST_TIMEOUT, exclusive=True)
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or not 0 <= self.max_retries <= MAX_MAX_RETRIES
        ):
            raise DmjyConfigurationError(
                f"max_retries must be a whole number from 0 to {MAX_MAX_RETRIES} (got {self.max_retries!r})"
            )
        _check_seconds("max_retry_wait", self.max_retry_wait, minimum=0.0, maximum=MAX_REQUEST_TIMEOUT)
        _check_seconds("backoff_base", self.backoff_base, minimum=0.0, maximum=MAX_REQUEST_TIMEOUT)
        _check_rate(self.max_requests_per_second)
        _check_base_url(self.base_url)

    @property
    def credentials(self) -> tuple[str, str]:
        """The key and the secret: what an error must never repeat from a server's answer."""
        return (self.api_key, self.api_secret)

    @property
    def base_path(self) -> str:
        """The path prefix of every endpoint (``/api/v1``)."""
        return urlsplit(self.base_url).path.rstrip("/")

    def url(self, path: str) -> str:
        """The full URL of an endpoint path such as ``/videos``."""
        return self.base_url.rstrip("/") + path

    @classmethod
    def from_connection_parts(
        cls,
        *,
        login: str | None,
        password: str | None,
        host: str | None = None,
        port: int | None = None,
        schema: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ClientConfig:
        """Build a config from a connection's fields (URI extras arrive as strings: coerced here)."""
        extra = dict(extra or {})
        kwargs: dict[str, Any] = {
            "api_key": login or "",
            "api_secret": password or "",
            "base_url": build_base_url(host, port, schema),
        }
        if extra.get("auth_mode") not in (None, ""):
            kwargs["auth_mode"] = str(extra["auth_mode"]).strip().lower()
        if extra.get("timeout") not in (None, ""):
            kwargs["timeout"] = _number("timeout", extra["timeout"])
        if extra.get("max_retries") not in (None, ""):
            kwargs["max_retries"] = _whole_number("max_retries", extra["max_retries"])
        if "sign_query_string" in extra:
            kwargs["sign_query_string"] = _boolean("sign_query_string", extra["sign_query_string"])
        if extra.get("max_requests_per_second") not in (None, ""):
            kwargs["max_requests_per_second"] = _rate(extra["max_requests_per_second"])
        if extra.get("user_id"):
            kwargs["user_id"] = str(extra["user_id"])
        return cls(**kwargs)


def build_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """The API base URL from a connection's host, port and schema.

    The host may be a full URL (``http://127.0.0.1:8787/api/v1``) or a bare host name (https is
    then assumed). The schema, when set, is the path (``api/v1``); without one the host's own
    path is kept, or ``/api/v1`` when it has none.
    """
    if not host:
        return DEFAULT_BASE_URL
    host = host.strip()
    if "://" not in host and (scheme := _BARE_SCHEME.match(host)):
        raise DmjyConfigurationError(
            f"Connection host has the scheme {scheme.group(1)!r}: give an http:// or https:// URL, "
            "or a bare host name (https is assumed)"
        )
    try:
        parts = urlsplit(host if "://" in host else f"https://{host}")
        parts.port  # noqa: B018 - parsed lazily: raises ValueError for a port that is not a number
    except ValueError as error:
        raise DmjyConfigurationError(f"Connection host is not a valid URL ({error})") from None
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    if schema:
        path = "/" + schema.strip("/")
    else:
        path = parts.path.rstrip("/") or DEFAULT_PATH
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _check_credential(value: Any, name: str, where: str) -> None:
    """Refuse an unusable key or secret without ever putting its value in the message."""
    if not value:
        raise DmjyConfigurationError(f"The DMJY {name} is empty: set the connection's {where}")
    if not isinstance(value, str):
        raise DmjyConfigurationError(f"The DMJY {name} must be text: set the connection's {where}")
    if not _HEADER_TOKEN.fullmatch(value):
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            problem = "a control character (such as a trailing newline)"
        elif any(char.isspace() for char in value):
            problem = "whitespace"
        else:
            problem = "a character outside printable ASCII"
        raise DmjyConfigurationError(
            f"The DMJY {name} contains {problem}, which cannot be sent in an HTTP header: "
            f"re-enter the connection's {where}"
        )


def _check_seconds(name: str, value: Any, *, minimum: float, maximum: float, exclusive: bool = False) -> None:
    low = f"more than {minimum:g}" if exclusive else f"at least {minimum:g}"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < minimum
        or (exclusive and value == minimum)
        or value > maximum
    ):
        raise DmjyConfigurationError(
            f"{name} must be a number of seconds, {low} and at most {maximum:g} (got {value!r})"
        )


def _check_rate(value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not (value == 0 or MIN_MAX_REQUESTS_PER_SECOND <= value <= MAX_MAX_REQUESTS_PER_SECOND)
    ):
        raise DmjyConfigurationError(
            f"max_requests_per_second must be 0 (off) or a number of requests per second from "
            f"{MIN_MAX_REQUESTS_PER_SECOND:g} to {MAX_MAX_REQUESTS_PER_SECOND:g} (got {value!r})"
        )


def _rate(value: Any) -> float:
    """``max_requests_per_second`` from a connection extra: a number, or ``off`` for 0."""
    if isinstance(value, str) and value.strip().lower() == "off":
        return 0.0
    return _number("max_requests_per_second", value)


def _check_base_url(base_url: Any) -> None:
    if not isinstance(base_url, str):
        raise DmjyConfigurationError(f"base URL must be a string (got {type(base_url).__name__})")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in base_url):
        raise DmjyConfigurationError("base URL must not contain whitespace or control characters")
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - parsed lazily: raises ValueError for a port that is not a number
    except ValueError as error:
        raise DmjyConfigurationError(f"base URL is not a valid URL ({error})") from None
    if parts.username is not None or parts.password is not None:
        # Not echoed: the part before "@" may be a password.
        raise DmjyConfigurationError("base URL must not carry a user name or password (user:password@)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DmjyConfigurationError(
            f"base URL must be an http(s) URL such as {DEFAULT_BASE_URL} (got {base_url!r})"
        )
    if parts.query or parts.fragment:
        raise DmjyConfigurationError(f"base URL must not have a query or fragment (got {base_url!r})")


def _number(name: str, value: Any) -> float:
    """A float from a connection extra (URI extras are strings); range checks come after."""
    if isinstance(value, bool):
        raise DmjyConfigurationError(f"Connection extra {name} must be a number (got {value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DmjyConfigurationError(f"Connection extra {name} must be a number (got {value!r})") from None


def _whole_number(name: str, value: Any) -> int:
    """An int from a connection extra: an int or ASCII digits, never a float silently truncated."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,4}", value.strip()):
        return int(value)
    raise DmjyConfigurationError(f"Connection extra {name} must be a whole number (got {value!r})")


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DmjyConfigurationError(f"Connection extra {name} must be true or false (got {value!r})")
