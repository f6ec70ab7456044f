"""Evidence for ``docs/reliability.md``: every test marked ``reliability`` is one case of the table.

A pytest plugin, registered from ``tests/conftest.py`` so that every test folder sees it: the cases
live in ``tests/reliability/`` and, for the faults of real Airflow components, ``tests/deployment/``.

A test declares its case with ``@pytest.mark.reliability(area=..., case=..., expected=...)`` and
records what it observed through the ``evidence`` fixture:

- ``evidence.billed(count, tasks=1)``: videos the simulator charged for ``tasks`` task instances;
  anything above ``tasks`` is counted as billed twice (the table's headline must stay 0).
- ``evidence.no_secret_in(*texts)``: counts occurrences of the secrets under test in what a user or
  a log sees (exception messages, captured logs, XCom values); each one is a leak.
- ``evidence.message(text)``: the message a user sees, quoted in the table.

The test asserts the outcome itself; the evidence only feeds the table. ``make reliability`` runs
the cases with ``--reliability-report PATH`` and ``scripts/reliability_report.py`` turns the JSON
lines into the Markdown table. ``make test`` runs the same tests without writing anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPORT_OPTION = "--reliability-report"
_EVIDENCE_KEY = pytest.StashKey["Evidence"]()


@dataclass
class Evidence:
    """What one reliability case observed (see the module docstring)."""

    area: str
    case: str
    expected: str
    secrets: tuple[str, ...] = ("sim_secret",)
    videos_billed: int | None = None
    billed_twice: int = 0
    secrets_leaked: int = 0
    messages: list[str] = field(default_factory=list)

    def billed(self, count: int, tasks: int = 1) -> None:
        """Record ``count`` videos charged for ``tasks`` task instances."""
        self.videos_billed = count
        self.billed_twice = max(0, count - tasks)

    def no_secret_in(self, *texts: object, secrets: tuple[str, ...] | None = None) -> int:
        """Count (and record) occurrences of the secrets in ``texts``; returns the count."""
        found = 0
        for secret in secrets or self.secrets:
            for text in texts:
                found += str(text).count(secret)
        self.secrets_leaked += found
        return found

    def message(self, text: object) -> None:
        """Record a message a user sees (shown, shortened, in the table); a secret in it is a leak."""
        shown = " ".join(str(text).split())
        if self.no_secret_in(shown):
            for secret in self.secrets:
                shown = shown.replace(secret, "<SECRET>")
        self.messages.append(shown[:300])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability(area, case, expected): one row of docs/reliability.md")
    path = config.getoption(REPORT_OPTION, default=None)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("", encoding="utf-8")


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """The case's :class:`Evidence`, from its ``reliability`` marker."""
    marker = request.node.get_closest_marker("reliability")
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `evidence` without @pytest.mark.reliability")
    found = Evidence(**marker.kwargs)
    request.node.stash[_EVIDENCE_KEY] = found
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    path = item.config.getoption(REPORT_OPTION, default=None)
    marker = item.get_closest_marker("reliability")
    if not path or marker is None:
        return report
    # One row per case: the call phase decides, unless set-up already failed or skipped.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        found = item.stash.get(_EVIDENCE_KEY, None) or Evidence(**marker.kwargs)
        row = asdict(found)
        row.pop("secrets")
        row["test"] = item.nodeid
        row["outcome"] = report.outcome
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return report
