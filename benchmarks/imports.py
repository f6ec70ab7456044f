"""DAG parsing stays cheap: ``.venv/bin/python benchmarks/imports.py`` (also run by ``make bench``).

A DAG file that uses the provider imports its operator and sensor modules every time the DAG
processor parses it. Each figure is the time to import a set of modules in a fresh interpreter
(``-X frozen_modules=off`` is not used: a plain ``python -c``) after ``import airflow.sdk``, which
every DAG file pays anyway; the median over ``--repeats`` runs, the sets taking turns in a rotating
order so that a noisy neighbour slows all of them alike. The reference is the HTTP provider's
operator module (``apache-airflow-providers-http``, a dev dependency), measured in the same run; the
figure that matters is the ratio.

Every set is imported as a deployment imports it, from bytecode: an installed provider has its
``.pyc`` files (pip compiles them), while this source tree may have none (``PYTHONDONTWRITEBYTECODE``)
and would then pay Python's compiler on every run, which no DAG processor pays. The probes share a
private bytecode cache (``PYTHONPYCACHEPREFIX``, a temporary folder) filled by one untimed import of
each set, so both sides are measured alike and nothing is written into the tree.

Each run also lists which heavy modules the set loaded: a DAG-facing module must not load aiohttp,
FastAPI, uvicorn or the simulator at parse time (``tests/unit/test_provider_info.py`` checks it too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from run import machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "imports.md"
COMMAND = ".venv/bin/python benchmarks/imports.py"
#: What a DAG file of the provider imports: the operators and the sensor (the main figure).
DAG_FACING = (
    "airflow_provider_dmjy.operators.video",
    "airflow_provider_dmjy.operators.account",
    "airflow_provider_dmjy.operators.template",
    "airflow_provider_dmjy.operators.delete",
    "airflow_provider_dmjy.operators.download",
    "airflow_provider_dmjy.sensors.video",
)
#: The human review step (it imports the standard provider's HITL operators): its own line.
REVIEW = ("airflow_provider_dmjy.operators.review",)
#: The reference: the HTTP provider's operator module.
HTTP = ("airflow.providers.http.operators.http",)
#: Modules a DAG-facing import must not load.
HEAVY = ("aiohttp", "fastapi", "uvicorn", "airflow_provider_dmjy.simulator")
#: Target: the DAG-facing modules cost at most this share of the HTTP operator module (issue 10).
TARGET_RATIO = 0.30

_PROBE = """
import json, sys, time
import airflow.sdk
start = time.perf_counter()
for name in {modules!r}:
    __import__(name)
seconds = time.perf_counter() - start
heavy = {{h for h in {heavy!r} for m in list(sys.modules) if m == h or m.startswith(h + ".")}}
print(json.dumps({{"seconds": seconds, "heavy": sorted(heavy)}}))
"""


@dataclass
class ImportSet:
    """A set of modules imported together, and what each fresh run measured."""

    label: str
    modules: tuple[str, ...]
    seconds: list[float] = field(default_factory=list)
    heavy: set[str] = field(default_factory=set)

    @property
    def median_ms(self) -> float:
        """Median import time in milliseconds."""
        return 1000 * statistics.median(self.seconds)


def probe(modules: tuple[str, ...], env: dict[str, str]) -> tuple[float, list[str]]:
    """Import ``modules`` after ``airflow.sdk`` in a fresh interpreter: (seconds, heavy modules loaded)."""
    code = _PROBE.format(modules=modules, heavy=HEAVY)
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {modules} failed:\n{result.stderr[-2000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return float(data["seconds"]), list(data["heavy"])


def measure(repeats: int) -> list[ImportSet]:
    """Every set ``repeats`` times, in a rotating order."""
    sets = [
        ImportSet("the DMJY operators and sensor (what a DAG file imports)", DAG_FACING),
        ImportSet("`airflow.providers.http.operators.http` (reference)", HTTP),
        ImportSet("`airflow_provider_dmjy.operators.review` (human review; own line)", REVIEW),
    ]
    with tempfile.TemporaryDirectory(prefix="dmjy-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for import_set in sets:  # untimed: fills the bytecode cache
            probe(import_set.modules, env)
        for round_index in range(repeats):
            shift = round_index % len(sets)
            for import_set in sets[shift:] + sets[:shift]:
                seconds, heavy = probe(import_set.modules, env)
                import_set.seconds.append(seconds)
                import_set.heavy.update(heavy)
    return sets


def table(sets: list[ImportSet]) -> list[str]:
    """Markdown rows (shared with ``results.md``)."""
    dmjy, http, review = sets
    ratio = dmjy.median_ms / http.median_ms
    verdict = "met" if ratio <= TARGET_RATIO else "**missed**"
    rows = [
        "| modules, imported after `airflow.sdk` in a fresh interpreter | median | runs (ms) "
        "| heavy modules loaded |",
        "|---|---:|---|---|",
    ]
    for import_set in sets:
        runs = ", ".join(f"{1000 * s:.0f}" for s in import_set.seconds)
        heavy = ", ".join(sorted(import_set.heavy)) or "none"
        rows.append(f"| {import_set.label} | **{import_set.median_ms:.0f} ms** | {runs} | {heavy} |")
    rows += [
        "",
        f"- **DMJY operators and sensor / HTTP operator module: {ratio:.2f}** (target <= {TARGET_RATIO:.2f}: "
        f"{verdict}); the review operator module alone: {review.median_ms / http.median_ms:.2f}",
    ]
    return rows


def report(sets: list[ImportSet], repeats: int, seconds: float) -> str:
    """The results as markdown."""
    return "\n".join(
        [
            "# DAG-parse import cost",
            "",
            f"- Machine: {machine()}",
            f"- Command: `{COMMAND} --repeats {repeats}`; this run took {seconds:.0f} s; every set imported "
            "from bytecode (a private cache filled by one untimed run of each set)",
            "",
            *table(sets),
            "",
        ]
    )


def heavy_loaded(sets: list[ImportSet]) -> list[str]:
    """The DAG-facing sets that loaded a forbidden module (the HTTP reference may load anything)."""
    return [s.label for s in sets if s.modules != HTTP and s.heavy]


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write ``benchmarks/imports.md``; exit 1 if a heavy module was loaded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh interpreters per set (default 7)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sets = measure(args.repeats)
    text = report(sets, args.repeats, time.perf_counter() - started)
    print(text)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    if offenders := heavy_loaded(sets):
        print(f"heavy modules loaded at parse time by: {offenders}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
