"""What a video run's review decides, and what comes of it.

:class:`ReviewDecision` reads the answer of
:class:`~airflow_provider_dmjy.operators.review.DmjyReviewVideosOperator` (a person's, or the
automatic one); :func:`product_results` joins the run's products with their videos, archived files
and that decision into the report's :class:`~airflow_provider_dmjy.reports.ProductResult`;
:func:`publish_videos` (from :mod:`~airflow_provider_dmjy.operators.publish`, imported here, its
public home) copies the approved videos into a published folder with one record each
(docs/review.md). :func:`run_results`, :func:`publish_run` and :func:`run_report` do the same from
inside a task of the run, reading the other tasks' XComs (:class:`RunTasks` names them). No
operator here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import TaskInstanceState

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.client.validation import check_duration
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.publish import publish_videos
from airflow_provider_dmjy.operators.video_record import XCOM_VIDEO_KEY
from airflow_provider_dmjy.reports import (
    Outcome,
    ProductResult,
    RunReport,
    RunState,
    SkippedRow,
    airflow_run_url,
    relative_file,
)

__all__ = [
    "APPROVE",
    "DROP",
    "RENDER_AGAIN",
    "ReviewDecision",
    "RunTasks",
    "as_records",
    "product_entries",
    "product_results",
    "publish_run",
    "publish_videos",
    "run_report",
    "run_results",
]

log = logging.getLogger(__name__)

#: The review's options (``ApprovalOperator``'s words).
APPROVE, REJECT = "Approve", "Reject"
#: The review form's fields: SKUs whose video is rendered again (a new run), or left unpublished.
RENDER_AGAIN, DROP = "render_again", "drop"


@dataclass(frozen=True)
class ReviewDecision:
    """A review's answer: approved or not, the SKUs to render again and to drop, who answered."""

    approved: bool
    render_again: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    #: The reviewer's name; None when nobody was asked (``review="auto"``).
    reviewer: str | None = None

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any] | None) -> ReviewDecision | None:
        """The decision in a review task's return value (its XCom); None when there is none.
        Approved only when the one option chosen is "Approve": "Reject" beside it (Airflow 3.1's
        REST API accepts several options) rejects."""
        if not answer:
            return None
        params = answer.get("params_input") or {}
        user = answer.get("responded_by_user") or {}
        return cls(
            approved=list(answer.get("chosen_options") or ()) == [APPROVE],
            render_again=tuple(str(sku) for sku in params.get(RENDER_AGAIN) or ()),
            drop=tuple(str(sku) for sku in params.get(DROP) or ()),
            reviewer=(user.get("name") or user.get("id")) if isinstance(user, Mapping) else None,
        )

    def publishes(self, sku: str) -> bool:
        """Whether ``sku``'s finished video is to be published."""
        return self.approved and sku not in self.drop and sku not in self.render_again

    def note(self, sku: str) -> str:
        """What the review decided for ``sku``, in a few words for the report."""
        who = f"by {self.reviewer}" if self.reviewer else "automatically (review=auto)"
        if sku in self.render_again:
            return f"to render again, {who}"
        if sku in self.drop:
            return f"dropped {who}"
        return f"{'approved' if self.approved else 'rejected'} {who}"

    def render_again_conf(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The conf of the run that renders the chosen products again: this run's ``params`` with
        ``skus`` the chosen SKUs and ``variation`` one more (another script, hence another
        fingerprint: no reuse). None when nothing is to be rendered again."""
        if not self.render_again:
            return None
        return {**params, "skus": list(self.render_again), "variation": int(params.get("variation") or 0) + 1}

    def summary(self) -> str:
        """One line for the log."""
        verdict = "approved" if self.approved else "rejected"
        again, drop = ", ".join(self.render_again) or "none", ", ".join(self.drop) or "none"
        return f"{verdict} by {self.reviewer or 'nobody (automatic)'}; render again: {again}; drop: {drop}"


def product_results(
    products: Sequence[Mapping[str, Any]],
    videos: Any,
    downloads: Any = (),
    *,
    folder: Any = None,
    credits_per_second: float = 0,
    published: Iterable[str] = (),
    decision: ReviewDecision | None = None,
) -> list[ProductResult]:
    """One :class:`~airflow_provider_dmjy.reports.ProductResult` per product (in order).

    ``videos`` are the create task's ``dmjy_video`` records (matched by ``map_index``), ``downloads``
    the archive task's results (matched by ``video_id``; ``path`` and ``thumbnail_path``, named
    relative to ``folder``, the run's folder, when given), ``published`` the ids of the videos
    :func:`publish_videos` published. A video this run created costs its duration times
    ``credits_per_second``; a reused one, or none, costs 0. Without a ``decision`` (no review
    answer) ``published`` and ``review_note`` stay None, as for a product without a finished video.
    """
    files = {item["video_id"]: item for item in as_records(downloads) if item.get("video_id")}
    done = set(published)
    results = []
    for entry in product_entries(products, videos):
        sku, download = entry["sku"], files.get(entry["video_id"]) or {}
        created = bool(entry["video_id"]) and not entry["reused"]
        note = None
        if decision is not None and entry["status"] == VideoStatus.COMPLETED:
            note = decision.note(sku)
            if decision.publishes(sku) and entry["video_id"] not in done:
                note += "; not published: the video was not archived"
        results.append(
            ProductResult(
                sku=sku,
                name=entry["name"],
                price=str(entry["product"].get("price") or ""),
                description=str(entry["product"].get("description") or ""),
                duration=entry["duration"],
                aspect_ratio=entry["aspect_ratio"],
                video_id=entry["video_id"],
                status=entry["status"],
                reused=entry["reused"],
                video_file=_in_folder(folder, download.get("path")),
                thumbnail_file=_in_folder(folder, download.get("thumbnail_path")),
                preview_url=entry["video_url"],
                error=entry["error"],
                credits=(entry["duration"] or 0) * credits_per_second if created else 0.0,
                published=None if note is None else entry["video_id"] in done,
                review_note=note,
            )
        )
    return results


def _in_folder(folder: Any, path: str | None) -> str | None:
    if not path or folder is None:
        return path
    return relative_file(folder, path) or path


# -- from inside a run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTasks:
    """The task ids whose XComs :func:`run_results`, :func:`publish_run` and :func:`run_report`
    read (default: those of the flagship DAG ``dmjy_daily_product_videos``)."""

    #: Pushes ``rejected`` (the skipped catalog rows).
    ingest: str = "ingest_products"
    #: ``DmjyCheckBalanceOperator``: the ``dmjy_budget`` XCom.
    balance: str = "check_balance"
    #: The mapped ``DmjyCreateVideoOperator``: its ``dmjy_video`` records.
    create: str = "create_video"
    #: The mapped ``DmjyDownloadVideoOperator``: the archived files.
    archive: str = "archive_video"
    #: ``DmjyReviewVideosOperator``: the answer.
    review: str = "review_videos"
    #: The task that returned the ids of the published videos.
    publish: str = "publish_videos"


def run_results(
    ti: Any, products: Any, folder: Any, *, credits_per_second: float, tasks: RunTasks = RunTasks()
) -> list[ProductResult]:
    """:func:`product_results` from the XComs of the run's ``tasks``, as far as they got."""
    return product_results(
        products,
        ti.xcom_pull(task_ids=tasks.create, key=XCOM_VIDEO_KEY),
        ti.xcom_pull(task_ids=tasks.archive),
        folder=folder,
        credits_per_second=credits_per_second,
        published=ti.xcom_pull(task_ids=tasks.publish) or (),
        decision=ReviewDecision.from_answer(ti.xcom_pull(task_ids=tasks.review)),
    )


def publish_run(
    ti: Any, products: Any, folder: Any, published_root: Any, *, tasks: RunTasks = RunTasks()
) -> list[dict[str, Any]]:
    """:func:`publish_videos` for the run of ``ti``: its review's decision, its archived files."""
    results = run_results(ti, products, folder, credits_per_second=0, tasks=tasks)
    decision = ReviewDecision.from_answer(ti.xcom_pull(task_ids=tasks.review))
    return publish_videos(results, decision, folder, published_root, dag_id=ti.dag_id, run_id=ti.run_id)


def run_report(
    ti: Any,
    dag_run: Any,
    products: Any,
    folder: Any,
    *,
    credits_per_second: float,
    max_failed_share: float,
    tasks: RunTasks = RunTasks(),
) -> RunReport:
    """The run's :class:`~airflow_provider_dmjy.reports.RunReport`, called from its last task.

    Its state is ``RunState.FAILED`` when more than ``max_failed_share`` of the products failed, or when
    any task of the run other than the creates failed (a balance or budget stop, a failed
    archive, ...); ``RunState.SUCCESS`` otherwise. The run's page in the Airflow UI comes from ``[api]
    base_url``.
    """
    results = run_results(ti, products, folder, credits_per_second=credits_per_second, tasks=tasks)
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    broken = [
        task
        for task, state in states.items()
        if state == TaskInstanceState.FAILED and tasks.create not in task
    ]
    failed = sum(1 for result in results if result.outcome == Outcome.FAILED)
    if broken:
        log.warning("Failed tasks in run %s: %s", ti.run_id, ", ".join(sorted(broken)))
    budget = ti.xcom_pull(task_ids=tasks.balance, key="dmjy_budget") or {}
    skipped = ti.xcom_pull(task_ids=tasks.ingest, key="rejected") or []
    return RunReport(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        run_after=dag_run.run_after.isoformat(),
        run_url=airflow_run_url(ti.dag_id, ti.run_id),
        state=RunState.FAILED
        if broken or (results and failed / len(results) > max_failed_share)
        else RunState.SUCCESS,
        products=results,
        skipped=[SkippedRow.from_dict(row) for row in skipped],
        estimate_credits=budget.get("required_credits"),
        budget_credits=budget.get("daily_budget_credits"),
        usage_today_credits=budget.get("usage_today"),
    )


# -- inputs ------------------------------------------------------------------------------------------


def as_records(value: Any) -> list[dict[str, Any]]:
    """An XCom pull as a list of records: None is none, a single record is one."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    return [dict(item) for item in value if item]


def check_products(value: Any) -> list[dict[str, Any]]:
    """``value`` as a list of product dicts, each with a ``sku``; the task fails otherwise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        shown = repr(value)[:200]
        raise AirflowFailException(f'products must be a list of {{"sku", "name"}} dicts, not {shown}')
    products = [dict(item) if isinstance(item, Mapping) else {} for item in value]
    if any(not str(item.get("sku") or "").strip() for item in products):
        raise AirflowFailException('every product must be a dict with a "sku"')
    return products


def product_entries(products: Any, videos: Any) -> list[dict[str, Any]]:
    """Each product with what its create task (same map index) recorded; no record: not created."""
    by_index = {record.get("map_index", -1): record for record in as_records(videos)}
    entries = []
    for index, product in enumerate(check_products(products)):
        # An unmapped create (map index -1) belongs to a single product.
        video = by_index.get(index) or (by_index.get(-1) if index == 0 else None) or {}
        # The vendor's duration as this package parses it (a whole number or None), never the raw
        # value: it goes into markdown, HTML and the credits.
        duration = Video.from_api(video).duration if video.get("id") else None
        entries.append(
            {
                "product": product,
                "sku": str(product["sku"]),
                "name": str(product.get("name") or ""),
                "video_id": video.get("id"),
                "status": str(video.get("status") or "not created"),
                "reused": bool(video.get("reused")),
                "video_url": video.get("videoUrl"),
                "thumbnail_url": video.get("thumbnailUrl"),
                "duration": duration or _seconds(product.get("duration")),
                "aspect_ratio": video.get("aspectRatio") or product.get("aspect_ratio"),
                "error": video.get("errorMessage"),
            }
        )
    return entries


def _seconds(value: Any) -> int | None:
    """A product's ``duration`` (what was asked for: an int, or digits from a form) as whole
    seconds, with the create's own rule; None when it is missing or not one."""
    try:
        return None if value is None else check_duration(value)
    except DmjyValidationError:
        return None
