"""The synchronous DMJY client (requests): one pooled session, signing as an ``AuthBase``.

API calls never follow redirects, read at most ``MAX_RESPONSE_BYTES`` (plus one byte) of a body
(see :mod:`airflow_provider_dmjy.client.responses`), and end at a total deadline (see
:mod:`airflow_provider_dmjy.client.transport`). Failures are retried as
:class:`~airflow_provider_dmjy.client.retry.RetryPolicy` says. Media URLs are downloaded by
:meth:`DmjyClient.download` over a separate plain session (:mod:`airflow_provider_dmjy.client.media`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.calls import PAGE_SIZE, USER_AGENT, Call, PageWalker
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.media import DownloadLimits, MediaClient, MediaFile
from airflow_provider_dmjy.client.models import CreateTemplateRequest, CreateVideoRequest
from airflow_provider_dmjy.client.retry import CallAttempts, RetryPolicy, is_retryable
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers
from airflow_provider_dmjy.client.transport import (
    Deadline,
    DeadlineAdapter,
    never_reached_server,
    read_capped,
)
from airflow_provider_dmjy.exceptions import DmjyAuthenticationError, DmjyError, DmjyValidationError

__all__ = ["DmjyAuth", "DmjyClient"]

log = logging.getLogger("airflow_provider_dmjy.client")


class DmjyAuth(requests.auth.AuthBase):
    """Signs each prepared request (a fresh timestamp per attempt); the transport knows nothing of it."""

    def __init__(self, config: ClientConfig, clock: SkewClock) -> None:
        self.config = config
        self.clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(
            auth_headers(
                auth_mode=self.config.auth_mode,
                api_key=self.config.api_key,
                api_secret=self.config.api_secret,
                method=request.method or "GET",
                url=request.url or "",
                clock=self.clock,
                sign_query_string=self.config.sign_query_string,
            )
        )
        return request


class DmjyClient:
    """The DMJY video API over ``requests``; every method returns the envelope's ``data``.

    Usable without Airflow: ``DmjyClient(ClientConfig(api_key=..., api_secret=...))``.
    """

    def __init__(self, config: ClientConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.clock = SkewClock()
        self.retry = RetryPolicy(config)
        self.session = session or requests.Session()
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.auth = DmjyAuth(config, self.clock)

    @functools.cached_property
    def media(self) -> MediaClient:
        """The plain session for media URLs: it never carries the API's credentials."""
        return MediaClient()

    def close(self) -> None:
        """Release the pooled connections."""
        self.session.close()
        if "media" in self.__dict__:
            self.media.close()

    def __enter__(self) -> DmjyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def send(self, call: Call) -> dict[str, Any]:
        """Send one call; a retryable failure is tried again as :class:`RetryPolicy` says."""
        url = self.config.url(call.path)
        attempts = CallAttempts(call, self.config.base_path + call.path, redact=self.config.credentials)
        try:
            return self._attempt(url, attempts)
        except DmjyError as error:
            if not is_retryable(error):
                raise
            failure = error
        # Only now the retry machinery: a call that succeeds at once never builds it.
        retry = functools.partial(self._attempt, url, attempts)
        return self.retry.after_failure(failure, retry, call.method, attempts.path)

    def _attempt(self, url: str, attempts: CallAttempts) -> dict[str, Any]:
        try:
            return self._exchange(url, attempts)
        except DmjyAuthenticationError as error:
            if not attempts.sign_again(error, self.clock):
                raise
        return self._exchange(url, attempts)

    def _exchange(self, url: str, attempts: CallAttempts) -> dict[str, Any]:
        call, path = attempts.call, attempts.path
        sent_at = self.clock.now()
        started = time.monotonic()
        timeout = self.config.timeout
        expired = f"no complete answer within the {timeout:g} s deadline"
        with Deadline(timeout) as deadline:
            try:
                response = self.session.request(
                    call.method,
                    url,
                    params=call.params,
                    json=call.json,
                    auth=self.auth,
                    timeout=timeout,
                    allow_redirects=False,  # a redirect would take the key and signature elsewhere
                    stream=True,  # read below, capped and under the deadline
                )
                try:
                    body = read_capped(response, deadline)
                finally:
                    response.close()
            except requests.RequestException as exc:
                if deadline.expired:
                    raise attempts.transport_failure(expired, True, sent_at) from exc
                message = f"{type(exc).__name__}: could not complete the request"
                reached = not never_reached_server(exc)
                raise attempts.transport_failure(message, reached, sent_at) from exc
        if deadline.expired:  # a body without Content-Length looks complete when its socket is shut
            raise attempts.transport_failure(expired, True, sent_at)
        self.clock.observe_date_header(response.headers.get("Date"))
        log.debug(
            "DMJY %s %s -> %s in %.0f ms",
            call.method,
            path,
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        return attempts.settle(response.status_code, response.headers, body, call.method, sent_at)

    def download(self, url: str, fileobj: MediaFile, limits: DownloadLimits | None = None) -> int:
        """Stream a media URL (``videoUrl``, ``thumbnailUrl``) into ``fileobj``; returns its size.

        Over :attr:`media`, a plain session without the API's credentials; the deadline, size cap,
        truncation check and attempts are ``limits``' (see :meth:`MediaClient.download`).
        """
        return self.media.download(url, fileobj, limits)

    # -- endpoints ------------------------------------------------------------------------------

    def get_account(self) -> dict[str, Any]:
        """The key's account: ``balance``, ``plan``, ``usage``, ``lowBalanceThreshold``, ``isLowBalance``."""
        return self.send(calls.get_account())

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
        return self.create_video_from(
            CreateVideoRequest(
                description=description,
                image_url=image_url,
                image_urls=image_urls,
                duration=duration,
                aspect_ratio=aspect_ratio,
                title=title,
                callback_url=callback_url,
            )
        )

    def create_video_from(self, request: CreateVideoRequest) -> dict[str, Any]:
        """The create of :meth:`create_video` for a request built (and so validated) already.

        For callers that check their input before deciding to create, as ``DmjyCreateVideoOperator``
        does: the request is sent as it is, not validated again (and, as :meth:`create_video`, never
        retried once it may have reached the server).
        """
        return self.send(calls.create_video(request))

    def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task with ``status``, ``progress``, ``videoUrl``, ``errorMessage``, ..."""
        return self.send(calls.get_video(video_id))

    def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task (stops it when unfinished)."""
        return self.send(calls.delete_video(video_id))

    def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page: ``tasks`` (newest first) and ``pagination``."""
        return self.send(calls.list_videos(page, limit, status))

    def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every video task (newest first), each once even when new tasks shift the pages meanwhile.

        Reads at most ``max_pages`` pages of :data:`~airflow_provider_dmjy.client.calls.PAGE_SIZE`
        (default :data:`~airflow_provider_dmjy.client.calls.MAX_PAGES`); see
        :class:`~airflow_provider_dmjy.client.calls.PageWalker` for when the walk ends.
        """
        yield from self._walk(lambda page: calls.list_videos(page, PAGE_SIZE, status), "tasks", max_pages)

    def create_template(
        self,
        name: str,
        user_id: str | None = None,
        image_url: str | None = None,
        description: str | None = None,
        product_name: str | None = None,
        price: str | float | None = None,
    ) -> dict[str, Any]:
        """Create a product template for ``user_id`` (the connection's ``user_id`` by default)."""
        return self.create_template_from(
            CreateTemplateRequest(
                user_id=self.template_user_id(user_id),
                name=name,
                image_url=image_url,
                description=description,
                product_name=product_name,
                price=price,
            )
        )

    def create_template_from(self, request: CreateTemplateRequest) -> dict[str, Any]:
        """The create of :meth:`create_template` for a request built (and so validated) already;
        its ``user_id`` is final (see :meth:`template_user_id` for the connection's)."""
        return self.send(calls.create_template(request))

    def template_user_id(self, user_id: str | None) -> str:
        """The owner of a new template: ``user_id``, or when None the connection's ``user_id`` extra.

        Raises :class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` when neither is set.
        """
        chosen = user_id if user_id is not None else self.config.user_id
        if chosen is None:
            raise DmjyValidationError(
                "userId", None, "is required: pass user_id or set the connection's user_id extra", "user_id"
            )
        return chosen

    def list_templates(self, page: int = 1, limit: int = 20, user_id: str | None = None) -> dict[str, Any]:
        """One page: ``templates`` and ``pagination``."""
        return self.send(calls.list_templates(page, limit, user_id))

    def iter_templates(
        self, user_id: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every template, each once, reading at most ``max_pages`` pages (as :meth:`iter_videos`)."""
        yield from self._walk(
            lambda page: calls.list_templates(page, PAGE_SIZE, user_id), "templates", max_pages
        )

    def delete_template(self, template_id: str) -> dict[str, Any]:
        """Delete a template."""
        return self.send(calls.delete_template(template_id))

    def _walk(
        self, call_for_page: Callable[[int], Call], key: str, max_pages: int | None
    ) -> Iterator[dict[str, Any]]:
        walker = PageWalker(key, max_pages)
        while (page := walker.next_page) is not None:
            yield from walker.take(self.send(call_for_page(page)))
        if walker.capped:  # the default ceiling deserves a warning; a caller's own cap is expected
            log.log(
                logging.WARNING if max_pages is None else logging.INFO,
                "DMJY %s: stopped after %d pages (the cap) although the server announced more",
                key,
                walker.pages_read,
            )
