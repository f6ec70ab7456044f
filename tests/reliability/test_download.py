"""The media download at its edges: hostile names, trickling and endless bodies, bad destinations.

A programmable loopback server (:mod:`tests.hostile_server`) plays both the API and the media host,
so every request the operator makes (and every header it carries) is on record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyConnectionError,
    DmjyResponseTooLargeError,
    DmjyValidationError,
)
from airflow_provider_dmjy.operators.download import DmjyDownloadVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, envelope
from tests.reliability.evidence import Evidence

DISK = "Secrets and the local disk"
TIME = "Time and memory"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
CREDENTIAL_HEADERS = {"x-api-key", "x-api-secret", "x-signature", "x-timestamp", "authorization"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A hostile server that ``dmjy_default`` points at (header mode: the secret is in every API call)."""
    with HostileServer() as hostile:
        handle = SimulatorHandle.for_base_url(hostile.base_url)
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", handle.conn_uri + "?auth_mode=header")
        yield hostile


def download(**kwargs: Any) -> DmjyDownloadVideoOperator:
    op = DmjyDownloadVideoOperator(task_id="download", **kwargs)
    op.download_retry_wait = 0.0
    return op


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def completed(server: HostileServer, video_id: str, video_path: str, **fields: Any) -> dict[str, Any]:
    task = {"id": video_id, "status": "completed", "videoUrl": server.root_url + video_path, **fields}
    server.route("GET", f"/api/v1/videos/{video_id}", Reply(body=envelope(task)))
    return task


@pytest.mark.reliability(
    area=DISK,
    case="video_url ending in ..%2F..%2Fx.mp4 with a folder destination",
    expected="refused before any request; nothing written outside the folder",
)
def test_traversal_in_a_media_url(server: HostileServer, tmp_path: Path, evidence: Evidence) -> None:
    server.route("GET", "/media/..%2F..%2Fx.mp4", Reply(body=MP4, headers={"Content-Type": "video/mp4"}))
    destination = tmp_path / "a" / "b" / "archive"
    url = server.root_url + "/media/..%2F..%2Fx.mp4?token=cdn-token"
    with pytest.raises(DmjyValidationError) as raised:
        download(video_url=url, destination=f"{destination}/").execute(context={})
    evidence.message(raised.value)
    assert isinstance(raised.value, AirflowFailException)  # no retry can make the name safe
    assert "cdn-token" not in str(raised.value)  # a signed CDN URL's token stays out of messages
    assert server.requests == []
    assert files_under(tmp_path) == []  # neither a/x.mp4 nor anything else


@pytest.mark.reliability(
    area=DISK,
    case='get_video answers id "../../x" and videoUrl ..%2F..%2Fx.mp4',
    expected="refused as a wrong answer, no retry, before any media request; nothing written",
)
def test_traversal_in_the_api_answer(server: HostileServer, tmp_path: Path, evidence: Evidence) -> None:
    task = {"id": "../../x", "status": "completed", "videoUrl": server.root_url + "/media/..%2F..%2Fx.mp4"}
    server.route("GET", "/api/v1/videos/vid_1", Reply(body=envelope(task)))
    server.route("GET", "/media/..%2F..%2Fx.mp4", Reply(body=MP4))
    destination = tmp_path / "a" / "b" / "archive"
    with pytest.raises(DmjyApiError, match=r"answered video '\.\./\.\./x'") as raised:
        download(video_id="vid_1", destination=f"{destination}/").execute(context={})
    evidence.message(raised.value)
    evidence.no_secret_in(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert [seen.path for seen in server.requests] == ["/api/v1/videos/vid_1"]  # no media request
    assert files_under(tmp_path) == []


@pytest.mark.reliability(
    area=TIME,
    case="media server trickles one byte every 0.5 s (with Content-Length)",
    expected="each attempt ends at max(min_deadline, size / min_rate); retryable error; no file",
)
def test_trickled_download_meets_its_deadline(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    # 120 bytes at 2 bytes/s: a minute without the deadline; with it about 1 s per attempt.
    server.route("GET", "/media/v.mp4", Reply(body=MP4, trickle=0.5))
    op = download(
        video_url=server.root_url + "/media/v.mp4",
        destination=f"{tmp_path}/",
        min_rate=1024,
        min_deadline=1.0,
        timeout=5.0,
    )
    op.download_attempts = 2
    with pytest.raises(DmjyConnectionError) as raised:
        op.execute(context={})
    evidence.message(raised.value)
    received = re.search(rf"too slow: (\d+) of {len(MP4)} bytes", str(raised.value))
    assert received is not None and int(received.group(1)) < len(MP4)  # ended mid-body, not after it
    assert raised.value.retryable and not isinstance(raised.value, AirflowFailException)
    assert len(server.seen("GET", "/media/v.mp4")) == 2  # the deadline is per attempt
    assert files_under(tmp_path) == []


@pytest.mark.reliability(
    area=TIME,
    case="media server trickles a body without Content-Length",
    expected="ends once min_deadline passes below min_rate; retryable error; no file",
)
def test_trickled_unannounced_body_meets_its_deadline(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    server.route("GET", "/media/v.mp4", Reply(body=MP4, trickle=0.5, content_length=-1))
    op = download(
        video_url=server.root_url + "/media/v.mp4",
        destination=f"{tmp_path}/",
        min_rate=1024,
        min_deadline=1.0,
        timeout=5.0,
    )
    op.download_attempts = 1
    with pytest.raises(DmjyConnectionError) as raised:
        op.execute(context={})
    evidence.message(raised.value)
    received = re.search(r"too slow: (\d+) bytes", str(raised.value))
    assert received is not None and int(received.group(1)) < len(MP4) and raised.value.retryable
    assert files_under(tmp_path) == []


def endless_body(wfile: BinaryIO) -> None:
    """A 200 without Content-Length whose body goes on until the client hangs up (or 64 MiB)."""
    wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\n\r\n")
    block = b"\x00" * 65536
    for _ in range(1024):
        wfile.write(block)


@pytest.mark.reliability(
    area=TIME,
    case="media body without Content-Length that never ends",
    expected="stops at max_bytes; fails without retry; no file on disk",
)
def test_endless_media_body_stops_at_the_cap(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    server.route("GET", "/media/v.mp4", Reply(stream=endless_body))
    op = download(
        video_url=server.root_url + "/media/v.mp4", destination=f"{tmp_path}/", max_bytes=1024 * 1024
    )
    with pytest.raises(DmjyResponseTooLargeError) as raised:
        op.execute(context={})
    evidence.message(raised.value)
    assert "sent more than 1048576 bytes: the limit is max_bytes=1048576" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException) and len(server.requests) == 1
    assert files_under(tmp_path) == []


@pytest.mark.reliability(
    area=TIME,
    case="media server announces a Content-Length above max_bytes",
    expected="refused before the body is read; fails without retry; no file",
)
def test_announced_oversized_body_is_refused(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    server.route("GET", "/media/v.mp4", Reply(body=MP4, content_length=3 * 1024**3))
    op = download(video_url=server.root_url + "/media/v.mp4", destination=f"{tmp_path}/")
    with pytest.raises(DmjyResponseTooLargeError) as raised:
        op.execute(context={})
    evidence.message(raised.value)
    assert f"announces {3 * 1024**3} bytes" in str(raised.value) and len(server.requests) == 1
    assert files_under(tmp_path) == []


@pytest.mark.reliability(
    area="Input",
    case="a download's destination is empty, 'None', 42, foo://, relative, or under a file",
    expected="each fails without retry, naming destination, before any API or media request",
)
def test_bad_destination_is_refused_before_any_request(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    completed(server, "vid_1", "/media/vid_1.mp4")
    server.route("GET", "/media/vid_1.mp4", Reply(body=MP4))
    a_file = tmp_path / "a_file"
    a_file.write_bytes(b"not a folder")
    bad: list[Any] = [
        "",
        "   ",
        "None",
        42,
        "foo://bucket/videos/",
        "relative/videos/",
        "file://otherhost/videos/",
        f"{a_file}/",
        f"{a_file}/sub/clip.mp4",
    ]
    for destination in bad:
        for source in ({"video_id": "vid_1"}, {"video_url": server.root_url + "/media/vid_1.mp4"}):
            with pytest.raises(DmjyValidationError, match=r"^Invalid destination=") as raised:
                download(destination=destination, **source).execute(context={})
            assert isinstance(raised.value, AirflowFailException), destination
        evidence.message(raised.value)
    assert server.requests == []
    assert files_under(tmp_path) == ["a_file"] and a_file.read_bytes() == b"not a folder"


@pytest.mark.reliability(
    area=DISK,
    case="media and thumbnail requests after an API call in header mode",
    expected="no X-API-Key, X-API-Secret, X-Signature or Authorization on media requests",
)
def test_media_requests_carry_no_credentials(
    server: HostileServer, tmp_path: Path, evidence: Evidence
) -> None:
    completed(server, "vid_1", "/media/vid_1.mp4", thumbnailUrl=server.root_url + "/media/vid_1.jpg")
    server.route("GET", "/media/vid_1.mp4", Reply(body=MP4))
    server.route("GET", "/media/vid_1.jpg", Reply(body=b"\xff\xd8\xff\xe0jpeg"))
    result = download(video_id="vid_1", destination=f"{tmp_path}/", include_thumbnail=True).execute(
        context={}
    )
    api = server.seen("GET", "/api/v1/videos/vid_1")
    media = [seen for seen in server.requests if seen.path.startswith("/media/")]
    assert len(api) == 1 and api[0].headers["X-API-Secret"] == "sim_secret"  # header mode: the worst case
    assert len(media) == 2
    for seen in media:
        assert not {name.lower() for name in seen.headers} & CREDENTIAL_HEADERS
    assert evidence.no_secret_in(*(seen.headers for seen in media), result) == 0
    assert evidence.no_secret_in(*(seen.headers for seen in media), secrets=("mk_sim_key",)) == 0
    assert files_under(tmp_path) == ["vid_1.jpg", "vid_1.mp4"]
    assert (tmp_path / "vid_1.mp4").read_bytes() == MP4
