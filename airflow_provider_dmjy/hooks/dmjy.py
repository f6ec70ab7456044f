"""Airflow hooks for the DMJY video API: a connection turned into a configured client.

``DmjyHook`` (requests) is for operators and ``@task`` code; ``DmjyAsyncHook`` (aiohttp, in
:mod:`airflow_provider_dmjy.hooks.async_hook`, importable from here) is for triggers. Each endpoint
method of a hook is the client's method, forwarded: the client's signature (so mypy checks calls
through the hook) and docstring, written once in the client. Errors keep their type from
:mod:`airflow_provider_dmjy.exceptions`; those that no retry can fix (bad input, auth, permission,
not found, daily cap, insufficient balance, a create that may have been applied) are also
``AirflowFailException`` (:mod:`airflow_provider_dmjy.hooks.failures`), so Airflow does not burn
task retries on them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

from airflow_provider_dmjy.client.calls import MARKER_SEARCH_MAX_PAGES, PAGE_SIZE, PageWalker
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.models import Video, VideoStatus, parse_vendor_time
from airflow_provider_dmjy.client.responses import redact
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import DmjyError, DmjyReconciliationError, DmjyValidationError
from airflow_provider_dmjy.hooks.connection import DmjyHookBase
from airflow_provider_dmjy.hooks.failures import airflow_failures, as_airflow_error

if TYPE_CHECKING:
    from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook

__all__ = ["MARKER_SEARCH_MAX_PAGES", "DmjyAsyncHook", "DmjyHook", "as_airflow_error"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


def _forward(method: Callable[Concatenate[DmjyClient, _P], _R]) -> Callable[Concatenate[DmjyHook, _P], _R]:
    """``DmjyHook.<name>``: the client's method ``method`` on the hook's client, with its signature
    and docstring; a :class:`DmjyError` leaves it as :func:`airflow_failures` makes it."""
    name = method.__name__

    @functools.wraps(method, assigned=("__name__", "__doc__", "__annotations__"))
    def call(hook: DmjyHook, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with airflow_failures():  # reading the connection (``hook.client``) included
            # Looked up on the instance, not called as ``method``: a subclass's client is honoured.
            client_method: Callable[_P, _R] = getattr(hook.client, name)
            return client_method(*args, **kwargs)

    call.__qualname__ = f"DmjyHook.{name}"
    return call


def _forward_iter(
    method: Callable[Concatenate[DmjyClient, _P], Iterator[_T]],
) -> Callable[Concatenate[DmjyHook, _P], Iterator[_T]]:
    """As :func:`_forward`, for the client's ``iter_*`` generators: errors raised while iterating
    (a later page's request) are converted too."""
    name = method.__name__

    @functools.wraps(method, assigned=("__name__", "__doc__", "__annotations__"))
    def walk(hook: DmjyHook, /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[_T]:
        with airflow_failures():
            client_method: Callable[_P, Iterator[_T]] = getattr(hook.client, name)
            yield from client_method(*args, **kwargs)

    walk.__qualname__ = f"DmjyHook.{name}"
    return walk


class DmjyHook(DmjyHookBase):
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
        return self.config_for(self.get_connection(self.dmjy_conn_id))

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

    #: The account's ``userId``, once :meth:`template_user_id` read it (one look-up per hook).
    _account_user_id: str | None = None

    get_account = _forward(DmjyClient.get_account)
    create_video = _forward(DmjyClient.create_video)
    create_video_from = _forward(DmjyClient.create_video_from)
    get_video = _forward(DmjyClient.get_video)
    delete_video = _forward(DmjyClient.delete_video)
    list_videos = _forward(DmjyClient.list_videos)
    iter_videos = _forward_iter(DmjyClient.iter_videos)
    create_template = _forward(DmjyClient.create_template)
    create_template_from = _forward(DmjyClient.create_template_from)
    list_templates = _forward(DmjyClient.list_templates)
    iter_templates = _forward_iter(DmjyClient.iter_templates)
    delete_template = _forward(DmjyClient.delete_template)

    def find_video_by_marker(
        self, marker: str, created_after: float | None, max_pages: int = MARKER_SEARCH_MAX_PAGES
    ) -> dict[str, Any] | None:
        """The newest video that is not ``failed`` whose title carries ``[marker]``; None if there is none.

        Reads the list newest first and stops after a whole page of videos created before
        ``created_after`` (epoch seconds on this machine's clock; when the ``Date`` headers show the
        server's clock behind, the cut-off moves back with it, never forward, so a skewed clock only
        widens the search), or at the end of the list (paged as :meth:`iter_videos`). One old or
        oddly dated item does not end it: the order of the list is the server's. A search that
        stopped while the server still announced more pages (it read ``max_pages`` pages of 100
        videos, or a page brought no new video) cannot tell: it raises
        :class:`DmjyReconciliationError` (retryable) rather than answer None, which a caller would
        take as "safe to create".
        """

        found: list[dict[str, Any]] = []

        def marked(item: dict[str, Any], video: Video, _created: float | None, _cutoff: float | None) -> bool:
            # Whatever its date says: the marker names the task instance that paid for it.
            if video.has_marker(marker) and video.status is not VideoStatus.FAILED:
                found.append(item)
            return bool(found)

        walk = self._walk_recent(marked, created_after, max_pages, widen_only=True)
        if not found and not walk.concluded:
            raise DmjyReconciliationError(
                f"Searched {walk.pages_read} pages of videos for marker {marker} without reaching "
                "the search's cut-off or the end of the list; whether such a video exists is unknown"
            )
        return found[0] if found else None

    def find_reusable_video(
        self,
        fingerprint: str,
        since: float | datetime | None,
        max_pages: int = MARKER_SEARCH_MAX_PAGES,
    ) -> dict[str, Any] | None:
        """The newest ``completed`` video with a ``videoUrl`` whose title ends with the tag
        ``[fp-<fingerprint>]`` (``CreateVideoRequest.fingerprint()``) and that was created at or
        after ``since``; None if there is none: :meth:`find_reusable_videos` for one fingerprint
        (its rules, its walk)."""
        return self.find_reusable_videos([fingerprint], since, max_pages).get(fingerprint)

    def find_reusable_videos(
        self,
        fingerprints: Iterable[str],
        since: float | datetime | None,
        max_pages: int = MARKER_SEARCH_MAX_PAGES,
    ) -> dict[str, dict[str, Any]]:
        """``{fingerprint: video}`` for each of ``fingerprints`` that has a reusable video: the newest
        ``completed`` one with a ``videoUrl`` whose title ends with ``[fp-<fingerprint>]``
        (``CreateVideoRequest.fingerprint()``), created at or after ``since``. Fingerprints without
        one are absent.

        ``since`` is an aware datetime or epoch seconds on this machine's clock (None: any age).
        Unlike the marker search, the date decides: a video dated before the cut-off, or with no
        readable ``createdAt``, is never returned. The cut-off is compared on the server's clock
        (moved by the offset the ``Date`` headers show, either way), so a skewed vendor clock neither
        brings back an older video nor hides a new one. ONE walk serves every fingerprint: the
        marker search's, newest first, at most ``max_pages`` pages of 100, ending when each
        fingerprint has its video or after a whole page older than the cut-off. A search that
        cannot conclude (the page cap reached, or a page that brought no new video, while the
        server still announced more) answers ``{}``: reuse is a saving, creating is always safe, and
        an estimate built on the answer then counts every video as paid. Every list request counts
        toward the connection's requests and is logged with the outcome.
        """
        wanted = set(fingerprints)
        if not wanted:
            return {}
        cutoff = since.timestamp() if isinstance(since, datetime) else since
        found: dict[str, dict[str, Any]] = {}

        def reusable(
            item: dict[str, Any], video: Video, created: float | None, server_cutoff: float | None
        ) -> bool:
            if video.status is not VideoStatus.COMPLETED or not video.video_url:
                return False
            if server_cutoff is not None and (created is None or created < server_cutoff):
                return False
            # Newest first: the first video of a fingerprint is the one to reuse.
            found.update({fp: item for fp in wanted - found.keys() if video.has_fingerprint(fp)})
            return len(found) == len(wanted)

        walk = self._walk_recent(reusable, cutoff, max_pages, widen_only=False)
        answer = found if walk.concluded else {}
        self.log.info(
            "Reuse search for %d fingerprint(s): %d reusable (%s) after %d list request(s)%s",
            len(wanted),
            len(answer),
            ", ".join(f"{fp}: video {video.get('id')}" for fp, video in answer.items()) or "none",
            walk.pages_read,
            "" if walk.concluded else " (stopped at the page cap before the cut-off: nothing is reused)",
        )
        return answer

    def _walk_recent(
        self,
        visit: Callable[[dict[str, Any], Video, float | None, float | None], bool],
        created_after: float | None,
        max_pages: int,
        *,
        widen_only: bool,
    ) -> _Walk:
        """Show each video (newest first) to ``visit(item, video, createdAt, cut-off)``, both times in
        epoch seconds on the server's clock, until it answers True (done); the walk both searches
        share (see :meth:`find_video_by_marker`). ``widen_only`` moves the cut-off only back with
        the clock."""
        walker = PageWalker("tasks", max_pages)
        data: dict[str, Any] = {}
        while (page := walker.next_page) is not None:
            data = self.list_videos(page=page, limit=PAGE_SIZE)
            videos = walker.take(data)
            # Read after the first answer: its Date header is what measures the offset.
            offset = self.client.clock.offset_seconds
            cutoff = (
                None
                if created_after is None
                else created_after + (min(0.0, offset) if widen_only else offset)
            )
            all_older = bool(videos) and cutoff is not None
            for video in videos:
                created = parse_vendor_time(video.get("createdAt"))
                if visit(video, Video.from_api(video), created, cutoff):
                    return _Walk(True, walker.pages_read)
                if cutoff is None or created is None or created >= cutoff:
                    all_older = False
            if all_older:
                return _Walk(True, walker.pages_read)
        concluded = not (walker.capped or _announces_more_pages(data, walker.pages_read))
        return _Walk(concluded, walker.pages_read)

    def template_user_id(self, user_id: str | None = None) -> str:
        """The owner of a new template: ``user_id``; else the connection's ``user_id`` extra; else
        the ``userId`` of the API key's account (:meth:`get_account`, read once per hook and kept).

        Raises :class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` when none gives one.
        """
        if user_id is not None:
            return user_id
        with airflow_failures():
            if self.config.user_id is not None:
                return self.config.user_id
            if self._account_user_id is None:
                found = self.get_account().get("userId")
                if not isinstance(found, (str, int)) or isinstance(found, bool) or found == "":
                    raise DmjyValidationError(
                        "userId",
                        None,
                        f"is required: pass user_id or set the connection's user_id extra (the "
                        f"account answer has no usable userId: {found!r})",
                        "user_id",
                    )
                self._account_user_id = str(found)
            return self._account_user_id

    def test_connection(self) -> tuple[bool, str]:
        """Call the account endpoint; never puts the key or secret in the answer.

        Returns ``(True, "Connected to HOST as EMAIL: balance N credits (plan P)")`` or ``(False,
        reason)``. The UI shows the message in the test's toast; ``airflow connections test``
        prints only "Connection success!", so the message is also logged (shown with ``-v``).
        """
        try:
            account = self.client.get_account()
        except DmjyError as error:  # the client has scrubbed the key and secret from the server's text
            return False, str(error)
        except Exception as error:  # the UI shows the reason instead of a stack trace
            return False, f"{type(error).__name__}: {error}"
        message = _connected_message(self.config, account)
        self.log.info("%s", message)
        return True, message


def _connected_message(config: ClientConfig, account: dict[str, Any]) -> str:
    # A toast-sized line: the host (a Base URL never carries credentials, the config refuses
    # them), who the key belongs to, and what it can still spend. The account fields are the
    # server's text, which may echo the key or secret; the UI does not mask the toast.
    who = account.get("email") or account.get("name") or account.get("userId") or "an unnamed account"
    host = urlsplit(config.base_url).netloc
    message = f"Connected to {host} as {who}: balance {account.get('balance')} credits"
    message = f"{message} (plan {account['plan']})" if account.get("plan") else message
    return redact(message, config.credentials)


@dataclasses.dataclass(frozen=True)
class _Walk:
    """How a bounded walk over the recent videos ended: whether it could conclude, and its cost."""

    concluded: bool
    pages_read: int


def _announces_more_pages(data: dict[str, Any], pages_read: int) -> bool:
    pagination = data.get("pagination")
    total = pagination.get("totalPages") if isinstance(pagination, dict) else None
    return isinstance(total, (int, float)) and not isinstance(total, bool) and total > pages_read


def __getattr__(name: str) -> Any:
    # The async hook imports aiohttp, which operators (DAG files) must not pay for: loaded only
    # when asked for by this, its historical path.
    if name == "DmjyAsyncHook":
        from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook

        return DmjyAsyncHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
