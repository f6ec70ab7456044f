"""Helpers for the simulator tests: an independent signing client and a webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorHandle
from airflow_provider_dmjy.simulator.models import Task
from airflow_provider_dmjy.simulator.profiles import RenderPlan
from airflow_provider_dmjy.simulator.state import SimState

#: A seed whose first draw of every profile has plateaus and stalls of seconds: room to sample in.
SEED = 2
#: Queue and render seconds of the render-profile tests: long, so milliseconds of drift do not count.
QUEUE, RENDER = 10.0, 100.0


def sign(secret: str, method: str, path: str, timestamp: str, api_key: str) -> str:
    """The vendor's signature, written independently of the simulator's code."""
    message = f"{method}\n{path}\n{timestamp}\n{api_key}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class Api:
    """A tiny client for the simulator's /api/v1 with both auth modes."""

    def __init__(self, handle: SimulatorHandle, mode: str = "signature", clock_offset: float = 0.0) -> None:
        self.handle = handle
        self.mode = mode
        self.clock_offset = clock_offset
        self.session = requests.Session()

    def headers(self, method: str, path: str) -> dict[str, str]:
        if self.mode == "header":
            return {"X-API-Key": self.handle.api_key, "X-API-Secret": self.handle.api_secret}
        ts = str(int((time.time() + self.clock_offset) * 1000))
        return {
            "X-API-Key": self.handle.api_key,
            "X-Timestamp": ts,
            "X-Signature": sign(self.handle.api_secret, method, path, ts, self.handle.api_key),
        }

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``path`` is relative to /api/v1 and may carry a query string (not signed)."""
        full = "/api/v1" + path
        headers = {**self.headers(method, full.split("?", 1)[0]), **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.handle.root_url + full, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create_video(self, **fields: Any) -> dict[str, Any]:
        body = {
            "description": "展示智能保温杯的核心功能和特点",
            "imageUrl": "https://example.com/p.jpg",
            **fields,
        }
        resp = self.post("/videos", body)
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()["data"]
        return data


def error_of(resp: requests.Response) -> dict[str, Any]:
    """The error object of an error envelope (asserting its shape)."""
    body = resp.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


class Receiver:
    """A webhook receiver on loopback recording raw requests; answers queued statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.received)}")

    def events(self) -> list[str]:
        with self.lock:
            return [json.loads(r["body"])["event"] for r in self.received]


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


# -- render profiles, in process ---------------------------------------------------------------------


def new_state(profile: str, seed: int | None = SEED, **config: Any) -> SimState:
    settings: dict[str, Any] = {"queue_seconds": QUEUE, "render_seconds": RENDER, **config}
    return SimState(SimulatorConfig(render_profile=profile, seed=seed, **settings))


def create(state: SimState) -> Task:
    return state.add_task(
        title="t",
        description="d",
        image_urls=["https://example.com/p.jpg"],
        duration=5,
        aspect_ratio="9:16",
        callback_url=None,
        media_base="http://127.0.0.1:1",
        api_key="mk_sim_key",
    )


def plans(state: SimState, count: int) -> list[RenderPlan]:
    tasks = [create(state) for _ in range(count)]
    return [
        RenderPlan(t.profile, t.queue_seconds, t.render_seconds, t.stall_seconds, tuple(t.step_times))
        for t in tasks
    ]


def move_clock(sim: SimulatorHandle, when: float) -> None:
    """Put the simulator's clock at ``when`` (epoch seconds) now."""
    sim.configure(clock_offset_seconds=when - time.time())
