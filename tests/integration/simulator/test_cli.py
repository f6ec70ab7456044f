"""The command line: ready line on stdout, serving, clean exit on signals."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from airflow_provider_dmjy.simulator.cli import build_parser, config_from_args

REPO_ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"^DMJY simulator listening on http://127\.0\.0\.1:(\d+)/api/v1$")


def _read_line(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(timeout)
    if not lines:
        proc.kill()
        raise AssertionError("the simulator printed no ready line")
    return lines[0].rstrip("\n")


def _start(command: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_module_prints_ready_line_and_stops(sig: signal.Signals) -> None:
    proc = _start([sys.executable, "-m", "airflow_provider_dmjy.simulator", "--port", "0", "--balance", "42"])
    try:
        line = _read_line(proc)
        match = READY.match(line)
        assert match, line
        port = int(match.group(1))
        assert port != 0
        headers = {"X-API-Key": "mk_sim_key", "X-API-Secret": "sim_secret"}
        resp = requests.get(f"http://127.0.0.1:{port}/api/v1/account", headers=headers, timeout=10)
        assert resp.json()["data"]["balance"] == 42
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        assert proc.stdout.read() == ""  # exactly one line
        assert proc.stderr is not None
        assert "sim_secret" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_console_script() -> None:
    script = shutil.which("dmjy-simulator", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("package not installed (no dmjy-simulator script)")
    proc = _start([script, "--port", "0"])
    try:
        assert READY.match(_read_line(proc))
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_arguments_map_to_config() -> None:
    args = build_parser().parse_args(
        [
            "--port", "0", "--api-key", "mk_a", "--api-secret", "s", "--balance", "7",
            "--cost-per-second", "3", "--low-balance-threshold", "5", "--render-seconds", "0.5",
            "--queue-seconds", "0.1", "--fail-rate", "0.25", "--seed", "9", "--clock-offset-seconds", "-30",
            "--rate-limit", "2.5", "--daily-cap", "4", "--sign-query-string", "--log-level", "debug",
            "--webhook-url", "http://127.0.0.1:1/h",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.port == 0
    assert (config.api_key, config.api_secret, config.balance) == ("mk_a", "s", 7)
    assert (config.cost_per_second, config.low_balance_threshold) == (3, 5)
    assert (config.render_seconds, config.queue_seconds, config.fail_rate) == (0.5, 0.1, 0.25)
    assert (config.seed, config.clock_offset_seconds) == (9, -30.0)
    assert (config.rate_limit, config.daily_cap, config.sign_query_string) == (2.5, 4, True)
    assert (config.log_level, config.webhook_url) == ("debug", "http://127.0.0.1:1/h")
    defaults = config_from_args(build_parser().parse_args([]))
    assert (defaults.port, defaults.api_key, defaults.api_secret) == (8787, "mk_sim_key", "sim_secret")
    assert (defaults.balance, defaults.render_seconds, defaults.queue_seconds) == (100_000, 5.0, 1.0)
    assert defaults.rate_limit is None
    assert defaults.daily_cap is None


def test_server_socket_is_tcp_so_asyncio_disables_nagle() -> None:
    # Regression: a socket created with protocol 0 made asyncio skip TCP_NODELAY, and every
    # keep-alive response waited ~40 ms (found by benchmarks/run.py).
    import socket

    from airflow_provider_dmjy.simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(port=0)) as server:
        assert server._socket is not None
        assert server._socket.proto == socket.IPPROTO_TCP


def _help_entries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``--help`` as ``{"--option": "its help text"}``, read from the text a user sees."""
    monkeypatch.setenv("COLUMNS", "1000")  # one line per help text: nothing to unwrap
    lines = build_parser().format_help().split("options:\n", 1)[1].splitlines()
    entries: list[list[str]] = []
    for line in lines:
        if line.startswith("  -"):
            entries.append([line.strip()])
        elif entries and line.strip():
            entries[-1].append(line.strip())
    found = {}
    for invocation_and_help, *more in entries:
        invocation, _, help_text = invocation_and_help.partition("  ")
        option = invocation.split()[0]
        if option != "-h,":
            found[option] = " ".join([help_text.strip(), *more]).strip()
    return found


def _documented_defaults() -> dict[str, str]:
    """The option -> default column of the options table in docs/simulator.md."""
    text = (REPO_ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    rows = [line for line in text.split("## Options", 1)[1].splitlines() if line.startswith("| `--")]
    return {row.split("|")[1].strip(" `"): row.split("|")[2].strip().replace("`", "") for row in rows}


def test_help_explains_every_option_with_its_documented_default(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = _help_entries(monkeypatch)
    documented = _documented_defaults()
    assert set(entries) == set(documented)
    config = config_from_args(build_parser().parse_args([]))
    for option, help_text in entries.items():
        match = re.fullmatch(r"(?P<sentence>.{10,}) \(default: (?P<default>[^()]+)\)", help_text)
        assert match, f"{option}: no help sentence ending in (default: ...): {help_text!r}"
        shown = match.group("default")
        assert shown == documented[option], option
        value = getattr(config, option[2:].replace("-", "_"))
        if value is None or value is False:
            assert shown in ("off", "none"), option
        else:
            assert shown == str(value), option
