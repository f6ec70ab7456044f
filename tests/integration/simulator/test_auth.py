"""Authentication: both modes, every 401 code, the timestamp window and the Date header."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
from sim_helpers import Api, error_of, sign

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle, SimulatorServer


def test_vendor_test_vector() -> None:
    """The sign string of the vendor's page, and a server whose clock sits at that timestamp."""
    message = "POST\n/api/v1/videos\n1704067200000\nmk_your_api_key_here"
    assert f"POST\n/api/v1/videos\n{1704067200000}\nmk_your_api_key_here" == message
    config = SimulatorConfig(
        port=0,
        api_key="mk_your_api_key_here",
        api_secret="your_api_secret_here",
        clock_offset_seconds=1704067200 - time.time(),
    )
    with SimulatorServer(config) as server:
        headers = {
            "X-API-Key": "mk_your_api_key_here",
            "X-Timestamp": "1704067200000",
            "X-Signature": sign(
                "your_api_secret_here", "POST", "/api/v1/videos", "1704067200000", "mk_your_api_key_here"
            ),
        }
        body = {"description": "d", "imageUrl": "https://example.com/p.jpg"}
        resp = requests.post(server.base_url + "/videos", json=body, headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["createdAt"].startswith("2024-01-01T00:0")
        assert resp.headers["Date"].startswith("Mon, 01 Jan 2024 00:0")


@pytest.mark.parametrize("mode", ["header", "signature"])
def test_both_modes_accepted(sim: SimulatorHandle, mode: str) -> None:
    resp = Api(sim, mode=mode).get("/account")
    assert resp.status_code == 200
    assert resp.json()["success"] is True


def _ts() -> str:
    return str(int(time.time() * 1000))


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "MISSING_CREDENTIALS"),
        ({"X-API-Key": "mk_sim_key"}, "MISSING_CREDENTIALS"),
        ({"X-API-Key": "mk_sim_key", "X-Timestamp": "1"}, "MISSING_CREDENTIALS"),
        ({"X-API-Key": "mk_wrong", "X-API-Secret": "sim_secret"}, "INVALID_API_KEY"),
        ({"X-API-Key": "mk_sim_key", "X-API-Secret": "wrong"}, "INVALID_SECRET"),
        ({"X-API-Key": "mk_sim_key", "X-Timestamp": "TS", "X-Signature": "00" * 32}, "INVALID_SIGNATURE"),
    ],
)
def test_401_codes(sim: SimulatorHandle, headers: dict[str, str], code: str) -> None:
    headers = {k: (_ts() if v == "TS" else v) for k, v in headers.items()}
    resp = requests.get(sim.base_url + "/account", headers=headers, timeout=10)
    assert resp.status_code == 401
    assert error_of(resp)["code"] == code
    assert "sim_secret" not in resp.text


def test_signature_over_wrong_method_or_path_rejected(sim: SimulatorHandle) -> None:
    ts = _ts()
    for method, path in [("POST", "/api/v1/account"), ("GET", "/api/v1/videos")]:
        headers = {
            "X-API-Key": sim.api_key,
            "X-Timestamp": ts,
            "X-Signature": sign(sim.api_secret, method, path, ts, sim.api_key),
        }
        resp = requests.get(sim.base_url + "/account", headers=headers, timeout=10)
        assert error_of(resp)["code"] == "INVALID_SIGNATURE"


def test_signature_is_lowercase_hex(sim: SimulatorHandle) -> None:
    ts = _ts()
    sig = sign(sim.api_secret, "GET", "/api/v1/account", ts, sim.api_key).upper()
    headers = {"X-API-Key": sim.api_key, "X-Timestamp": ts, "X-Signature": sig}
    assert requests.get(sim.base_url + "/account", headers=headers, timeout=10).status_code == 401


@pytest.mark.parametrize("skew_seconds", [-301, 301])
def test_timestamp_outside_window(sim: SimulatorHandle, skew_seconds: int) -> None:
    resp = Api(sim, clock_offset=skew_seconds).get("/account")
    assert resp.status_code == 401
    error = error_of(resp)
    assert error["code"] == "TIMESTAMP_EXPIRED"
    assert error["message"] == "Timestamp expired or outside the 5-minute window"


def test_timestamp_inside_window(sim: SimulatorHandle) -> None:
    assert Api(sim, clock_offset=-290).get("/account").status_code == 200
    assert Api(sim, clock_offset=290).get("/account").status_code == 200


def test_non_numeric_timestamp(sim: SimulatorHandle) -> None:
    headers = {
        "X-API-Key": sim.api_key,
        "X-Timestamp": "yesterday",
        "X-Signature": sign(sim.api_secret, "GET", "/api/v1/account", "yesterday", sim.api_key),
    }
    resp = requests.get(sim.base_url + "/account", headers=headers, timeout=10)
    assert error_of(resp)["code"] == "TIMESTAMP_EXPIRED"


def test_clock_offset_server() -> None:
    """A client on the host clock is refused by a server running 10 minutes ahead; Date shows why."""
    with SimulatorServer(SimulatorConfig(port=0, clock_offset_seconds=600)) as server:
        handle = server.handle()
        resp = Api(handle).get("/account")
        assert resp.status_code == 401
        assert error_of(resp)["code"] == "TIMESTAMP_EXPIRED"
        server_time = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp()
        assert abs(server_time - (time.time() + 600)) < 5
        # A client that follows the server's clock gets in.
        assert Api(handle, clock_offset=600).get("/account").status_code == 200


def test_query_string_signing(sim: SimulatorHandle) -> None:
    ts = _ts()
    url = sim.base_url + "/videos?page=1&limit=5"

    def call(signed_path: str) -> int:
        sig = sign(sim.api_secret, "GET", signed_path, ts, sim.api_key)
        headers = {"X-API-Key": sim.api_key, "X-Timestamp": ts, "X-Signature": sig}
        return requests.get(url, headers=headers, timeout=10).status_code

    assert call("/api/v1/videos") == 200
    assert call("/api/v1/videos?page=1&limit=5") == 401
    sim.configure(sign_query_string=True)
    assert call("/api/v1/videos") == 401
    assert call("/api/v1/videos?page=1&limit=5") == 200


def test_date_header_everywhere(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(clock_offset_seconds=3600)
    urls = [
        sim.base_url + "/account",
        sim.root_url + "/media/images/x.jpg",
        sim.root_url + "/_sim/state",
        sim.root_url + "/nope",
    ]
    for url in urls:
        resp = requests.get(url, timeout=10)
        date = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp()
        assert abs(date - (time.time() + 3600)) < 5, url
        assert "server" not in resp.headers


def test_unknown_api_route_is_enveloped(api: Api) -> None:
    resp = api.get("/nothing-here")
    assert resp.status_code == 404
    assert error_of(resp)["code"] == "NOT_FOUND"
