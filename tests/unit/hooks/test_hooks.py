"""The hooks' endpoint methods are the clients' methods, forwarded: same signature and docstring,
checked by mypy through the hook, and (sync hook) errors no retry fixes become Airflow's failures."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.async_client import DmjyAsyncClient
from airflow_provider_dmjy.client.sync_client import DmjyClient
from airflow_provider_dmjy.exceptions import DmjyNotFoundError, DmjyServerError
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook
from airflow_provider_dmjy.hooks.dmjy import DmjyHook

SYNC_ENDPOINTS = [
    "get_account",
    "create_video",
    "create_video_from",
    "get_video",
    "delete_video",
    "list_videos",
    "iter_videos",
    "create_template",
    "create_template_from",
    "list_templates",
    "iter_templates",
    "delete_template",
]
ASYNC_ENDPOINTS = ["get_account", "get_video", "delete_video", "list_videos", "iter_videos"]


def _without_self(signature: inspect.Signature) -> list[inspect.Parameter]:
    return list(signature.parameters.values())[1:]


@pytest.mark.parametrize(
    ("hook_class", "client_class", "name"),
    [(DmjyHook, DmjyClient, name) for name in SYNC_ENDPOINTS]
    + [(DmjyAsyncHook, DmjyAsyncClient, name) for name in ASYNC_ENDPOINTS],
)
def test_a_hook_method_has_the_client_signature_and_docstring(
    hook_class: type[Any], client_class: type[Any], name: str
) -> None:
    method, original = getattr(hook_class, name), getattr(client_class, name)
    assert _without_self(inspect.signature(method)) == _without_self(inspect.signature(original))
    assert method.__doc__ == original.__doc__ and method.__doc__
    assert method.__qualname__ == f"{hook_class.__name__}.{name}"
    bound = inspect.signature(getattr(hook_class(), name))  # as a caller sees it: no self
    assert list(bound.parameters.values()) == _without_self(inspect.signature(original))


def test_the_public_create_signatures_stay() -> None:
    assert str(inspect.signature(DmjyHook().create_video)) == (
        "(description: 'str', image_url: 'str | None' = None, image_urls: 'list[str] | None' = None, "
        "duration: 'int | None' = None, aspect_ratio: 'str | None' = None, title: 'str | None' = None, "
        "callback_url: 'str | None' = None) -> 'dict[str, Any]'"
    )
    assert str(inspect.signature(DmjyHook().iter_videos)) == (
        "(status: 'str | None' = None, *, max_pages: 'int | None' = None) -> 'Iterator[dict[str, Any]]'"
    )


class _Client:
    """Stands in for the hook's client: every call fails as told."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_video(self, video_id: str) -> dict[str, Any]:
        raise self.error

    def iter_videos(
        self, status: str | None = None, *, max_pages: int | None = None
    ) -> Iterator[dict[str, Any]]:
        yield {"id": "vid_1"}
        raise self.error  # a later page's request


def _hook_with(error: Exception) -> DmjyHook:
    hook = DmjyHook()
    hook.__dict__["client"] = _Client(error)  # the cached_property's slot: no connection is read
    return hook


def test_an_error_no_retry_fixes_leaves_the_hook_as_airflows_failure() -> None:
    original = DmjyNotFoundError("DMJY API error 404", status=404, method="GET", path="/videos/x")
    with pytest.raises(DmjyNotFoundError) as raised:
        _hook_with(original).get_video("x")
    assert isinstance(raised.value, AirflowFailException) and raised.value.__cause__ is original
    assert str(raised.value) == str(original) and raised.value.status == 404

    videos = _hook_with(original).iter_videos()
    assert next(videos) == {"id": "vid_1"}
    with pytest.raises(DmjyNotFoundError) as raised:
        next(videos)
    assert isinstance(raised.value, AirflowFailException)


def test_a_retryable_error_leaves_the_hook_unchanged() -> None:
    original = DmjyServerError("DMJY API error 503", status=503, method="GET", path="/videos/x")
    with pytest.raises(DmjyServerError) as raised:
        _hook_with(original).get_video("x")
    assert raised.value is original and not isinstance(raised.value, AirflowFailException)


MYPY_SNIPPET = """
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook

hook = DmjyHook()
hook.create_video("d", image_url="u", duration=10)
hook.create_video("d", image_url="u", duration="10")  # error
hook.create_video("d", imageUrl="u")  # error
for video in hook.iter_videos(status="completed", max_pages="2"):  # error
    pass


async def wait() -> None:
    async with DmjyAsyncHook() as async_hook:
        await async_hook.get_video(3)  # error
"""


def test_mypy_checks_calls_through_the_hooks(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    source = textwrap.dedent(MYPY_SNIPPET).lstrip("\n")
    expected = [number for number, line in enumerate(source.splitlines(), 1) if line.endswith("# error")]
    snippet = tmp_path / "snippet.py"
    snippet.write_text(source, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and file
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    errors = sorted(
        int(line.split(":")[1]) for line in result.stdout.splitlines() if line.startswith(str(snippet))
    )
    assert errors == expected, result.stdout  # the one correct call passes, each wrong one fails
