"""The media download's pure parts and its attempts (``responses`` stands in for the CDN)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import responses
from airflow.sdk import ObjectStoragePath

from airflow_provider_dmjy.client.media import DownloadLimits, MediaClient, media_error, redact_url
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyServerError,
    DmjyValidationError,
)
from airflow_provider_dmjy.operators.destination import PartFile

CDN = "https://cdn.example.com/media/v.mp4"
BODY = b"\x00\x00\x00\x18ftypmp42" + b"x" * 200
FAST = DownloadLimits(retry_wait=0.0)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("attempts", 0),
        ("attempts", 2.0),
        ("retry_wait", -1.0),
        ("retry_wait", float("nan")),
        ("timeout", 0.0),
        ("min_rate", float("inf")),
        ("max_bytes", True),
    ],
)
def test_limits_refuse_unusable_values(argument: str, value: Any) -> None:
    with pytest.raises(DmjyValidationError, match=argument):
        DownloadLimits(**{argument: value})


def test_the_deadline_grows_with_the_size() -> None:
    limits = DownloadLimits(min_rate=1000, min_deadline=60.0)
    assert limits.deadline(1000) == 60.0 and limits.deadline(600_000) == 600.0


def test_a_signed_url_is_redacted() -> None:
    assert (
        redact_url("https://user:pw@cdn.example.com/a/v.mp4?token=t0k#x") == "https://cdn.example.com/a/v.mp4"
    )


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (404, DmjyNotFoundError, False),
        (403, DmjyPermissionError, False),
        (401, DmjyPermissionError, False),
        (410, DmjyApiError, False),
        (408, DmjyServerError, True),
        (429, DmjyServerError, True),
        (503, DmjyServerError, True),
    ],
)
def test_a_media_status_maps_to_one_error(status: int, kind: type[Exception], retryable: bool) -> None:
    error = media_error(status, "Reason", "https://cdn.example.com/v.mp4")
    assert type(error) is kind and error.retryable is retryable


@responses.activate
def test_an_attempt_after_a_truncated_one_starts_the_file_over() -> None:
    cut = {"Content-Length": str(len(BODY))}
    responses.add(responses.GET, CDN, body=BODY[:50], headers=cut, auto_calculate_content_length=False)
    responses.add(responses.GET, CDN, body=BODY)
    sink = io.BytesIO()
    with MediaClient() as media:
        assert media.download(CDN + "?token=t0k", sink, FAST) == len(BODY)
    assert sink.getvalue() == BODY and len(responses.calls) == 2  # not the first 50 bytes twice


@responses.activate
def test_a_final_error_is_not_retried_and_carries_no_token() -> None:
    responses.add(responses.GET, CDN, status=404)
    with MediaClient() as media, pytest.raises(DmjyNotFoundError) as raised:
        media.download(CDN + "?token=t0k", io.BytesIO(), FAST)
    assert len(responses.calls) == 1 and "t0k" not in str(raised.value)


@responses.activate
def test_the_last_retryable_failure_is_raised() -> None:
    responses.add(responses.GET, CDN, status=503)
    with MediaClient() as media, pytest.raises(DmjyServerError):
        media.download(CDN, io.BytesIO(), DownloadLimits(attempts=2, retry_wait=0.0))
    assert len(responses.calls) == 2


def test_a_part_file_starts_over_by_reopening(tmp_path: Path) -> None:
    path = ObjectStoragePath(f"file://{tmp_path}/.v.mp4.part")
    with PartFile(path) as part:
        part.write(b"stale bytes")
        assert part.seek(0) == 0 and part.truncate() == 0
        part.write(b"fresh")
        with pytest.raises(OSError, match="only goes back to its start"):
            part.seek(3)
    assert (tmp_path / ".v.mp4.part").read_bytes() == b"fresh"
