"""The async hook for triggers: one shared aiohttp session per connection in the event loop, and
one request budget per API key (``max_requests_per_second``) shared by every trigger of that key.

The triggerer imports this module (through the triggers); it imports the async client only, never
the sync one, so a triggerer does not load ``requests``. Also importable as
``airflow_provider_dmjy.hooks.dmjy.DmjyAsyncHook``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from airflow_provider_dmjy.client.async_client import DmjyAsyncClient, shared_sessions
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.ratelimit import request_budgets
from airflow_provider_dmjy.hooks.connection import DEFAULT_CONN_ID, DmjyHookBase

__all__ = ["DmjyAsyncHook"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


def _forward(
    method: Callable[Concatenate[DmjyAsyncClient, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[DmjyAsyncHook, _P], Coroutine[Any, Any, _R]]:
    """``DmjyAsyncHook.<name>``: the async client's ``method`` on the hook's client (opened on
    first use), with its signature and docstring. Errors keep their type: a trigger reads
    ``retryable`` and reports the class name; Airflow's failures are the resumed task's business."""
    name = method.__name__

    @functools.wraps(method, assigned=("__name__", "__doc__", "__annotations__"))
    async def call(hook: DmjyAsyncHook, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        client_method: Callable[_P, Coroutine[Any, Any, _R]] = getattr(await hook.get_async_client(), name)
        return await client_method(*args, **kwargs)

    call.__qualname__ = f"DmjyAsyncHook.{name}"
    return call


def _forward_iter(
    method: Callable[Concatenate[DmjyAsyncClient, _P], AsyncIterator[_T]],
) -> Callable[Concatenate[DmjyAsyncHook, _P], AsyncIterator[_T]]:
    """As :func:`_forward`, for the async client's ``iter_*`` generators."""
    name = method.__name__

    @functools.wraps(method, assigned=("__name__", "__doc__", "__annotations__"))
    async def walk(hook: DmjyAsyncHook, /, *args: _P.args, **kwargs: _P.kwargs) -> AsyncIterator[_T]:
        client_method: Callable[_P, AsyncIterator[_T]] = getattr(await hook.get_async_client(), name)
        async for item in client_method(*args, **kwargs):
            yield item

    walk.__qualname__ = f"DmjyAsyncHook.{name}"
    return walk


class DmjyAsyncHook(DmjyHookBase):
    """Async hook for triggers: ``async with DmjyAsyncHook(conn_id) as hook:`` keeps one HTTP
    session for its lifetime, shared with every other hook of the same connection in the loop.

    The connection is read with ``aget_connection`` (never a blocking call in the event loop).
    Every request waits for its turn in the request budget of the connection's Base URL and API key
    in this loop (the vendor limits per key): at most ``max_requests_per_second`` start per second,
    evenly spaced, whichever trigger sends them; the lowest rate of the hooks open on the key applies
    (see ``client/ratelimit.py`` and docs/hooks.md).
    """

    def __init__(self, dmjy_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(dmjy_conn_id, **kwargs)
        self._client: DmjyAsyncClient | None = None

    async def get_async_client(self) -> DmjyAsyncClient:
        """The client bound to the shared session (opened on first use)."""
        if self._client is None:
            config = self.config_for(await self.aget_connection(self.dmjy_conn_id))
            session, clock = shared_sessions.acquire(self._session_key(config))
            budget = request_budgets.get((config.base_url, config.api_key), config.max_requests_per_second)
            if budget is not None:
                budget.join(config.max_requests_per_second)  # left in close()
            self._client = DmjyAsyncClient(config, session=session, clock=clock, budget=budget)
        return self._client

    def _session_key(self, config: ClientConfig) -> tuple[str, str, str]:
        return (self.dmjy_conn_id, config.base_url, config.api_key)

    async def close(self) -> None:
        """Give the shared session back (the last user closes it) and leave the request budget."""
        if self._client is not None:
            client, self._client = self._client, None
            if client.budget is not None:
                client.budget.leave(client.config.max_requests_per_second)
            await shared_sessions.release(self._session_key(client.config))

    async def __aenter__(self) -> DmjyAsyncHook:
        await self.get_async_client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    get_account = _forward(DmjyAsyncClient.get_account)
    get_video = _forward(DmjyAsyncClient.get_video)
    delete_video = _forward(DmjyAsyncClient.delete_video)
    list_videos = _forward(DmjyAsyncClient.list_videos)
    iter_videos = _forward_iter(DmjyAsyncClient.iter_videos)
