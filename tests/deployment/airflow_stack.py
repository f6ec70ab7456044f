"""Real Airflow components and the DMJY simulator as child processes, on loopback only.

:class:`AirflowStack` gives the components an Airflow home of their own (SQLite unless given a
database URL, LocalExecutor, log servers off), starts ``api-server``, ``scheduler``,
``dag-processor`` and one or more ``triggerer`` from the running virtualenv, talks to the REST API,
SIGKILLs a component or a task process on request (:meth:`AirflowStack.kill_component`,
:meth:`AirflowStack.kill_task_process`) and stops every process it started - including the task and
trigger subprocesses the components fork - in :meth:`AirflowStack.stop`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import psutil

from airflow_provider_dmjy.simulator.handle import SimulatorHandle

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: Set in every child's environment: how :meth:`AirflowStack.stop` finds the processes it owns.
MARKER_VAR = "DMJY_DEPLOYMENT_TEST_ID"
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server", "--host", "127.0.0.1", "--workers", "1"),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
#: The example DAGs, which the flagship deployment test runs: the folder the package ships.
EXAMPLE_DAGS = REPO / "airflow_provider_dmjy" / "example_dags"

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than ``None``; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_gone(processes: Iterable[psutil.Process], what: str, timeout: float = 30) -> None:
    """Wait until every process has exited; a zombie counts (orphans may wait for a reaper)."""

    def gone(process: psutil.Process) -> bool:
        try:
            return bool(process.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    pending = list(processes)
    wait_for(what, lambda: True if all(gone(process) for process in pending) else None, timeout, 0.1)


class AirflowStack:
    """One Airflow deployment under ``workdir``; nothing outside it is written (but the database).

    :param dags_folder: the DAG files the dag-processor parses.
    :param database_url: the metadata database's SQLAlchemy URL (default: SQLite in the home).
    """

    def __init__(
        self, workdir: Path, dags_folder: Path = EXAMPLE_DAGS, database_url: str | None = None
    ) -> None:
        self.workdir = workdir
        self.dags_folder = dags_folder
        self.home = workdir / "airflow-home"
        self.home.mkdir(parents=True)
        self.database_url = database_url or f"sqlite:///{self.home / 'airflow.db'}"
        self.component_logs = workdir / "component-logs"
        self.component_logs.mkdir()
        self.archive_root = workdir / "archive"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.marker = uuid.uuid4().hex
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        #: Components the test SIGKILLed on purpose: :meth:`check_alive` does not count them.
        self.killed: set[str] = set()
        self._log_handles: list[IO[bytes]] = []
        self._token: str | None = None
        self._client = httpx.Client(base_url=self.api_url, timeout=30)
        self.simulator_url = ""
        self.env = self._base_env()

    # -- environment --------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        # The pytest process has its own Airflow settings (tests/conftest.py: unit test mode, a
        # temporary dags folder); none of them may leak into the deployment.
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(
            {
                MARKER_VAR: self.marker,
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.home / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # No login: the test fetches an admin token from GET /auth/token.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                # Shared by every component: the scheduler signs the task tokens the api-server checks.
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # Log servers are off (--skip-serve-logs); should one start anyway, it stays on loopback
                # ports of its own instead of the shared defaults 8793/8794.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # The task supervisor notices its task's exit within this many seconds (default 5).
                # A deferral's "task exited" event must reach the scheduler before the trigger fires
                # and the task is queued again: Airflow 3.1 fails the task otherwise (see the test).
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
                # Only the run the test triggers: unpausing must not add today's scheduled run.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                # Parse once at start-up, then leave the CPU to the run.
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "DMJY_POLL_INTERVAL": "1",
                "DMJY_CREATE_POOL": "dmjy_creates",
                "DMJY_ARCHIVE_ROOT": self.archive_root.as_uri(),
            }
        )
        return env

    # -- processes ----------------------------------------------------------------------------
    def _log_file(self, name: str) -> IO[bytes]:
        handle = (self.component_logs / f"{name}.log").open("ab")
        self._log_handles.append(handle)
        return handle

    def start_simulator(self, *args: str) -> str:
        """``dmjy-simulator`` on a free port; points ``dmjy_default`` at it and returns its base URL."""
        process = subprocess.Popen(  # noqa: S603 - the venv's own console script
            [str(BIN / "dmjy-simulator"), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self._log_file("simulator"),
            env=self.env,
            start_new_session=True,
        )
        self.processes["simulator"] = process
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        assert "listening on" in line, f"the simulator did not start: {line!r}\n{self.tail('simulator')}"
        self.simulator_url = line.rsplit(" ", 1)[-1]
        self.env["AIRFLOW_CONN_DMJY_DEFAULT"] = SimulatorHandle.for_base_url(self.simulator_url).conn_uri
        return self.simulator_url

    def simulator_state(self) -> dict[str, Any]:
        """``GET /_sim/state`` of the simulator."""
        return SimulatorHandle.for_base_url(self.simulator_url).state()

    def cli(self, *args: str, timeout: float = 180) -> str:
        """Run one ``airflow`` command to completion; its output, or ``AssertionError`` when it fails."""
        result = subprocess.run(  # noqa: S603 - the venv's own airflow
            [str(BIN / "airflow"), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        output = result.stdout.decode(errors="replace")
        with (self.component_logs / "cli.log").open("a", encoding="utf-8") as log:
            log.write(f"$ airflow {' '.join(args)}\n{output}\n")
        assert result.returncode == 0, (
            f"`airflow {' '.join(args)}` exited {result.returncode}:\n{output[-4000:]}"
        )
        return output

    def start_components(self, names: Iterable[str] = COMPONENTS) -> None:
        """Start components by name: a key of :data:`COMPONENTS`, optionally ``-<suffix>`` for a second
        one of a kind (``triggerer-2``); its output goes to ``component-logs/<name>.log``."""
        for name in names:
            kind = name if name in COMPONENTS else name.rsplit("-", 1)[0]
            port = ("--port", str(self.api_port)) if kind == "api-server" else ()
            self.processes[name] = subprocess.Popen(  # noqa: S603 - the venv's own airflow
                [str(BIN / "airflow"), *COMPONENTS[kind], *port],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file(name),
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own process group, for stop()
            )

    def check_alive(self) -> None:
        """``AssertionError`` naming any component that has exited (but those killed on purpose)."""
        dead = {
            name: p.returncode
            for name, p in self.processes.items()
            if name not in self.killed and p.poll() is not None
        }
        assert not dead, f"processes exited early: {dead}\n{self.diagnostics()}"

    def kill_component(self, name: str) -> list[int]:
        """SIGKILL a component and every process under it at once, as when its machine dies.

        Returns the pids killed. Nothing of it runs any shutdown code: no trigger clean-up, no
        ``on_kill``, no last heartbeat.
        """
        popen = self.processes[name]
        root = psutil.Process(popen.pid)
        tree = [root, *root.children(recursive=True)]
        self.killed.add(name)
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        popen.wait(timeout=30)
        wait_gone(tree, what=f"the processes of {name} to die")
        return [process.pid for process in tree]

    def task_process(self, ti_id: str) -> psutil.Process | None:
        """The process that runs task instance ``ti_id``'s code (the task SDK's forked runner).

        The task runner titles itself ``airflow worker -- <ti id>``; the LocalExecutor worker that
        supervises it is titled ``airflow worker -- LocalExecutor: <ti id>`` on Airflow 3.1.
        """
        title = f"airflow worker -- {ti_id}"
        for process in self.owned_processes():
            with contextlib.suppress(psutil.Error):
                if " ".join(process.cmdline()).strip() == title:
                    return process
        return None

    def kill_task_process(self, ti_id: str) -> int:
        """SIGKILL the process running task instance ``ti_id`` (its supervisor lives on); its pid."""
        process = self.task_process(ti_id)
        assert process is not None, f"no task process for {ti_id}\n{self.diagnostics()}"
        process.send_signal(signal.SIGKILL)
        wait_gone([process], what=f"task process {process.pid} to die")
        return int(process.pid)

    def owned_processes(self) -> list[psutil.Process]:
        """Live processes this stack started, their descendants, and orphans carrying the marker."""
        found: dict[int, psutil.Process] = {}
        for popen in self.processes.values():
            try:
                parent = psutil.Process(popen.pid)
                for process in [parent, *parent.children(recursive=True)]:
                    found[process.pid] = process
            except psutil.Error:
                pass
        me = os.getpid()
        for process in psutil.process_iter():
            if process.pid in found or process.pid == me:
                continue
            try:
                if process.environ().get(MARKER_VAR) == self.marker:
                    found[process.pid] = process
            except (psutil.Error, OSError):
                continue
        live = []
        for process in found.values():
            with contextlib.suppress(psutil.Error):
                if process.status() != psutil.STATUS_ZOMBIE:
                    live.append(process)
        return live

    def stop(self, grace: float = 20) -> list[str]:
        """SIGTERM the components, SIGKILL whatever of theirs outlives ``grace``; returns the killed."""
        processes = self.owned_processes()
        # One SIGTERM to each component's main process: it shuts its own workers down (a second
        # signal, or one to the workers, makes the 3.1 scheduler hang in LocalExecutor.end()).
        for popen in self.processes.values():
            if popen.poll() is None:
                popen.terminate()
        psutil.wait_procs(processes, timeout=grace)
        # What is still there, including anything forked during the shutdown, is killed.
        survivors = self.owned_processes()
        killed = []
        for process in survivors:
            with contextlib.suppress(psutil.Error):
                killed.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                process.kill()
        psutil.wait_procs(survivors, timeout=10)
        for popen in self.processes.values():  # reap the direct children
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
            if popen.stdout is not None:
                popen.stdout.close()
        for handle in self._log_handles:
            handle.close()
        self._client.close()
        return killed

    # -- REST API -----------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        if self._token is None:
            # simple auth manager with all_admins: GET /auth/token hands out an admin token.
            response = self._client.get("/auth/token")
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, f"/api/v2{path}", headers=self._auth(), **kwargs)

    def wait_api_ready(self, timeout: float) -> None:
        def probe() -> bool | None:
            self.check_alive()
            try:
                return True if self._client.get("/api/v2/monitor/health").status_code == 200 else None
            except httpx.TransportError:
                return None

        wait_for("the api-server to answer", probe, timeout)

    def wait_dag_parsed(self, dag_id: str, timeout: float) -> None:
        def parsed() -> bool | None:
            self.check_alive()
            return True if self.api("GET", f"/dags/{dag_id}").status_code == 200 else None

        wait_for(f"the dag-processor to parse {dag_id}", parsed, timeout)

    def trigger_run(
        self, dag_id: str, run_id: str | None, logical_date: str | None, conf: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Unpause ``dag_id`` and trigger one run of it; the new run (REST API).

        ``logical_date=None`` triggers as the UI and ``airflow dags trigger`` do in Airflow 3: a run
        without a logical date (the API requires the key, ``null`` allowed), ``run_after`` now;
        ``run_id=None`` lets Airflow name the run (``manual__`` and the ``run_after`` timestamp).
        """
        response = self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        assert response.status_code == 200, response.text
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}}
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def wait_run_finished(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's final state (``success`` or ``failed``); fails the test with diagnostics on timeout."""

        def finished() -> str | None:
            self.check_alive()
            state = str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])
            return state if state in ("success", "failed") else None

        try:
            return wait_for(f"run {run_id} to finish", finished, timeout, interval=1)
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{self.diagnostics(dag_id, run_id)}") from error

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances (REST API), by task id."""
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        assert response.status_code == 200, response.text
        return {str(ti["task_id"]): ti for ti in response.json()["task_instances"]}

    def triggerer_job_ids(self) -> list[int]:
        """Ids of the triggerer jobs recorded so far, oldest first."""
        jobs = self.api("GET", "/jobs", params={"job_type": "TriggererJob"}).json()["jobs"]
        return sorted(int(job["id"]) for job in jobs)

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int) -> Path:
        """Where the worker writes a (non-mapped) task's log of one try."""
        task_dir = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return task_dir / f"attempt={attempt}.log"

    # -- diagnostics --------------------------------------------------------------------------
    def tail(self, name: str, lines: int = 40) -> str:
        path = self.component_logs / f"{name}.log"
        if not path.exists():
            return f"--- {name}: no log"
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return f"--- {name} ({path}), last {len(text)} lines:\n" + "\n".join(text)

    def diagnostics(self, dag_id: str | None = None, run_id: str | None = None) -> str:
        """What helps to see why a run failed: task states, import errors, component log tails."""
        parts = []
        try:
            if dag_id and run_id:
                response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
                rows = [
                    f"  {ti['task_id']}[{ti.get('map_index', -1)}] {ti['state']} try {ti.get('try_number')}"
                    for ti in response.json().get("task_instances", [])
                ]
                parts.append("task instances:\n" + "\n".join(sorted(rows)))
            errors = self.api("GET", "/importErrors").json().get("import_errors", [])
            parts.append(f"import errors: {errors}")
        except (httpx.HTTPError, ValueError, KeyError) as error:
            parts.append(f"(REST API unavailable: {error!r})")
        task_logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"))
        parts.append("task logs: " + ", ".join(str(p.relative_to(self.home)) for p in task_logs[-30:]))
        for path in task_logs:
            text = path.read_text(encoding="utf-8", errors="replace")
            if '"level":"error"' in text.replace(" ", "") or "Traceback" in text:
                parts.append(f"--- {path.relative_to(self.home)} (has errors):\n{text[-3000:]}")
                break
        parts.extend(self.tail(name) for name in [*self.processes, "cli"])
        return "\n".join(parts)
