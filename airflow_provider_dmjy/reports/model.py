"""What a run's report says: one :class:`ProductResult` per product, the :class:`SkippedRow` of the
catalog, and the :class:`RunReport` that holds them with the run's figures.

Plain frozen dataclasses with ``to_dict()`` (JSON-safe, what ``manifest.json`` and XCom carry) and
``from_dict()`` (the inverse; unknown keys are ignored so that a newer writer's manifest still
reads). No Airflow here: a DAG builds these from its tasks' XComs, and the tests build them by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, TypeVar

from airflow_provider_dmjy.client.models import VideoStatus

__all__ = [
    "FAILED_STATUSES",
    "RUN_STATES",
    "WAITING_STATUSES",
    "Outcome",
    "ProductResult",
    "RunReport",
    "RunState",
    "SkippedRow",
    "format_credits",
]


class Outcome:
    """What became of a product (:attr:`ProductResult.outcome`), as plain strings."""

    COMPLETED: Final = VideoStatus.COMPLETED.value
    FAILED: Final = VideoStatus.FAILED.value
    WAITING: Final = "waiting"
    NOT_CREATED: Final = "not created"


class RunState:
    """The run states the report knows (``RunReport.state`` may be any other word too). A failed
    run is Airflow's ``failed``, the same word as a failed video's."""

    SUCCESS: Final = "success"
    FAILED: Final = VideoStatus.FAILED.value
    AWAITING_REVIEW: Final = "awaiting review"
    RUNNING: Final = "running"


#: A product's status that means its video will not come: the vendor's ``failed``, and what the
#: wait can end in without a video (``timeout``, ``error``, ``cancelled``).
FAILED_STATUSES = frozenset({VideoStatus.FAILED.value, "timeout", "error", "cancelled"})
#: A product's status while its video is still on its way.
WAITING_STATUSES = frozenset(status.value for status in VideoStatus.ACTIVE)
#: The run states the report names, with the words the summary line uses for them; any other
#: state string is shown as it is.
RUN_STATES = {
    RunState.SUCCESS: "run succeeded",
    RunState.FAILED: "run failed",
    RunState.AWAITING_REVIEW: "run awaiting review",
    RunState.RUNNING: "run still running",
}

_T = TypeVar("_T")


def format_credits(value: float) -> str:
    """Credits as people write them: ``500``, ``12.5``, ``0.33`` (no trailing zeros, no exponent)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _known(cls: type[_T], data: Mapping[str, Any]) -> dict[str, Any]:
    names = {item.name for item in fields(cls)}  # type: ignore[arg-type]
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class ProductResult:
    """One product of the run and what became of its video.

    ``video_file`` and ``thumbnail_file`` name files relative to the run's folder (``"SKU-1.mp4"``);
    :func:`~airflow_provider_dmjy.reports.write_run_report` checks that they are there. ``price``
    is shown as given (``"199.00"``, ``"¥199.00"``): the report does not guess a currency.
    ``credits`` are what this run spent on the product: 0 for a reused or never created video.
    ``published`` is None until a person (or ``review="auto"``) reviewed the run.
    """

    sku: str
    name: str
    price: str = ""
    #: The script: the text the video was rendered from.
    description: str = ""
    duration: int | None = None
    aspect_ratio: str | None = None
    video_id: str | None = None
    #: ``completed``, ``failed``, ``not created``, or another vendor status (``processing``...).
    status: str = Outcome.NOT_CREATED
    #: True when an earlier completed video with the same content fingerprint was returned.
    reused: bool = False
    video_file: str | None = None
    thumbnail_file: str | None = None
    #: The vendor's ``videoUrl`` (http(s) only is ever linked).
    preview_url: str | None = None
    #: The vendor's message for a failed render, or why no video was created.
    error: str | None = None
    credits: float = 0.0
    published: bool | None = None
    review_note: str | None = None

    @property
    def outcome(self) -> str:
        """``completed``, ``failed``, ``waiting`` (still rendering) or ``not created``.

        A product with an ``error`` that did not complete counts as failed whatever its status
        says (a create refused before any video existed is a failure, not a skip).
        """
        if self.status == VideoStatus.COMPLETED:
            return Outcome.COMPLETED
        if self.status in FAILED_STATUSES or self.error:
            return Outcome.FAILED
        if self.status in WAITING_STATUSES:
            return Outcome.WAITING
        return Outcome.NOT_CREATED

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: every field under its own name."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProductResult:
        """The inverse of :meth:`to_dict`; unknown keys are ignored."""
        values = _known(cls, data)
        duration = values.get("duration")
        published = values.get("published")
        return cls(
            **{
                **values,
                "sku": str(values["sku"]),
                "name": str(values.get("name") or ""),
                "price": str(values.get("price") or ""),
                "description": str(values.get("description") or ""),
                "duration": None if duration is None else int(duration),
                "reused": bool(values.get("reused", False)),
                "credits": float(values.get("credits") or 0),
                "published": None if published is None else bool(published),
            }
        )


@dataclass(frozen=True)
class SkippedRow:
    """A catalog row the run did not use, and why (``row`` counts from 1, the header excluded)."""

    row: int
    sku: str | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SkippedRow:
        return cls(row=int(data["row"]), sku=_optional_str(data.get("sku")), problem=str(data["problem"]))


@dataclass(frozen=True)
class RunReport:
    """One run of a video DAG: its products, the catalog rows it skipped, its credits and state.

    ``run_after`` is an ISO-8601 instant (the run's ``run_after``: every run has one, unlike a
    logical date). ``estimate_credits`` is what the balance check expected the run to cost,
    ``budget_credits`` the daily budget and ``usage_today_credits`` what the account had used that
    day before the run (all None when unknown). ``state`` is one of :data:`RUN_STATES` or any other
    word the caller chooses.
    """

    dag_id: str
    run_id: str
    run_after: str
    run_url: str | None = None
    state: str = RunState.RUNNING
    products: list[ProductResult] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    estimate_credits: float | None = None
    budget_credits: float | None = None
    usage_today_credits: float | None = None

    def _count(self, outcome: str) -> int:
        return sum(1 for product in self.products if product.outcome == outcome)

    @property
    def completed(self) -> int:
        """Products whose video completed (reused ones included)."""
        return self._count(Outcome.COMPLETED)

    @property
    def failed(self) -> int:
        """Products with no video to come (see :attr:`ProductResult.outcome`)."""
        return self._count(Outcome.FAILED)

    @property
    def waiting(self) -> int:
        """Products still rendering."""
        return self._count(Outcome.WAITING)

    @property
    def not_created(self) -> int:
        """Products for which no video was asked (spend refused, dropped before the create)."""
        return self._count(Outcome.NOT_CREATED)

    @property
    def reused(self) -> int:
        """Completed products whose video came from an earlier run (no new spend)."""
        return sum(1 for product in self.products if product.reused and product.outcome == Outcome.COMPLETED)

    @property
    def published(self) -> int:
        """Products approved and published by the review."""
        return sum(1 for product in self.products if product.published)

    @property
    def spent_credits(self) -> float:
        """What this run spent: the sum of the products' ``credits``."""
        return float(sum(product.credits for product in self.products))

    def summary_line(self) -> str:
        """One line with the run's figures, for logs and the report's header, e.g. ``8 products: 7
        completed (2 reused), 1 failed, 2 rows skipped; 500 of 800 estimated credits spent (daily
        budget 5000, 1200 used before this run); run failed``."""
        counts = f"{_plural(len(self.products), 'product')}: {self.completed} completed"
        if self.reused:
            counts += f" ({self.reused} reused)"
        counts += f", {self.failed} failed"
        if self.waiting:
            counts += f", {self.waiting} still rendering"
        if self.not_created:
            counts += f", {self.not_created} not created"
        if self.skipped:
            counts += f", {_plural(len(self.skipped), 'row')} skipped"
        spent = format_credits(self.spent_credits)
        if self.estimate_credits is not None:
            credits = f"{spent} of {format_credits(self.estimate_credits)} estimated credits spent"
        else:
            credits = f"{spent} credits spent"
        if self.budget_credits is not None:
            credits += f" (daily budget {format_credits(self.budget_credits)}"
            if self.usage_today_credits is not None:
                credits += f", {format_credits(self.usage_today_credits)} used before this run"
            credits += ")"
        parts = [counts, credits]
        if self.published:
            parts.append(f"{self.published} published")
        parts.append(RUN_STATES.get(self.state, f"run {self.state}"))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: every field under its own name, products and skipped rows as lists of dicts."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """The inverse of :meth:`to_dict` (also reads a ``manifest.json``); unknown keys are ignored."""
        values = _known(cls, data)
        products: Sequence[Mapping[str, Any]] = values.get("products") or []
        skipped: Sequence[Mapping[str, Any]] = values.get("skipped") or []
        return cls(
            **{
                **values,
                "dag_id": str(values["dag_id"]),
                "run_id": str(values["run_id"]),
                "run_after": str(values["run_after"]),
                "run_url": _optional_str(values.get("run_url")),
                "state": str(values.get("state") or RunState.RUNNING),
                "products": [ProductResult.from_dict(item) for item in products],
                "skipped": [SkippedRow.from_dict(item) for item in skipped],
                "estimate_credits": _optional_float(values.get("estimate_credits")),
                "budget_credits": _optional_float(values.get("budget_credits")),
                "usage_today_credits": _optional_float(values.get("usage_today_credits")),
            }
        )
