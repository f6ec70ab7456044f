"""Test session set-up: an Airflow home of its own, so tests never touch a user's ~/airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# Before anything imports airflow: configuration is read at import time.
_HOME = tempfile.mkdtemp(prefix="dmjy-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

from airflow_provider_dmjy.simulator.handle import SimulatorHandle  # noqa: E402


@pytest.fixture
def dmjy_conn(dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    """The reset simulator, with ``dmjy_default`` pointing at it (signature mode, fast retries)."""
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_simulator.conn_uri)
    return dmjy_simulator


@pytest.fixture
def hook(dmjy_conn: SimulatorHandle) -> Iterator[object]:
    from dataclasses import replace

    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

    hook = DmjyHook()
    # Short backoff: the tests check what is retried, not how long the waits are.
    hook.config = replace(hook.config, backoff_base=0.01)
    yield hook
    hook.close()
