"""The DMJY API without Airflow: configuration, signing, validation, the sync client.

The async client lives in :mod:`airflow_provider_dmjy.client.async_client` (it imports aiohttp,
which DAG files should not pay for).
"""

from airflow_provider_dmjy.client.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers, sign, sign_string
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
