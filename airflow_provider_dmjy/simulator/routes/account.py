"""``GET /api/v1/account``: the simulated account, its balance and usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_dmjy.simulator.models import USER_ID
from airflow_provider_dmjy.simulator.wire import ok, sim


def router() -> APIRouter:
    """The account route (the caller adds the ``/api/v1`` prefix and the auth guard)."""
    api = APIRouter()

    @api.get("/account")
    async def get_account(request: Request) -> dict[str, Any]:
        state = sim(request)
        return ok(
            {
                "userId": USER_ID,
                "email": "sim@example.com",
                "name": "模拟用户",
                "balance": state.balance,
                "plan": "pro",
                "planExpiresAt": state.plan_expires_at,
                "usage": state.usage(),
                "lowBalanceThreshold": state.config.low_balance_threshold,
                "isLowBalance": state.balance < state.config.low_balance_threshold,
            }
        )

    return api
