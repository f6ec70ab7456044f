"""What one status poll pays above aiohttp (issue 10 item 5): no work that the answer does not need."""

from __future__ import annotations

import email.utils
import time
from datetime import datetime

import pytest

from airflow_provider_dmjy.client import signing
from airflow_provider_dmjy.client.signing import SkewClock


def test_a_repeated_date_header_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every answer carries a Date with one-second resolution: a triggerer polling hundreds of times a
    # second sees the same value again and again, and parsing it was a sixth of a poll's CPU.
    parsed: list[str] = []
    original = signing.parsedate_to_datetime

    def counting(value: str) -> datetime:
        parsed.append(value)
        return original(value)

    monkeypatch.setattr(signing, "parsedate_to_datetime", counting)
    signing._date_seconds.cache_clear()
    now = time.time()
    ahead = email.utils.formatdate(now + 600, usegmt=True)
    clocks = [SkewClock() for _ in range(50)]
    assert all(clock.observe_date_header(ahead, received_at=now) for clock in clocks)
    assert all(599 <= clock.offset_seconds <= 601 for clock in clocks)  # each clock still adopts it
    assert parsed == [ahead]


def test_an_unreadable_date_is_remembered_as_unreadable() -> None:
    signing._date_seconds.cache_clear()
    clock = SkewClock()
    for _ in range(3):
        assert not clock.observe_date_header("not a date")
    assert clock.offset_seconds == 0
