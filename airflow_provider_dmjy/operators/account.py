"""An operator that checks the DMJY compute balance (and a daily budget) before a batch of paid
renders starts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.calls import MARKER_SEARCH_MAX_PAGES
from airflow_provider_dmjy.exceptions import DmjyError, DmjyValidationError
from airflow_provider_dmjy.operators.base import DmjyBaseOperator
from airflow_provider_dmjy.operators.reuse import (
    REUSE_NEVER,
    check_reuse,
    planned_request,
    planned_reuse,
    reuse_since,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DEFAULT_CREDITS_PER_SECOND", "DmjyCheckBalanceOperator", "check_price"]

#: Decision: the vendor does not publish its price; the simulator charges 10 credits per video second.
DEFAULT_CREDITS_PER_SECOND = 10

Number = int | float
_CREDIT_ARGUMENTS = ("min_balance", "required_credits", "credits_per_second", "daily_budget_credits")
#: XCom key of the budget check's numbers (``required_credits``, ``daily_budget_credits``,
#: ``usage_today``, ``balance``, ``videos``, ``reusable``), pushed before the checks, so a report
#: has them after a stop too.
XCOM_BUDGET_KEY = "dmjy_budget"
_WHOLE_ARGUMENTS = ("video_count", "video_duration")


class DmjyCheckBalanceOperator(DmjyBaseOperator):
    """Fail fast when the account cannot pay for the planned videos; warn when its balance is low.

    The required amount is the larger of ``required_credits`` and
    ``video_count * video_duration * credits_per_second``, where with ``videos`` only the videos
    that will be paid for count: those a create with ``reuse="completed"`` would reuse are found
    by one bounded search (:func:`~airflow_provider_dmjy.operators.reuse.planned_reuse`) and left
    out. The estimate is a plan, not a lock: a reusable video may be deleted or a new one
    completed before the creates run. The vendor does not publish its price:
    ``credits_per_second=10`` is the simulator's rate, an assumption to adjust to your contract.
    Numeric arguments may arrive as rendered strings (``"8"``); they are coerced, and a value that
    is not a non-negative number fails with an error naming the argument.

    :param min_balance: fail when the balance is below this many credits, whatever is planned.
    :param required_credits: credits the coming work needs, when known directly.
    :param video_count: how many videos the coming work creates (an upstream count or XCom).
    :param video_duration: seconds per video (default 10, the vendor's default duration).
    :param credits_per_second: the assumed price of one second of video (default 10).
    :param videos: the keyword arguments of the run's ``DmjyCreateVideoOperator`` tasks, one dict
        per video (``description``, ``image_url``/``image_urls``, ``title``, ``duration``,
        ``aspect_ratio``: what ``expand_kwargs`` and ``partial`` give them together); checked as the
        create checks them. ``video_count`` then defaults to their number (a different one fails),
        and a video's ``duration``, when set, replaces ``video_duration`` for it.
    :param reuse: the creates' ``reuse`` (default ``"never"``, as theirs): with ``"completed"``
        and ``videos``, the videos the creates would reuse are not counted.
    :param reuse_within: the creates' ``reuse_within`` (the same forms, the same parser).
    :param daily_budget_credits: when set, the account's ``usage.today`` (credits spent today, by
        the vendor's day) plus the required amount must not exceed it, or the task fails before
        anything is spent; an account answer without a readable ``usage.today`` fails too (the
        budget cannot be checked).
    :param dmjy_conn_id: the ``dmjy`` connection to use.
    :return: the account dict (``balance``, ``plan``, ``usage``, ``isLowBalance``, ...); the numbers
        of the check go to the XCom ``dmjy_budget``: ``required_credits`` (what will be paid),
        ``daily_budget_credits``, ``usage_today``, ``balance``, ``videos`` (the fingerprints of
        ``videos``, in order; None without them) and ``reusable`` (``{fingerprint: video id}``).
    """

    #: The most list pages (100 videos each) the one search for reusable videos reads.
    reuse_search_max_pages: int = MARKER_SEARCH_MAX_PAGES

    template_fields: Sequence[str] = (
        "min_balance",
        "required_credits",
        "video_count",
        "video_duration",
        "credits_per_second",
        "daily_budget_credits",
        "videos",
        "reuse",
        "reuse_within",
        "dmjy_conn_id",
    )

    def __init__(
        self,
        *,
        min_balance: Number | str | None = None,
        required_credits: Number | str | None = None,
        video_count: int | str | None = None,
        video_duration: int | str = 10,
        credits_per_second: Number | str = DEFAULT_CREDITS_PER_SECOND,
        daily_budget_credits: Number | str | None = None,
        videos: Sequence[Mapping[str, Any]] | str | None = None,
        reuse: str = REUSE_NEVER,
        reuse_within: timedelta | float | str = timedelta(days=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.daily_budget_credits = daily_budget_credits
        self.videos = videos
        if "{{" not in str(reuse):  # a typo is refused at parse time; a template after rendering
            with self.failures():
                check_reuse(reuse)
        self.reuse, self.reuse_within = reuse, reuse_within
        self.min_balance = min_balance
        self.required_credits = required_credits
        self.video_count = video_count
        self.video_duration = video_duration
        self.credits_per_second = credits_per_second
        # Catch a literal typo at parse time; templated values are checked after rendering.
        for argument in _CREDIT_ARGUMENTS + _WHOLE_ARGUMENTS:
            value = getattr(self, argument)
            if isinstance(value, (int, float)):
                _coerce(argument, value, whole=argument in _WHOLE_ARGUMENTS)

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the account and compare its balance with what is required; returns the account."""
        with self.failures():
            min_balance = _coerce("min_balance", self.min_balance)
            required_credits = _coerce("required_credits", self.required_credits)
            video_count = _coerce("video_count", self.video_count, whole=True)
            video_duration = _coerce("video_duration", self.video_duration, whole=True)
            credits_per_second = _coerce("credits_per_second", self.credits_per_second)
            budget = _coerce("daily_budget_credits", self.daily_budget_credits)
            requests = None if self.videos is None else [planned_request(v) for v in _listed(self.videos)]
            if requests is not None:
                video_count = _check_count(video_count, len(requests))
            since = reuse_since(self.reuse, self.reuse_within)  # None: reuse="never"
            account = self.hook.get_account()
        balance = _coerce_balance(account.get("balance"))
        usage_today = _usage_today(account.get("usage"))
        fingerprints = None if requests is None else [request.fingerprint() for request in requests]
        reusable = {} if not requests or since is None else self._reusable(requests, since)

        required: Number = 0
        reasons = []
        if requests is not None:
            to_pay = [r for r in requests if r.fingerprint() not in reusable]
            seconds = sum(video_duration if r.duration is None else r.duration for r in to_pay)
            required = seconds * (credits_per_second or 0)
            reasons.append(
                f"{len(to_pay)} of {len(requests)} videos to pay ({len(requests) - len(to_pay)} "
                f"reusable): {seconds} s x {credits_per_second} credits/s = {required}"
            )
        elif video_count is not None:
            per_videos = video_count * (video_duration or 0) * (credits_per_second or 0)
            required = per_videos
            reasons.append(
                f"{video_count} videos x {video_duration} s x {credits_per_second} credits/s = {per_videos}"
            )
        if required_credits is not None:
            required = max(required, required_credits)
            reasons.append(f"required_credits={required_credits}")
        ti = context.get("ti")
        if ti is not None:
            numbers = {"required_credits": required, "daily_budget_credits": budget}
            plan = {"videos": fingerprints, "reusable": {fp: item.get("id") for fp, item in reusable.items()}}
            ti.xcom_push(
                key=XCOM_BUDGET_KEY,
                value={**numbers, "usage_today": usage_today, "balance": balance, **plan},
            )

        if account.get("isLowBalance"):
            self.log.warning(
                "DMJY account balance %s credits is below its low-balance threshold of %s credits: "
                "top it up before renders start failing",
                balance,
                account.get("lowBalanceThreshold"),
            )
        if reasons and balance < required:
            raise AirflowFailException(
                f"DMJY balance {balance} credits cannot cover the required {required} credits "
                f"({'; '.join(reasons)}; the larger counts)"
            )
        if min_balance is not None and balance < min_balance:
            raise AirflowFailException(f"DMJY balance {balance} credits is below min_balance={min_balance}")
        if budget is not None:
            _check_budget(budget, usage_today, required, reasons)
            self.log.info(
                "DMJY daily budget: %s credits spent today + %s fit %s", usage_today, required, budget
            )
        self.log.info(
            "DMJY balance %s credits covers the required %s credits%s",
            balance,
            required,
            f" ({'; '.join(reasons)})" if reasons else "",
        )
        return account

    def _reusable(self, requests: list[Any], since: float) -> dict[str, dict[str, Any]]:
        """The videos the creates would reuse; none (all paid) when the search fails."""
        try:
            return planned_reuse(self.hook, requests, since, max_pages=self.reuse_search_max_pages)
        except DmjyError as error:  # reuse is a saving: without the search, every video is paid
            self.log.warning(
                "The search for reusable DMJY videos failed (%s): counting every video as paid", error
            )
            return {}


def _listed(videos: Any) -> list[Mapping[str, Any]]:
    """``videos`` as a list of dicts (a rendered XCom may be any sequence); else a validation error."""
    if isinstance(videos, (str, bytes)) or not isinstance(videos, Sequence):
        raise DmjyValidationError("videos", videos, "must be a list of create_video keyword-argument dicts")
    if not all(isinstance(video, Mapping) for video in videos):
        raise DmjyValidationError("videos", videos, "must be a list of create_video keyword-argument dicts")
    return list(videos)


def _check_count(video_count: int | None, planned: int) -> int:
    """``video_count`` with ``videos``: their number, or a validation error when it says otherwise."""
    if video_count is not None and video_count != planned:
        raise DmjyValidationError("video_count", video_count, f"differs from the {planned} videos given")
    return planned


def _coerce(argument: str, value: Any, *, whole: bool = False) -> Any:
    """``value`` as a non-negative int (or float when ``whole`` is False), None when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = "whole number" if whole else "number"
    if isinstance(value, bool):
        raise DmjyValidationError(argument, value, f"must be a non-negative {kind}")
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise DmjyValidationError(argument, value, f"must be a non-negative {kind}") from None
    elif isinstance(value, (int, float)):
        number = Decimal(str(value))
    else:
        reason = f"must be a non-negative {kind}, not {type(value).__name__}"
        raise DmjyValidationError(argument, value, reason)
    if not number.is_finite() or number < 0:
        raise DmjyValidationError(argument, value, f"must be a non-negative {kind}")
    if number == number.to_integral_value():
        return int(number)
    if whole:
        raise DmjyValidationError(argument, value, f"must be a non-negative {kind}")
    return float(number)


def _check_budget(budget: Number, usage_today: Number | None, required: Number, reasons: list[str]) -> None:
    """Fail unless ``usage_today + required <= budget`` (exactly at the budget passes); fail closed
    when the account did not say what it spent today."""
    if usage_today is None:
        raise AirflowFailException(
            f"The DMJY account answer has no usable usage.today, so daily_budget_credits={budget} "
            "cannot be checked; nothing was spent"
        )
    # Decimal: 0.1 + 0.2 must fit a budget of 0.3.
    total = Decimal(str(usage_today)) + Decimal(str(required))
    if total > Decimal(str(budget)):
        why = f" ({'; '.join(reasons)})" if reasons else ""
        raise AirflowFailException(
            f"DMJY daily budget exceeded: {usage_today} credits spent today + {required} credits "
            f"for this run{why} = {_plain(total)} credits > daily_budget_credits={budget}; nothing was spent"
        )


def _usage_today(usage: Any) -> Number | None:
    """``usage.today`` of the account answer: a finite non-negative number (or its digits), else
    None. A negative or unreadable value is not trusted: it could only hide spend."""
    value = usage.get("today") if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    return _plain(number)


def _plain(number: Decimal) -> Number:
    return int(number) if number == number.to_integral_value() else float(number)


def _coerce_balance(value: Any) -> Number:
    # A negative balance (an overdrawn account) is a real answer; only a missing one is not.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AirflowFailException(f"The DMJY account answer has no usable balance (got {value!r})")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise AirflowFailException(f"The DMJY account answer has no usable balance (got {value!r})") from None
    if not number.is_finite():
        raise AirflowFailException(f"The DMJY account answer has no usable balance (got {value!r})")
    return int(number) if number == number.to_integral_value() else float(number)


def check_price(value: Any) -> float | None:
    """A ``credits_per_second`` that may be None (no estimate): a non-negative number."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)  # NaN fails the comparison too
    raise DmjyValidationError("credits_per_second", value, "must be a non-negative number or None")
