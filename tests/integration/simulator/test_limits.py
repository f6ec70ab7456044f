"""Rate limit and daily cap."""

from __future__ import annotations

import urllib.error

import pytest
from sim_helpers import Api, error_of

from airflow_provider_dmjy.simulator import SimulatorHandle


def test_rate_limit(sim: SimulatorHandle, api: Api) -> None:
    # One token per 20 s: the bucket cannot refill between these requests however busy the machine
    # is (a rate of a few per second made the test depend on how fast five requests were sent).
    sim.configure(rate_limit=0.05)
    codes = [api.get("/account").status_code for _ in range(3)]
    assert codes == [200, 429, 429]
    resp = api.get("/account")
    assert resp.status_code == 429
    assert error_of(resp)["code"] == "RATE_LIMITED"
    assert int(resp.headers["Retry-After"]) >= 1
    assert sim.state()["requests"]["GET /api/v1/account"] == 4
    sim.configure(rate_limit=None)
    assert api.get("/account").status_code == 200


def test_daily_cap(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(daily_cap=2)
    api.create_video()
    api.create_video()
    resp = api.post("/videos", {"description": "d", "imageUrl": "https://example.com/p.jpg"})
    assert resp.status_code == 429
    error = error_of(resp)
    assert error["code"] == "DAILY_LIMIT_REACHED"
    assert error["message"] == "Daily video limit reached; resets at 00:00"
    assert "Retry-After" not in resp.headers
    # Validation comes before the cap; reads are not capped.
    assert api.post("/videos", {"imageUrl": "https://example.com/p.jpg"}).status_code == 400
    assert api.get("/videos").status_code == 200
    # The next simulated day resets the counter.
    sim.configure(clock_offset_seconds=86400)
    assert (
        Api(sim, clock_offset=86400)
        .post("/videos", {"description": "d", "imageUrl": "https://example.com/p.jpg"})
        .status_code
        == 200
    )


def test_rate_burst_and_the_rate_limited_count(sim: SimulatorHandle, api: Api) -> None:
    # One token per 20 s (nothing refills during the test), a bucket of two.
    sim.configure(rate_limit=0.05, rate_burst=2)
    codes = [api.get("/account").status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    assert sim.state()["rate_limited"] == 2
    sim.configure(rate_burst=None)  # back to one second's worth (here 1 token): a fresh bucket
    assert [api.get("/account").status_code for _ in range(2)] == [200, 429]
    assert sim.state()["rate_limited"] == 3
    sim.reset()
    assert sim.state()["rate_limited"] == 0


def test_a_fault_429_is_not_counted_as_rate_limited(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="GET", path="/api/v1/account", status=429, retry_after=1)
    assert api.get("/account").status_code == 429
    assert sim.state()["rate_limited"] == 0


def test_seeded_videos_skip_the_rate_limit_and_the_request_counters(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(rate_limit=0.05)
    ids = sim.seed_videos(5, duration=4)
    assert len(set(ids)) == 5
    state = sim.state()
    assert state["videos_created"] == 5
    assert state["balance"] == 100_000 - 5 * 4 * 10
    assert state["requests"] == {}
    assert sum(state["daily_creates"].values()) == 5
    # The bucket is still full: the first API request passes.
    assert api.get(f"/videos/{ids[0]}").json()["data"]["title"] == "Seeded video 0"


@pytest.mark.parametrize("body", [{}, {"count": 0}, {"count": 10_001}, {"count": "3"}, {"count": True}])
def test_seeding_checks_the_count(sim: SimulatorHandle, body: dict[str, object]) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        sim._call("POST", "/_sim/videos", body)
    assert raised.value.code == 400


def test_seeding_checks_the_duration(sim: SimulatorHandle) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        sim.seed_videos(1, duration=61)
    assert raised.value.code == 400
