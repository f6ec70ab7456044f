"""Client settings, and how they are read from the parts of an Airflow-style connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_dmjy.exceptions import DmjyConfigurationError

__all__ = ["AUTH_MODES", "DEFAULT_BASE_URL", "ClientConfig"]

DEFAULT_BASE_URL = "https://dmjyai.vip/api/v1"
DEFAULT_PATH = "/api/v1"
AUTH_MODES = ("signature", "header")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


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

    def __post_init__(self) -> None:
        if not self.api_key:
            raise DmjyConfigurationError("The DMJY API key is empty: set the connection's Login (API Key)")
        if not self.api_secret:
            raise DmjyConfigurationError(
                "The DMJY API secret is empty: set the connection's Password (API Secret)"
            )
        if self.auth_mode not in AUTH_MODES:
            raise DmjyConfigurationError(
                f"auth_mode must be one of {', '.join(AUTH_MODES)} (got {self.auth_mode!r})"
            )
        if not self.timeout > 0:
            raise DmjyConfigurationError(
                f"timeout must be a positive number of seconds (got {self.timeout!r})"
            )
        if self.max_retries < 0:
            raise DmjyConfigurationError(f"max_retries must be 0 or more (got {self.max_retries!r})")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DmjyConfigurationError(
                f"base URL must be an http(s) URL such as {DEFAULT_BASE_URL} (got {self.base_url!r})"
            )

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
            kwargs["timeout"] = _number("timeout", extra["timeout"], float)
        if extra.get("max_retries") not in (None, ""):
            kwargs["max_retries"] = _number("max_retries", extra["max_retries"], int)
        if "sign_query_string" in extra:
            kwargs["sign_query_string"] = _boolean("sign_query_string", extra["sign_query_string"])
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
    parts = urlsplit(host if "://" in host else f"https://{host}")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    if schema:
        path = "/" + schema.strip("/")
    else:
        path = parts.path.rstrip("/") or DEFAULT_PATH
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _number(name: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool):
        raise DmjyConfigurationError(f"Connection extra {name} must be a number (got {value!r})")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DmjyConfigurationError(f"Connection extra {name} must be a number (got {value!r})") from None


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DmjyConfigurationError(f"Connection extra {name} must be true or false (got {value!r})")
