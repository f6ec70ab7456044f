"""The flagship DAG end to end against the simulator, with ``review="auto"`` (``dag.test()``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_dmjy
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

EXAMPLES = Path(airflow_provider_dmjy.__file__).parent / "example_dags"
CATALOG_SKUS = ["CUP-001", "LAMP-002", "BAG-003", "TEA-004", "EAR-005", "MAT-006", "PLANT-009", "FAN-010"]


@pytest.fixture
def flagship(
    dmjy_conn: SimulatorHandle, load_dag: Callable[[str, str], Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The flagship DAG, loaded from the dags folder, with fast renders and polls."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("dmjy_creates", slots=4, description="test", include_deferred=False)
    dmjy_conn.configure(render_seconds=0.3, queue_seconds=0.1)
    monkeypatch.setenv("DMJY_POLL_INTERVAL", "0.1")
    monkeypatch.setenv("DMJY_RETRY_DELAY", "0")
    monkeypatch.setenv("DMJY_CATALOG", (EXAMPLES / "data" / "products.csv").as_uri())
    return load_dag("dmjy_daily_product_videos", (EXAMPLES / "dmjy_daily_product_videos.py").read_text())


def _run(dag: Any, archive: Path, **conf: Any) -> tuple[Any, dict[str, Any], Path]:
    """One run with ``review="auto"``; its state, its manifest and its folder."""
    before = set(archive.glob("*/*/manifest.json"))
    run = dag.test(run_conf={"archive_root": archive.as_uri(), "review": "auto", **conf})
    manifests = set(archive.glob("*/*/manifest.json")) - before
    assert len(manifests) == 1, f"no report (run {run.state})"
    manifest = next(iter(manifests))
    return run, json.loads(manifest.read_text(encoding="utf-8")), manifest.parent


def _states(run: Any, task_id: str) -> dict[str, str | None]:
    """``rendered map index -> state`` of a mapped task's instances in ``run``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = (
            session.query(TaskInstance)
            .filter(TaskInstance.run_id == run.run_id, TaskInstance.task_id == task_id)
            .all()
        )
        return {ti.rendered_map_index or str(ti.map_index): ti.state for ti in instances}


def test_two_runs_of_a_day_pay_once_and_keep_a_folder_each(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    run, manifest, folder = _run(flagship, tmp_path)
    assert run.state == "success", manifest["summary"]
    assert [p["sku"] for p in manifest["products"]] == CATALOG_SKUS
    assert {p["status"] for p in manifest["products"]} == {"completed"}
    assert not any(p["reused"] for p in manifest["products"])
    assert [p["credits"] for p in manifest["products"]] == [100.0] * 8
    assert [row["sku"] for row in manifest["skipped"]] == ["PEN-007", "SOAP-008"]
    assert dmjy_conn.state()["videos_created"] == 8
    # The folder is <archive>/<day>/<run id>/ and holds exactly what the report lists.
    assert folder.parent.parent == tmp_path and folder.name != folder.parent.name
    on_disk = sorted(path.name for path in folder.iterdir())
    assert on_disk == sorted(manifest["files"]) and manifest["other_files"] == []
    assert all((folder / p["video_file"]).read_bytes()[4:8] == b"ftyp" for p in manifest["products"])
    # review="auto" approved every video: each published once, with a record.
    published = tmp_path / "published"
    assert all(p["published"] for p in manifest["products"])
    records = sorted(published.glob("*.json"))
    assert len(records) == 8 and len(list(published.glob("*.mp4"))) == 8
    record = json.loads(records[0].read_text(encoding="utf-8"))
    assert record["run_id"] == run.run_id and record["approved_by"] is None

    # A budget just above the first run's 800 credits: the second run reuses all 8 and fits it.
    again, manifest2, folder2 = _run(flagship, tmp_path, daily_budget_credits=801)
    assert again.state == "success", manifest2["summary"]
    assert manifest2["estimate_credits"] == 0 and manifest2["budget_credits"] == 801
    assert dmjy_conn.state()["videos_created"] == 8  # the second run of the day paid for nothing
    assert all(p["reused"] and p["credits"] == 0 for p in manifest2["products"])
    assert [p["video_id"] for p in manifest2["products"]] == [p["video_id"] for p in manifest["products"]]
    assert folder2 != folder and folder2.parent == folder.parent
    assert sorted(path.name for path in folder2.iterdir()) == sorted(manifest2["files"])
    # Publishing is idempotent: the same videos again make no second record.
    assert sorted(published.glob("*.json")) == records
    assert json.loads(records[0].read_text(encoding="utf-8"))["run_id"] == run.run_id


def test_mapped_tasks_show_sku_and_name(flagship: Any, tmp_path: Path) -> None:
    run, manifest, _ = _run(flagship, tmp_path, max_videos=3)
    names = {f"{p['sku']} {p['name']}" for p in manifest["products"]}
    for task_id in ("upsert_templates", "create_video", "archive_video"):
        assert set(_states(run, task_id)) == names, task_id
    assert _states(run, "render_again") == {"-1": "skipped"}  # nobody chose to render again


def test_a_budget_too_small_stops_the_run_before_any_create(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    run, manifest, _ = _run(flagship, tmp_path, daily_budget_credits=500)
    assert run.state == "failed"
    assert dmjy_conn.state()["videos_created"] == 0
    assert _states(run, "check_balance") == {"-1": "failed"}
    assert manifest["state"] == "failed" and manifest["budget_credits"] == 500
    assert manifest["estimate_credits"] == 800 and manifest["totals"]["completed"] == 0


def test_the_spend_is_approved_without_asking_below_the_threshold(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.standard.operators import hitl

    def asked(**_: Any) -> None:
        raise AssertionError("a person was asked")  # fails the task at once instead of waiting

    monkeypatch.setattr(hitl, "upsert_hitl_detail", asked)
    # review="human" would ask; the estimate (300 credits) is within approval_above_credits. The
    # review itself (a human one) is not this test's business.
    conf = {"archive_root": tmp_path.as_uri(), "review": "human", "max_videos": 3}
    run = flagship.test(
        run_conf={**conf, "approval_above_credits": 300}, mark_success_pattern="review_videos"
    )
    assert _states(run, "approve_spend") == {"-1": "success"}
    assert dmjy_conn.state()["videos_created"] == 3


def test_a_catalog_row_with_a_bad_price_is_skipped_not_failed(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    header = "sku,name,name_en,price,highlights,image_urls\n"
    image = "https://images.example.com/p.jpg"
    rows = [f"OK-1,好,Good,9.90,轻,{image}", f"NEG-2,负,Neg,-5,x,{image}", f"NAN-3,非,NaN,NaN,x,{image}"]
    rows.append(f"INF-4,无穷,Inf,inf,x,{image}")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    run, manifest, _ = _run(flagship, tmp_path / "archive", catalog=catalog.as_uri())
    assert run.state == "success", manifest["summary"]
    assert [p["sku"] for p in manifest["products"]] == ["OK-1"]
    assert [(row["sku"], "price" in row["problem"]) for row in manifest["skipped"]] == [
        ("NEG-2", True),
        ("NAN-3", True),
        ("INF-4", True),
    ]
    assert _states(run, "upsert_templates") == {"OK-1 好": "success"}
    assert dmjy_conn.state()["videos_created"] == 1


def test_a_variation_renders_again_what_a_run_already_has(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    _run(flagship, tmp_path, max_videos=2)
    assert dmjy_conn.state()["videos_created"] == 2
    # What render_again asks for: the chosen SKUs, the next variation (another script).
    run, manifest, _ = _run(flagship, tmp_path, skus=["LAMP-002"], variation=1)
    assert run.state == "success", manifest["summary"]
    [product] = manifest["products"]
    assert product["sku"] == "LAMP-002" and not product["reused"]
    assert manifest["estimate_credits"] == 100  # another script: nothing to reuse, one to pay
    assert "日常使用场景" in product["description"]
    assert dmjy_conn.state()["videos_created"] == 3


def test_failed_videos_are_reported_and_only_fail_the_run_above_the_share(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    dmjy_conn.configure(fail_rate=1.0)
    run, manifest, _ = _run(flagship, tmp_path / "tolerant", max_failed_share=1.0, max_videos=3)
    assert run.state == "success"  # every render failed, but the run tolerates it
    assert [p["status"] for p in manifest["products"]] == ["failed"] * 3
    assert all("Rendering failed" in p["error"] for p in manifest["products"])
    run, manifest, _ = _run(flagship, tmp_path / "strict", max_failed_share=0.5, max_videos=2)
    assert run.state == "failed" and manifest["state"] == "failed"
    assert [p["status"] for p in manifest["products"]] == ["failed"] * 2


def test_render_again_starts_a_run_without_a_logical_date(load_dag: Callable[[str, str], Any]) -> None:
    # The flagship's render_again step, fed the conf a reviewer's choice makes (ReviewDecision).
    dag = load_dag(
        "dmjy_render_again_probe",
        """
        import pendulum
        from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
        from airflow.sdk import DAG, task
        from airflow_provider_dmjy.operators.review_results import ReviewDecision

        with DAG("dmjy_render_again_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
            @task.short_circuit
            def chosen_again():
                decision = ReviewDecision(approved=True, render_again=("CUP-001", "TEA-004"))
                return decision.render_again_conf({"variation": 0, "duration": 10})

            TriggerDagRunOperator(
                task_id="render_again", trigger_dag_id=dag.dag_id, conf=chosen_again(), logical_date=None
            )
        """,
    )
    from airflow.models.dagrun import DagRun

    first = dag.test()
    assert _states(first, "render_again") == {"-1": "success"}
    runs = [run for run in DagRun.find(dag_id="dmjy_render_again_probe") if run.run_id != first.run_id]
    assert len(runs) == 1
    assert runs[0].conf == {"variation": 1, "duration": 10, "skus": ["CUP-001", "TEA-004"]}
    assert runs[0].logical_date is None
