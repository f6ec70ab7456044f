"""Airflow hooks for the DMJY video API: a connection turned into a configured client.

``DmjyHook`` (requests) is for operators and ``@task`` code; ``DmjyAsyncHook`` (aiohttp) is for
triggers and shares one HTTP session per connection in the triggerer's event loop. Errors keep
their type from :mod:`airflow_provider_dmjy.exceptions`; those that no retry can fix (bad input,
auth, permission, not found, daily cap, insufficient balance, a create that may have been
applied) are also ``AirflowFailException``, so Airflow does not burn task retries on them.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import DmjyError

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_dmjy.client.async_client import DmjyAsyncClient

__all__ = ["DmjyAsyncHook", "DmjyHook", "as_airflow_error"]

F = TypeVar("F", bound=Callable[..., Any])
_FAILURE_CLASSES: dict[type[DmjyError], type[DmjyError]] = {}


def as_airflow_error(error: DmjyError) -> DmjyError:
    """``error`` itself when a retry may help; else a copy that is also an ``AirflowFailException``.

    The copy keeps the original class (``except DmjyNotFoundError`` still catches it) and its
    attributes; raise it ``from`` the original.
    """
    if error.retryable:
        return error
    cls = type(error)
    failure_class = _FAILURE_CLASSES.get(cls)
    if failure_class is None:
        failure_class = type(cls.__name__, (cls, AirflowFailException), {"__doc__": cls.__doc__})
        failure_class.__module__ = cls.__module__
        _FAILURE_CLASSES[cls] = failure_class
    failure = failure_class.__new__(failure_class)
    failure.__dict__.update(error.__dict__)
    failure.args = error.args
    return failure


def _fail_fast(method: F) -> F:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DmjyError as error:
            failure = as_airflow_error(error)
            if failure is error:
                raise
            raise failure from error

    return cast(F, wrapper)


def config_from_connection(conn: Connection, **overrides: Any) -> ClientConfig:
    """A :class:`ClientConfig` from a ``dmjy`` connection; registers the secret with the masker."""
    if conn.password:
        mask_secret(conn.password)
    config = ClientConfig.from_connection_parts(
        login=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )
    set_overrides = {key: value for key, value in overrides.items() if value is not None}
    if set_overrides:
        import dataclasses

        config = dataclasses.replace(config, **set_overrides)
    return config


class _DmjyHookBase(BaseHook):
    conn_name_attr = "dmjy_conn_id"
    default_conn_name = "dmjy_default"
    conn_type = "dmjy"
    hook_name = "DMJY AI Video"

    def __init__(
        self,
        dmjy_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dmjy_conn_id = dmjy_conn_id
        self._overrides = {"timeout": timeout, "max_retries": max_retries}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form: relabelled fields (Airflow < 3.2; newer reads provider info)."""
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {"login": "API Key", "password": "API Secret", "host": "Base URL"},
            "placeholders": {
                "login": "mk_...",
                "password": "the API secret from the account page",
                "host": DEFAULT_BASE_URL,
                "extra": '{"auth_mode": "signature", "timeout": 30, "max_retries": 3}',
            },
        }


class DmjyHook(_DmjyHookBase):
    """Synchronous hook: one pooled ``requests`` session per hook; methods return the ``data`` dict.

    :param dmjy_conn_id: a connection of type ``dmjy`` (login = API key, password = API secret,
        host = base URL, extras ``auth_mode``, ``timeout``, ``max_retries``, ``sign_query_string``,
        ``user_id``).
    :param timeout: per-request timeout in seconds, overriding the connection's.
    :param max_retries: retries of a failed read or delete, overriding the connection's.
    """

    @functools.cached_property
    def config(self) -> ClientConfig:
        """The client settings read from the connection (fetched once per hook)."""
        return config_from_connection(self.get_connection(self.dmjy_conn_id), **self._overrides)

    @functools.cached_property
    def client(self) -> DmjyClient:
        """The configured client; one session and connection pool for this hook's life."""
        return DmjyClient(self.config)

    def get_conn(self) -> DmjyClient:
        """The configured :class:`DmjyClient`."""
        return self.client

    def close(self) -> None:
        """Release pooled connections."""
        if "client" in self.__dict__:
            self.client.close()

    @_fail_fast
    def get_account(self) -> dict[str, Any]:
        """The key's account: ``balance``, ``plan``, ``usage``, ``lowBalanceThreshold``, ``isLowBalance``."""
        return self.client.get_account()

    @_fail_fast
    def create_video(
        self,
        description: str,
        image_url: str | None = None,
        image_urls: list[str] | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        title: str | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Create a charged video task (validated first); raises ``DmjyAmbiguousRequestError``
        instead of retrying once the request may have reached the server."""
        return self.client.create_video(
            description,
            image_url=image_url,
            image_urls=image_urls,
            duration=duration,
            aspect_ratio=aspect_ratio,
            title=title,
            callback_url=callback_url,
        )

    @_fail_fast
    def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task (``status``, ``progress``, ``videoUrl``, ``errorMessage``, ...)."""
        return self.client.get_video(video_id)

    @_fail_fast
    def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task; an unfinished one stops rendering."""
        return self.client.delete_video(video_id)

    @_fail_fast
    def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page of video tasks: ``tasks`` (newest first) and ``pagination``."""
        return self.client.list_videos(page=page, limit=limit, status=status)

    def iter_videos(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Every video task over all pages."""
        return _fail_fast_iter(self.client.iter_videos(status))

    @_fail_fast
    def create_template(
        self,
        name: str,
        user_id: str | None = None,
        image_url: str | None = None,
        description: str | None = None,
        product_name: str | None = None,
        price: str | float | None = None,
    ) -> dict[str, Any]:
        """Create a product template (``user_id`` defaults to the connection's ``user_id`` extra)."""
        return self.client.create_template(
            name,
            user_id=user_id,
            image_url=image_url,
            description=description,
            product_name=product_name,
            price=price,
        )

    @_fail_fast
    def list_templates(self, page: int = 1, limit: int = 20, user_id: str | None = None) -> dict[str, Any]:
        """One page of templates: ``templates`` and ``pagination``."""
        return self.client.list_templates(page=page, limit=limit, user_id=user_id)

    def iter_templates(self, user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every template over all pages."""
        return _fail_fast_iter(self.client.iter_templates(user_id))

    @_fail_fast
    def delete_template(self, template_id: str) -> dict[str, Any]:
        """Delete a template."""
        return self.client.delete_template(template_id)

    def test_connection(self) -> tuple[bool, str]:
        """Call the account endpoint: ``(True, "... balance ...")`` or ``(False, reason)``."""
        try:
            account = self.client.get_account()
        except DmjyError as error:
            return False, str(error)
        except Exception as error:  # the UI shows the reason instead of a stack trace
            return False, f"{type(error).__name__}: {error}"
        who = account.get("email") or account.get("name") or account.get("userId") or "the account"
        return True, f"Connected to {self.config.base_url} as {who}; balance {account.get('balance')} credits"


def _fail_fast_iter(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    try:
        yield from items
    except DmjyError as error:
        failure = as_airflow_error(error)
        if failure is error:
            raise
        raise failure from error


class DmjyAsyncHook(_DmjyHookBase):
    """Async hook for triggers: ``async with DmjyAsyncHook(conn_id) as hook:`` keeps one HTTP
    session for its lifetime, shared with every other hook of the same connection in the loop.

    The connection is read with ``aget_connection`` (never a blocking call in the event loop).
    """

    def __init__(self, dmjy_conn_id: str = _DmjyHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(dmjy_conn_id, **kwargs)
        self._client: DmjyAsyncClient | None = None

    async def get_async_client(self) -> DmjyAsyncClient:
        """The client bound to the shared session (opened on first use)."""
        if self._client is None:
            from airflow_provider_dmjy.client.async_client import DmjyAsyncClient, shared_sessions

            conn = await self.aget_connection(self.dmjy_conn_id)
            config = config_from_connection(conn, **self._overrides)
            session, clock = shared_sessions.acquire(self._session_key(config))
            self._client = DmjyAsyncClient(config, session=session, clock=clock)
        return self._client

    def _session_key(self, config: ClientConfig) -> tuple[str, str, str]:
        return (self.dmjy_conn_id, config.base_url, config.api_key)

    async def close(self) -> None:
        """Give the shared session back (the last user closes it)."""
        if self._client is not None:
            from airflow_provider_dmjy.client.async_client import shared_sessions

            client, self._client = self._client, None
            await shared_sessions.release(self._session_key(client.config))

    async def __aenter__(self) -> DmjyAsyncHook:
        await self.get_async_client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def get_account(self) -> dict[str, Any]:
        """The key's account."""
        return await (await self.get_async_client()).get_account()

    async def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task."""
        return await (await self.get_async_client()).get_video(video_id)

    async def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task."""
        return await (await self.get_async_client()).delete_video(video_id)

    async def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page of video tasks."""
        return await (await self.get_async_client()).list_videos(page=page, limit=limit, status=status)

    async def iter_videos(self, status: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every video task over all pages."""
        async for item in (await self.get_async_client()).iter_videos(status):
            yield item
