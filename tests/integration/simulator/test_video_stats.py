"""``video_stats`` in ``/_sim/state`` (status requests and end time per video), and render profiles
kept by ``--state-file``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import Api, create, move_clock, new_state, plans

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer
from airflow_provider_dmjy.simulator.models import iso
from airflow_provider_dmjy.simulator.persistence import restore_document, to_document
from airflow_provider_dmjy.simulator.state import SimState

STATUS = "GET /api/v1/videos/{id}"


def test_status_requests_are_counted_per_video(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(render_seconds=60)
    first, second = api.create_video()["id"], api.create_video()["id"]
    for _ in range(3):
        assert api.get(f"/videos/{first}").status_code == 200
    assert api.get(f"/videos/{second}").status_code == 200
    sim.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503)
    assert api.get(f"/videos/{second}").status_code == 503  # answered by a fault: still a request
    assert api.get(f"/videos/{second}", headers={"X-Signature": "0" * 64}).status_code == 401
    assert api.get("/videos/task_unknown").status_code == 404  # counted by route only
    api.get("/videos")  # a list is no status request
    state = sim.state()
    stats = state["video_stats"]
    assert (stats[first]["status_requests"], stats[second]["status_requests"]) == (3, 3)
    assert state["requests"][STATUS] == 3 + 3 + 1
    assert stats[first]["profile"] == "linear"


def test_completed_at_is_null_until_the_end_then_the_end_on_the_simulator_clock(
    sim: SimulatorHandle,
) -> None:
    sim.configure(queue_seconds=1, render_seconds=30, clock_offset_seconds=1000)
    api = Api(sim, mode="header")
    before = time.time() + 1000
    video = api.create_video()
    video_id = video["id"]
    after = time.time() + 1000
    assert sim.state()["video_stats"][video_id]["completed_at"] is None
    move_clock(sim, after + 15)
    assert api.get(f"/videos/{video_id}").json()["data"]["status"] == "processing"
    assert sim.state()["video_stats"][video_id]["completed_at"] is None
    move_clock(sim, after + 40)
    done = api.get(f"/videos/{video_id}").json()["data"]
    completed_at = sim.state()["video_stats"][video_id]["completed_at"]
    # The offset clock's time of the end (create + render seconds), with its fraction.
    assert before + 30 <= completed_at <= after + 30
    assert done["status"] == "completed"
    assert done["updatedAt"] == iso(completed_at)  # the task's own answer agrees, to the second
    move_clock(sim, after + 400)
    later = api.get(f"/videos/{video_id}").json()["data"]
    assert later["updatedAt"] == done["updatedAt"]  # and keeps saying so
    assert sim.state()["video_stats"][video_id]["completed_at"] == completed_at
    created = datetime.fromisoformat(video["createdAt"].replace("Z", "+00:00")).timestamp()
    assert completed_at - created == pytest.approx(30, abs=1)


def test_forced_and_failed_ends_and_deletions(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(render_seconds=60)
    forced, failed, dropped = (api.create_video()["id"] for _ in range(3))
    done = sim.complete(forced)
    sim.fail(failed, "boom")
    api.delete(f"/videos/{dropped}")
    state = sim.state()
    stats = state["video_stats"]
    assert done["updatedAt"] == iso(stats[forced]["completed_at"])
    assert stats[failed]["completed_at"] is not None  # the end, whichever it was
    assert state["videos"][failed] == "failed"
    assert stats[dropped]["completed_at"] is None  # deleted before its end: it never ends
    move_clock(sim, time.time() + 120)
    assert sim.state()["video_stats"][dropped]["completed_at"] is None
    assert sim.state()["videos"][dropped] == "deleted"


def test_a_video_deleted_after_its_end_keeps_its_end(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(render_seconds=60)
    video_id = api.create_video()["id"]
    ended = sim.complete(video_id)
    api.delete(f"/videos/{video_id}")
    assert iso(sim.state()["video_stats"][video_id]["completed_at"]) == ended["updatedAt"]


def test_a_reset_forgets_the_stats(sim: SimulatorHandle, api: Api) -> None:
    api.get(f"/videos/{api.create_video()['id']}")
    sim.reset()
    assert sim.state()["video_stats"] == {}


# -- --state-file ------------------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[SimulatorServer]]:
    started: list[SimulatorServer] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[SimulatorServer], state_file: Path, **config: Any) -> SimulatorHandle:
    server = SimulatorServer(SimulatorConfig(port=0, state_file=str(state_file), **config))
    servers.append(server.start())
    return server.handle()


def test_a_restart_keeps_each_video_s_profile_timings_and_counts(
    servers: list[SimulatorServer], tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    sim = start(servers, state_file, render_profile="stall", seed=2, queue_seconds=10.0, render_seconds=100.0)
    api = Api(sim, mode="header")
    video_id = api.create_video()["id"]
    api.get(f"/videos/{video_id}")
    api.get(f"/videos/{video_id}")
    servers[-1].stop()
    saved = next(
        t for t in json.loads(state_file.read_text(encoding="utf-8"))["tasks"] if t["id"] == video_id
    )
    assert saved["profile"] == "stall" and saved["stall_seconds"] > 0

    # Restarted as a linear simulator with other timings: the video keeps what it drew.
    again = start(servers, state_file, render_profile="linear", render_seconds=5.0)
    api = Api(again, mode="header")
    assert again.state()["video_stats"][video_id] == {
        "status_requests": 2,
        "completed_at": None,
        "profile": "stall",
    }
    ends = saved["created_at"] + saved["render_seconds"]
    move_clock(again, ends - saved["stall_seconds"] / 2)
    data = api.get(f"/videos/{video_id}").json()["data"]
    assert (data["status"], data["progress"]) == ("processing", 99)
    move_clock(again, ends + 1)
    assert api.get(f"/videos/{video_id}").json()["data"]["status"] == "completed"
    stats = again.state()["video_stats"][video_id]
    assert stats["completed_at"] == ends and stats["status_requests"] == 4


def roundtrip(state: SimState, **config: Any) -> SimState:
    """``state`` written and read back by a fresh simulator state, as across a restart."""
    restarted = SimState(SimulatorConfig(**config))
    restore_document(restarted, json.loads(json.dumps(to_document(state))))
    return restarted


def test_the_render_draws_go_on_across_a_restart() -> None:
    straight = plans(new_state("mixed", seed=9), 10)
    state = new_state("mixed", seed=9)
    first = plans(state, 4)
    restarted = roundtrip(state, render_profile="mixed", seed=9, queue_seconds=10.0, render_seconds=100.0)
    assert first + plans(restarted, 6) == straight


def test_a_state_file_from_before_render_profiles_still_loads() -> None:
    state = new_state("linear", seed=9)
    task = create(state)
    document = to_document(state)
    del document["render_rng"]
    for field in ("profile", "stall_seconds", "step_times", "status_requests", "deleted_at"):
        del document["tasks"][0][field]
    restarted = SimState(SimulatorConfig(seed=9, render_profile="stall"))
    restore_document(restarted, document)
    old = restarted.tasks[task.id]
    assert (old.profile, old.stall_seconds, old.step_times, old.status_requests) == ("linear", 0.0, [], 0)
    assert old.status_at(old.created_at + 55) == task.status_at(task.created_at + 55)
    assert restarted.snapshot()["video_stats"][task.id]["profile"] == "linear"
    # The render stream starts again from the seed.
    assert plans(restarted, 3) == plans(new_state("stall", seed=9, queue_seconds=1.0, render_seconds=5.0), 3)
