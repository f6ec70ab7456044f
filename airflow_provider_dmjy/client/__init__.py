"""The DMJY API without Airflow: configuration, signing, validation, the sync client.

The sync client (``DmjyClient``, ``DmjyAuth``) is loaded on first use, not with this package: every
``airflow_provider_dmjy.client.*`` import runs this file first, and the triggerer, which imports
the models, the page walk and the async client, must not pay for ``requests``. The async client
lives in :mod:`airflow_provider_dmjy.client.async_client` (it imports aiohttp, which DAG files
should not pay for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy.client.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers, sign, sign_string

if TYPE_CHECKING:
    from airflow_provider_dmjy.client.sync_client import DmjyAuth, DmjyClient

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientConfig",
    "DmjyAuth",
    "DmjyClient",
    "SkewClock",
    "auth_headers",
    "sign",
    "sign_string",
]

_SYNC_CLIENT_NAMES = ("DmjyAuth", "DmjyClient")


def __getattr__(name: str) -> Any:
    """``DmjyClient`` and ``DmjyAuth``, imported from the sync client when first asked for."""
    if name in _SYNC_CLIENT_NAMES:
        from airflow_provider_dmjy.client import sync_client

        return getattr(sync_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
