"""Registers the ``slow`` marker (informational: ``make test`` still runs slow tests)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real Airflow components; takes a minute or two")
