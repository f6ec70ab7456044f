"""A small stdlib client for a running simulator's control endpoints and connection strings."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote


@dataclass(frozen=True)
class SimulatorHandle:
    """Everything a test needs about one running simulator.

    ``conn_uri`` is usable as ``AIRFLOW_CONN_<ID>``: Airflow decodes the percent-encoded host back
    to the full ``base_url``.
    """

    base_url: str
    root_url: str
    api_key: str
    api_secret: str
    timeout: float = 10.0

    @classmethod
    def for_base_url(
        cls,
        base_url: str,
        api_key: str = "mk_sim_key",
        api_secret: str = "sim_secret",  # noqa: S107 - the CLI's documented default, not a secret
    ) -> SimulatorHandle:
        """A handle for a simulator known by its base URL, such as one a ``dmjy-simulator``
        process printed (``http://HOST:PORT/api/v1``); key and secret default to the CLI's."""
        return cls(
            base_url=base_url,
            root_url=base_url.rsplit("/api/", 1)[0],
            api_key=api_key,
            api_secret=api_secret,
        )

    @property
    def conn_uri(self) -> str:
        """``dmjy://KEY:SECRET@<percent-encoded base_url>``."""
        return (
            "dmjy://"
            + quote(self.api_key, safe="")
            + ":"
            + quote(self.api_secret, safe="")
            + "@"
            + quote(self.base_url, safe="")
        )

    @property
    def conn_json(self) -> str:
        """The connection as Airflow's JSON form."""
        return json.dumps(
            {"conn_type": "dmjy", "login": self.api_key, "password": self.api_secret, "host": self.base_url}
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the URL is our own http://loopback
            self.root_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read().decode("utf-8"))

    def state(self) -> dict[str, Any]:
        """``GET /_sim/state``."""
        return cast(dict[str, Any], self._call("GET", "/_sim/state"))

    def inject_fault(self, **fault: Any) -> int:
        """Queue a fault (keywords as ``POST /_sim/faults``); returns the faults now pending."""
        return int(self._call("POST", "/_sim/faults", fault)["faults_pending"])

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change live settings (``POST /_sim/config``); returns the new config."""
        return cast(dict[str, Any], self._call("POST", "/_sim/config", changes)["config"])

    def complete(self, video_id: str) -> dict[str, Any]:
        """Force a task to ``completed`` now; returns the task."""
        return cast(
            dict[str, Any], self._call("POST", f"/_sim/videos/{quote(video_id)}/complete", {})["data"]
        )

    def fail(self, video_id: str, error_message: str | None = None) -> dict[str, Any]:
        """Force a task to ``failed`` now; returns the task."""
        body = {} if error_message is None else {"errorMessage": error_message}
        return cast(dict[str, Any], self._call("POST", f"/_sim/videos/{quote(video_id)}/fail", body)["data"])

    def seed_videos(self, count: int, duration: int = 10) -> list[str]:
        """Create ``count`` videos at once, outside the rate limit and the request counters
        (``POST /_sim/videos``); returns their ids in creation order."""
        body = {"count": count, "duration": duration}
        return [str(video_id) for video_id in self._call("POST", "/_sim/videos", body)["ids"]]

    def reset(self) -> None:
        """Empty all state and restore the start-up configuration."""
        self._call("POST", "/_sim/reset", {})

    def webhooks(self) -> list[dict[str, Any]]:
        """The webhook delivery log."""
        return cast(list[dict[str, Any]], self._call("GET", "/_sim/webhooks")["deliveries"])
