"""An operator that checks the DMJY compute balance (and a daily budget) before a batch of paid
renders starts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.base import DmjyBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["DEFAULT_CREDITS_PER_SECOND", "DmjyCheckBalanceOperator", "check_price"]

#: Decision: the vendor does not publish its price; the simulator charges 10 credits per video second.
DEFAULT_CREDITS_PER_SECOND = 10

Number = int | float
_CREDIT_ARGUMENTS = ("min_balance", "required_credits", "credits_per_second", "daily_budget_credits")
#: XCom key of the budget check's numbers (``required_credits``, ``daily_budget_credits``,
#: ``usage_today``, ``balance``), pushed before the checks, so a report has them after a stop too.
XCOM_BUDGET_KEY = "dmjy_budget"
_WHOLE_ARGUMENTS = ("video_count", "video_duration")


class DmjyCheckBalanceOperator(DmjyBaseOperator):
    """Fail fast when the account cannot pay for the planned videos; warn when its balance is low.

    The required amount is the larger of ``required_credits`` and
    ``video_count * video_duration * credits_per_second``. The vendor does not publish its price:
    ``credits_per_second=10`` is the simulator's rate, an assumption to adjust to your contract.
    Numeric arguments may arrive as rendered strings (``"8"``); they are coerced, and a value that
    is not a non-negative number fails with an error naming the argument.

    :param min_balance: fail when the balance is below this many credits, whatever is planned.
    :param required_credits: credits the coming work needs, when known directly.
    :param video_count: how many videos the coming work creates (an upstream count or XCom).
    :param video_duration: seconds per video (default 10, the vendor's default duration).
    :param credits_per_second: the assumed price of one second of video (default 10).
    :param daily_budget_credits: when set, the account's ``usage.today`` (credits spent today, by
        the vendor's day) plus the required amount must not exceed it, or the task fails before
        anything is spent; an account answer without a readable ``usage.today`` fails too (the
        budget cannot be checked).
    :param dmjy_conn_id: the ``dmjy`` connection to use.
    :return: the account dict (``balance``, ``plan``, ``usage``, ``isLowBalance``, ...); the numbers
        of the check go to the XCom ``dmjy_budget``.
    """

    template_fields: Sequence[str] = (
        "min_balance",
        "required_credits",
        "video_count",
        "video_duration",
        "credits_per_second",
        "daily_budget_credits",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.daily_budget_credits = daily_budget_credits
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
            account = self.hook.get_account()
        balance = _coerce_balance(account.get("balance"))
        usage_today = _usage_today(account.get("usage"))

        required: Number = 0
        reasons = []
        if video_count is not None:
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
            ti.xcom_push(
                key=XCOM_BUDGET_KEY, value={**numbers, "usage_today": usage_today, "balance": balance}
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
