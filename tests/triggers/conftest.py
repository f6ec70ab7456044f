"""Fixtures for the trigger tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_dmjy.hooks import dmjy as dmjy_hooks


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks retry with a 10 ms backoff: the tests check what is retried, not how long it takes."""
    original = dmjy_hooks.config_from_connection

    def fast(conn: Any, **overrides: Any) -> Any:
        return dataclasses.replace(original(conn, **overrides), backoff_base=0.01)

    monkeypatch.setattr(dmjy_hooks, "config_from_connection", fast)
