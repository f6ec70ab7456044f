"""Configuration of the DMJY API simulator."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dmjy.simulator.profiles import PROFILES

#: Fields that ``POST /_sim/config`` may change while the simulator runs, with the types they accept.
#: ``None`` in the tuple means the field may be switched off with JSON ``null``.
LIVE_FIELDS: dict[str, tuple[type | None, ...]] = {
    "balance": (int,),
    "cost_per_second": (int,),
    "low_balance_threshold": (int,),
    "render_seconds": (float, int),
    "queue_seconds": (float, int),
    "fail_rate": (float, int),
    "render_profile": (str,),
    "clock_offset_seconds": (float, int),
    "rate_limit": (float, int, None),
    "rate_burst": (float, int, None),
    "daily_cap": (int, None),
    "sign_query_string": (bool,),
    "webhook_url": (str, None),
}


@dataclass
class SimulatorConfig:
    """Every knob of the simulator; the defaults are those of the ``dmjy-simulator`` command line.

    ``rate_limit`` (requests per second per API key) and ``daily_cap`` (creates per key per day)
    are off when ``None``; ``rate_burst`` is the rate limit's bucket size (``None``: one second's
    worth, at least 1). ``render_profile`` is one of :data:`~.profiles.PROFILES` (how renders
    unfold; ``seed`` makes its draws repeatable). ``webhook_url`` receives ``account.*`` events
    when the create that triggered them had no ``callbackUrl``. ``state_file`` (off when ``None``)
    is a JSON file that keeps videos, templates, balance and counters across restarts (see
    ``persistence``).
    """

    host: str = "127.0.0.1"
    port: int = 8787
    api_key: str = "mk_sim_key"
    api_secret: str = field(default="sim_secret", repr=False)
    balance: int = 100_000
    cost_per_second: int = 10
    low_balance_threshold: int = 1000
    render_seconds: float = 5.0
    queue_seconds: float = 1.0
    fail_rate: float = 0.0
    render_profile: str = "linear"
    seed: int | None = None
    clock_offset_seconds: float = 0.0
    rate_limit: float | None = None
    rate_burst: float | None = None
    daily_cap: int | None = None
    sign_query_string: bool = False
    log_level: str = "warning"
    webhook_url: str | None = None
    state_file: str | None = None

    def __post_init__(self) -> None:
        if self.render_profile not in PROFILES:
            raise ValueError(_unknown_profile(self.render_profile))

    def copy(self) -> SimulatorConfig:
        """Return an independent copy (the simulator keeps the start-up one for ``/_sim/reset``)."""
        return dataclasses.replace(self)

    def public_dict(self) -> dict[str, Any]:
        """Return the values as a JSON-able dict, without the API secret."""
        values = dataclasses.asdict(self)
        values.pop("api_secret")
        return values

    def apply_live(self, changes: dict[str, Any]) -> None:
        """Validate and apply ``changes`` (the body of ``POST /_sim/config``).

        Raises ``ValueError`` naming the field when a name is unknown or a value has the wrong
        type; nothing is applied in that case.
        """
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in LIVE_FIELDS:
                raise ValueError(f"{name} cannot be changed live; one of {', '.join(sorted(LIVE_FIELDS))}")
            allowed = LIVE_FIELDS[name]
            if value is None:
                if None not in allowed:
                    raise ValueError(f"{name} cannot be null")
            elif isinstance(value, bool) and bool not in allowed:
                # bool is an int subclass; True must not become a balance of 1.
                raise ValueError(f"{name} must not be a boolean (got {value!r})")
            elif not isinstance(value, tuple(t for t in allowed if t is not None)):
                raise ValueError(f"{name} has the wrong type (got {value!r})")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if name == "fail_rate" and not 0 <= value <= 1:
                    raise ValueError(f"fail_rate must be between 0 and 1 (got {value!r})")
                if name in {"render_seconds", "queue_seconds", "cost_per_second", "balance"} and value < 0:
                    raise ValueError(f"{name} must not be negative (got {value!r})")
                if name in {"rate_limit", "daily_cap"} and value <= 0:
                    raise ValueError(f"{name} must be positive or null (got {value!r})")
                if name == "rate_burst" and value < 1:
                    raise ValueError(f"{name} must be at least 1 or null (got {value!r})")
            if name == "render_profile" and value not in PROFILES:
                raise ValueError(_unknown_profile(value))
            if float in allowed and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            checked[name] = value
        for name, value in checked.items():
            setattr(self, name, value)


def _unknown_profile(value: object) -> str:
    return f"render_profile must be one of {', '.join(PROFILES)} (got {value!r})"
