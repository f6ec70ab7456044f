"""What the sync and the async hook share: the ``dmjy`` connection type and its reading.

Imports neither the sync client (``requests``) nor the async one (aiohttp), so that each hook
pays only for its own.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_dmjy.client.config import DEFAULT_BASE_URL, ClientConfig

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["DEFAULT_CONN_ID", "PORT_PLACEHOLDER", "DmjyHookBase", "config_from_connection"]

#: The connection every hook, operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "dmjy_default"

#: The connection form's hint for the port (also in the provider info, read by Airflow >= 3.2).
PORT_PLACEHOLDER = "443, or the port in the Base URL"


def config_from_connection(conn: Connection, **overrides: Any) -> ClientConfig:
    """A :class:`ClientConfig` from a ``dmjy`` connection; registers key and secret with the masker.

    ``overrides`` that are not None replace the connection's settings (a hook's ``timeout``).
    """
    # The key is a credential too: in header mode it alone (with the secret) authenticates, and
    # servers echo it back in error bodies and account fields.
    for credential in (conn.login, conn.password):
        if credential:
            mask_secret(credential)
    config = ClientConfig.from_connection_parts(
        login=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )
    set_overrides = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(config, **set_overrides) if set_overrides else config


class DmjyHookBase(BaseHook):
    """The ``dmjy`` connection type and the settings a hook adds to it (``timeout`` and
    ``max_retries`` override the connection's; see :class:`~airflow_provider_dmjy.hooks.dmjy.DmjyHook`)."""

    conn_name_attr = "dmjy_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "dmjy"
    hook_name = "DMJY AI Video"

    def __init__(
        self,
        dmjy_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dmjy_conn_id = dmjy_conn_id
        self._overrides = {"timeout": timeout, "max_retries": max_retries}

    def config_for(self, conn: Connection) -> ClientConfig:
        """The client settings of ``conn`` with this hook's overrides."""
        return config_from_connection(conn, **self._overrides)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form: relabelled fields (Airflow < 3.2; newer reads provider info).

        The port stays visible although the Base URL usually carries it: the Test button of
        Airflow 3.3 refuses a connection stored without a port (see docs/connection.md).
        """
        return {
            "hidden_fields": ["schema"],
            "relabeling": {"login": "API Key", "password": "API Secret", "host": "Base URL"},
            "placeholders": {
                "login": "mk_...",
                "password": "the API secret from the account page",
                "host": DEFAULT_BASE_URL,
                "port": PORT_PLACEHOLDER,
                "extra": '{"auth_mode": "signature", "timeout": 30, "max_retries": 3}',
            },
        }
