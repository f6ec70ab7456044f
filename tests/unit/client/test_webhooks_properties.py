"""Property tests: anything signed verifies; any change to what the body says does not; whitespace
re-formatting still verifies through the JSON.stringify re-serialisation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_dmjy.webhooks import (
    DmjyWebhookVerificationError,
    js_stringify,
    sign_webhook,
    verify_webhook,
)

NOW = 1_704_067_200
SECRET = "sim_secret"

keys = st.one_of(
    st.text(max_size=8), st.integers(0, 5000).map(str), st.sampled_from(["01", "-1", "1.5", "é"])
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
data_objects = st.dictionaries(keys, values, max_size=6)
events = st.sampled_from(
    ["task.completed", "task.failed", "account.low_balance", "account.insufficient_balance"]
)


def body_of(event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "timestamp": NOW, "data": data}


def js_signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """What the vendor does: sign JSON.stringify(body) and send exactly that."""
    text = js_stringify(json.loads(json.dumps(body), parse_int=float)).encode("utf-8")
    return text, {"X-Webhook-Signature": sign_webhook(SECRET, text), "X-Webhook-Timestamp": str(NOW)}


def verifies(raw: bytes, headers: dict[str, str]) -> bool:
    try:
        verify_webhook(raw, headers, SECRET, now=NOW)
    except DmjyWebhookVerificationError:
        return False
    return True


def canonical(body: Any) -> str:
    return js_stringify(json.loads(json.dumps(body), parse_int=float))


@settings(max_examples=150, deadline=None)
@given(events, data_objects)
def test_anything_signed_verifies(event: str, data: dict[str, Any]) -> None:
    raw, headers = js_signed(body_of(event, data))
    assert verifies(raw, headers)


@settings(max_examples=150, deadline=None)
@given(events, data_objects, st.sampled_from([None, 1, 2, 4, "\t"]), st.booleans())
def test_whitespace_reformatting_verifies_through_the_fallback(
    event: str, data: dict[str, Any], indent: int | str | None, ascii_only: bool
) -> None:
    body = body_of(event, data)
    raw, headers = js_signed(body)
    reformatted = json.dumps(json.loads(raw), indent=indent, ensure_ascii=ascii_only) + "\n"
    assume(reformatted.encode() != raw)
    result = verify_webhook(reformatted.encode("utf-8"), headers, SECRET, now=NOW)
    assert result.signed_over == "reserialized"
    # A proxy's copy is the same delivery: a replay deduplicated by the key stays a replay.
    assert result.dedupe_key == verify_webhook(raw, headers, SECRET, now=NOW).dedupe_key


def mutations(body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies that say something else: a changed value, a renamed, added or removed field."""

    def change(draw: Any) -> dict[str, Any]:
        changed = json.loads(json.dumps(body))
        data = changed["data"]
        kind = draw(st.sampled_from(["value", "key", "add", "remove", "event"]))
        if kind in ("value", "key", "remove") and not data:
            kind = "add"
        if kind == "value":
            key = draw(st.sampled_from(sorted(data)))
            data[key] = draw(values)
        elif kind == "key":
            key = draw(st.sampled_from(sorted(data)))
            data[key + draw(st.text(min_size=1, max_size=3))] = data.pop(key)
        elif kind == "add":
            data[draw(keys)] = draw(values)
        elif kind == "remove":
            del data[draw(st.sampled_from(sorted(data)))]
        else:
            changed["event"] = draw(events)
        return changed

    return st.composite(lambda draw: change(draw))()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), events, data_objects)
def test_any_change_to_the_content_fails(data: st.DataObject, event: str, fields: dict[str, Any]) -> None:
    body = body_of(event, fields)
    _, headers = js_signed(body)
    changed = data.draw(mutations(body))
    # A change that JavaScript cannot see (1 -> 1.0, a key set to its own value) is not a change.
    assume(canonical(changed) != canonical(body))
    tampered = json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert not verifies(tampered, headers)


@settings(max_examples=50, deadline=None)
@given(st.integers(-10_000, 10_000), st.booleans())
def test_timestamp_window(offset: int, milliseconds: bool) -> None:
    now = time.time()
    ts = int(now) + offset
    body = {"event": "task.completed", "timestamp": ts * 1000 if milliseconds else ts, "data": {}}
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"X-Webhook-Signature": sign_webhook(SECRET, raw)}
    if abs(ts - now) <= 300:
        verify_webhook(raw, headers, SECRET, tolerance=300, now=now)
    else:
        with pytest.raises(DmjyWebhookVerificationError, match="timestamp") as caught:
            verify_webhook(raw, headers, SECRET, tolerance=300, now=now)
        assert caught.value.reason == "timestamp"


@pytest.mark.parametrize("secret", ["other", "sim_secret ", "SIM_SECRET"])
def test_other_secrets_fail(secret: str) -> None:
    raw, headers = js_signed(body_of("task.completed", {"taskId": "t"}))
    with pytest.raises(DmjyWebhookVerificationError):
        verify_webhook(raw, headers, secret, now=NOW)
