"""DmjyDownloadVideoOperator: the simulator's real media over loopback HTTP; ``responses`` only for
faults the simulator cannot make (a truncated body, a CDN error)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import requests
import responses
from airflow.sdk import ObjectStoragePath

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyConnectionError,
    DmjyNotFoundError,
    DmjyValidationError,
)
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.destination import Destination
from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, envelope

IMG = "https://example.com/cup.jpg"
CDN = "https://cdn.example.com/media/videos/vid_cdn.mp4"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100


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


# -- the edges: names, destinations, limits (hostile answers from tests/hostile_server.py) ---------


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A programmable loopback server that ``dmjy_default`` points at."""
    with HostileServer() as hostile:
        monkeypatch.setenv(
            "AIRFLOW_CONN_DMJY_DEFAULT", SimulatorHandle.for_base_url(hostile.base_url).conn_uri
        )
        yield hostile


def answer_completed(server: HostileServer, video_id: str, video_url: str) -> None:
    task = {"id": video_id, "status": "completed", "videoUrl": video_url}
    server.route("GET", f"/api/v1/videos/{video_id}", Reply(body=envelope(task)))


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/media/..%2F..%2Fx.mp4", "path separator"),
        ("/media/a%5Cb.mp4", "path separator"),
        ("/media/..", "relative folder reference"),
        ("/media/%2e%2e", "relative folder reference"),
        ("/media/x.mp4%00", "control character"),
        ("/media/a%0Ab.mp4", "control character"),
        ("/media/%E2%80%AE4pm.exe", "control character"),  # a right-to-left override disguises the extension
        ("/media/.bashrc", "hidden file"),
        ("/media/%20clip.mp4", "whitespace"),
        ("/media/a%252Fb.mp4", "percent-encoded"),
        ("/media/" + "x" * 200 + ".mp4", "longer than 200 bytes"),
        ("/", "no file name"),  # the host's root names no file
    ],
)
def test_an_unsafe_url_file_name_is_refused_before_any_request(
    server: HostileServer, tmp_path: Path, path: str, reason: str
) -> None:
    with pytest.raises(DmjyValidationError, match=reason) as info:
        download(video_url=server.root_url + path, destination=f"{tmp_path}/").execute(context={})
    assert isinstance(info.value, AirflowFailException) and info.value.argument == "video_url"
    assert server.requests == [] and leftovers(tmp_path) == []


def test_a_percent_encoded_url_file_name_is_decoded(server: HostileServer, tmp_path: Path) -> None:
    server.route("GET", "/media/%E4%BF%9D%E6%B8%A9%E6%9D%AF.mp4", Reply(body=MP4))
    url = f"{server.root_url}/media/%E4%BF%9D%E6%B8%A9%E6%9D%AF.mp4"
    result = download(video_url=url, destination=f"{tmp_path}/").execute(context={})
    assert result["path"] == str(tmp_path / "保温杯.mp4") and leftovers(tmp_path) == ["保温杯.mp4"]


@pytest.mark.parametrize("video_id", ["../../x", "..", " .. ", "a/b", "a%2Fb", "a\\b"])
def test_an_unsafe_video_id_is_refused_before_any_request(
    dmjy_conn: SimulatorHandle, tmp_path: Path, video_id: str
) -> None:
    destination = tmp_path / "a" / "b" / "archive"
    with pytest.raises(DmjyValidationError, match="video_id") as info:
        download(video_id=video_id, destination=f"{destination}/").execute(context={})
    assert isinstance(info.value, AirflowFailException)
    assert dmjy_conn.state()["requests"] == {} and leftovers(tmp_path) == []


def test_a_hostile_media_url_from_the_api_still_writes_under_the_id(
    server: HostileServer, tmp_path: Path
) -> None:
    # The file is named after the checked id, never after what the server put in videoUrl.
    answer_completed(server, "vid_1", f"{server.root_url}/media/..%2F..%2Fx.mp4")
    server.route("GET", "/media/..%2F..%2Fx.mp4", Reply(body=MP4))
    destination = tmp_path / "a" / "b" / "archive"
    result = download(video_id="vid_1", destination=f"{destination}/").execute(context={})
    assert result["path"] == str(destination / "vid_1.mp4")
    assert leftovers(tmp_path) == ["vid_1.mp4"] and (destination / "vid_1.mp4").read_bytes() == MP4


@pytest.mark.parametrize("video_url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://host/v.mp4"])
def test_a_media_url_that_is_not_http_is_refused(
    server: HostileServer, tmp_path: Path, video_url: str
) -> None:
    answer_completed(server, "vid_1", video_url)
    with pytest.raises(DmjyApiError, match="videoUrl that is not an http") as info:
        download(video_id="vid_1", destination=f"{tmp_path}/").execute(context={})
    assert isinstance(info.value, AirflowFailException)
    assert [seen.path for seen in server.requests] == ["/api/v1/videos/vid_1"] and leftovers(tmp_path) == []


@pytest.mark.parametrize("planted", ["clip.mp4", ".clip.mp4.part"])
def test_a_symlink_planted_in_the_folder_is_refused(
    server: HostileServer, tmp_path: Path, planted: str
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / planted).symlink_to(outside)
    server.route("GET", "/media/clip.mp4", Reply(body=MP4))
    with pytest.raises(DmjyValidationError, match="outside the folder") as info:
        download(video_url=f"{server.root_url}/media/clip.mp4", destination=f"{folder}/").execute(context={})
    assert isinstance(info.value, AirflowFailException)
    assert server.requests == [] and outside.read_bytes() == b"keep me"


def test_a_remote_key_cannot_leave_its_prefix() -> None:
    # Names are single safe segments before they get here; this is the last line for remote stores.
    folder = ObjectStoragePath("s3://bucket/archive")
    destination = Destination(folder=folder, file_name=None, local=False)
    destination.check_contains(folder / "vid_1.mp4")
    for escape in ("../x.mp4", "sub/x.mp4"):
        with pytest.raises(DmjyValidationError, match="outside the folder"):
            destination.check_contains(folder / escape)


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("None", "rendered to 'None'"),
        ("   ", "must not be empty"),
        (None, "not NoneType"),
        (ObjectStoragePath("memory://bucket/videos/"), "unsupported scheme 'memory'"),
        ("relative/videos/", "absolute local path"),
        ("file://otherhost/videos/", "names a host"),
    ],
)
def test_a_bad_destination_is_refused_before_any_request(
    dmjy_conn: SimulatorHandle, destination: Any, reason: str
) -> None:
    for source in ({"video_id": "vid_1"}, {"video_url": f"{dmjy_conn.root_url}/media/videos/vid_1.mp4"}):
        with pytest.raises(DmjyValidationError, match=reason) as info:
            download(destination=destination, **source).execute(context={})
        assert isinstance(info.value, AirflowFailException) and info.value.argument == "destination"
    assert dmjy_conn.state()["requests"] == {}


def test_a_jpg_destination_with_a_thumbnail_is_refused(dmjy_conn: SimulatorHandle, tmp_path: Path) -> None:
    with pytest.raises(DmjyValidationError, match="would overwrite the video"):
        download(video_id="vid_1", destination=str(tmp_path / "clip.jpg"), include_thumbnail=True).execute(
            context={}
        )
    assert dmjy_conn.state()["requests"] == {}


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("max_bytes", 0),
        ("max_bytes", True),
        ("max_bytes", 1.5),
        ("min_rate", float("nan")),
        ("min_rate", float("inf")),
        ("min_rate", 0),
        ("min_deadline", -1.0),
        ("min_deadline", "60"),
        ("timeout", float("inf")),
        ("chunk_size", 0),
    ],
)
def test_limits_are_checked_at_parse_time(argument: str, value: Any) -> None:
    with pytest.raises(ValueError, match=argument):
        DmjyDownloadVideoOperator(task_id="t", destination="/tmp/x/", video_url=CDN, **{argument: value})


def test_a_stalled_media_server_ends_at_the_read_timeout(server: HostileServer, tmp_path: Path) -> None:
    release = threading.Event()

    def stall(wfile: BinaryIO) -> None:
        wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        release.wait(60)

    server.route("GET", "/media/clip.mp4", Reply(stream=stall))
    op = download(
        video_url=f"{server.root_url}/media/clip.mp4?token=t0k", destination=f"{tmp_path}/", timeout=0.5
    )
    op.download_attempts = 1
    try:
        with pytest.raises(DmjyConnectionError, match="Read timed out") as info:
            op.execute(context={})
    finally:
        release.set()
    assert info.value.retryable and "t0k" not in str(info.value) and leftovers(tmp_path) == []


def test_a_redirect_loop_fails_without_retry(server: HostileServer, tmp_path: Path) -> None:
    server.route("GET", "/media/loop.mp4", Reply(302, headers={"Location": "/media/loop.mp4?token=t0k"}))
    with pytest.raises(DmjyApiError, match="TooManyRedirects") as info:
        download(video_url=f"{server.root_url}/media/loop.mp4", destination=f"{tmp_path}/").execute(
            context={}
        )
    assert isinstance(info.value, AirflowFailException) and "t0k" not in str(info.value)
    assert len(server.requests) == 31 and leftovers(tmp_path) == []  # requests' own limit, one attempt
