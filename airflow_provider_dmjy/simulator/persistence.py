"""``--state-file``: the simulator's state kept in a JSON file across restarts.

Decisions:

- The file is rewritten whole, atomically (a temporary file in the same folder, then ``os.replace``),
  so a reader or a crash never sees half a file. It is written before the response of every request
  that changed something goes out (a client that saw a create answered can rely on a restart
  knowing the video), after every request that ended without a response (a dropped connection),
  every half second for background changes (a finished render announced, a webhook delivered),
  and at shutdown; each time only when its content changed. It is not fsynced: it survives the
  process being killed, not the machine losing power.
- It is loaded at start when present and written at once, so an unreadable or unwritable path
  fails the start instead of the first request. A file that is not a state document of this
  simulator is refused with :class:`StateFileError`, never silently replaced.
- Timestamps in it are absolute (the simulator's clock), so a render keeps progressing while the
  simulator is down and a restarted simulator answers as if it had run all along.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dmjy.simulator.state import SimState

log = logging.getLogger("airflow_provider_dmjy.simulator")

#: How often pending background changes are written.
AUTOSAVE_SECONDS = 0.5


class StateFileError(ValueError):
    """The state file cannot be read, is not a simulator state document, or cannot be written."""


class StateFile:
    """Loads and atomically saves a :class:`SimState` as JSON at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._written: str | None = None

    def load(self, state: SimState) -> bool:
        """Restore ``state`` from the file; False (state untouched) when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        except (OSError, UnicodeDecodeError) as error:
            raise StateFileError(f"cannot read the state file {self.path}: {error}") from error
        try:
            state.restore(json.loads(text))
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"{self.path} is not a state file of this simulator ({error}); move it away or pick "
                "another path"
            ) from error
        log.info("state loaded from %s: %d videos", self.path, len(state.tasks))
        return True

    def save(self, state: SimState) -> bool:
        """Write ``state`` when it differs from what was last written; True when it wrote."""
        text = json.dumps(state.to_document(), ensure_ascii=False, separators=(",", ":"))
        if text == self._written:
            return False
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise StateFileError(f"cannot write the state file {self.path}: {error}") from error
        self._written = text
        return True

    def save_logged(self, state: SimState) -> None:
        """:meth:`save`, logging a failure instead of raising (the server keeps answering)."""
        try:
            self.save(state)
        except StateFileError:
            log.exception("state not saved")

    async def autosave(self, state: SimState) -> None:
        """Write background changes every :data:`AUTOSAVE_SECONDS` until cancelled."""
        while True:
            await asyncio.sleep(AUTOSAVE_SECONDS)
            self.save_logged(state)


class StatePersistenceMiddleware:
    """Outermost app layer: saves the state before a response starts, and after every request."""

    def __init__(self, app: ASGIApp, state: SimState, store: StateFile) -> None:
        self.app = app
        self.state = state
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def saving_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Before the client can see the answer: the change it reports is on disk.
                self.store.save_logged(self.state)
            await send(message)

        try:
            await self.app(scope, receive, saving_send)
        finally:
            # A dropped connection (a fault after the commit) never starts a response.
            self.store.save_logged(self.state)
