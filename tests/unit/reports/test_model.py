"""The report's data: outcomes, counts, the summary line's figures, and the dict round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_dmjy.reports import ProductResult, RunReport, SkippedRow, format_credits


def product(sku: str, status: str = "completed", **values: object) -> ProductResult:
    return ProductResult(sku=sku, name=f"商品 {sku}", status=status, **values)  # type: ignore[arg-type]


def eight_products() -> RunReport:
    """The issue's example: 7 completed (2 reused), 1 failed, 2 rows skipped."""
    products = [product(f"NEW-{n}", credits=100) for n in range(5)]
    products += [product(f"OLD-{n}", reused=True, credits=0) for n in range(2)]
    products.append(product("BAD-1", status="failed", error="Image too small", credits=0))
    return RunReport(
        dag_id="dmjy_daily_product_videos",
        run_id="manual__2026-03-02T01:00:03+00:00",
        run_after="2026-03-02T09:00:03+08:00",
        state="failed",
        products=products,
        skipped=[SkippedRow(7, "PEN-007", "missing name"), SkippedRow(8, None, "missing sku")],
        estimate_credits=800,
        budget_credits=5000,
        usage_today_credits=1200,
    )


def test_the_summary_line_gives_every_figure() -> None:
    report = eight_products()
    assert (report.completed, report.failed, report.reused, report.spent_credits) == (7, 1, 2, 500.0)
    assert report.summary_line() == (
        "8 products: 7 completed (2 reused), 1 failed, 2 rows skipped; "
        "500 of 800 estimated credits spent (daily budget 5000, 1200 used before this run); run failed"
    )


def test_the_summary_line_without_estimate_budget_or_skips() -> None:
    report = RunReport(
        dag_id="d",
        run_id="r",
        run_after="2026-03-02T00:00:00+00:00",
        state="success",
        products=[product("A", credits=12.5, published=True)],
    )
    assert report.summary_line() == (
        "1 product: 1 completed, 0 failed; 12.5 credits spent; 1 published; run succeeded"
    )


def test_waiting_and_not_created_products_are_counted_apart() -> None:
    report = RunReport(
        dag_id="d",
        run_id="r",
        run_after="2026-03-02T00:00:00+00:00",
        state="awaiting review",
        products=[
            product("A", status="processing"),
            product("B", status="not created"),
            # Refused before any video existed: a failure, whatever the status says.
            product("C", status="not created", error="description too long"),
            product("D", status="timeout"),
        ],
        skipped=[SkippedRow(1, "X", "bad price")],
    )
    assert [p.outcome for p in report.products] == ["waiting", "not created", "failed", "failed"]
    assert report.summary_line() == (
        "4 products: 0 completed, 2 failed, 1 still rendering, 1 not created, 1 row skipped; "
        "0 credits spent; run awaiting review"
    )


def test_a_reused_video_that_failed_is_not_counted_as_reused() -> None:
    report = RunReport(
        dag_id="d", run_id="r", run_after="x", products=[product("A", status="failed", reused=True)]
    )
    assert (report.reused, report.failed) == (0, 1)


@pytest.mark.parametrize(
    ("value", "text"), [(500, "500"), (500.0, "500"), (12.5, "12.5"), (1 / 3, "0.33"), (1e7, "10000000")]
)
def test_format_credits(value: float, text: str) -> None:
    assert format_credits(value) == text


def test_to_dict_is_json_and_from_dict_inverts_it() -> None:
    report = eight_products()
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert data["products"][0]["name"] == "商品 NEW-0"
    assert RunReport.from_dict(data) == report


def test_from_dict_ignores_unknown_keys_and_fills_defaults() -> None:
    data = {
        "dag_id": "d",
        "run_id": "r",
        "run_after": "2026-03-02T00:00:00+00:00",
        "summary": "written by a newer version",
        "products": [{"sku": 7, "name": "x", "duration": "10", "credits": "100", "extra": 1}],
        "skipped": [{"row": "3", "sku": None, "problem": "no sku"}],
    }
    report = RunReport.from_dict(data)
    assert report.products == [ProductResult(sku="7", name="x", duration=10, credits=100.0)]
    assert report.skipped == [SkippedRow(row=3, sku=None, problem="no sku")]
    assert (report.state, report.run_url, report.estimate_credits) == ("running", None, None)


def test_the_package_imports_no_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.reports\n"
        "print('AIRFLOW=' + ','.join(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip().splitlines()[-1] == "AIRFLOW="
