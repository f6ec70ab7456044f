"""OpenLineage: the operators' ``get_openlineage_facets_on_complete`` and, end to end, the events the
OpenLineage provider's listener emits for a DAG run (file transport, in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.exceptions import TaskDeferred

pytest.importorskip("airflow.providers.openlineage", reason="apache-airflow-providers-openlineage")

from airflow.sdk import ObjectStoragePath
from openlineage.client.serde import Serde

from airflow_provider_dmjy.lineage import (
    PRODUCER,
    RUN_FACET_NAME,
    DmjyVideoRunFacet,
    path_dataset,
    url_dataset,
)
from airflow_provider_dmjy.operators.video import (
    DmjyCreateVideoOperator,
    DmjyDownloadVideoOperator,
)
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.conftest import DAGS_FOLDER
from tests.integration.operators.test_video import FakeStateStore, make_context

IMAGES = [
    "https://img.example.com/products/cup.jpg",
    "https://img.example.com:8443/products/lid.jpg?sig=s3cr3t",
]
IMAGE_DATASETS = [
    ("https://img.example.com", "/products/cup.jpg"),
    ("https://img.example.com:8443", "/products/lid.jpg"),
]


def create_op(**kwargs: Any) -> DmjyCreateVideoOperator:
    arguments: dict[str, Any] = {
        "task_id": "t",
        "description": "展示智能保温杯",
        "image_urls": IMAGES,
        "duration": 6,
        "aspect_ratio": "16:9",
        "deferrable": True,
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        **kwargs,
    }
    return DmjyCreateVideoOperator(**arguments)


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(dataset.namespace, dataset.name) for dataset in datasets]


def resume(deferred: TaskDeferred, context: dict[str, Any], event: dict[str, Any]) -> DmjyCreateVideoOperator:
    """Resume as Airflow does: a fresh operator instance, the deferral's method and kwargs."""
    fresh = create_op()
    getattr(fresh, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))
    return fresh


# -- the operators' methods ------------------------------------------------------------------------


def test_create_lineage_after_a_deferral(slow_renders: SimulatorHandle) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        create_op().execute(make_context())
    video_id = str(deferred.value.trigger.video_id)  # type: ignore[attr-defined]
    video = slow_renders.complete(video_id)

    fresh = resume(
        deferred.value, make_context(), {"status": "completed", "video_id": video_id, "video": video}
    )
    lineage = fresh.get_openlineage_facets_on_complete(None)

    assert fresh.video_id == video_id and fresh.reattached is False
    assert names(lineage.inputs) == IMAGE_DATASETS  # the signature in the query string is left out
    assert names(lineage.outputs) == [("dmjy://dmjy_default", f"videos/{video_id}")]
    facet = lineage.run_facets[RUN_FACET_NAME]
    assert isinstance(facet, DmjyVideoRunFacet)
    assert (facet.videoId, facet.status, facet.duration, facet.aspectRatio) == (
        video_id,
        "completed",
        6,
        "16:9",
    )
    assert (facet.reused, facet.creditsPerSecond, facet.estimatedCredits) == (False, 10.0, 60.0)


def test_a_reattached_video_is_reported_reused_after_the_deferral(slow_renders: SimulatorHandle) -> None:
    store = FakeStateStore()
    with pytest.raises(TaskDeferred):
        create_op().execute(make_context(try_number=1, store=store))  # the try dies while deferred
    with pytest.raises(TaskDeferred) as deferred:
        create_op().execute(make_context(try_number=2, store=store))
    assert deferred.value.kwargs == {"reattached": True, "fingerprint": create_op()._request().fingerprint()}
    video_id = str(deferred.value.trigger.video_id)  # type: ignore[attr-defined]
    video = slow_renders.complete(video_id)

    fresh = resume(
        deferred.value, make_context(try_number=2, store=store), {"status": "completed", "video": video}
    )
    facet = fresh.get_openlineage_facets_on_complete(None).run_facets[RUN_FACET_NAME]

    assert isinstance(facet, DmjyVideoRunFacet) and facet.reused is True and facet.videoId == video_id
    assert slow_renders.state()["videos_created"] == 1


def test_a_failed_render_still_reports_the_paid_video(slow_renders: SimulatorHandle) -> None:
    # The listener asks the same method on FAIL: the render failed, but the video exists and was paid.
    with pytest.raises(TaskDeferred) as deferred:
        create_op().execute(make_context())
    video_id = str(deferred.value.trigger.video_id)  # type: ignore[attr-defined]
    video = slow_renders.fail(video_id, "content policy")
    fresh = create_op()
    with pytest.raises(Exception, match="content policy"):
        fresh.resume_wait(make_context(), {"status": "failed", "video_id": video_id, "video": video})
    lineage = fresh.get_openlineage_facets_on_complete(None)
    assert names(lineage.outputs) == [("dmjy://dmjy_default", f"videos/{video_id}")]
    facet = lineage.run_facets[RUN_FACET_NAME]
    assert (
        isinstance(facet, DmjyVideoRunFacet) and facet.status == "failed" and facet.estimatedCredits == 60.0
    )


def test_create_lineage_without_a_price_has_no_estimate(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(render_seconds=0.2, queue_seconds=0.05)
    op = create_op(deferrable=False, image_urls=None, image_url=IMAGES[0], credits_per_second=None)
    op.execute(make_context())
    lineage = op.get_openlineage_facets_on_complete(None)
    facet = lineage.run_facets[RUN_FACET_NAME]
    assert names(lineage.inputs) == IMAGE_DATASETS[:1]
    assert isinstance(facet, DmjyVideoRunFacet) and facet.estimatedCredits is None
    serialised = json.loads(Serde.to_json(facet))
    assert "estimatedCredits" not in serialised and serialised["_producer"] == PRODUCER
    assert serialised["_schemaURL"].endswith("#/$defs/RunFacet")


@pytest.mark.parametrize("price", [-1, float("nan"), float("inf"), "10", True])
def test_a_bad_price_is_refused_when_the_dag_is_parsed(price: Any) -> None:
    with pytest.raises(Exception, match="credits_per_second"):
        create_op(credits_per_second=price)


def test_create_lineage_before_any_video_has_only_the_inputs() -> None:
    lineage = create_op().get_openlineage_facets_on_complete(None)
    assert names(lineage.inputs) == IMAGE_DATASETS
    assert lineage.outputs == [] and lineage.run_facets == {}


def test_download_lineage_by_video_id(hook: Any, dmjy_conn: SimulatorHandle, tmp_path: Path) -> None:
    video_id = hook.create_video("展示智能保温杯", image_url=IMAGES[0], duration=2)["id"]
    dmjy_conn.complete(video_id)
    op = DmjyDownloadVideoOperator(
        task_id="archive", video_id=video_id, destination=f"file://{tmp_path}/", include_thumbnail=True
    )
    op.execute(context={})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert names(lineage.inputs) == [("dmjy://dmjy_default", f"videos/{video_id}")]
    assert names(lineage.outputs) == [
        ("file", f"{tmp_path}/{video_id}.mp4"),
        ("file", f"{tmp_path}/{video_id}.jpg"),
    ]


def test_download_lineage_by_media_url(dmjy_conn: SimulatorHandle, hook: Any, tmp_path: Path) -> None:
    video_id = hook.create_video("展示智能保温杯", image_url=IMAGES[0], duration=2)["id"]
    media_url = dmjy_conn.complete(video_id)["videoUrl"]
    op = DmjyDownloadVideoOperator(
        task_id="archive", video_url=media_url, destination=str(tmp_path / "v.mp4")
    )
    op.execute(context={})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert names(lineage.inputs) == [(url_dataset(media_url).namespace, url_dataset(media_url).name)]  # type: ignore[union-attr]
    assert names(lineage.outputs) == [("file", str(tmp_path / "v.mp4"))]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example.com/a/b.jpg", ("https://cdn.example.com", "/a/b.jpg")),
        ("HTTP://User:pw@CDN.example.com:8080/a.jpg?token=x#f", ("http://cdn.example.com:8080", "/a.jpg")),
        ("https://cdn.example.com", ("https://cdn.example.com", "/")),
        ("http://[::1]:9000/v.mp4", ("http://[::1]:9000", "/v.mp4")),
        ("ftp://cdn.example.com/a.jpg", None),
        ("https://cdn.example.com:port/a.jpg", None),
        (None, None),
    ],
)
def test_url_dataset_naming(url: Any, expected: tuple[str, str] | None) -> None:
    dataset = url_dataset(url)
    assert (None if dataset is None else (dataset.namespace, dataset.name)) == expected


def test_path_dataset_naming() -> None:
    assert names([path_dataset(ObjectStoragePath("file:///srv/videos/v.mp4"))]) == [
        ("file", "/srv/videos/v.mp4")
    ]
    assert names([path_dataset(ObjectStoragePath("/srv/videos/v.mp4"))]) == [("file", "/srv/videos/v.mp4")]
    assert names([path_dataset(ObjectStoragePath("s3://archive/videos/v.mp4"))]) == [
        ("s3://archive", "videos/v.mp4")
    ]


# -- end to end: the OpenLineage listener under dag.test() -----------------------------------------

DAG_SOURCE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator, DmjyDownloadVideoOperator

with DAG("dmjy_lineage", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    create = DmjyCreateVideoOperator(
        task_id="create",
        description="展示智能保温杯",
        image_urls={images!r},
        duration=4,
        deferrable=True,
        poll_interval=0.1,
        max_poll_interval=0.3,
        timeout=60,
    )
    archive = DmjyDownloadVideoOperator(
        task_id="archive",
        video_id="{{{{ ti.xcom_pull(task_ids='create')['id'] }}}}",
        destination="file://{archive}/",
    )
    create >> archive
"""

# Run in a fresh interpreter: the OpenLineage plugin reads its configuration once per process, when
# Airflow first loads plugins. The render would outlast the test: it completes only once the trigger
# polls, which proves the create deferred and resumed (on a fresh operator instance).
RUNNER = """
import importlib.util, sys, threading
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

simulator = SimulatorHandle.for_base_url(sys.argv[2])
original_run = DmjyVideoTrigger.run

async def run(self):
    print("DEFERRED=" + self.video_id, flush=True)
    threading.Timer(0.3, simulator.complete, args=[self.video_id]).start()
    async for event in original_run(self):
        yield event

DmjyVideoTrigger.run = run
spec = importlib.util.spec_from_file_location("dmjy_lineage_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("STATE=" + str(module.dag.test().state), flush=True)
"""


def _complete_events(path: Path, task_ids: set[str], deadline: float) -> dict[str, dict[str, Any]]:
    """The COMPLETE events of ``task_ids`` in the transport's file; the listener may emit them from
    another process after the run ended, so the file is read until they are all there."""
    found: dict[str, dict[str, Any]] = {}
    while True:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines:
            event = json.loads(line)
            task = event.get("job", {}).get("name", "").rpartition(".")[2]
            if event.get("eventType") == "COMPLETE" and task in task_ids:
                found[task] = event
        if set(found) == task_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_dag_run_emits_lineage_events(
    slow_renders: SimulatorHandle, load_dag: Callable[[str, str], Any], tmp_path: Path
) -> None:
    archive, events_file = tmp_path / "archive", tmp_path / "openlineage.jsonl"
    load_dag("dmjy_lineage", DAG_SOURCE.format(images=IMAGES, archive=archive))
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "dmjy-tests",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
    }
    dag_file = os.path.join(DAGS_FOLDER, "dmjy_lineage.py")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", RUNNER, dag_file, slow_renders.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "STATE=success" in out.stdout, out.stdout[-3000:] + out.stderr[-5000:]
    video_id = next(line for line in out.stdout.splitlines() if line.startswith("DEFERRED="))[9:]

    events = _complete_events(events_file, {"create", "archive"}, time.monotonic() + 60)
    assert set(events) == {"create", "archive"}, (
        events_file.read_text() if events_file.exists() else "no file"
    )
    create, download = events["create"], events["archive"]
    assert [(d["namespace"], d["name"]) for d in create["inputs"]] == IMAGE_DATASETS
    video = ("dmjy://dmjy_default", f"videos/{video_id}")
    assert [(d["namespace"], d["name"]) for d in create["outputs"]] == [video]
    facet = create["run"]["facets"][RUN_FACET_NAME]
    assert facet["_producer"] == PRODUCER
    assert {
        key: facet.get(key) for key in ("videoId", "status", "duration", "reused", "estimatedCredits")
    } == {
        "videoId": video_id,
        "status": "completed",
        "duration": 4,
        "reused": False,
        "estimatedCredits": 40.0,
    }
    assert [(d["namespace"], d["name"]) for d in download["inputs"]] == [video]
    assert [(d["namespace"], d["name"]) for d in download["outputs"]] == [
        ("file", f"{archive}/{video_id}.mp4")
    ]
    assert (archive / f"{video_id}.mp4").is_file()
