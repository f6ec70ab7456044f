"""A local HTTP simulator of the DMJY video API, for tests, demos and benchmarks.

It imports nothing from the rest of the provider (it checks signatures on its own), so a signing
bug in the client cannot hide behind shared code. The exports are loaded lazily: the pytest plugin
is imported by every pytest session of a user who installs the provider, and should not pay for
FastAPI and uvicorn until a simulator is actually started.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_dmjy.simulator.app import create_app
    from airflow_provider_dmjy.simulator.config import SimulatorConfig
    from airflow_provider_dmjy.simulator.handle import SimulatorHandle
    from airflow_provider_dmjy.simulator.server import SimulatorServer

__all__ = ["SimulatorConfig", "SimulatorHandle", "SimulatorServer", "create_app"]

_EXPORTS = {
    "create_app": "app",
    "SimulatorConfig": "config",
    "SimulatorHandle": "handle",
    "SimulatorServer": "server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
