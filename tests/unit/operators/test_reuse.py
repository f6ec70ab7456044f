"""operators/reuse.py: what ``reuse`` and ``reuse_within`` accept, before any request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.reuse import check_reuse, reuse_cutoff, reuse_since

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.timedelta(days=1), NOW - 86400),
        (3600, NOW - 3600),
        (0.5, NOW - 0.5),
        ("86400", NOW - 86400),  # a rendered template's digits: seconds
        (" 60 ", NOW - 60),
        ("2027-01-15T00:00:00Z", dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp()),
        ("2027-01-15T08:00:00+08:00", dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp()),
        (
            dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc),
            dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp(),
        ),
    ],
)
def test_reuse_within_accepts_a_window_or_an_instant(value: Any, expected: float) -> None:
    assert reuse_cutoff(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        -1,
        "-5",
        dt.timedelta(seconds=-1),
        float("inf"),
        float("nan"),
        "nan",
        True,
        None,
        "",
        "yesterday",
        "2027-01-15T00:00:00",
        dt.datetime(2027, 1, 15),
        [60],
    ],
)
def test_reuse_within_refuses_anything_else(value: Any) -> None:
    with pytest.raises(DmjyValidationError) as info:
        reuse_cutoff(value, now=NOW)
    assert info.value.field == "reuse_within"


def test_reuse_never_means_no_cut_off_and_no_search() -> None:
    assert reuse_since("never", dt.timedelta(days=1), now=NOW) is None
    assert reuse_since("completed", 60, now=NOW) == NOW - 60
    with pytest.raises(DmjyValidationError):
        reuse_since("never", "garbage")  # still checked: bad input is refused whatever the mode
    with pytest.raises(DmjyValidationError):
        check_reuse("Completed")
