"""Signing: the vendor's test vector, signatures checked against Node.js's crypto, the skew clock."""

from __future__ import annotations

import email.utils
import time

import pytest

from airflow_provider_dmjy.client.signing import SkewClock, auth_headers, sign, sign_string, signing_path


def test_vendor_sign_string_vector() -> None:
    # The example on the vendor's page, byte for byte.
    assert (
        sign_string("POST", "/api/v1/videos", "1704067200000", "mk_your_api_key_here")
        == "POST\n/api/v1/videos\n1704067200000\nmk_your_api_key_here"
    )


@pytest.mark.parametrize(
    ("secret", "method", "path", "key", "expected"),
    [
        # Produced by Node.js: crypto.createHmac('sha256', secret).update(signString).digest('hex'),
        # the vendor's own sample code.
        (
            "your_api_secret_here",
            "POST",
            "/api/v1/videos",
            "mk_your_api_key_here",
            "ad89c8031f553802ac062e9f204caa177fc0682b324e588231591788ca2978fe",
        ),
        (
            "sim_secret",
            "GET",
            "/api/v1/videos/task_abc123",
            "mk_sim_key",
            "936814b1f18fd047ee2e48656d33bce89475890a3efb49d5609e10391465b38e",
        ),
    ],
)
def test_signature_matches_node_crypto(secret: str, method: str, path: str, key: str, expected: str) -> None:
    assert sign(secret, method, path, "1704067200000", key) == expected


def test_method_is_upper_cased() -> None:
    assert sign("s", "post", "/p", "1", "k") == sign("s", "POST", "/p", "1", "k")


def test_signing_path_drops_query_unless_asked() -> None:
    url = "http://127.0.0.1:8787/api/v1/videos?page=2&limit=20"
    assert signing_path(url) == "/api/v1/videos"
    assert signing_path(url, sign_query_string=True) == "/api/v1/videos?page=2&limit=20"
    assert signing_path("http://127.0.0.1:8787/api/v1/videos", sign_query_string=True) == "/api/v1/videos"


def test_auth_headers_signature_mode_has_no_secret() -> None:
    headers = auth_headers(
        auth_mode="signature",
        api_key="mk_k",
        api_secret="very-secret",
        method="GET",
        url="https://dmjyai.vip/api/v1/account",
        clock=SkewClock(),
    )
    assert set(headers) == {"X-API-Key", "X-Timestamp", "X-Signature"}
    assert "very-secret" not in str(headers)
    assert abs(int(headers["X-Timestamp"]) - time.time() * 1000) < 5000
    assert headers["X-Signature"] == sign(
        "very-secret", "GET", "/api/v1/account", headers["X-Timestamp"], "mk_k"
    )


def test_auth_headers_header_mode() -> None:
    headers = auth_headers(
        auth_mode="header",
        api_key="mk_k",
        api_secret="s",
        method="GET",
        url="https://x/api/v1",
        clock=SkewClock(),
    )
    assert headers == {"X-API-Key": "mk_k", "X-API-Secret": "s"}


def test_skew_clock_adopts_large_offsets_only() -> None:
    clock = SkewClock()
    now = time.time()
    assert not clock.observe_date_header(email.utils.formatdate(now + 10, usegmt=True), received_at=now)
    assert clock.offset_seconds == 0
    assert clock.observe_date_header(email.utils.formatdate(now + 600, usegmt=True), received_at=now)
    assert 599 <= clock.offset_seconds <= 601
    assert abs(clock.now() - (time.time() + 600)) < 2
    # Back in step: the offset goes back to zero.
    assert clock.observe_date_header(email.utils.formatdate(now, usegmt=True), received_at=now)
    assert clock.offset_seconds == 0


@pytest.mark.parametrize("value", [None, "", "not a date"])
def test_skew_clock_ignores_bad_dates(value: str | None) -> None:
    clock = SkewClock()
    assert not clock.observe_date_header(value)
    assert clock.offset_seconds == 0
