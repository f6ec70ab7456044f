"""Rate limit and daily cap."""

from __future__ import annotations

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
