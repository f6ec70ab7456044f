"""A throw-away PostgreSQL server for the deployment tests: loopback only, removed afterwards.

:func:`find_postgres` locates the server binaries (``/usr/lib/postgresql/<version>/bin``, where the
Debian and Ubuntu packages put them) and installs them with ``scripts/ensure_postgres.sh`` when they
are missing. :class:`PostgresServer` runs ``initdb`` and ``postgres`` in a temporary directory, on a
free loopback port with no other listener, as the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root), and removes the directory in :meth:`PostgresServer.stop`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg2

from .airflow_stack import REPO, free_port, wait_for

ENSURE_SCRIPT = REPO / "scripts" / "ensure_postgres.sh"
BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The superuser ``initdb`` creates (trust authentication: only loopback clients can connect).
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed and cannot be installed here."""


def _installed() -> Path | None:
    candidates = [path for path in Path("/").glob(BIN_GLOB.lstrip("/")) if (path / "initdb").is_file()]
    # The newest major version: "15" < "16" compares right as numbers, not as text.
    candidates.sort(key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


def find_postgres() -> Path:
    """The directory of ``initdb`` and ``postgres``; installs the packages first when needed.

    Raises :class:`PostgresUnavailable` with the install script's output when that fails.
    """
    found = _installed()
    if found is not None:
        return found
    result = subprocess.run(  # noqa: S603 - the project's own script
        ["/bin/bash", str(ENSURE_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=900,
        check=False,
    )
    found = _installed()
    if result.returncode != 0 or found is None:
        output = result.stdout.decode(errors="replace")[-2000:]
        raise PostgresUnavailable(
            f"PostgreSQL is not installed and {ENSURE_SCRIPT.name} could not install it "
            f"(exit {result.returncode}):\n{output}"
        )
    return found


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on ``127.0.0.1:<port>`` only."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp_path: that tree is private to the test user (mode 0700), and the
        # server runs as ``postgres`` when the tests run as root.
        self.root = Path(tempfile.mkdtemp(prefix="dmjy-postgres-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            self._run_as = {"user": SUPERUSER, "group": SUPERUSER, "extra_groups": []}
            shutil.chown(self.root, SUPERUSER, SUPERUSER)

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """An SQLAlchemy URL of ``database`` on this server."""
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 120) -> None:
        """``initdb``, then the server; returns when it accepts connections."""
        subprocess.run(  # noqa: S603 - the distribution's initdb
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=True,
            cwd=self.root,
            **self._run_as,
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the distribution's postgres
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.root}",
                    # A test database: durability is worth nothing, speed on a busy machine is.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
                **self._run_as,
            )
        wait_for("PostgreSQL to accept connections", self._probe, timeout)

    def _probe(self) -> bool | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"postgres exited {self.process.returncode}:\n{self.log_tail()}")
        try:
            psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres").close()
        except psycopg2.OperationalError:
            return None
        return True

    def create_database(self, name: str) -> None:
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no postgres log)"
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 30) -> None:
        """Fast shutdown (SIGINT), SIGKILL after ``grace``; then the directory is removed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                # The postmaster's own group: its backends go with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root)
