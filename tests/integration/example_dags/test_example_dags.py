"""The example DAGs parse cleanly (no import error, no deprecation warning) and run end to end."""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_dmjy
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

#: The files themselves (the checkout's top-level example_dags/ links here), as the wheel ships them.
EXAMPLES = Path(airflow_provider_dmjy.__file__).parent / "example_dags"
DAG_FILES = sorted(EXAMPLES.glob("*.py"))


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_example_dag_parses_without_deprecation_warnings(path: Path) -> None:
    # Import Airflow's own modules first: only what the DAG file itself triggers is judged.
    import airflow.sdk  # noqa: F401

    import airflow_provider_dmjy.operators.video  # noqa: F401

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _import(path)
    deprecations = [
        w for w in caught if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
    ]
    assert deprecations == [], [str(w.message) for w in deprecations]
    assert module.dag.dag_id == path.stem
    assert module.dag.doc_md


def test_dagbag_has_no_import_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert {"dmjy_daily_product_videos", "dmjy_video_housekeeping"} <= set(bag.dag_ids)


@pytest.fixture
def flagship(
    dmjy_conn: SimulatorHandle, load_dag: Callable[[str, str], Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The flagship DAG, loaded from the dags folder, with fast renders and polls."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("dmjy_creates", slots=4, description="test", include_deferred=False)
    dmjy_conn.configure(render_seconds=0.3, queue_seconds=0.1)
    monkeypatch.setenv("DMJY_POLL_INTERVAL", "0.1")
    monkeypatch.setenv("DMJY_CATALOG", (EXAMPLES / "data" / "products.csv").as_uri())
    return load_dag("dmjy_daily_product_videos", (EXAMPLES / "dmjy_daily_product_videos.py").read_text())


def _run(dag: Any, archive: Path, **conf: Any) -> tuple[str, dict[str, Any]]:
    run = dag.test(run_conf={"archive_root": archive.as_uri(), **conf})
    manifests = list(archive.glob("*/manifest.json"))
    assert len(manifests) == 1, f"no report (run {run.state})"
    return str(run.state), json.loads(manifests[0].read_text(encoding="utf-8"))


def test_flagship_dag_end_to_end(flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path) -> None:
    state, manifest = _run(flagship, tmp_path)
    assert state == "success"
    rows = manifest["videos"]
    assert [row["sku"] for row in rows] == [
        "CUP-001",
        "LAMP-002",
        "BAG-003",
        "TEA-004",
        "EAR-005",
        "MAT-006",
        "PLANT-009",
        "FAN-010",
    ]
    assert {row["status"] for row in rows} == {"completed"}
    sim = dmjy_conn.state()
    assert sim["videos_created"] == 8 and set(sim["videos"]) == {row["video_id"] for row in rows}
    assert len(sim["templates"]) == 8
    for row in rows:
        video = Path(row["video_path"].removeprefix("file://"))
        assert (
            video.read_bytes()[4:8] == b"ftyp"
            and Path(row["thumbnail_path"].removeprefix("file://")).exists()
        )
        assert row["credits"] == 100
    folder = Path(rows[0]["video_path"].removeprefix("file://")).parent
    assert (folder / "manifest.csv").read_text(encoding="utf-8").count("\n") == 9
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.count("<video") == 8 and "PEN-007" in page
    assert [row["sku"] for row in manifest["skipped_rows"]] == ["PEN-007", "SOAP-008"]


def test_failed_videos_are_reported_and_only_fail_the_run_above_the_share(
    flagship: Any, dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    dmjy_conn.configure(fail_rate=1.0)
    state, manifest = _run(flagship, tmp_path / "tolerant", max_failed_share=1.0, max_videos=3)
    assert state == "success"  # every render failed, but the run tolerates it
    assert [row["status"] for row in manifest["videos"]] == ["failed"] * 3
    assert all("Rendering failed" in row["error"] for row in manifest["videos"])
    state, manifest = _run(flagship, tmp_path / "strict", max_failed_share=0.5, max_videos=2)
    assert state == "failed"
    assert [row["status"] for row in manifest["videos"]] == ["failed"] * 2
