"""Test session set-up: an Airflow home of its own, so tests never touch a user's ~/airflow."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Before anything imports airflow: configuration is read at import time.
_HOME = tempfile.mkdtemp(prefix="dmjy-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
# dag.test() (Airflow >= 3.3) syncs the DAG from its bundle: test DAG files are written here.
DAGS_FOLDER = os.path.join(_HOME, "dags")
os.makedirs(DAGS_FOLDER, exist_ok=True)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS_FOLDER
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

from airflow_provider_dmjy.simulator.handle import SimulatorHandle  # noqa: E402

# The reliability cases' `evidence` fixture and report hook: tests/reliability and tests/deployment.
pytest_plugins = ["tests.reliability.evidence"]


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in a conftest below tests/: only the root conftest may add options.
    parser.addoption(
        "--reliability-report",
        default=None,
        help="write one JSON line per reliability case to this file (see make reliability)",
    )


@pytest.fixture
def dmjy_conn(dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    """The reset simulator, with ``dmjy_default`` pointing at it (signature mode, fast retries)."""
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_simulator.conn_uri)
    return dmjy_simulator


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks retry with a 10 ms backoff: the tests check what is retried, not how long it takes."""
    from dataclasses import replace

    from airflow_provider_dmjy.hooks import connection

    original = connection.config_from_connection

    def fast(conn: Any, **overrides: Any) -> Any:
        return replace(original(conn, **overrides), backoff_base=0.01)

    monkeypatch.setattr(connection, "config_from_connection", fast)


@pytest.fixture
def hook(dmjy_conn: SimulatorHandle) -> Iterator[object]:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

    hook = DmjyHook()
    yield hook
    hook.close()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh SQLite metadata database in the session's Airflow home (for ``dag.test()``)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def load_dag(airflow_db: None) -> Callable[[str, str], Any]:
    """Write DAG source into the dags folder and import it; returns the module's ``dag``.

    ``dag.test()`` needs the DAG to live in a file of the dags folder (Airflow 3.3 syncs it from
    there before running).
    """

    def load(name: str, source: str) -> Any:
        path = os.path.join(DAGS_FOLDER, f"{name}.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(f"dmjy_test_dag_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.dag

    return load


@pytest.fixture
def sync_hook(hook: Any) -> Any:
    """The sync hook, named apart from the async hooks that trigger tests also use."""
    return hook


@pytest.fixture
def slow_renders(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    """Renders that outlast any test: a video stays pending until the test completes it."""
    dmjy_conn.configure(render_seconds=120, queue_seconds=60)
    return dmjy_conn
