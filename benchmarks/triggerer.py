"""Thousands of waits in one triggerer: ``.venv/bin/python benchmarks/triggerer.py`` (or ``make bench``).

``--waits`` (default 5,000) ``DmjyVideoTrigger``s run in one event loop the way Airflow's triggerer
runs them: the real ``TriggerRunner`` of the installed Airflow loads them (``create_triggers``:
class lookup, Fernet-decrypting and deserialising the kwargs, one ``run_trigger`` task each, with its
greenback portal, log context and span) and reaps them (``cleanup_finished_triggers``), with its
``block_watchdog`` running; logging is configured as in a trigger subprocess (JSON lines, here into
``/dev/null`` instead of the supervisor's socket). Only the supervisor is left out: no database, no
comms, the workloads carry no task instance, and the connection comes from an environment variable.

The simulator runs in another process (its CPU is not counted) with renders of ``RENDER_SECONDS``
(``QUEUE_SECONDS`` queued), so that all waits are open at once and the run takes about a minute. The
triggers keep their defaults (``poll_interval`` 10 s, ``max_poll_interval`` 120 s).

Figures:

- the longest event-loop stall: a ticker sleeps ``TICK`` seconds and records how late it wakes up,
  over the whole run and over the start-up phase (from the first trigger loaded until one
  ``poll_interval`` later, before any trigger's first poll); Airflow warns above 0.2 s. For the
  longest stall the script also gives the CPU this process used during it: a stall with little CPU
  was the machine (another process had the core), not the loop;
- client CPU per completed video: this process's ``time.process_time()`` from the first load to
  the last event, over the events;
- peak RSS per 1,000 waits: peak resident memory during the run less the RSS before loading;
- sockets in use: the peak number of socket descriptors in ``/proc/self/fd`` less those open
  before loading (the loop's own), sampled by a thread so that counting does not stall the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from run import fmt, machine, start_simulator, stop_simulator

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "triggerer.md"
COMMAND = ".venv/bin/python benchmarks/triggerer.py"
CONN_ID = "dmjy_default"
CLASSPATH = "airflow_provider_dmjy.triggers.video.DmjyVideoTrigger"
#: Render timings of the simulator (s): long enough that every wait is open at once.
RENDER_SECONDS, QUEUE_SECONDS = 40.0, 4.0
#: The ticker's sleep; its lateness is the loop's stall.
TICK = 0.02
#: Airflow's ``[triggerer] blocked_main_thread_warning_threshold`` default: the target.
STALL_TARGET = 0.2
#: The connection's request budget (``max_requests_per_second``): its highest accepted value. The
#: default (10/s) would spread 5,000 waits' polls over minutes; this keeps the budget in the path
#: (its queue of waiting polls included) without making the run about it (see rate_budget.py).
BUDGET = 1000
#: Creates in flight at once (creating is set-up, not measured).
CREATE_CONCURRENCY = 50
_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since start."""
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


# -- probes ---------------------------------------------------------------------------------------------
def rss_bytes() -> int:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def sockets() -> int:
    """This process's open sockets (``/proc/self/fd`` entries that are sockets)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # closed meanwhile
            continue
    return count


class Sampler(threading.Thread):
    """Samples RSS and open sockets every ``interval`` seconds from a thread (off the event loop)."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_rss = rss_bytes()
        self.sockets_before = self.peak_sockets = sockets()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.peak_rss = max(self.peak_rss, rss_bytes())
            self.peak_sockets = max(self.peak_sockets, sockets())

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._halt.set()
        self.join()


class GcWatch:
    """CPython's garbage collections while the run lasts: when each began, its generation and CPU."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, int, float]] = []  # (perf_counter at start, generation, CPU s)
        self._started = (0.0, 0.0)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
        else:
            self.collections.append(
                (self._started[0], info["generation"], time.thread_time() - self._started[1])
            )

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds of the collections that began between two ``perf_counter`` readings."""
        return sum(cpu for at, _, cpu in self.collections if start <= at < end)

    def full(self) -> list[float]:
        """CPU seconds of each full (generation 2) collection."""
        return [cpu for _, generation, cpu in self.collections if generation == 2]


@dataclass
class Stall:
    """A late wake-up of the ticker: when (s since loading began), how late, the CPU this process
    used meanwhile, and how much of that CPU was garbage collection."""

    at: float
    seconds: float
    cpu_seconds: float
    gc_seconds: float


@dataclass
class Ticker:
    """Records how late a ``TICK`` sleep wakes up, for the whole run."""

    origin: float
    gc_watch: GcWatch
    stalls: list[Stall] = field(default_factory=list)
    ticks: int = 0

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            before, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK)
            after = time.perf_counter()
            late = after - before - TICK
            self.ticks += 1
            if late > 0.05:  # below that, not worth keeping
                gc_cpu = self.gc_watch.cpu_between(before, after)
                self.stalls.append(Stall(before - self.origin, late, time.process_time() - cpu, gc_cpu))

    def worst(self, until: float | None = None, *, without_gc: bool = False) -> Stall:
        """The longest stall (before ``until`` s since the origin; with no collection in it)."""
        stalls = [
            s
            for s in self.stalls
            if (until is None or s.at < until) and not (without_gc and s.gc_seconds > 0)
        ]
        return max(stalls, key=lambda s: s.seconds, default=Stall(0.0, 0.0, 0.0, 0.0))


# -- the run ----------------------------------------------------------------------------------------------
async def create_videos(base_url: str, api_key: str, api_secret: str, count: int) -> list[str]:
    """``count`` video tasks, created concurrently (header authentication: creates are not measured)."""
    ids: list[str] = [""] * count
    headers = {"X-API-Key": api_key, "X-API-Secret": api_secret}
    queue = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in queue:
            body = {"description": f"Triggerer benchmark {index}", "imageUrl": "https://example.com/p.jpg"}
            async with session.post(f"{base_url}/videos", json=body, headers=headers) as response:
                response.raise_for_status()
                ids[index] = str((await response.json())["data"]["id"])

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CREATE_CONCURRENCY)))
    return ids


@dataclass
class Outcome:
    """What one run measured."""

    waits: int
    load_seconds: float
    run_seconds: float
    startup_window: float
    cpu_seconds: float
    startup_cpu_seconds: float
    rss_before: int
    rss_peak: int
    sockets_peak: int
    statuses: Counter[str]
    duplicates: int
    ticker: Ticker
    gc_watch: GcWatch
    frozen: int
    requests: int


def workloads_for(video_ids: list[str], deadline: float) -> list[Any]:
    """One ``RunTrigger`` workload per video, kwargs encrypted as the scheduler stores them."""
    from airflow.executors import workloads
    from airflow.models.trigger import Trigger

    return [
        workloads.RunTrigger(
            id=index + 1,
            classpath=CLASSPATH,
            encrypted_kwargs=Trigger.encrypt_kwargs(
                {"video_id": video_id, "dmjy_conn_id": CONN_ID, "deadline": deadline}
            ),
        )
        for index, video_id in enumerate(video_ids)
    ]


async def run_triggerer(video_ids: list[str], gc_watch: GcWatch, *, freeze: bool) -> Outcome:
    """Load every trigger into a real ``TriggerRunner`` and run until each has fired its event.

    With ``freeze``, ``gc.freeze()`` first: everything allocated so far (Airflow's and the
    provider's modules) leaves the garbage collector's view, as a deployment's
    ``airflow_local_settings.py`` can do for the triggerer process.
    """
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    from airflow_provider_dmjy.utils.polling import DEFAULT_POLL_INTERVAL

    runner = TriggerRunner()
    runner.to_create.extend(workloads_for(video_ids, time.time() + 600))
    sampler = Sampler()
    origin = time.perf_counter()
    ticker = Ticker(origin, gc_watch)
    if freeze:
        gc.collect()
        gc.freeze()
    ticking = asyncio.create_task(ticker.run())
    watchdog = asyncio.create_task(runner.block_watchdog())
    rss_before = rss_bytes()
    sampler.start()
    cpu_start = time.process_time()
    await runner.create_triggers()
    load_seconds = time.perf_counter() - origin
    # Start-up: until the first poll_interval has passed, no trigger has polled yet.
    startup_window = max(DEFAULT_POLL_INTERVAL, load_seconds)
    statuses: Counter[str] = Counter()
    fired: Counter[int] = Counter()
    startup_cpu = None
    while len(fired) < len(video_ids):
        # The triggerer's main loop: reap finished triggers, hand their events on, sleep 1 s.
        await runner.cleanup_finished_triggers()
        while runner.events:
            entry = runner.events.popleft()
            fired[entry.trigger_id] += 1
            statuses[entry.event.payload["status"]] += 1
        if runner.failed_triggers:
            raise RuntimeError(f"triggers failed: {list(runner.failed_triggers)[:3]}")
        if startup_cpu is None and time.perf_counter() - origin >= startup_window:
            startup_cpu = time.process_time() - cpu_start
        await asyncio.sleep(1)
    cpu_seconds = time.process_time() - cpu_start
    run_seconds = time.perf_counter() - origin
    runner.stop = True
    sampler.stop()
    ticking.cancel()
    await watchdog
    return Outcome(
        waits=len(video_ids),
        load_seconds=load_seconds,
        run_seconds=run_seconds,
        startup_window=startup_window,
        cpu_seconds=cpu_seconds,
        startup_cpu_seconds=startup_cpu if startup_cpu is not None else cpu_seconds,
        rss_before=rss_before,
        rss_peak=sampler.peak_rss,
        sockets_peak=sampler.peak_sockets - sampler.sockets_before,
        statuses=statuses,
        duplicates=sum(n - 1 for n in fired.values()),
        ticker=ticker,
        gc_watch=gc_watch,
        frozen=gc.get_freeze_count(),
        requests=0,
    )


# -- the report ----------------------------------------------------------------------------------------------
def verdict(seconds: float) -> str:
    """``met`` or ``missed`` against the stall target."""
    return "met" if seconds < STALL_TARGET else "**missed**"


def stall_text(stall: Stall) -> str:
    """A stall with the CPU this process used during it, garbage collection apart."""
    return (
        f"{stall.seconds:.3f} s (at {stall.at:.1f} s; CPU {stall.cpu_seconds:.3f} s, "
        f"of which garbage collection {stall.gc_seconds:.3f} s)"
    )


def table(outcome: Outcome) -> list[str]:
    """The figures as markdown table rows (shared with ``results.md``)."""
    worst, startup = outcome.ticker.worst(), outcome.ticker.worst(outcome.startup_window)
    no_gc = outcome.ticker.worst(without_gc=True)
    full = outcome.gc_watch.full()
    all_gc = sum(cpu for _, _, cpu in outcome.gc_watch.collections)
    over = sum(1 for s in outcome.ticker.stalls if s.seconds >= STALL_TARGET)
    completed = sum(outcome.statuses.values())
    per_thousand = (outcome.rss_peak - outcome.rss_before) / outcome.waits * 1000
    return [
        "| figure | value | target |",
        "|---|---:|---|",
        f"| longest loop stall, whole run | {stall_text(worst)} "
        f"| < {STALL_TARGET} s: {verdict(worst.seconds)} |",
        f"| longest loop stall, start-up (first {outcome.startup_window:.0f} s) | {stall_text(startup)} "
        f"| < {STALL_TARGET} s: {verdict(startup.seconds)} |",
        f"| longest loop stall with no garbage collection in it | {stall_text(no_gc)} "
        f"| < {STALL_TARGET} s: {verdict(no_gc.seconds)} |",
        f"| ticks late by {STALL_TARGET} s or more | {over} of {fmt(outcome.ticker.ticks)} | |",
        f"| full (generation 2) garbage collections | {len(full)}, longest {max(full, default=0):.3f} s CPU, "
        f"total {sum(full):.2f} s (all collections {all_gc:.2f} s); "
        f"{fmt(outcome.frozen)} objects frozen | |",
        f"| loading {fmt(outcome.waits)} triggers (`create_triggers`) | {outcome.load_seconds:.2f} s | |",
        f"| client CPU per completed video | {1e3 * outcome.cpu_seconds / max(completed, 1):.2f} ms "
        f"({outcome.cpu_seconds:.1f} s for {fmt(completed)}; "
        f"start-up {outcome.startup_cpu_seconds:.1f} s) | |",
        f"| status requests per video | {outcome.requests / outcome.waits:.1f} | |",
        f"| peak RSS per 1,000 waits | {per_thousand / 2**20:.1f} MiB "
        f"({outcome.rss_before / 2**20:.0f} MiB before, {outcome.rss_peak / 2**20:.0f} MiB peak) | |",
        f"| sockets in use (peak) | {outcome.sockets_peak} | |",
    ]


def report(outcome: Outcome, seconds: float) -> str:
    """The results as markdown."""
    events = ", ".join(f"{n:,} {status}" for status, n in sorted(outcome.statuses.items()))
    return "\n".join(
        [
            f"# {fmt(outcome.waits)} waits in one triggerer",
            "",
            f"- Machine: {machine()}",
            f"- Command: `{COMMAND} --waits {outcome.waits}`; this run took {seconds:.0f} s "
            f"(the waits {outcome.run_seconds:.0f} s)",
            f"- Renders of {RENDER_SECONDS:g} s ({QUEUE_SECONDS:g} s queued), default `poll_interval`, "
            f"`max_requests_per_second={BUDGET}`; "
            f"events: {events}; {outcome.duplicates} duplicates.",
            "",
            *table(outcome),
            "",
        ]
    )


def status_requests(base_url: str) -> int:
    """How many ``GET /videos/{id}`` the simulator has answered."""
    from airflow_provider_dmjy.simulator.handle import SimulatorHandle

    counts = SimulatorHandle.for_base_url(base_url).state()["requests"]
    return sum(n for key, n in counts.items() if key.startswith("GET ") and "/videos/" in key)


def measure(waits: int, *, freeze: bool = False) -> Outcome:
    """Start the simulator, create the videos, run the triggerer; the simulator is always stopped."""
    from airflow.sdk.log import configure_logging

    # As in a trigger subprocess: JSON log lines (into /dev/null here, to the supervisor there).
    configure_logging(json_output=True, output=open(os.devnull, "wb"), sending_to_supervisor=True)  # noqa: SIM115
    sys.excepthook = sys.__excepthook__  # a failure of the benchmark itself goes to the terminal
    simulator = start_simulator(render_seconds=RENDER_SECONDS, queue_seconds=QUEUE_SECONDS)
    try:
        handle = simulator.handle
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = handle.conn_uri + f"?max_requests_per_second={BUDGET}"
        progress(f"simulator {simulator.base_url}; creating {waits:,} videos...")
        video_ids = asyncio.run(create_videos(handle.base_url, handle.api_key, handle.api_secret, waits))
        progress(f"created; loading {waits:,} triggers...")
        before = status_requests(simulator.base_url)
        with GcWatch() as gc_watch:
            outcome = asyncio.run(run_triggerer(video_ids, gc_watch, freeze=freeze))
        outcome.requests = status_requests(simulator.base_url) - before
    finally:
        stop_simulator(simulator.process)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Run once, print the table and write it to ``benchmarks/triggerer.md``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--waits", type=int, default=5000, help="concurrent triggers (default 5000)")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() before loading (a deployment's option)"
    )
    args = parser.parse_args(argv)
    outcome = measure(args.waits, freeze=args.gc_freeze)
    text = report(outcome, time.perf_counter() - _STARTED)
    print(text)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    stalls = sorted(outcome.ticker.stalls, key=lambda s: -s.seconds)[:5]
    progress("worst stalls: " + "; ".join(stall_text(s) for s in stalls))
    progress(f"written to {RESULTS.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
