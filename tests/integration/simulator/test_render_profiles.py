"""Render profiles: the shape of each over the simulator's clock, seeded draws, live and CLI settings.

Time is moved, never waited for: in-process, a task's status is read at chosen instants of the
simulator's clock (``status_at`` is a pure function of it); through HTTP, ``clock_offset_seconds``
puts the server's clock where the test wants it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sim_helpers import QUEUE, RENDER, SEED, Api, create, error_of, move_clock, new_state, plans

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer
from airflow_provider_dmjy.simulator.cli import build_parser, config_from_args
from airflow_provider_dmjy.simulator.models import Task
from airflow_provider_dmjy.simulator.profiles import (
    MIXED_DRAWS,
    PROFILES,
    STEP_LEVELS,
    draw_plan,
)
from airflow_provider_dmjy.simulator.state import render_stream


def curve(task: Task, step: float = 0.05) -> list[tuple[float, str, int]]:
    """``(seconds after create, status, progress)`` sampled until just after the task's end."""
    samples, t = [], 0.0
    while t <= task.render_seconds + 1:
        status, progress, _ = task.status_at(task.created_at + t)
        samples.append((t, status, progress))
        t += step
    return samples


def processing(samples: list[tuple[float, str, int]]) -> list[int]:
    return [progress for _, status, progress in samples if status == "processing"]


# -- the shapes --------------------------------------------------------------------------------------


def test_linear_is_the_straight_line_of_before() -> None:
    task = create(new_state("linear"))
    assert (task.profile, task.queue_seconds, task.render_seconds) == ("linear", QUEUE, RENDER)
    assert task.status_at(task.created_at + QUEUE - 0.01)[:2] == ("pending", 0)
    for t in (10.0, 32.5, 55.0, 77.5, 99.9):
        assert task.status_at(task.created_at + t)[:2] == ("processing", int(99 * (t - QUEUE) / 90))
    assert task.status_at(task.created_at + RENDER) == ("completed", 100, task.created_at + RENDER)


def test_lognormal_draws_long_tailed_times_around_the_configured_ones() -> None:
    state = new_state("lognormal")
    tasks = [create(state) for _ in range(2000)]
    queues = sorted(t.queue_seconds for t in tasks)
    works = sorted(t.render_seconds - t.queue_seconds for t in tasks)
    # The configured values are the medians (the render time is the configured one less the queue).
    assert statistics.median(queues) == pytest.approx(QUEUE, rel=0.1)
    assert statistics.median(works) == pytest.approx(RENDER - QUEUE, rel=0.1)
    # Long tails: p95/median is exp(1.645 sigma), about 5.2 for queues (sigma 1.0), 2.3 for renders (0.5).
    assert 4.0 < queues[1900] / statistics.median(queues) < 7.0
    assert 1.9 < works[1900] / statistics.median(works) < 2.8
    assert {t.profile for t in tasks} == {"lognormal"} and not any(t.stall_seconds for t in tasks)
    # Progress is still a straight line from the drawn queue end to the drawn end.
    task = tasks[0]
    middle = task.queue_seconds + (task.render_seconds - task.queue_seconds) / 2
    assert task.status_at(task.created_at + middle)[:2] == ("processing", 49)
    assert task.status_at(task.created_at + task.render_seconds)[0] == "completed"


def test_steps_reports_coarse_jumps_then_ends_at_the_drawn_finish() -> None:
    state = new_state("steps")
    for task in [create(state) for _ in range(20)]:
        samples = curve(task, step=0.01)
        levels = processing(samples)
        assert levels == sorted(levels)  # never goes back
        assert set(levels) <= set(STEP_LEVELS)
        assert len(task.step_times) == len(STEP_LEVELS) - 1
        for level, at in zip(STEP_LEVELS[1:], task.step_times, strict=True):
            assert task.status_at(task.created_at + at + 1e-6)[:2] == ("processing", level)
            assert task.status_at(task.created_at + at - 1e-6)[1] < level
        assert task.queue_seconds <= task.step_times[0] and task.step_times[-1] <= task.render_seconds
        assert task.status_at(task.created_at + task.render_seconds - 1e-6)[:2] == ("processing", 99)
        assert task.status_at(task.created_at + task.render_seconds)[:2] == ("completed", 100)
    # Plateaus of random length: the jumps are not where a straight line would put them.
    first_jumps = [
        (t.step_times[0] - t.queue_seconds) / (t.render_seconds - t.queue_seconds)
        for t in state.tasks.values()
    ]
    assert max(first_jumps) > 0.2 and min(first_jumps) < 0.1


def test_stall_holds_99_for_a_long_variable_time_before_the_end() -> None:
    state = new_state("stall")
    tasks = [create(state) for _ in range(200)]
    ratios = []
    for task in tasks:
        work = task.render_seconds - task.stall_seconds - task.queue_seconds
        ratios.append(task.stall_seconds / work)
        ramp_end = task.created_at + task.queue_seconds + work
        assert task.status_at(ramp_end - work / 2)[:2] == ("processing", 49)
        for fraction in (0.001, 0.25, 0.5, 0.75, 0.999):
            assert task.status_at(ramp_end + fraction * task.stall_seconds)[:2] == ("processing", 99)
        assert task.status_at(task.created_at + task.render_seconds)[:2] == ("completed", 100)
    assert all(0.5 <= r <= 3.0 for r in ratios)
    assert min(ratios) < 0.7 and max(ratios) > 2.8  # variable over the whole range


def test_mixed_draws_every_profile_and_each_video_keeps_its_own() -> None:
    state = new_state("mixed")
    tasks = [create(state) for _ in range(60)]
    assert {t.profile for t in tasks} == set(MIXED_DRAWS)
    for task in tasks:
        levels = set(processing(curve(task, step=0.5)))
        if task.profile == "steps":
            assert levels <= set(STEP_LEVELS)
        if task.profile == "stall":
            assert task.stall_seconds > 0
        if task.profile == "linear":
            assert (task.queue_seconds, task.render_seconds) == (QUEUE, RENDER)


def test_a_random_failure_comes_at_the_drawn_end_at_99() -> None:
    task = create(new_state("stall", fail_rate=1.0))
    assert task.status_at(task.created_at + task.render_seconds - 0.01)[:2] == ("processing", 99)
    assert task.status_at(task.created_at + task.render_seconds)[:2] == ("failed", 99)


# -- determinism -------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_the_same_seed_and_creates_give_the_same_timings(profile: str) -> None:
    assert plans(new_state(profile, seed=5), 30) == plans(new_state(profile, seed=5), 30)
    if profile != "linear":
        assert plans(new_state(profile, seed=5), 30) != plans(new_state(profile, seed=6), 30)
        assert plans(new_state(profile, seed=None), 30) != plans(new_state(profile, seed=None), 30)


def test_a_reset_starts_the_draws_again() -> None:
    state = new_state("mixed")
    first = plans(state, 10)
    state.reset()
    assert plans(state, 10) == first


def test_the_profile_does_not_change_which_renders_fail() -> None:
    def failures(profile: str) -> list[bool]:
        state = new_state(profile, seed=3, fail_rate=0.5)
        return [create(state).will_fail for _ in range(40)]

    outcomes = failures("linear")
    assert set(outcomes) == {True, False}
    assert all(failures(profile) == outcomes for profile in PROFILES)


# -- through HTTP, on a seeded server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_server() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(port=0, seed=SEED, queue_seconds=QUEUE, render_seconds=RENDER)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def seeded(seeded_server: SimulatorServer) -> SimulatorHandle:
    handle = seeded_server.handle()
    handle.reset()  # the start-up configuration, and both random streams from the seed again
    return handle


@pytest.mark.parametrize("profile", ["linear", "lognormal", "steps", "stall"])
def test_the_server_follows_the_plan_drawn_from_its_seed(seeded: SimulatorHandle, profile: str) -> None:
    seeded.configure(render_profile=profile)
    plan = draw_plan(profile, QUEUE, RENDER, render_stream(SEED))  # the first draw after the reset
    api = Api(seeded, mode="header")  # no timestamp window: the clock moves far
    before = time.time()
    video_id = api.create_video()["id"]
    created = (before + time.time()) / 2  # within milliseconds; every instant below has seconds of room
    ramp_end = plan.render_seconds - plan.stall_seconds
    expected: list[tuple[float, str, int]] = [(plan.queue_seconds / 2, "pending", 0)]
    if plan.step_times:
        bounds = (plan.queue_seconds, *plan.step_times, plan.render_seconds)
        expected += [
            ((a + b) / 2, "processing", level)
            for a, b, level in zip(bounds[:-1], bounds[1:], STEP_LEVELS, strict=True)
        ]
    else:
        expected.append(((plan.queue_seconds + ramp_end) / 2, "processing", 49))
    if plan.stall_seconds:
        expected.append((ramp_end + plan.stall_seconds / 2, "processing", 99))
    expected.append((plan.render_seconds + 1, "completed", 100))
    for offset, status, progress in expected:
        move_clock(seeded, created + offset)
        data = api.get(f"/videos/{video_id}").json()["data"]
        assert (data["status"], data["progress"]) == (status, progress), (profile, offset)
    stats = seeded.state()["video_stats"][video_id]
    assert stats["profile"] == profile
    assert stats["completed_at"] == pytest.approx(created + plan.render_seconds, abs=0.05)
    assert stats["status_requests"] == len(expected)


def test_mixed_on_the_server_draws_per_video(seeded: SimulatorHandle) -> None:
    seeded.configure(render_profile="mixed")
    api = Api(seeded)
    ids = [api.create_video()["id"] for _ in range(12)]
    stream = render_stream(SEED)
    drawn = [draw_plan("mixed", QUEUE, RENDER, stream).profile for _ in ids]
    stats = seeded.state()["video_stats"]
    assert [stats[video_id]["profile"] for video_id in ids] == drawn
    assert len(set(drawn)) > 1


# -- settings ----------------------------------------------------------------------------------------


def test_the_profile_is_set_live_and_applies_to_new_videos(sim: SimulatorHandle, api: Api) -> None:
    assert sim.state()["config"]["render_profile"] == "linear"
    before = api.create_video()["id"]
    assert sim.configure(render_profile="stall")["render_profile"] == "stall"
    after = api.create_video()["id"]
    stats = sim.state()["video_stats"]
    assert (stats[before]["profile"], stats[after]["profile"]) == ("linear", "stall")


@pytest.mark.parametrize("value", ["bogus", "", 3, True, None])
def test_a_wrong_profile_is_refused_live(sim: SimulatorHandle, api: Api, value: Any) -> None:
    resp = api.session.post(sim.root_url + "/_sim/config", json={"render_profile": value}, timeout=10)
    assert resp.status_code == 400
    assert error_of(resp)["field"] == "render_profile"
    assert sim.state()["config"]["render_profile"] == "linear"


def test_config_and_command_line() -> None:
    assert SimulatorConfig().render_profile == "linear"
    with pytest.raises(ValueError, match="render_profile must be one of"):
        SimulatorConfig(render_profile="gaussian")
    assert config_from_args(build_parser().parse_args([])).render_profile == "linear"
    for profile in PROFILES:
        args = build_parser().parse_args(["--render-profile", profile, "--seed", "4"])
        assert (config_from_args(args).render_profile, config_from_args(args).seed) == (profile, 4)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--render-profile", "gaussian"])


def test_draws_are_the_same_in_another_process() -> None:
    # The stream's seed is a string: hashed with SHA-512, not with the per-process hash(), so a
    # benchmark run again (another process, another PYTHONHASHSEED) draws the same timings.
    code = (
        "from airflow_provider_dmjy.simulator.profiles import draw_plan\n"
        "from airflow_provider_dmjy.simulator.state import render_stream\n"
        "stream = render_stream(7)\n"
        "print([draw_plan('mixed', 10.0, 100.0, stream) for _ in range(5)])\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60
    ).stdout
    stream = render_stream(7)
    assert out.strip() == repr([draw_plan("mixed", 10.0, 100.0, stream) for _ in range(5)])
