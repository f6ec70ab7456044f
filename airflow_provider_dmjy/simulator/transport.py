"""Access to the TCP transport from inside the ASGI app, so a fault can drop the connection.

uvicorn does not hand the transport to the application. The protocol below publishes it in a
context variable just before it creates the request task; ``asyncio`` copies the context into the
task, so the app reads the transport of its own connection.
"""

from __future__ import annotations

import asyncio
import contextvars

from uvicorn.protocols.http.h11_impl import H11Protocol

CURRENT_TRANSPORT: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "dmjy_simulator_transport", default=None
)


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, publishing its transport for :data:`CURRENT_TRANSPORT`."""

    def handle_events(self) -> None:
        # handle_events (not only data_received) because pipelined requests are started from
        # on_response_complete, outside data_received.
        CURRENT_TRANSPORT.set(self.transport)
        super().handle_events()
