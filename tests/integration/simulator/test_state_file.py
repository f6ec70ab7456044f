"""``--state-file``: a restarted simulator answers for what it did before, or forgets it without one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sim_helpers import Api, wait_until
from test_cli import REPO_ROOT, _read_line

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer
from airflow_provider_dmjy.simulator.cli import build_parser, config_from_args
from airflow_provider_dmjy.simulator.persistence import StateFileError


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "sim-state.json"


@pytest.fixture
def servers() -> Iterator[list[SimulatorServer]]:
    """Servers a test started; whatever is still running at the end is stopped."""
    started: list[SimulatorServer] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[SimulatorServer], state_file: Path | None, **config: Any) -> Api:
    settings: dict[str, Any] = {"port": 0, "render_seconds": 60.0, "queue_seconds": 0.1, **config}
    server = SimulatorServer(
        SimulatorConfig(state_file=None if state_file is None else str(state_file), **settings)
    )
    servers.append(server.start())
    return Api(server.handle())


def stop(servers: list[SimulatorServer]) -> None:
    servers[-1].stop()


def test_a_restart_with_the_state_file_knows_everything(
    servers: list[SimulatorServer], state_file: Path
) -> None:
    api = start(servers, state_file, balance=1000, queue_seconds=30.0)
    video = api.create_video(duration=5)
    template = api.post("/templates", {"userId": "u1", "name": "保温杯"}).json()["data"]
    assert api.get(f"/videos/{video['id']}").status_code == 200
    before = api.handle.state()
    stop(servers)  # at once: the create's answer alone must have put the video on disk

    again = start(servers, state_file, balance=1000, queue_seconds=30.0)
    found = again.get(f"/videos/{video['id']}")
    assert found.status_code == 200, found.text
    assert found.json()["data"]["createdAt"] == video["createdAt"]
    after = again.handle.state()
    assert after["videos"] == before["videos"]
    assert after["videos_created"] == 1
    assert after["balance"] == 1000 - 5 * 10  # charged once, not refunded nor reset to --balance
    assert after["templates"] == {template["id"]: "保温杯"}
    assert after["requests"]["POST /api/v1/videos"] == 1
    assert after["requests"]["GET /api/v1/videos/{id}"] == 2  # the counters go on
    assert again.get("/account").json()["data"]["usage"]["today"] == 50


def test_progress_goes_on_across_a_restart(servers: list[SimulatorServer], state_file: Path) -> None:
    api = start(servers, state_file, render_seconds=1.0, queue_seconds=0.1)
    video_id = api.create_video()["id"]
    stop(servers)
    # The restarted simulator is configured for long renders; the task keeps the timing it was
    # created with, on absolute timestamps, so it completes about a second after its create.
    again = start(servers, state_file, render_seconds=600.0)
    wait_until(lambda: again.get(f"/videos/{video_id}").json()["data"]["status"] == "completed", timeout=30)
    done = again.get(f"/videos/{video_id}").json()["data"]
    media = requests.get(done["videoUrl"], timeout=10)
    assert media.status_code == 200 and media.content


def test_without_the_state_file_a_restart_forgets(servers: list[SimulatorServer], state_file: Path) -> None:
    api = start(servers, state_file)
    video_id = api.create_video()["id"]
    stop(servers)
    assert state_file.exists()
    forgetful = start(servers, None)
    answer = forgetful.get(f"/videos/{video_id}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert forgetful.handle.state()["videos_created"] == 0


def test_reset_empties_the_file_too(servers: list[SimulatorServer], state_file: Path) -> None:
    api = start(servers, state_file)
    video_id = api.create_video()["id"]
    api.handle.reset()
    stop(servers)
    again = start(servers, state_file)
    assert again.get(f"/videos/{video_id}").status_code == 404
    assert again.handle.state()["videos_created"] == 0


def test_the_random_sequence_goes_on(servers: list[SimulatorServer], state_file: Path) -> None:
    # With --seed the sequence of failed renders is the same with or without a restart in between.
    settings = {"seed": 7, "fail_rate": 0.5, "render_seconds": 0.0, "queue_seconds": 0.0}

    def outcomes(api: Api, count: int) -> list[str]:
        ids = [api.create_video()["id"] for _ in range(count)]
        return [api.get(f"/videos/{video_id}").json()["data"]["status"] for video_id in ids]

    straight = outcomes(start(servers, None, **settings), 8)
    assert set(straight) == {"completed", "failed"}  # the seed gives both, or the test proves nothing
    first = outcomes(start(servers, state_file, **settings), 3)
    stop(servers)
    assert first + outcomes(start(servers, state_file, **settings), 5) == straight


def test_the_file_is_replaced_atomically_and_holds_no_secret(
    servers: list[SimulatorServer], state_file: Path
) -> None:
    api = start(servers, state_file)
    api.create_video()
    document = json.loads(state_file.read_text(encoding="utf-8"))
    assert document["format"] == 1 and len(document["tasks"]) == 1
    assert "sim_secret" not in state_file.read_text(encoding="utf-8")
    assert sorted(os.listdir(state_file.parent)) == [state_file.name]  # no temporary left behind


@pytest.mark.parametrize("content", ["not json", '{"format": 99}', '{"format": 1, "tasks": []}'])
def test_a_foreign_file_is_refused_not_overwritten(state_file: Path, content: str) -> None:
    state_file.write_text(content, encoding="utf-8")
    server = SimulatorServer(SimulatorConfig(port=0, state_file=str(state_file)))
    with pytest.raises(StateFileError, match="not a state file of this simulator"):
        server.start()
    assert state_file.read_text(encoding="utf-8") == content


def test_an_unwritable_path_fails_the_start(tmp_path: Path) -> None:
    server = SimulatorServer(SimulatorConfig(port=0, state_file=str(tmp_path / "missing" / "state.json")))
    with pytest.raises(StateFileError, match="cannot write the state file"):
        server.start()


def test_command_line_option() -> None:
    assert config_from_args(build_parser().parse_args([])).state_file is None
    args = build_parser().parse_args(["--state-file", "/tmp/sim.json"])
    assert config_from_args(args).state_file == "/tmp/sim.json"
    assert "default: off" in " ".join(build_parser().format_help().split())


def _cli(*arguments: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "airflow_provider_dmjy.simulator", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )


def _handle(proc: subprocess.Popen[str]) -> SimulatorHandle:
    line = _read_line(proc)
    return SimulatorHandle.for_base_url(line.rsplit(" ", 1)[1])


def test_a_killed_simulator_process_still_knows_the_video(state_file: Path) -> None:
    # SIGKILL: no shutdown hook runs, so this proves the file is written before the answer leaves.
    proc = _cli("--state-file", str(state_file), "--render-seconds", "60")
    try:
        video_id = Api(_handle(proc)).create_video()["id"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        again = _cli("--state-file", str(state_file))
        try:
            assert Api(_handle(again)).get(f"/videos/{video_id}").status_code == 200
        finally:
            again.terminate()
            assert again.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_command_line_refuses_a_foreign_file_with_one_line(state_file: Path) -> None:
    state_file.write_text("[]", encoding="utf-8")
    proc = _cli("--state-file", str(state_file))
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2
    assert stderr.startswith("dmjy-simulator: error: ") and "Traceback" not in stderr
