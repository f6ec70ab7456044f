"""Run the simulator in a background thread of the current process."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from types import TracebackType

import uvicorn

from airflow_provider_dmjy.simulator.app import create_app
from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.simulator.transport import DroppableH11Protocol

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class SimulatorServer:
    """A simulator served by uvicorn on a background thread.

    ``start()`` returns once the server accepts connections; port ``0`` picks a free port, read
    it back from ``port``/``base_url``. With ``config.state_file`` set, ``stop()`` leaves the
    state in that file and a new server started with it (on the same port, say) carries on
    where this one stopped. Usable as a context manager::

        with SimulatorServer(SimulatorConfig(port=0)) as sim:
            requests.get(sim.base_url + "/account", headers=...)
    """

    def __init__(self, config: SimulatorConfig | None = None, *, startup_timeout: float = 10.0) -> None:
        self.config = config or SimulatorConfig(port=0)
        self.startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self.port: int = self.config.port

    @property
    def url_host(self) -> str:
        """The host to put in URLs: loopback when the server listens on every interface."""
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (media and ``/_sim`` control endpoints live here)."""
        return f"http://{self.url_host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/api/v1``, the base URL a client uses."""
        return f"{self.root_url}/api/v1"

    def start(self) -> SimulatorServer:
        """Bind, start serving on a daemon thread and wait until ready."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
        # without it every keep-alive response waits ~40 ms for Nagle's algorithm.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        try:
            # The app sees the real port (after port 0) in its /_sim/state config.
            app = create_app(dataclasses.replace(self.config, port=self.port))
        except BaseException:
            sock.close()  # a refused state file must not keep the port bound
            raise
        self._socket = sock
        level = self.config.log_level.lower()
        uv_config = uvicorn.Config(
            app,
            http=DroppableH11Protocol,
            loop="asyncio",
            lifespan="on",
            log_level=level if level in _LOG_LEVELS else "warning",
            access_log=level in ("debug", "trace"),
            date_header=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._run, name=f"dmjy-simulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"DMJY simulator failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("DMJY simulator did not start in time")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported to start() in the other thread
            self._error = exc

    def is_alive(self) -> bool:
        """True while the server thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None
        self._socket = None

    def handle(self) -> SimulatorHandle:
        """A :class:`SimulatorHandle` (control and connection helpers) for this server."""
        return SimulatorHandle(
            base_url=self.base_url,
            root_url=self.root_url,
            api_key=self.config.api_key,
            api_secret=self.config.api_secret,
        )

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
