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
- Each video keeps its render plan (profile and drawn timings) and its status-request count, and
  the render-plan random stream goes on from where it was. Files written before render profiles
  existed still load, under the same format number: their videos are ``linear`` with no requests
  counted, and the render stream starts again from ``--seed``.
- Timestamps in it are absolute (the simulator's clock), so a render keeps progressing while the
  simulator is down and a restarted simulator answers as if it had run all along.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
from pathlib import Path
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dmjy.simulator.models import Delivery, Task, Template
from airflow_provider_dmjy.simulator.state import SimState

log = logging.getLogger("airflow_provider_dmjy.simulator")

#: How often pending background changes are written.
AUTOSAVE_SECONDS = 0.5
#: Version of the state document; a file of another format is refused, not guessed at.
STATE_FORMAT = 1


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
            restore_document(state, json.loads(text))
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"{self.path} is not a state file of this simulator ({error}); move it away or pick "
                "another path"
            ) from error
        log.info("state loaded from %s: %d videos", self.path, len(state.tasks))
        return True

    def save(self, state: SimState) -> bool:
        """Write ``state`` when it differs from what was last written; True when it wrote."""
        text = json.dumps(to_document(state), ensure_ascii=False, separators=(",", ":"))
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


def to_document(state: SimState) -> dict[str, Any]:
    """Everything a restarted simulator needs to answer for what came before, as JSON-able data.

    Configuration is not part of it (the command line decides that at every start), nor are
    queued faults and rate-limit buckets (they belong to the moment, not to the account).
    """
    return {
        "format": STATE_FORMAT,
        "balance": state.balance,
        "plan_expires_at": state.plan_expires_at,
        "rng": _rng_document(state.rng),
        "render_rng": _rng_document(state.render_rng),
        "tasks": [dataclasses.asdict(t) for t in state.tasks.values()],
        "templates": [dataclasses.asdict(t) for t in state.templates.values()],
        "charges": [[at, cost] for at, cost in state.charges],
        "requests": dict(state.requests),
        "daily_creates": [[key, day, count] for (key, day), count in state.daily_creates.items()],
        "deliveries": [dataclasses.asdict(d) for d in state.deliveries],
    }


def restore_document(state: SimState, document: Any) -> None:
    """Replace what ``state`` holds with a :func:`to_document` document.

    Raises ``ValueError``, ``KeyError`` or ``TypeError`` on a malformed document; the state is
    untouched in that case (everything is decoded before anything is assigned).
    """
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise ValueError(f"not a simulator state document of format {STATE_FORMAT}")
    rng = _rng_from(document["rng"])
    render_rng = _rng_from(document["render_rng"]) if "render_rng" in document else state.render_rng
    tasks = [_from_fields(Task, item) for item in document["tasks"]]
    templates = [_from_fields(Template, item) for item in document["templates"]]
    deliveries = [_from_fields(Delivery, item) for item in document["deliveries"]]
    charges = [(float(at), int(cost)) for at, cost in document["charges"]]
    requests = {str(k): int(v) for k, v in document["requests"].items()}
    daily = {(str(k), str(d)): int(n) for k, d, n in document["daily_creates"]}
    balance = int(document["balance"])
    plan_expires_at = str(document["plan_expires_at"])
    state.balance, state.plan_expires_at = balance, plan_expires_at
    state.rng, state.render_rng = rng, render_rng
    state.tasks = {t.id: t for t in tasks}
    state.templates = {t.id: t for t in templates}
    state.deliveries, state.charges = deliveries, charges
    state.requests, state.daily_creates = requests, daily


def _rng_document(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from(data: Any) -> random.Random:
    version, internal, gauss = data
    rng = random.Random()
    rng.setstate((version, tuple(internal), gauss))
    return rng


_Record = TypeVar("_Record", Task, Template, Delivery)


def _from_fields(cls: type[_Record], data: Any) -> _Record:
    """Rebuild a record from its ``asdict`` form; unknown keys are ignored, missing ones defaulted
    (so a file written by an older or newer simulator still loads when the core fields are there)."""
    if not isinstance(data, dict):
        raise TypeError(f"a {cls.__name__} must be an object (got {type(data).__name__})")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in data.items() if name in names})


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
