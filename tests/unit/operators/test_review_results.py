"""operators/review_results.py: what a review's answer decides, and the vendor's values it passes
on (the review body, the report, the credits) as this package parsed them, never raw."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dmjy.client.models import Video
from airflow_provider_dmjy.operators.review import review_body
from airflow_provider_dmjy.operators.review_results import ReviewDecision, product_entries, product_results

PRODUCTS = [{"sku": "CUP-001", "name": "cup"}]
EVIL = "<img src=x onerror=alert(document.domain)> [win a prize](http://evil.example/phish)"


@pytest.mark.parametrize(
    ("options", "approved"),
    [
        (["Approve"], True),
        (["Reject"], False),
        (["Reject", "Approve"], False),  # Airflow 3.1's REST API takes both: never an approval
        (["Approve", "Approve"], False),
        ([], False),
    ],
)
def test_only_a_lone_approve_approves(options: list[str], approved: bool) -> None:
    decision = ReviewDecision.from_answer({"chosen_options": options, "params_input": {}})
    assert decision is not None and decision.approved is approved
    assert decision.publishes("CUP-001") is approved


def _record(duration: object, *, reused: bool = False) -> dict[str, Any]:
    """What the create task pushes as ``dmjy_video``: the vendor's fields as they came, and more."""
    answer = {
        "id": "task_0",
        "status": "completed",
        "videoUrl": "http://media.example/v.mp4",
        "thumbnailUrl": "http://media.example/t.jpg",
        "duration": duration,
        "aspectRatio": "9:16",
    }
    return {**Video.from_api(answer).to_dict(), "map_index": 0, "fingerprint": "0" * 16, "reused": reused}


@pytest.mark.parametrize("duration", [EVIL, "10", 10.5, True, [10]])
def test_a_duration_the_package_cannot_read_is_none_downstream(duration: object) -> None:
    [entry] = product_entries(PRODUCTS, [_record(duration)])
    assert entry["duration"] is None
    body = review_body([entry])
    assert "](http://evil.example" not in body and "<img" not in body
    [result] = product_results(PRODUCTS, [_record(duration)], credits_per_second=10)
    assert result.duration is None and result.credits == 0.0


def test_the_duration_falls_back_to_what_the_product_asked_for() -> None:
    products = [{**PRODUCTS[0], "duration": "10"}]  # a rendered form value: digits
    [result] = product_results(products, [_record("10")], credits_per_second=10)
    assert (result.duration, result.credits) == (10, 100.0)
    [read] = product_results(PRODUCTS, [_record(8)], credits_per_second=10)
    assert (read.duration, read.credits) == (8, 80.0)
    [odd] = product_results([{**PRODUCTS[0], "duration": EVIL}], [_record(None)], credits_per_second=10)
    assert (odd.duration, odd.credits) == (None, 0.0)
