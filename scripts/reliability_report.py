"""Turn the JSON lines of ``pytest tests/reliability --reliability-report F`` into docs/reliability.md.

Usage: ``python scripts/reliability_report.py REPORT.jsonl docs/reliability.md`` (``make reliability``).
Exits non-zero when a case failed, a video was billed twice or a secret leaked, so the table can
never be regenerated green from a red run.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HEADER = """# Reliability evidence

Every promise of the provider (never charged twice, no secret leaves Airflow, nothing written outside
its place, bad input refused before spend, nothing hangs) tried against hostile answers, slow
networks, skewed clocks, late commits and killed processes. Each row is one test in
`tests/reliability/` or, for the faults on real Airflow components (a worker's task process and a
triggerer SIGKILLed), `tests/deployment/test_real_faults.py`; "billed" is the number of videos the
simulator charged for the case's task instances, read from its counters. Regenerate this page with
`make reliability`; `make test` runs the same tests.
"""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown page for ``rows`` (one dict per case, as the reliability conftest writes them)."""
    passed = sum(row["outcome"] == "passed" for row in rows)
    twice = sum(int(row["billed_twice"]) for row in rows)
    leaked = sum(int(row["secrets_leaked"]) for row in rows)
    lines = [
        HEADER,
        f"- cases: **{len(rows)}**",
        f"- passed: **{passed}**",
        f"- videos billed twice: **{twice}** (must be 0)",
        f"- secrets leaked: **{leaked}** (must be 0)",
        "",
    ]
    by_area: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_area[row["area"]].append(row)
    for area in sorted(by_area):
        lines += [
            f"## {area}",
            "",
            "| case | expected | result | billed | what the user sees |",
            "|---|---|---|---|---|",
        ]
        for row in by_area[area]:
            billed = "" if row["videos_billed"] is None else str(row["videos_billed"])
            seen = " / ".join(row["messages"]) or ""
            lines.append(
                f"| {_cell(row['case'])} | {_cell(row['expected'])} | {row['outcome']} | {billed} "
                f"| {_cell(seen)} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    source, target = Path(argv[1]), Path(argv[2])
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        print("no reliability cases were recorded", file=sys.stderr)
        return 1
    Path(target).write_text(render(rows), encoding="utf-8")
    failed = [row["test"] for row in rows if row["outcome"] != "passed"]
    twice = sum(int(row["billed_twice"]) for row in rows)
    leaked = sum(int(row["secrets_leaked"]) for row in rows)
    print(
        f"{len(rows)} cases, {len(rows) - len(failed)} passed, billed twice {twice}, secrets leaked {leaked}"
    )
    print(f"wrote {target}")
    for test in failed:
        print(f"not passed: {test}", file=sys.stderr)
    return 1 if failed or twice or leaked else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
