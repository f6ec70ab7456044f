"""The pytest plugin's fixture and handle."""

from __future__ import annotations

import importlib.metadata
import json
from urllib.parse import unquote, urlsplit

import pytest
import requests

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer


def test_fixture_handle(dmjy_simulator: SimulatorHandle) -> None:
    sim = dmjy_simulator
    assert sim.base_url == sim.root_url + "/api/v1"
    assert sim.base_url.startswith("http://127.0.0.1:")
    headers = {"X-API-Key": sim.api_key, "X-API-Secret": sim.api_secret}
    created = requests.post(
        sim.base_url + "/videos",
        json={"description": "d", "imageUrl": "https://example.com/p.jpg", "duration": 1},
        headers=headers,
        timeout=10,
    ).json()["data"]
    state = sim.state()
    assert state["videos"] == {created["id"]: "pending"}
    assert state["config"]["render_seconds"] == 1.0
    assert state["config"]["queue_seconds"] == 0.2
    assert sim.complete(created["id"])["status"] == "completed"
    assert sim.inject_fault(method="GET", path="/api/v1/account", status=500) == 1
    assert sim.configure(fail_rate=0.5)["fail_rate"] == 0.5
    assert sim.webhooks() == []


def test_fixture_starts_clean(dmjy_simulator: SimulatorHandle) -> None:
    state = dmjy_simulator.state()
    assert state["videos"] == {}
    assert state["faults_pending"] == 0
    assert state["config"]["fail_rate"] == 0.0


def test_conn_uri_and_json(dmjy_simulator: SimulatorHandle) -> None:
    sim = dmjy_simulator
    parts = urlsplit(sim.conn_uri)
    assert parts.scheme == "dmjy"
    assert unquote(parts.username or "") == sim.api_key
    assert unquote(parts.password or "") == sim.api_secret
    # Airflow percent-decodes the host back to the full base URL.
    assert unquote(sim.conn_uri.rsplit("@", 1)[1]) == sim.base_url
    assert json.loads(sim.conn_json) == {
        "conn_type": "dmjy",
        "login": sim.api_key,
        "password": sim.api_secret,
        "host": sim.base_url,
    }


def test_conn_uri_quotes_special_characters() -> None:
    handle = SimulatorHandle(
        base_url="http://127.0.0.1:1/api/v1",
        root_url="http://127.0.0.1:1",
        api_key="mk:a",
        api_secret="p@s/s",
    )
    assert handle.conn_uri == "dmjy://mk%3Aa:p%40s%2Fs@http%3A%2F%2F127.0.0.1%3A1%2Fapi%2Fv1"


def test_server_handle() -> None:
    with SimulatorServer(SimulatorConfig(port=0, api_key="mk_x", api_secret="y", balance=3)) as server:
        handle = server.handle()
        assert handle.base_url == server.base_url
        assert (handle.api_key, handle.api_secret) == ("mk_x", "y")
        assert handle.state()["balance"] == 3
        assert handle.state()["config"]["port"] == server.port


def test_entry_point_registered() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    if "dmjy_simulator" not in names:
        pytest.skip("package not installed (pytest11 entry point absent)")
    assert names["dmjy_simulator"] == "airflow_provider_dmjy.simulator.pytest_plugin"


def test_handle_for_a_printed_base_url_matches_the_servers_own(dmjy_simulator: SimulatorHandle) -> None:
    # demo, benchmarks and the deployment test only know the URL the CLI printed.
    handle = SimulatorHandle.for_base_url(dmjy_simulator.base_url)
    assert handle == dmjy_simulator
    assert handle.conn_uri == dmjy_simulator.conn_uri
    assert handle.state()["balance"] == dmjy_simulator.state()["balance"]
