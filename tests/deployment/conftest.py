"""Fixtures of the deployment tests: Airflow stacks (SQLite or PostgreSQL) that are always stopped.

Also registers the ``slow`` marker (informational: ``make test`` still runs slow tests).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .airflow_stack import AirflowStack
from .postgres import PostgresServer, PostgresUnavailable, find_postgres

#: The DAGs the fault tests run (tests/deployment/dags).
FAULT_DAGS = Path(__file__).parent / "dags"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real Airflow components; takes a minute or two")


@contextlib.contextmanager
def _stopped_afterwards(stack: AirflowStack) -> Iterator[AirflowStack]:
    """Yields ``stack``; then stops every process it started, pass or fail, and checks none is left."""
    try:
        yield stack
    finally:
        stopping = time.monotonic()
        killed = stack.stop()
        leftovers = stack.owned_processes()
        print(f"stopped in {time.monotonic() - stopping:.1f} s; needed SIGKILL: {killed or 'none'}")
        assert not leftovers, f"processes left running: {[p.pid for p in leftovers]}"


@pytest.fixture
def airflow_stack(tmp_path: Path) -> Iterator[AirflowStack]:
    """The example DAGs on SQLite."""
    with _stopped_afterwards(AirflowStack(tmp_path)) as stack:
        yield stack


@pytest.fixture(scope="module")
def module_airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """The example DAGs on SQLite, one stack for all the tests of a module (each start costs ~30 s)."""
    with _stopped_afterwards(AirflowStack(tmp_path_factory.mktemp("stack"))) as stack:
        yield stack


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[AirflowStack]:
    """The fault DAGs on SQLite."""
    with _stopped_afterwards(AirflowStack(tmp_path, dags_folder=FAULT_DAGS)) as stack:
        yield stack


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own with an empty ``airflow`` database; removed afterwards.

    Installs PostgreSQL (``scripts/ensure_postgres.sh``) when it is missing; skips the test only when
    that is impossible here.
    """
    try:
        bin_dir = find_postgres()
    except PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL cannot be installed on this machine: {error}")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        server.create_database("airflow")
        yield server
    finally:
        server.stop()
        assert not server.root.exists(), f"{server.root} was not removed"


@pytest.fixture
def postgres_fault_stack(tmp_path: Path, postgres: PostgresServer) -> Iterator[AirflowStack]:
    """The fault DAGs on PostgreSQL (stopped before the database is)."""
    stack = AirflowStack(tmp_path, dags_folder=FAULT_DAGS, database_url=postgres.url("airflow"))
    with _stopped_afterwards(stack):
        yield stack
