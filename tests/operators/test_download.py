"""DmjyDownloadVideoOperator: the simulator's real media over loopback HTTP; ``responses`` only for
faults the simulator cannot make (a truncated body, a CDN error)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from airflow.sdk import ObjectStoragePath

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyConnectionError, DmjyNotFoundError, DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

IMG = "https://example.com/cup.jpg"
CDN = "https://cdn.example.com/media/videos/vid_cdn.mp4"


def download(**kwargs: Any) -> DmjyDownloadVideoOperator:
    op = DmjyDownloadVideoOperator(task_id="download", **kwargs)
    op.download_retry_wait = 0.0  # the tests count attempts, not seconds
    return op


@pytest.fixture
def completed(hook: DmjyHook, dmjy_conn: SimulatorHandle) -> dict[str, Any]:
    """A completed video task."""
    created = hook.create_video("展示智能保温杯", image_url=IMG, duration=2)
    return dmjy_conn.complete(created["id"])


def served_length(url: str) -> int:
    return int(requests.head(url, timeout=5).headers["Content-Length"])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_by_video_id_to_a_file_url_folder(completed: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "new" / "archive"  # does not exist yet: the trailing slash makes it a folder
    result = download(video_id=completed["id"], destination=f"file://{folder}/").execute(context={})
    written = folder / f"{completed['id']}.mp4"
    data = written.read_bytes()
    assert data[4:8] == b"ftyp"
    assert len(data) == result["size"] == served_length(completed["videoUrl"])
    assert result == {
        "video_id": completed["id"],
        "path": f"file://{written}",
        "size": len(data),
        "thumbnail_path": None,
    }
    assert leftovers(tmp_path) == [written.name]


def test_by_video_id_to_an_object_storage_path(completed: dict[str, Any], tmp_path: Path) -> None:
    result = download(
        video_id=completed["id"], destination=ObjectStoragePath(f"file://{tmp_path}"), include_thumbnail=True
    ).execute(context={})
    video, thumbnail = tmp_path / f"{completed['id']}.mp4", tmp_path / f"{completed['id']}.jpg"
    assert video.read_bytes()[4:8] == b"ftyp" and result["size"] == video.stat().st_size
    assert thumbnail.read_bytes()[:2] == b"\xff\xd8"
    assert result["thumbnail_path"] == f"file://{thumbnail}"
    assert leftovers(tmp_path) == sorted([video.name, thumbnail.name])


def test_plain_local_file_destination(completed: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "promo" / "cup.mp4"
    result = download(video_id=completed["id"], destination=str(target), include_thumbnail=True).execute(
        context={}
    )
    assert result["path"] == str(target) and target.read_bytes()[4:8] == b"ftyp"
    assert result["thumbnail_path"] == str(target.with_suffix(".jpg"))
    assert target.with_suffix(".jpg").read_bytes()[:2] == b"\xff\xd8"


def test_by_video_url_names_the_file_after_the_url(
    completed: dict[str, Any], dmjy_conn: SimulatorHandle, tmp_path: Path
) -> None:
    result = download(video_url=completed["videoUrl"], destination=f"{tmp_path}/").execute(context={})
    assert result["video_id"] is None and result["path"] == str(tmp_path / f"{completed['id']}.mp4")
    assert Path(result["path"]).read_bytes()[4:8] == b"ftyp"
    assert "GET /api/v1/videos/{id}" not in dmjy_conn.state()["requests"]  # a URL needs no API call


def test_not_completed_video_fails_fast(hook: DmjyHook, dmjy_conn: SimulatorHandle, tmp_path: Path) -> None:
    created = hook.create_video("d", image_url=IMG, duration=2)
    with pytest.raises(AirflowFailException, match=r"is (pending|processing), not completed"):
        download(video_id=created["id"], destination=f"{tmp_path}/").execute(context={})
    dmjy_conn.fail(created["id"], "render crashed")
    with pytest.raises(AirflowFailException, match="is failed: render crashed"):
        download(video_id=created["id"], destination=f"{tmp_path}/").execute(context={})
    assert leftovers(tmp_path) == []


@responses.activate
def test_truncated_download_leaves_no_file(tmp_path: Path) -> None:
    for _ in range(3):
        responses.add(
            responses.GET,
            CDN + "?token=sekrit",
            body=b"\x00\x00\x00\x18ftyp" + b"x" * 100,
            headers={"Content-Length": "5000"},
            auto_calculate_content_length=False,
        )
    with pytest.raises(DmjyConnectionError, match=r"vid_cdn\.mp4") as info:
        download(video_url=CDN + "?token=sekrit", destination=f"{tmp_path}/out/").execute(context={})
    assert "IncompleteRead" in str(info.value) and info.value.__cause__ is None
    assert "sekrit" not in str(info.value)  # a signed CDN URL's token never reaches a message
    assert info.value.retryable and not isinstance(info.value, AirflowFailException)  # Airflow may retry
    assert len(responses.calls) == DmjyDownloadVideoOperator.download_attempts
    assert leftovers(tmp_path) == []  # neither vid_cdn.mp4 nor .vid_cdn.mp4.part


@responses.activate
def test_transient_cdn_error_is_retried(completed: dict[str, Any], tmp_path: Path) -> None:
    url = completed["videoUrl"]
    responses.add(responses.GET, url, status=503)
    responses.add(responses.PassthroughResponse(responses.GET, url))
    responses.add_passthru(url.split("/media/")[0])
    result = download(video_url=url, destination=f"{tmp_path}/").execute(context={})
    assert Path(result["path"]).read_bytes()[4:8] == b"ftyp"
    assert len(responses.calls) == 2


@responses.activate
def test_cdn_404_fails_fast(tmp_path: Path) -> None:
    responses.add(responses.GET, CDN + "?token=abc", status=404)
    with pytest.raises(DmjyNotFoundError) as info:
        download(video_url=CDN + "?token=abc", destination=f"{tmp_path}/").execute(context={})
    assert isinstance(info.value, AirflowFailException) and len(responses.calls) == 1
    assert "token" not in str(info.value)  # a signed CDN URL's query never reaches a message
    assert leftovers(tmp_path) == []


@pytest.fixture
def sent_requests(monkeypatch: pytest.MonkeyPatch) -> list[requests.PreparedRequest]:
    """Every request any requests.Session sends, recorded on its way out."""
    sent: list[requests.PreparedRequest] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        sent.append(request)
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return sent


def test_media_requests_carry_no_api_credentials(
    dmjy_conn: SimulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
    sent_requests: list[requests.PreparedRequest],
    tmp_path: Path,
) -> None:
    # Header mode puts the secret itself in the API requests: the worst case for a leak.
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri + "?auth_mode=header")
    hook = DmjyHook()
    video = dmjy_conn.complete(hook.create_video("d", image_url=IMG, duration=2)["id"])
    sent_requests.clear()
    download(video_id=video["id"], destination=f"{tmp_path}/", include_thumbnail=True).execute(context={})
    api = [r for r in sent_requests if "/api/v1/" in str(r.url)]
    media = [r for r in sent_requests if "/media/" in str(r.url)]
    assert len(api) == 1 and api[0].headers["X-API-Secret"] == dmjy_conn.api_secret  # the spy works
    assert len(media) == 2
    for request in media:
        names = {name.lower() for name in request.headers}
        assert not names & {"x-api-key", "x-api-secret", "x-signature", "x-timestamp", "authorization"}
        assert all(dmjy_conn.api_secret not in str(value) for value in request.headers.values())
        assert all(dmjy_conn.api_key not in str(value) for value in request.headers.values())


def test_exactly_one_source_at_parse_time() -> None:
    with pytest.raises(ValueError, match="exactly one of video_id and video_url"):
        DmjyDownloadVideoOperator(task_id="t", destination="/tmp/x/")
    with pytest.raises(ValueError, match="exactly one of video_id and video_url"):
        DmjyDownloadVideoOperator(task_id="t", destination="/tmp/x/", video_id="v", video_url=CDN)
    with pytest.raises(ValueError, match="include_thumbnail"):
        DmjyDownloadVideoOperator(task_id="t", destination="/tmp/x/", video_url=CDN, include_thumbnail=True)
    with pytest.raises(ValueError, match="video_url"):
        DmjyDownloadVideoOperator(task_id="t", destination="/tmp/x/", video_url="ftp://host/a.mp4")
    # Templated: only known after rendering, so accepted here and checked in execute.
    DmjyDownloadVideoOperator(
        task_id="t", destination="/tmp/x/", video_id="{{ params.id }}", video_url="{{ params.url }}"
    )


def test_exactly_one_source_after_rendering(dmjy_conn: SimulatorHandle, tmp_path: Path) -> None:
    op = download(video_id="{{ params.id }}", video_url="{{ params.url }}", destination=f"{tmp_path}/")
    op.video_id, op.video_url = "vid_1", CDN  # as rendered
    with pytest.raises(DmjyValidationError, match="exactly one") as info:
        op.execute(context={})
    assert isinstance(info.value, AirflowFailException)
    op.video_id, op.video_url = "None", ""  # an absent upstream value, as Jinja renders it
    with pytest.raises(DmjyValidationError, match="got neither"):
        op.execute(context={})
    assert dmjy_conn.state()["requests"] == {}


def test_template_fields() -> None:
    assert set(DmjyDownloadVideoOperator.template_fields) == {
        "video_id",
        "video_url",
        "destination",
        "dmjy_conn_id",
    }


def test_dag_run_downloads_a_completed_video(
    completed: dict[str, Any], load_dag: Callable[[str, str], Any], tmp_path: Path
) -> None:
    dag = load_dag(
        "dmjy_download_archive",
        f"""
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator

        with DAG("dmjy_download_archive", schedule=None, start_date=pendulum.datetime(2025, 1, 1)) as dag:

            @task
            def pick_video():
                return "{completed["id"]}"

            DmjyDownloadVideoOperator(
                task_id="archive",
                video_id=pick_video(),
                destination="file://{tmp_path}/{{{{ dag.dag_id }}}}/",
                include_thumbnail=True,
            )
        """,
    )
    run = dag.test()
    assert str(run.state) == "success"
    folder = tmp_path / "dmjy_download_archive"
    assert (folder / f"{completed['id']}.mp4").read_bytes()[4:8] == b"ftyp"
    assert (folder / f"{completed['id']}.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert leftovers(tmp_path) == sorted([f"{completed['id']}.jpg", f"{completed['id']}.mp4"])
