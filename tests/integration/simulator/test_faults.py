"""Fault injection, request counters and the control endpoints."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from sim_helpers import Api, error_of

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer

BODY = {"description": "d", "imageUrl": "https://example.com/p.jpg"}


def fresh(api: Api, method: str, path: str, json: object = None) -> requests.Response:
    """One request on a new connection, so a dropped connection cannot poison a pool."""
    full = "/api/v1" + path
    return requests.request(
        method, api.handle.root_url + full, headers=api.headers(method, full), json=json, timeout=10
    )


def test_status_fault(sim: SimulatorHandle, api: Api) -> None:
    assert sim.inject_fault(method="GET", path="/api/v1/account", status=500, times=2) == 2
    assert sim.state()["faults_pending"] == 2
    for _ in range(2):
        resp = api.get("/account")
        assert resp.status_code == 500
        assert error_of(resp)["code"] == "INTERNAL_ERROR"
    assert api.get("/account").status_code == 200
    assert sim.state()["faults_pending"] == 0


def test_fault_matches_template_and_method(sim: SimulatorHandle, api: Api) -> None:
    task_id = api.create_video()["id"]
    sim.inject_fault(method="GET", path="/api/v1/videos/{id}", status=503)
    assert api.get("/videos").status_code == 200  # other template
    assert api.delete("/videos/task_000000000000").status_code == 404  # other method
    assert api.get(f"/videos/{task_id}").status_code == 503


def test_fault_applies_before_auth(sim: SimulatorHandle) -> None:
    sim.inject_fault(method="GET", path="/api/v1/account", status=502)
    assert requests.get(sim.base_url + "/account", timeout=10).status_code == 502
    assert requests.get(sim.base_url + "/account", timeout=10).status_code == 401


def test_retry_after_fault(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="GET", path="/api/v1/videos", status=429, retry_after=2)
    resp = api.get("/videos")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"
    assert error_of(resp)["code"] == "RATE_LIMITED"


def test_code_and_message_override(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(
        method="POST", path="/api/v1/videos", status=429, code="DAILY_LIMIT_REACHED", message="每日上限"
    )
    resp = api.post("/videos", BODY)
    assert resp.status_code == 429
    assert error_of(resp) == {"code": "DAILY_LIMIT_REACHED", "message": "每日上限"}
    assert "Retry-After" not in resp.headers
    assert sim.state()["videos_created"] == 0


def test_raw_body_fault(sim: SimulatorHandle, api: Api) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    sim.inject_fault(method="GET", path="/api/v1/account", status=502, body=html)
    resp = api.get("/account")
    assert resp.status_code == 502
    assert resp.text == html
    assert resp.headers["Content-Type"].startswith("text/html")


def test_after_commit_status(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="POST", path="/api/v1/videos", status=500, after_commit=True)
    resp = api.post("/videos", BODY)
    assert resp.status_code == 500
    state = sim.state()
    assert state["videos_created"] == 1  # the work was done, only the answer was lost
    assert state["balance"] == 100_000 - 100


def test_drop_connection(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="POST", path="/api/v1/videos", drop_connection=True)
    with pytest.raises(requests.ConnectionError):
        fresh(api, "POST", "/videos", BODY)
    assert sim.state()["videos_created"] == 0
    assert fresh(api, "POST", "/videos", BODY).status_code == 200


def test_after_commit_drop_connection(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="POST", path="/api/v1/videos", drop_connection=True, after_commit=True)
    with pytest.raises(requests.ConnectionError):
        fresh(api, "POST", "/videos", BODY)
    state = sim.state()
    assert state["videos_created"] == 1
    assert list(state["videos"].values()) == ["pending"]


def test_drop_connection_on_keep_alive_session(sim: SimulatorHandle, api: Api) -> None:
    assert api.get("/account").status_code == 200  # opens a pooled connection
    sim.inject_fault(method="GET", path="/api/v1/account", drop_connection=True)
    with pytest.raises(requests.ConnectionError):
        api.get("/account")
    assert api.get("/account").status_code == 200


def test_delay(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="GET", path="/api/v1/account", delay_seconds=0.4)
    started = time.monotonic()
    resp = api.get("/account")
    assert resp.status_code == 200
    assert time.monotonic() - started >= 0.4
    sim.inject_fault(method="GET", path="/api/v1/account", delay_seconds=0.5)
    with pytest.raises(requests.Timeout):
        api.get("/account", timeout=0.1)


def test_commit_delay_commits_after_the_client_gave_up(sim: SimulatorHandle, api: Api) -> None:
    sim.inject_fault(method="POST", path="/api/v1/videos", commit_delay_seconds=0.5)
    with pytest.raises(requests.Timeout):
        api.post("/videos", BODY, timeout=0.1)
    # The client is gone; the server still does the work (a plain delay_seconds would not).
    deadline = time.monotonic() + 30
    while sim.state()["videos_created"] == 0:
        assert time.monotonic() < deadline, "the delayed create never committed"
        time.sleep(0.05)
    assert list(sim.state()["videos"].values()) == ["pending"]


def test_fault_validation(sim: SimulatorHandle) -> None:
    for body, field in [
        ({"path": "/api/v1/account"}, "method"),
        ({"method": "GET"}, "path"),
        ({"method": "GET", "path": "/api/v1/account", "times": 0}, "times"),
        ({"method": "GET", "path": "/api/v1/account", "status": "500"}, "status"),
        ({"method": "GET", "path": "/api/v1/account", "drop_connection": 1}, "drop_connection"),
    ]:
        resp = requests.post(sim.root_url + "/_sim/faults", json=body, timeout=10)
        assert resp.status_code == 400
        assert error_of(resp)["field"] == field


def test_request_counters(sim: SimulatorHandle, api: Api) -> None:
    a, b = api.create_video()["id"], api.create_video()["id"]
    api.get(f"/videos/{a}")
    api.get(f"/videos/{b}")
    requests.get(f"{sim.base_url}/videos/{a}", timeout=10)  # refused by auth, still counted
    sim.inject_fault(method="GET", path="/api/v1/videos/{id}", status=500)
    api.get(f"/videos/{a}")  # refused by a fault, still counted
    api.delete(f"/videos/{b}")
    api.get("/templates")
    requests.get(f"{sim.root_url}/media/images/x.jpg", timeout=10)  # not under /api/v1: not counted
    counts = sim.state()["requests"]
    assert counts == {
        "POST /api/v1/videos": 2,
        "GET /api/v1/videos/{id}": 4,
        "DELETE /api/v1/videos/{id}": 1,
        "GET /api/v1/templates": 1,
    }


def test_config_and_reset(sim: SimulatorHandle, api: Api) -> None:
    config = sim.configure(balance=5, render_seconds=0.5, rate_limit=100, webhook_url="http://127.0.0.1:1/x")
    assert config["render_seconds"] == 0.5
    assert "api_secret" not in config
    assert sim.state()["balance"] == 5
    for body in ({"api_secret": "x"}, {"balance": "5"}, {"balance": True}, {"fail_rate": 2}, {"nope": 1}):
        resp = requests.post(sim.root_url + "/_sim/config", json=body, timeout=10)
        assert resp.status_code == 400, body
        assert error_of(resp)["field"] == next(iter(body))
    api.post("/templates", {"userId": "u", "name": "n"})
    sim.inject_fault(method="GET", path="/api/v1/account", status=500)
    sim.reset()
    state = sim.state()
    assert state["balance"] == 100_000
    assert state["templates"] == {}
    assert state["requests"] == {}
    assert state["faults_pending"] == 0
    assert state["config"]["render_seconds"] == 1.0
    assert state["config"]["rate_limit"] is None
    assert state["config"]["webhook_url"] is None
    assert "api_secret" not in state["config"]


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            ip: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_control_endpoints_refuse_non_loopback() -> None:
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback address on this machine")
    with SimulatorServer(SimulatorConfig(host="0.0.0.0", port=0)) as server:  # noqa: S104
        resp = requests.get(f"http://{ip}:{server.port}/_sim/state", timeout=10)
        assert resp.status_code == 403
        assert requests.get(f"{server.root_url}/_sim/state", timeout=10).status_code == 200
