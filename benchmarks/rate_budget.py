"""A rate budget per connection: ``.venv/bin/python benchmarks/rate_budget.py`` (also run by ``make bench``).

2,000 ``DmjyVideoTrigger`` waits of one connection run in one event loop, as a triggerer runs them,
against a simulator that rate-limits the key at 20 requests per second: once with the connection's
request budget at 18 requests/s (90 % of the limit), once with the budget off. Reported side by
side: the simulator's count of 429s (``rate_limited`` in ``/_sim/state``), status requests per
video, whether every wait delivered exactly one event, and the detection delay (when the trigger's
event arrived, less the video's ``completed_at`` on the simulator's clock: same host, no offset).

Decisions:

- Time is scaled by ``--scale`` (0.1): a render of 120 s (12 s queued) runs in 12 s, every poll
  setting and the deferral are scaled alike, and so is the rate: the simulator runs with
  ``--rate-limit 200`` and the budget at 180/s of the scaled clock, which is 18/s of real time. The
  bucket keeps its real size (``--rate-burst 20``: one real second's worth), so the limit tolerates
  no larger burst than at real speed. Delays are reported in real seconds. Two things do not scale:
  the request latency, and ``Retry-After``, which is whole seconds on the wire (at least 1 s of the
  scaled clock, 10 real seconds): the run without the budget therefore waits longer after each 429
  than it would at real speed, and sends fewer requests, so its 429 count is, if anything, low.
- The 2,000 videos are seeded through ``POST /_sim/videos`` (outside the rate limit, like creates
  sent by workers rather than by the triggerer) over 100 real seconds, the pace at which a 20/s key
  could have created them; each wait starts after its own deferral (uniform 0-10 s, seeded). Every
  render is ``linear``, so both runs wait for the same renders ending at the same moments.
- The two runs go one after the other, each with a simulator of its own, so neither takes CPU from
  the other.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from run import machine, spawn_simulator, stop_simulator

from airflow_provider_dmjy.simulator.handle import SimulatorHandle

HERE = Path(__file__).resolve().parent
TABLE = HERE / "rate_budget.md"
COMMAND = ".venv/bin/python benchmarks/rate_budget.py"
#: Real-world figures (the scale shrinks every one of them).
#: Requests per second of the key at the simulator, and the budget: 90 % of it, as docs/connection.md
#: advises (at exactly the limit, a run on a busy machine saw a few 429s: network and loop jitter).
RATE_LIMIT, BUDGET = 20.0, 18.0
RENDER_SECONDS, QUEUE_SECONDS = 120.0, 12.0
CREATE_SPREAD, DEFERRAL_SECONDS = 100.0, 10.0
POLL_INTERVAL, MAX_POLL_INTERVAL = 10.0, 120.0  # DmjyVideoTrigger's defaults
DEADLINE_SECONDS = 3600.0
#: Seed batches per scaled second while the creates are spread.
BATCHES_PER_SECOND = 4
_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since start."""
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


def start_simulator(scale: float, seed: int) -> tuple[subprocess.Popen[str], SimulatorHandle]:
    """A rate-limited ``dmjy-simulator`` child with scaled renders; returns once it is listening."""
    process, base_url = spawn_simulator(
        *("--seed", str(seed), "--balance", "1000000000"),
        *("--render-seconds", f"{RENDER_SECONDS * scale:g}", "--queue-seconds", f"{QUEUE_SECONDS * scale:g}"),
        *("--rate-limit", f"{RATE_LIMIT / scale:g}", "--rate-burst", f"{RATE_LIMIT:g}"),
    )
    return process, SimulatorHandle.for_base_url(base_url)


@dataclass
class Run:
    """One run: its waits' events and the simulator's counters afterwards."""

    name: str
    budget: float  # real requests per second; 0 is off
    events: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    seen_at: dict[str, float] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)  # real seconds
    status_requests: int = 0
    rate_limited: int = 0
    waited_turns: int = 0
    queue_seconds: float = 0.0  # real seconds a request waited for its turn, on average
    seconds: float = 0.0  # wall-clock of the waits


async def wait_all(
    run: Run, handle: SimulatorHandle, conn_id: str, waits: int, scale: float, seed: int
) -> None:
    """Seed the videos over the spread and run one ``DmjyVideoTrigger`` per video, all in this loop."""
    from airflow_provider_dmjy.client.ratelimit import request_budgets
    from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

    # Without the budget every 429 is a warning: thousands of lines (Airflow set the levels on import).
    logging.getLogger("airflow_provider_dmjy").setLevel(logging.ERROR)
    draws = random.Random(seed)

    async def wait(video_id: str, deferral: float) -> None:
        await asyncio.sleep(deferral)
        trigger = DmjyVideoTrigger(
            video_id,
            conn_id,
            deadline=time.time() + DEADLINE_SECONDS * scale,
            poll_interval=POLL_INTERVAL * scale,
            max_poll_interval=MAX_POLL_INTERVAL * scale,
        )
        async for event in trigger.run():
            run.events[video_id] += 1
            run.statuses[event.payload["status"]] += 1
            run.seen_at.setdefault(video_id, time.time())

    batches = max(1, round(CREATE_SPREAD * scale * BATCHES_PER_SECOND))
    per_batch = [waits // batches + (1 if index < waits % batches else 0) for index in range(batches)]
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for index, count in enumerate(per_batch):
        for video_id in await asyncio.to_thread(handle.seed_videos, count, 5):
            tasks.append(asyncio.create_task(wait(video_id, draws.uniform(0, DEFERRAL_SECONDS) * scale)))
        await asyncio.sleep(max(0.0, started + (index + 1) / BATCHES_PER_SECOND - time.perf_counter()))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - started
    if run.budget:
        budget = request_budgets.get((handle.base_url, handle.api_key), run.budget / scale)
        if budget is not None and budget.waited:
            run.waited_turns = budget.waited
            run.queue_seconds = budget.waited_seconds / budget.waited / scale


def measure(run: Run, waits: int, scale: float, seed: int) -> None:
    """One run on a simulator of its own."""
    process, handle = start_simulator(scale, seed)
    try:
        conn_id = f"dmjy_rate_{run.name.split()[0]}"
        rate = f"{run.budget / scale:g}" if run.budget else "off"
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = f"{handle.conn_uri}?max_requests_per_second={rate}"
        progress(f"{run.name}: {waits} waits, creates spread over {CREATE_SPREAD * scale:g} s...")
        asyncio.run(wait_all(run, handle, conn_id, waits, scale, seed))
        state = handle.state()
    finally:
        stop_simulator(process)
    stats = state["video_stats"]
    run.status_requests = state["requests"].get("GET /api/v1/videos/{id}", 0)
    run.rate_limited = state["rate_limited"]
    run.delays = sorted((seen - stats[v]["completed_at"]) / scale for v, seen in run.seen_at.items())
    progress(f"{run.name}: done in {run.seconds:.0f} s, {run.rate_limited} 429s")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def report(runs: list[Run], waits: int, scale: float, seed: int) -> str:
    """The Markdown page."""
    budgeted, unbudgeted = runs

    def once(run: Run) -> str:
        exactly = sum(1 for n in run.events.values() if n == 1)
        kinds = ", ".join(f"{n} {status}" for status, n in sorted(run.statuses.items()))
        return f"{exactly:,} of {waits:,} ({kinds})"

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "-"

    rows: list[tuple[str, Callable[[Run], str], str]] = [
        ("429s (simulator's `rate_limited`)", lambda r: f"{r.rate_limited:,}", "-"),
        (
            "status requests",
            lambda r: f"{r.status_requests:,}",
            ratio(budgeted.status_requests, unbudgeted.status_requests),
        ),
        (
            "status requests per video",
            lambda r: f"{r.status_requests / waits:.2f}",
            ratio(budgeted.status_requests, unbudgeted.status_requests),
        ),
        ("waits with exactly one event", once, ""),
        (
            "detection delay, median",
            lambda r: f"{statistics.median(r.delays):.1f} s",
            ratio(statistics.median(budgeted.delays), statistics.median(unbudgeted.delays)),
        ),
        (
            "detection delay, p95",
            lambda r: f"{percentile(r.delays, 0.95):.1f} s",
            ratio(percentile(budgeted.delays, 0.95), percentile(unbudgeted.delays, 0.95)),
        ),
        (
            "detection delay, max",
            lambda r: f"{r.delays[-1]:.1f} s",
            ratio(budgeted.delays[-1], unbudgeted.delays[-1]),
        ),
        (
            "requests that waited for their turn in the budget; their mean wait",
            lambda r: f"{r.waited_turns:,}; {r.queue_seconds:.1f} s" if r.budget else "-",
            "",
        ),
        ("wall-clock of the run (scaled)", lambda r: f"{r.seconds:.0f} s", ""),
    ]
    run_time = budgeted.seconds / scale
    lines = [
        "# A rate budget per connection",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- Command: `{COMMAND}` (`--waits {waits} --scale {scale:g} --seed {seed}`)",
        f"- {waits:,} `DmjyVideoTrigger` waits of one connection in one event loop; the key is limited "
        f"to {RATE_LIMIT:g} requests/s (bucket of {RATE_LIMIT:g}); the videos are created over "
        f"{CREATE_SPREAD:g} s, each render takes {RENDER_SECONDS:g} s ({QUEUE_SECONDS:g} s queued), and "
        f"each wait starts 0-{DEFERRAL_SECONDS:g} s after its create, with the trigger's default "
        f"`poll_interval` ({POLL_INTERVAL:g} s) and `max_poll_interval` ({MAX_POLL_INTERVAL:g} s).",
        f"- Scale {scale:g}: every time above runs at {scale:g}x (simulator `--rate-limit "
        f"{RATE_LIMIT / scale:g} --rate-burst {RATE_LIMIT:g}`, budget {BUDGET / scale:g}/s of the scaled "
        "clock); all figures below are real (unscaled) seconds and requests. `Retry-After` does not scale "
        "(whole seconds, so at least 10 real seconds here): without the budget each 429 is followed by a "
        "longer pause than at real speed, which lowers that run's request and 429 counts.",
        "",
        f"| | budget {BUDGET:g}/s | no budget | budget / none |",
        "|---|---:|---:|---:|",
    ]
    for label, cell, versus in rows:
        lines.append(f"| {label} | {cell(budgeted)} | {cell(unbudgeted)} | {versus} |")
    allowed = BUDGET * run_time
    saturated = budgeted.queue_seconds > POLL_INTERVAL
    lines += [
        "",
        f"What the budget allows: {BUDGET:g} requests/s over the {run_time:.0f} s of the budgeted run "
        f"(its start and end included, when few waits poll) is {allowed:,.0f} requests, "
        f"{allowed / waits:.1f} per video; the waits sent {budgeted.status_requests / waits:.1f} per "
        f"video, and a request waited {budgeted.queue_seconds:.0f} s for its turn on average"
        + (
            f", longer than `poll_interval`: the budget, not the schedule, set the pace. One look per "
            f"video after its end alone takes {waits / BUDGET:.0f} s of the budget for renders that end "
            f"over {CREATE_SPREAD:g} s; a higher limit (and `max_requests_per_second` to match) or "
            "creates spread over more of the day shorten the delays."
            if saturated
            else ": the schedule, not the budget, set the pace."
        ),
    ]
    if statistics.median(budgeted.delays) > statistics.median(unbudgeted.delays):
        lines += [
            "",
            "Why the median is longer with the budget: the requests wait for their turn in one queue, "
            f"first come first served, {budgeted.queue_seconds:.0f} s on average here, so every look, "
            "the one at a finish included, is answered that much after the schedule asked for it. "
            "Without the budget a request is answered at once or refused: the lucky looks see a finish "
            "at once (a shorter median), the refused ones retry after `Retry-After` and make the "
            f"longest delays (p95 and max), with {unbudgeted.rate_limited:,} 429s and "
            f"{unbudgeted.status_requests / max(budgeted.status_requests, 1):.1f}x the requests.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both, print the table, write ``rate_budget.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--waits", type=int, default=2000, help="concurrent waits (default 2000)")
    parser.add_argument("--scale", type=float, default=0.1, help="time scale of renders, polls and rate")
    parser.add_argument("--seed", type=int, default=10, help="seed of the deferrals and render draws")
    args = parser.parse_args(argv)
    # The trigger logs per wait, and without the budget every 429 is a warning: thousands of lines.
    os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow_provider_dmjy=ERROR")
    runs = [Run(f"budget {BUDGET:g}/s", BUDGET), Run("no budget", 0.0)]
    for run in runs:
        measure(run, args.waits, args.scale, args.seed)
    text = report(runs, args.waits, args.scale, args.seed)
    print(text)
    TABLE.write_text(text + "\n", encoding="utf-8")
    progress(f"written to {TABLE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
