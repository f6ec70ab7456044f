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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.calls import PAGE_SIZE, PageWalker
from airflow_provider_dmjy.client.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_dmjy.client.models import CreateTemplateRequest, CreateVideoRequest, Video, VideoStatus
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import DmjyError, DmjyReconciliationError

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_dmjy.client.async_client import DmjyAsyncClient

__all__ = ["MARKER_SEARCH_MAX_PAGES", "DmjyAsyncHook", "DmjyHook", "as_airflow_error", "parse_vendor_time"]

F = TypeVar("F", bound=Callable[..., Any])
_FAILURE_CLASSES: dict[type[DmjyError], type[DmjyError]] = {}
#: The most list pages (100 videos each) :meth:`DmjyHook.find_video_by_marker` reads by default.
MARKER_SEARCH_MAX_PAGES = 10


def parse_vendor_time(value: Any) -> float | None:
    """Epoch seconds of a vendor timestamp (ISO 8601, ``...Z``; UTC when it names no zone), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _failure_class(cls: type[DmjyError]) -> type[DmjyError]:
    """The subclass of ``cls`` that is also an ``AirflowFailException`` (one per class, made once)."""
    failure_class = _FAILURE_CLASSES.get(cls)
    if failure_class is None:
        failure_class = type(
            cls.__name__,
            (cls, AirflowFailException),
            {"__doc__": cls.__doc__, "__module__": cls.__module__, "__reduce__": _reduce_failure},
        )
        # setdefault: two threads converting at once still share one class.
        failure_class = _FAILURE_CLASSES.setdefault(cls, failure_class)
    return failure_class


def _reduce_failure(self: DmjyError) -> tuple[Any, ...]:
    # The failure class is made at run time, so pickle cannot find it by name: pickle the original
    # class instead, and make (or find) the failure class again when unpickling.
    original = type(self).__bases__[0]
    return _restore_failure, (original, self.args), dict(self.__dict__)


def _restore_failure(cls: type[DmjyError], args: tuple[Any, ...]) -> DmjyError:
    """Unpickling a converted error: the failure copy of ``cls`` with message ``args``."""
    failure_class = _failure_class(cls)
    failure = failure_class.__new__(failure_class)
    failure.args = args
    return failure


def as_airflow_error(error: DmjyError) -> DmjyError:
    """``error`` itself when a retry may help; else a copy that is also an ``AirflowFailException``.

    The copy keeps the original class (``except DmjyNotFoundError`` still catches it) and its
    attributes, pickles like the original, and converting it again returns it unchanged; raise it
    ``from`` the original.
    """
    if error.retryable or isinstance(error, AirflowFailException):
        return error
    failure = _restore_failure(type(error), error.args)
    failure.__dict__.update(error.__dict__)
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
    def create_video_from(self, request: CreateVideoRequest) -> dict[str, Any]:
        """The create of :meth:`create_video` for a request built (and so validated) already.

        For callers that check their input before deciding to create, as
        ``DmjyCreateVideoOperator`` does: the request is sent as it is, not validated again.
        """
        return self.client.create_video_from(request)

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

    def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every video task (newest first), each once; reads at most ``max_pages`` pages of 100
        (default 1,000). Ends at an empty page, a page with no new id, or the announced last page."""
        return _fail_fast_iter(self.client.iter_videos(status, max_pages=max_pages))

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
    def create_template_from(self, request: CreateTemplateRequest) -> dict[str, Any]:
        """The create of :meth:`create_template` for a request built (and so validated) already;
        its ``user_id`` is final (see :meth:`DmjyClient.template_user_id` for the connection's)."""
        return self.client.create_template_from(request)

    @_fail_fast
    def list_templates(self, page: int = 1, limit: int = 20, user_id: str | None = None) -> dict[str, Any]:
        """One page of templates: ``templates`` and ``pagination``."""
        return self.client.list_templates(page=page, limit=limit, user_id=user_id)

    def iter_templates(
        self, user_id: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every template, each once; reads at most ``max_pages`` pages (as :meth:`iter_videos`)."""
        return _fail_fast_iter(self.client.iter_templates(user_id, max_pages=max_pages))

    @_fail_fast
    def delete_template(self, template_id: str) -> dict[str, Any]:
        """Delete a template."""
        return self.client.delete_template(template_id)

    def find_video_by_marker(
        self, marker: str, created_after: float | None, max_pages: int = MARKER_SEARCH_MAX_PAGES
    ) -> dict[str, Any] | None:
        """The newest video that is not ``failed`` whose title carries ``[marker]``; None if there is none.

        Reads the list newest first and stops at the first video created before ``created_after``
        (epoch seconds on this machine's clock, shifted onto the server's clock by the offset the
        client measured from the ``Date`` headers, so a skewed server clock moves the cut-off with
        it), or at the end of the list (paged as :meth:`iter_videos`). A search that stopped while
        the server still announced more pages (it read ``max_pages`` pages of 100 videos, or a
        page brought no new video) cannot tell: it raises :class:`DmjyReconciliationError`
        (retryable) rather than answer None, which a caller would take as "safe to create".
        """
        walker = PageWalker("tasks", max_pages)
        data: dict[str, Any] = {}
        while (page := walker.next_page) is not None:
            data = self.list_videos(page=page, limit=PAGE_SIZE)
            for video in walker.take(data):
                created = parse_vendor_time(video.get("createdAt"))
                # The offset is read per item: the first page's Date header is what measures it.
                if (
                    created_after is not None
                    and created is not None
                    and created < created_after + self.client.clock.offset_seconds
                ):
                    return None
                found = Video.from_api(video)
                if found.has_marker(marker) and found.status is not VideoStatus.FAILED:
                    return video
        if walker.capped or _announces_more_pages(data, walker.pages_read):
            raise DmjyReconciliationError(
                f"Searched {walker.pages_read} pages of videos for marker {marker} without reaching "
                "the search's cut-off or the end of the list; whether such a video exists is unknown"
            )
        return None

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


def _announces_more_pages(data: dict[str, Any], pages_read: int) -> bool:
    pagination = data.get("pagination")
    total = pagination.get("totalPages") if isinstance(pagination, dict) else None
    return isinstance(total, (int, float)) and not isinstance(total, bool) and total > pages_read


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

    async def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every video task (newest first), each once; reads at most ``max_pages`` pages (as the
        sync hook's :meth:`DmjyHook.iter_videos`)."""
        async for item in (await self.get_async_client()).iter_videos(status, max_pages=max_pages):
            yield item
