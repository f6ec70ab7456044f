"""The synchronous DMJY client (requests): one pooled session, signing as an ``AuthBase``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.calls import Call
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.retry import CallRetry
from airflow_provider_dmjy.client.signing import SkewClock, auth_headers

__all__ = ["DmjyAuth", "DmjyClient"]

log = logging.getLogger("airflow_provider_dmjy.client")
USER_AGENT = "airflow-provider-dmjy"
PAGE_SIZE = 100


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


def _never_reached_server(error: requests.RequestException) -> bool:
    """True only for failures before any byte of the request was sent (refused, DNS, connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
    # NewConnectionError (refused) and NameResolutionError (DNS) both come from opening a socket.
    return type(reason).__name__ in ("NewConnectionError", "NameResolutionError")


class DmjyClient:
    """The DMJY video API over ``requests``; every method returns the envelope's ``data``.

    Usable without Airflow: ``DmjyClient(ClientConfig(api_key=..., api_secret=...))``.
    """

    def __init__(self, config: ClientConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.clock = SkewClock()
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.auth = DmjyAuth(config, self.clock)

    def close(self) -> None:
        """Release the pooled connections."""
        self.session.close()

    def __enter__(self) -> DmjyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def send(self, call: Call) -> dict[str, Any]:
        """Send one call with the retry policy of :mod:`airflow_provider_dmjy.client.retry`."""
        url = self.config.url(call.path)
        path = self.config.base_path + call.path
        policy = CallRetry(call, self.config, path)
        for attempt in policy.retrying():
            with attempt:
                return self._attempt(call, url, path, policy)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _attempt(self, call: Call, url: str, path: str, policy: CallRetry) -> dict[str, Any]:
        sent_at = self.clock.now()
        started = time.monotonic()
        try:
            response = self.session.request(
                call.method,
                url,
                params=call.params,
                json=call.json,
                auth=self.auth,
                timeout=self.config.timeout,
            )
        except requests.RequestException as exc:
            message = f"{type(exc).__name__}: could not complete the request"
            raise policy.transport_failure(message, not _never_reached_server(exc), sent_at) from exc
        self.clock.observe_date_header(response.headers.get("Date"))
        log.debug(
            "DMJY %s %s -> %s in %.0f ms",
            call.method,
            path,
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        return policy.settle(response.status_code, response.headers, response.content, call.method, sent_at)

    # -- endpoints ------------------------------------------------------------------------------

    def get_account(self) -> dict[str, Any]:
        """The key's account: ``balance``, ``plan``, ``usage``, ``isLowBalance``, ..."""
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
        """Create a (charged) video task; validated first. Never retried once it may have arrived."""
        return self.send(
            calls.create_video(
                description=description,
                image_url=image_url,
                image_urls=image_urls,
                duration=duration,
                aspect_ratio=aspect_ratio,
                title=title,
                callback_url=callback_url,
            )
        )

    def get_video(self, video_id: str) -> dict[str, Any]:
        """One video task with ``status``, ``progress``, ``videoUrl``, ``errorMessage``, ..."""
        return self.send(calls.get_video(video_id))

    def delete_video(self, video_id: str) -> dict[str, Any]:
        """Delete a video task (stops it when unfinished)."""
        return self.send(calls.delete_video(video_id))

    def list_videos(self, page: int = 1, limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """One page: ``tasks`` (newest first) and ``pagination``."""
        return self.send(calls.list_videos(page, limit, status))

    def iter_videos(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Every video task, all pages, each once even when new tasks shift the pages meanwhile."""
        yield from self._iterate(lambda page: calls.list_videos(page, PAGE_SIZE, status), "tasks")

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
        return self.send(
            calls.create_template(
                user_id=user_id if user_id is not None else self.config.user_id,
                name=name,
                image_url=image_url,
                description=description,
                product_name=product_name,
                price=price,
            )
        )

    def list_templates(self, page: int = 1, limit: int = 20, user_id: str | None = None) -> dict[str, Any]:
        """One page: ``templates`` and ``pagination``."""
        return self.send(calls.list_templates(page, limit, user_id))

    def iter_templates(self, user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every template, all pages."""
        yield from self._iterate(lambda page: calls.list_templates(page, PAGE_SIZE, user_id), "templates")

    def delete_template(self, template_id: str) -> dict[str, Any]:
        """Delete a template."""
        return self.send(calls.delete_template(template_id))

    def _iterate(self, call_for_page: Any, key: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        page = 1
        while True:
            items, more = calls.page_items(self.send(call_for_page(page)), key)
            for item in items:
                if item.get("id") not in seen:
                    seen.add(item.get("id"))  # type: ignore[arg-type]
                    yield item
            if not more:
                return
            page += 1
