"""pytest plugin (entry point ``dmjy_simulator``): fixtures that run a DMJY simulator.

``dmjy_simulator_server`` starts one simulator per test session on a free port with fast timings;
``dmjy_simulator`` resets it before each test and yields a :class:`SimulatorHandle`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

if TYPE_CHECKING:
    # Imported in the fixture: every pytest session loads this plugin, few start a simulator.
    from airflow_provider_dmjy.simulator.server import SimulatorServer

__all__ = ["SimulatorHandle", "dmjy_simulator", "dmjy_simulator_server", "test_config"]


def test_config() -> SimulatorConfig:
    """The configuration of the session simulator: a free port and quick renders."""
    return SimulatorConfig(port=0, render_seconds=1.0, queue_seconds=0.2)


# pytest must not collect the helper above as a test.
test_config.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def dmjy_simulator_server() -> Iterator[SimulatorServer]:
    """One running simulator for the whole session."""
    from airflow_provider_dmjy.simulator.server import SimulatorServer

    with SimulatorServer(test_config()) as server:
        yield server


@pytest.fixture
def dmjy_simulator(dmjy_simulator_server: SimulatorServer) -> SimulatorHandle:
    """The session simulator, reset to an empty state, as a :class:`SimulatorHandle`."""
    handle = dmjy_simulator_server.handle()
    handle.reset()
    return handle
