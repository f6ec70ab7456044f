"""A person in the loop of a video run: approve a spend before it happens, review the videos after.

Both operators are the standard provider's human-in-the-loop operators (Airflow 3.1+): the question
(a subject, a markdown body, the options and a form) is written for the task instance and answered
in the UI's "Required actions" or through the REST API. On Airflow 3.3+ the task waits in the
``awaiting_input`` state, on 3.1 and 3.2 it defers to ``HITLTrigger``; either way it resumes with
the answer. ``review="auto"`` answers at once, without asking (no question is written, the task does
not wait), logs why, and returns an answer of the same shape as a person's, so a demo or a test
stays non-interactive. What the review's answer means, and publishing, live in
:mod:`~airflow_provider_dmjy.operators.review_results` (docs/review.md).

This module imports the standard provider's HITL operators: DAG files that use these operators
import it; no other module of the provider does.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.timezone import utcnow

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.models import VideoStatus
from airflow_provider_dmjy.hooks.failures import airflow_failures
from airflow_provider_dmjy.operators.account import _coerce
from airflow_provider_dmjy.operators.review_results import (
    APPROVE,
    DROP,
    REJECT,
    RENDER_AGAIN,
    ReviewDecision,
    check_products,
    product_entries,
)
from airflow_provider_dmjy.reports import format_credits

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "REVIEW_MODES",
    "DmjyReviewVideosOperator",
    "DmjySpendApprovalOperator",
    "markdown_text",
    "markdown_url",
    "review_body",
    "spend_body",
]

#: ``review``: ``"human"`` asks a person; ``"auto"`` approves without asking.
REVIEW_MODES = ("human", "auto")


def _check_review(value: Any, error: type[Exception] = AirflowFailException) -> str:
    if value not in REVIEW_MODES:
        raise error(f"review must be one of {', '.join(REVIEW_MODES)}, not {value!r}")
    return str(value)


def _auto_answer(options: list[str], params_input: dict[str, Any]) -> dict[str, Any]:
    """What a person's answer carries, with no person: ``responded_by_user`` is None."""
    return {
        "chosen_options": options,
        "params_input": params_input,
        "responded_at": utcnow(),
        "responded_by_user": None,
    }


class DmjySpendApprovalOperator(ApprovalOperator):
    """Ask "Spend N credits on M videos?" before a paid batch, with the list of products.

    The question is asked only with ``review="human"`` and when ``estimate_credits`` exceeds
    ``approval_above_credits`` (None: always asked); otherwise the task approves without asking and
    logs why. "Reject" skips the tasks directly downstream (``ApprovalOperator``'s behaviour), so
    nothing is spent. Other arguments are the ``ApprovalOperator``'s (``assigned_users``,
    ``notifiers``, ``response_timeout``, ...).

    :param estimate_credits: what the batch is expected to cost (e.g. the balance check's
        ``dmjy_budget`` XCom ``required_credits``).
    :param products: the batch, a list of ``{"sku", "name"}`` dicts (other keys are ignored).
    :param approval_above_credits: ask only above this many credits.
    :param review: ``"human"`` (default) or ``"auto"``.
    :param subject: the question; ``{credits}`` and ``{count}`` are filled in
        (default ``"Spend {credits} credits on {count} videos?"``).
    :param body: the details (markdown; default: the figures and a table of the products).
    :return: the answer: ``chosen_options``, ``params_input``, ``responded_at``,
        ``responded_by_user`` (None when nobody was asked).
    """

    template_fields: Sequence[str] = (
        *ApprovalOperator.template_fields,
        "estimate_credits",
        "products",
        "approval_above_credits",
        "review",
    )

    def __init__(
        self,
        *,
        estimate_credits: float | str,
        products: Sequence[Mapping[str, Any]] | str,
        approval_above_credits: float | str | None = None,
        review: str = "human",
        subject: str = "Spend {credits} credits on {count} videos?",
        **kwargs: Any,
    ) -> None:
        super().__init__(subject=subject, **kwargs)
        self.params = ParamsDict()  # no form: Airflow 3.1 would show every DAG param
        if "{{" not in str(review):  # a typo fails the parse; a template is checked after rendering
            _check_review(review, ValueError)
        self.estimate_credits = estimate_credits
        self.products = products
        self.approval_above_credits = approval_above_credits
        self.review = review

    def execute(self, context: Context) -> Any:
        """Approve without asking (and say why), or ask and wait for the answer."""
        review = _check_review(self.review)
        with airflow_failures():
            estimate = _coerce("estimate_credits", self.estimate_credits)
            threshold = _coerce("approval_above_credits", self.approval_above_credits)
        if estimate is None:
            raise AirflowFailException("estimate_credits is required (got nothing)")
        products = check_products(self.products)
        reason = None
        if review == "auto":
            reason = "review='auto'"
        elif not products:
            reason = "there is nothing to spend on"
        elif threshold is not None and estimate <= threshold:
            reason = f"the estimate is within approval_above_credits={threshold}"
        if reason:
            self.log.info(
                "Spending %s credits on %d videos without asking: %s", estimate, len(products), reason
            )
            return self.execute_complete(context, _auto_answer([APPROVE], {}))
        self.subject = _fill(self.subject, credits=estimate, count=len(products))
        self.body = self.body or spend_body(estimate, threshold, products)
        return super().execute(context)


def spend_body(estimate: float, threshold: float | None, products: Sequence[Mapping[str, Any]]) -> str:
    """The spend question's markdown: the figures, then the products as a table."""
    above = (
        ""
        if threshold is None
        else f" (more than the {format_credits(threshold)} credits approved without asking)"
    )
    lines = [
        f"This run is estimated to spend **{format_credits(estimate)} credits** on "
        f"**{len(products)} videos**{above}. Approve to create them; Reject skips the creates, "
        "so nothing is spent.",
        "",
        "| SKU | Product |",
        "| --- | --- |",
    ]
    lines += [f"| {markdown_text(p['sku'])} | {markdown_text(p.get('name'))} |" for p in products]
    return "\n".join(lines)


class DmjyReviewVideosOperator(HITLOperator):
    """Show a reviewer every finished video and ask: approve the run, or choose products to render
    again or to drop.

    The body (markdown) has a card per finished video (thumbnail linking to the preview, SKU, name,
    duration, aspect ratio, whether it was reused) and lists the products without a video, with the
    vendor's message. The options are "Approve" and "Reject"; the form has two SKU lists,
    ``render_again`` and ``drop`` (multi-selects of the run's SKUs, empty by default).
    :class:`ReviewDecision` reads the answer: "Approve" publishes every finished video except the
    ones in either list; "Reject" publishes none; ``render_again`` is honoured either way. An
    answer naming a SKU that is not one of this run's products fails the task (clear it to ask
    again): a typo must not publish a video the reviewer meant to hold back.

    With ``review="auto"``, or when no product has a video to look at, the task approves with
    empty lists without asking and logs why.

    :param products: the run's products in the order of the mapped create task, ``{"sku", "name"}``.
    :param videos: the create task's ``dmjy_video`` XCom records (each with its ``map_index``), a
        list or a single record.
    :param review: ``"human"`` (default) or ``"auto"``.
    :param subject: the question; ``{completed}`` and ``{failed}`` are filled in.
    :param body: the details (markdown; default: the cards described above).
    :return: the answer: ``chosen_options``, ``params_input`` (``render_again``, ``drop``),
        ``responded_at``, ``responded_by_user`` (None when nobody was asked).
    """

    template_fields: Sequence[str] = (*HITLOperator.template_fields, "products", "videos", "review")

    def __init__(
        self,
        *,
        products: Sequence[Mapping[str, Any]] | str,
        videos: Any,
        review: str = "human",
        subject: str = "Review {completed} product videos ({failed} without a video)",
        **kwargs: Any,
    ) -> None:
        for fixed in ("options", "multiple"):
            if fixed in kwargs:
                raise ValueError(f"Passing {fixed} to DmjyReviewVideosOperator is not allowed.")
        super().__init__(subject=subject, options=[APPROVE, REJECT], multiple=False, **kwargs)
        # The form is the two SKU lists only (Airflow 3.1 would also show every DAG param).
        self.params = ParamsDict({RENDER_AGAIN: _sku_list(), DROP: _sku_list()})
        if "{{" not in str(review):
            _check_review(review, ValueError)
        self.products = products
        self.videos = videos
        self.review = review

    def execute(self, context: Context) -> Any:
        """Approve without asking (and say why), or ask and wait for the answer."""
        review = _check_review(self.review)
        entries = product_entries(self.products, self.videos)
        finished = [entry for entry in entries if entry["status"] == VideoStatus.COMPLETED]
        skus = [entry["sku"] for entry in entries]
        # The form offers this run's SKUs (examples make a multi-select; they do not restrict).
        self.params = ParamsDict(
            {RENDER_AGAIN: _sku_list(skus), DROP: _sku_list([entry["sku"] for entry in finished])}
        )
        reason = "review='auto'" if review == "auto" else None
        if not any(entry["video_id"] for entry in entries):
            reason = reason or "no product has a video to review"
        if reason:
            self.log.info("Approving %d videos without asking: %s", len(finished), reason)
            return self.execute_complete(context, _auto_answer([APPROVE], {RENDER_AGAIN: [], DROP: []}))
        self.subject = _fill(self.subject, completed=len(finished), failed=len(entries) - len(finished))
        self.body = self.body or review_body(entries)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """The answer, checked: exactly one option, and every SKU it names one of this run's products."""
        chosen = list(event.get("chosen_options") or ())
        if len(chosen) > 1:  # Airflow 3.1's REST API does not enforce multiple=False
            raise AirflowFailException(
                f"The review chose {len(chosen)} options ({', '.join(map(str, chosen))}); choose "
                f"exactly one of {APPROVE} or {REJECT}: clear the task to answer again"
            )
        answer = super().execute_complete(context, event)
        known = {entry["sku"] for entry in product_entries(self.products, self.videos)}
        decision = ReviewDecision.from_answer(answer) or ReviewDecision(approved=False)
        unknown = sorted(set(decision.render_again + decision.drop) - known)
        if unknown:
            raise AirflowFailException(
                f"The review names SKUs that are not in this run: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))}); clear the task to answer again"
            )
        self.log.info("Review: %s", decision.summary())
        return answer


def review_body(entries: Sequence[Mapping[str, Any]]) -> str:
    """The review question's markdown: the figures, a card per finished video, the others."""
    finished = [entry for entry in entries if entry["status"] == VideoStatus.COMPLETED]
    others = [entry for entry in entries if entry["status"] != VideoStatus.COMPLETED]
    reused = sum(1 for entry in finished if entry["reused"])
    lines = [
        f"**{len(finished)} of {len(entries)} videos finished**"
        + (f" ({reused} reused from an earlier run)" if reused else "")
        + (f", {len(others)} without a video" if others else "")
        + ".",
        "",
        "**Approve** publishes every finished video except the SKUs listed under *drop* or "
        "*render_again*; **Reject** publishes none. *render_again* starts a new run for those "
        "products with another angle in the script.",
    ]
    for entry in finished:
        title = f"{markdown_text(entry['sku'])} {markdown_text(entry['name'])}"
        video, thumbnail = markdown_url(entry["video_url"]), markdown_url(entry["thumbnail_url"])
        facts = [
            f"{int(entry['duration'])} s" if entry["duration"] else None,  # a number, never markup
            markdown_text(entry["aspect_ratio"]),
        ]
        facts.append("reused" if entry["reused"] else None)
        lines += ["", f"### {title}", ""]
        if thumbnail:
            image = f"![{title}]({thumbnail})"
            lines.append(f"[{image}]({video})" if video else image)
            lines.append("")
        preview = [f"[Preview the video]({video})"] if video else ["no preview link"]
        lines.append(" · ".join(preview + [fact for fact in facts if fact]))
    if others:
        lines += ["", "### Without a video", ""]
        for entry in others:
            why = markdown_text(entry["error"] or entry["status"])
            lines.append(f"- **{markdown_text(entry['sku'])}** {markdown_text(entry['name'])}: {why}")
    return "\n".join(lines)


def _sku_list(skus: Sequence[str] = ()) -> Param:
    extra: dict[str, Any] = {"examples": list(skus)} if skus else {}
    # "null" too: the UI's multi-select sends null once every choice is cleared.
    return Param(
        [],
        type=["array", "null"],
        items={"type": "string"},
        description="SKUs of this run",
        **extra,
    )


# -- markdown ----------------------------------------------------------------------------------------


def markdown_text(value: Any) -> str:
    """``value`` as literal markdown text: one line, every ASCII punctuation character escaped.

    CommonMark lets any ASCII punctuation be backslash-escaped, so a product name such as
    ``*[sale](javascript:x)* <img>`` shows as written and makes no link, emphasis, HTML or table cell.
    """
    text = " ".join(str("" if value is None else value).split())
    return "".join(f"\\{char}" if char in string.punctuation else char for char in text)


def markdown_url(value: Any) -> str | None:
    """An http(s) URL fit for a markdown link or image, or None for anything else (no
    ``javascript:``, no relative or local links); characters that would end the link are
    percent-encoded."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(value.strip(), safe=":/?#@!$&'*+,;=%~-._")


def _fill(template: str, **values: Any) -> str:
    """Put ``values`` into ``{name}`` placeholders; other braces stay as they are."""
    for name, value in values.items():
        template = template.replace(
            "{" + name + "}", format_credits(value) if name == "credits" else str(value)
        )
    return template
