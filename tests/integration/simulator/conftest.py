"""Fixtures for the simulator's own tests."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest
from sim_helpers import Api, Receiver

from airflow_provider_dmjy.simulator import SimulatorHandle

# The plugin normally arrives through the pytest11 entry point; fall back to importing its fixtures
# when the package is not installed (e.g. a fresh checkout run with `python -m pytest`).
if not any(ep.name == "dmjy_simulator" for ep in importlib.metadata.entry_points(group="pytest11")):
    from airflow_provider_dmjy.simulator.pytest_plugin import (  # noqa: F401
        dmjy_simulator,
        dmjy_simulator_server,
    )


@pytest.fixture
def sim(dmjy_simulator: SimulatorHandle) -> SimulatorHandle:
    """The plugin's session simulator, reset."""
    return dmjy_simulator


@pytest.fixture
def api(sim: SimulatorHandle) -> Api:
    """A signature-mode client of ``sim``."""
    return Api(sim)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    rec = Receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()
