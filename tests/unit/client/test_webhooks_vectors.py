"""verify_webhook and js_stringify against vectors made by Node.js itself (JSON.stringify + createHmac)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy.client import webhooks as client_webhooks
from airflow_provider_dmjy.client.jsonstringify import js_number, js_parse, js_stringify
from airflow_provider_dmjy.webhooks import (
    DmjyWebhookVerificationError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    sign_webhook,
    verify_webhook,
)

VECTORS_PATH = Path(__file__).parents[2] / "fixtures" / "webhook_vectors.json"

_VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
ERRORS = {
    "signature": WebhookSignatureError,
    "timestamp": WebhookTimestampError,
    "payload": WebhookPayloadError,
}


@pytest.mark.parametrize("case", _VECTORS["deliveries"], ids=lambda c: c["name"])
def test_delivery_vector(case: dict[str, Any]) -> None:
    body = case["body"].encode("utf-8")
    if case["expect"] == "ok":
        event = verify_webhook(body, case["headers"], case["secret"], now=case["now"])
        assert event.signed_over == case["signed_over"]
        assert event.event == case["parsed_event"]
        assert event.payload == json.loads(case["body"])
        assert event.data == event.payload["data"]
        assert abs(event.timestamp - case["now"]) < 300
        # The delivery's identity is the digest of exactly what the signature covers.
        signed = body if event.signed_over == "raw" else js_stringify(js_parse(case["body"])).encode()
        assert event.dedupe_key == "sha256:" + hashlib.sha256(signed).hexdigest()
        assert event.timestamp_signed
    else:
        with pytest.raises(ERRORS[case["expect"]]) as caught:
            verify_webhook(body, case["headers"], case["secret"], now=case["now"])
        assert isinstance(caught.value, DmjyWebhookVerificationError)
        assert caught.value.reason == case["expect"]


@pytest.mark.parametrize("case", _VECTORS["stringify"], ids=lambda c: c["input"][:40])
def test_stringify_vector(case: dict[str, str]) -> None:
    assert js_stringify(js_parse(case["input"])) == case["output"]


def test_number_vectors() -> None:
    wrong = [(n["input"], n["output"], js_number(float(n["input"]))) for n in _VECTORS["numbers"]]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert len(_VECTORS["numbers"]) > 900
    assert wrong == []


def test_vectors_cover_the_issue() -> None:
    names = {c["name"] for c in _VECTORS["deliveries"]}
    bodies = "".join(c["body"] for c in _VECTORS["deliveries"])
    assert "余额" in bodies and "4294967294" in bodies and "1e+21" in bodies
    for needed in (
        "tampered_value",
        "wrong_secret",
        "stale_timestamp",
        "future_timestamp",
        "missing_signature",
    ):
        assert needed in names
    assert any(name.startswith("not_json") for name in names)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (15.0, "15"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e300, "1.5e+300"),
    ],
)
def test_js_number_examples(value: float, text: str) -> None:
    assert js_number(value) == text


def _case(name: str) -> dict[str, Any]:
    return next(c for c in _VECTORS["deliveries"] if c["name"] == name)


def test_messages_never_echo_the_secret_or_the_expected_signature() -> None:
    case = _case("tampered_value")
    body = case["body"].encode("utf-8")
    expected = sign_webhook(case["secret"], body)
    for headers in (case["headers"], {**case["headers"], "X-Webhook-Signature": "nothex"}, {}):
        with pytest.raises(DmjyWebhookVerificationError) as caught:
            verify_webhook(body, headers, case["secret"], now=case["now"])
        text = str(caught.value) + repr(caught.value)
        assert case["secret"] not in text and expected not in text and expected.upper() not in text


def test_headers_are_case_insensitive_and_accept_pairs() -> None:
    case = _case("task_completed")
    lowered = [(k.lower(), v) for k, v in case["headers"].items()]
    event = verify_webhook(case["body"].encode(), lowered, case["secret"], now=case["now"])
    assert event.task_id == "task_abc123" and event.is_task_event and not event.is_account_event
    assert event.dedupe_key == "sha256:" + hashlib.sha256(case["body"].encode()).hexdigest()


def _unsigned_timestamp_delivery(header_ts: int) -> tuple[bytes, dict[str, str]]:
    body = b'{"event":"task.completed","data":{"taskId":"task_no_ts"}}'
    return body, {"X-Webhook-Signature": sign_webhook("s3cret", body), "X-Webhook-Timestamp": str(header_ts)}


def test_a_body_without_a_signed_timestamp_is_refused() -> None:
    body, headers = _unsigned_timestamp_delivery(1_704_067_200)
    with pytest.raises(WebhookTimestampError, match='no signed "timestamp"'):
        verify_webhook(body, headers, "s3cret", now=1_704_067_200)


def test_an_unsigned_timestamp_when_allowed_keeps_the_key_of_the_signed_bytes() -> None:
    """Allowed, the header is checked (it is all there is) but never part of the delivery's key."""
    keys = set()
    for header_ts in (1_704_067_200, 1_704_067_260, 1_704_999_999):
        body, headers = _unsigned_timestamp_delivery(header_ts)
        event = verify_webhook(body, headers, "s3cret", now=header_ts, require_signed_timestamp=False)
        assert not event.timestamp_signed and event.timestamp == header_ts
        keys.add(event.dedupe_key)
    assert keys == {"sha256:" + hashlib.sha256(body).hexdigest()}
    with pytest.raises(WebhookTimestampError, match="header timestamp"):
        verify_webhook(body, headers, "s3cret", now=1_704_067_200, require_signed_timestamp=False)


def test_tolerance_is_configurable() -> None:
    case = _case("stale_timestamp")
    event = verify_webhook(
        case["body"].encode(), case["headers"], case["secret"], tolerance=400, now=case["now"]
    )
    assert event.timestamp == case["now"] - 301


def test_empty_secret_is_refused() -> None:
    case = _case("task_completed")
    with pytest.raises(WebhookSignatureError):
        verify_webhook(case["body"].encode(), case["headers"], "", now=case["now"])


def test_same_comparisons_for_any_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong, a malformed, a short and a right signature all run the same constant-time comparisons
    on 32-byte digests: the response time says nothing about the signature."""
    case = _case("task_completed")
    body = case["body"].encode()
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(client_webhooks.hmac, "compare_digest", counting)
    good = case["headers"]["X-Webhook-Signature"]
    seen = []
    for signature in (good, "0" * 64, "ab", "z" * 64, good[:-1] + ("0" if good[-1] != "0" else "1")):
        calls.clear()
        with contextlib.suppress(WebhookSignatureError):
            verify_webhook(
                body, {**case["headers"], "X-Webhook-Signature": signature}, case["secret"], now=case["now"]
            )
        seen.append(list(calls))
    assert all(c == [(32, 32), (32, 32)] for c in seen)
