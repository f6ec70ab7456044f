"""Benchmarks of the provider's hot paths: ``.venv/bin/python benchmarks/run.py`` (or ``make bench``).

1. Trigger poll cost: client CPU per status poll of a render, for many concurrent waits in one event
   loop (what a triggerer does), with the provider's shared aiohttp session against a session per
   poll (what the HTTP provider's and dbt Cloud's triggers do). The simulator runs in a separate
   process so that its CPU is not counted; every figure is this process's ``time.process_time()``.
2. Request signing: ``sign()`` and ``auth_headers()`` per call.
3. Webhook verification: ``verify_webhook`` on the raw bytes the vendor signed, and on a body a
   proxy re-serialised (the fallback that re-serialises like ``JSON.stringify``).

The machine is small and shared, so every comparison is made side by side in one run: modes are
interleaved over several rounds (in a rotating order) and the report gives medians and ratios.
Absolute figures are only meaningful on the machine that printed them. The results table is printed
and written to ``benchmarks/results.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from airflow_provider_dmjy.simulator.handle import SimulatorHandle

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"
COMMAND = ".venv/bin/python benchmarks/run.py"

API_KEY = "mk_sim_key"
API_SECRET = "sim_secret"
CONN_ID = "dmjy_default"

#: Concurrent waits (one video task each), as a triggerer holds them.
WAITS = 200
#: Polls per wait in one measurement: WAITS * POLLS requests per mode and round.
POLLS = 10
#: Rounds of every mode; the order of the modes rotates from round to round.
ROUNDS = 5
#: Target of the provider's CPU per poll against the bare shared session (issue 10).
POLL_COST_TARGET = 1.3
#: How long the full-trigger mode lets its triggers poll (a deadline ends them with a timeout event).
TRIGGER_SECONDS = 1.5
SIMULATOR_START_TIMEOUT = 30.0
_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since start (stdout carries only the table)."""
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


# -- the simulator, in its own process ---------------------------------------------------------------
@dataclass
class Simulator:
    """A ``dmjy-simulator`` child process and its base URL."""

    process: subprocess.Popen[str]
    base_url: str

    @property
    def handle(self) -> SimulatorHandle:
        """Its control endpoints and connection URI."""
        return SimulatorHandle.for_base_url(self.base_url, API_KEY, API_SECRET)

    def get_requests(self) -> int:
        """How many ``GET /videos/{id}`` the simulator has answered so far."""
        counts = self.handle.state()["requests"]
        return sum(n for key, n in counts.items() if key.startswith("GET ") and "/videos/" in key)


def start_simulator(render_seconds: float = 3600, queue_seconds: float = 0) -> Simulator:
    """Start the simulator (by default with renders that outlast the run); returns once it listens."""
    process, base_url = spawn_simulator(
        *("--render-seconds", f"{render_seconds:g}", "--queue-seconds", f"{queue_seconds:g}"),
        *("--balance", "100000000"),
    )
    return Simulator(process, base_url)


def spawn_simulator(*options: str) -> tuple[subprocess.Popen[str], str]:
    """A ``dmjy-simulator`` child on a free port with ``options``; returns it and its base URL once
    it listens (every benchmark starts its simulators here)."""
    args = [str(Path(sys.executable).parent / "dmjy-simulator"), "--port", "0", "--log-level", "warning"]
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [*args, *options], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], SIMULATOR_START_TIMEOUT)
    line = process.stdout.readline().strip() if ready else ""
    if "listening on" not in line:
        stop_simulator(process)
        raise SystemExit(f"the simulator did not start within {SIMULATOR_START_TIMEOUT:.0f} s: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


def stop_simulator(process: subprocess.Popen[str]) -> None:
    """Terminate the child (SIGTERM, then SIGKILL after 10 s) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def create_videos(count: int) -> list[str]:
    """``count`` long-running video tasks, created with the sync hook as an operator would."""
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

    hook = DmjyHook(CONN_ID)
    try:
        return [
            str(
                hook.create_video(
                    f"Benchmark product {i}: a 5 second turntable shot",
                    image_url=f"https://example.com/products/{i}.jpg",
                    duration=5,
                )["id"]
            )
            for i in range(count)
        ]
    finally:
        hook.close()


# -- process probes -------------------------------------------------------------------------------------
def open_fds() -> int:
    """File descriptors this process holds (sockets included)."""
    return len(os.listdir("/proc/self/fd"))


@dataclass
class FdSampler:
    """Samples the open file descriptors every few milliseconds while a benchmark runs."""

    interval: float = 0.005
    peak: int = 0
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, open_fds())
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Begin sampling in the running loop."""
        self.peak = open_fds()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        """Stop sampling; returns the peak."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.peak


# -- the poll modes ---------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """CPU and wall time of the polling phase of one mode in one round."""

    cpu_seconds: float
    wall_seconds: float
    polls: int
    #: CPU spent once per wait before its first poll (entering the hook), excluded from the above.
    setup_cpu_seconds: float = 0.0

    @property
    def cpu_us_per_poll(self) -> float:
        """Client CPU microseconds per poll."""
        return 1e6 * self.cpu_seconds / max(self.polls, 1)


async def timed(polls: Awaitable[int]) -> Measurement:
    """Await ``polls`` (which returns how many polls it made) and measure this process's CPU."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    done = await polls
    return Measurement(time.process_time() - cpu, time.perf_counter() - wall, done)


@dataclass
class Footprint:
    """What ``WAITS`` concurrent waits hold, from one untimed pass of a mode."""

    peak_fds: int
    idle_fds: int
    peak_heap_bytes: int
    idle_heap_bytes: int


@dataclass
class Mode:
    """One way of polling: ``run(video_ids, polls)`` polls every id ``polls`` times and times it."""

    key: str
    label: str
    run: Callable[[list[str], int], Awaitable[Measurement]]
    rounds: list[Measurement] = field(default_factory=list)
    footprint: Footprint | None = None

    @property
    def median_us(self) -> float:
        """Median over the rounds of the CPU microseconds per poll."""
        return statistics.median(m.cpu_us_per_poll for m in self.rounds)


def client_config(base_url: str) -> Any:
    """A :class:`ClientConfig` for the simulator (what the hook builds from the connection)."""
    from airflow_provider_dmjy.client.config import ClientConfig

    return ClientConfig(api_key=API_KEY, api_secret=API_SECRET, base_url=base_url)


async def raw_get(session: aiohttp.ClientSession, config: Any, clock: Any, video_id: str) -> dict[str, Any]:
    """One signed ``GET /videos/{id}`` with plain aiohttp, as a hand-written trigger would send it."""
    from airflow_provider_dmjy.client.signing import auth_headers

    url = config.url(f"/videos/{quote(video_id, safe='')}")
    headers = auth_headers(
        auth_mode=config.auth_mode,
        api_key=config.api_key,
        api_secret=config.api_secret,
        method="GET",
        url=url,
        clock=clock,
    )
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url} -> {response.status}: {body[:200]!r}")
    return json.loads(body)["data"]  # type: ignore[no-any-return]


async def poll_all(video_ids: list[str], polls: int, poll: Callable[[int, str], Awaitable[object]]) -> int:
    """``polls`` sequential polls per wait, all waits concurrently; returns the number of polls."""

    async def wait(index: int, video_id: str) -> None:
        for _ in range(polls):
            await poll(index, video_id)

    await asyncio.gather(*(wait(i, v) for i, v in enumerate(video_ids)))
    return len(video_ids) * polls


def provider_mode() -> Mode:
    """(a) The provider: ``async with DmjyAsyncHook() as hook`` per wait, ``hook.get_video`` per poll.

    The hooks are entered (and the shared pool warmed by one untimed poll each) before the timed
    polls: in a triggerer a wait is entered once and then polls many times on a warm pool.
    """
    from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook

    async def run(video_ids: list[str], polls: int) -> Measurement:
        async with contextlib.AsyncExitStack() as stack:
            gc.collect()
            cpu = time.process_time()
            hooks = [await stack.enter_async_context(DmjyAsyncHook(CONN_ID)) for _ in video_ids]
            setup = time.process_time() - cpu
            await poll_all(video_ids, 1, lambda i, v: hooks[i].get_video(v))
            result = await timed(poll_all(video_ids, polls, lambda i, v: hooks[i].get_video(v)))
        result.setup_cpu_seconds = setup / len(video_ids)
        return result

    return Mode("a", "(a) provider: `DmjyAsyncHook`, one shared session", run)


def raw_shared_mode(base_url: str, *, keep_alive: bool) -> Mode:
    """Controls: the same raw signed GET as (b), on one session shared by all waits.

    With ``keep_alive=False`` every poll opens a new connection: what a shared session costs when
    the server closes idle connections between two polls.
    """
    from airflow_provider_dmjy.client.signing import SkewClock

    config = client_config(base_url)

    async def run(video_ids: list[str], polls: int) -> Measurement:
        clock = SkewClock()
        connector = aiohttp.TCPConnector(limit=100, force_close=not keep_alive)
        async with aiohttp.ClientSession(connector=connector) as session:
            await poll_all(video_ids, 1, lambda i, v: raw_get(session, config, clock, v))
            return await timed(poll_all(video_ids, polls, lambda i, v: raw_get(session, config, clock, v)))

    if keep_alive:
        return Mode("a0", "(a0) control: raw signed GET, one shared session", run)
    return Mode("a1", "(a1) control: raw signed GET, shared session, no keep-alive", run)


def session_per_poll_mode(base_url: str) -> Mode:
    """(b) A new ``aiohttp.ClientSession`` per poll, as the HTTP provider's and dbt Cloud's triggers do."""
    from airflow_provider_dmjy.client.signing import SkewClock

    config = client_config(base_url)

    async def run(video_ids: list[str], polls: int) -> Measurement:
        clock = SkewClock()

        async def poll(index: int, video_id: str) -> None:
            async with aiohttp.ClientSession() as session:
                await raw_get(session, config, clock, video_id)

        return await timed(poll_all(video_ids, polls, poll))

    return Mode("b", "(b) a new `aiohttp.ClientSession` per poll", run)


def trigger_mode(simulator: Simulator) -> Mode:
    """(c) ``DmjyVideoTrigger.run()`` itself, polling back to back until a deadline ends each wait.

    The poll count comes from the simulator's request counter; CPU per poll includes the trigger's
    own work (schedule, status check, the ``asyncio.sleep`` timer) and one hook setup per wait.
    """
    from airflow_provider_dmjy.triggers.video import DmjyVideoTrigger

    async def run(video_ids: list[str], polls: int) -> Measurement:
        before = await asyncio.to_thread(simulator.get_requests)
        deadline = time.time() + TRIGGER_SECONDS

        async def wait(video_id: str) -> None:
            trigger = DmjyVideoTrigger(
                video_id, deadline=deadline, poll_interval=0.001, max_poll_interval=0.001
            )
            async for event in trigger.run():
                if event.payload["status"] != "timeout":
                    raise RuntimeError(f"unexpected trigger event {event.payload!r}")

        async def waits() -> int:
            await asyncio.gather(*(wait(v) for v in video_ids))
            return 0

        result = await timed(waits())
        result.polls = await asyncio.to_thread(simulator.get_requests) - before
        return result

    return Mode("c", "(c) `DmjyVideoTrigger.run()`, back-to-back polls", run)


async def footprint(mode: Mode, video_ids: list[str]) -> Footprint:
    """Untimed pass: peak fds and Python heap while the waits poll, and what stays open after."""
    gc.collect()
    fds_before = open_fds()
    sampler = FdSampler()
    tracemalloc.start()
    try:
        heap_before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        sampler.start()
        await mode.run(video_ids, 2)
        peak_fds = await sampler.stop()
        gc.collect()
        heap_after, heap_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await asyncio.sleep(0.05)  # let closed transports release their sockets
    return Footprint(
        peak_fds=peak_fds - fds_before,
        idle_fds=open_fds() - fds_before,
        peak_heap_bytes=heap_peak - heap_before,
        idle_heap_bytes=heap_after - heap_before,
    )


async def idle_hold(video_ids: list[str]) -> tuple[int, int]:
    """What the provider's waits hold while they sleep between polls: open fds and heap bytes.

    Enters ``WAITS`` hooks and polls once each (the pool is then warm), then measures before leaving.
    """
    from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook

    gc.collect()
    fds_before = open_fds()
    tracemalloc.start()
    try:
        heap_before = tracemalloc.get_traced_memory()[0]
        async with contextlib.AsyncExitStack() as stack:
            hooks = [await stack.enter_async_context(DmjyAsyncHook(CONN_ID)) for _ in video_ids]
            await asyncio.gather(*(hook.get_video(v) for hook, v in zip(hooks, video_ids, strict=True)))
            gc.collect()
            heap_held = tracemalloc.get_traced_memory()[0] - heap_before
            fds_held = open_fds() - fds_before
    finally:
        tracemalloc.stop()
    return fds_held, heap_held


# -- signing and webhooks ---------------------------------------------------------------------------------
def per_call_us(statements: dict[str, Callable[[], object]], repeats: int = 7) -> dict[str, float]:
    """Best-of-``repeats`` microseconds per call of each statement, the statements interleaved.

    Each repeat times every statement once, in turn, for about 0.1 s, so that a noisy neighbour
    slows all of them alike; the minimum is the figure least disturbed by the rest of the machine.
    """
    timers = {name: timeit.Timer(statement) for name, statement in statements.items()}
    numbers = {name: max(1, timer.autorange()[0] // 2) for name, timer in timers.items()}
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(repeats):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name])
    return {name: 1e6 * seconds for name, seconds in best.items()}


def signing_costs() -> dict[str, float]:
    """Microseconds per ``sign()`` and per ``auth_headers()`` (signature mode)."""
    from airflow_provider_dmjy.client.signing import SkewClock, auth_headers, sign

    clock = SkewClock()
    path = "/api/v1/videos/task_2b217c24148e"
    url = "https://dmjyai.vip" + path
    return per_call_us(
        {
            "sign": lambda: sign(API_SECRET, "GET", path, "1718000000000", API_KEY),
            "auth_headers": lambda: auth_headers(
                auth_mode="signature",
                api_key=API_KEY,
                api_secret=API_SECRET,
                method="GET",
                url=url,
                clock=clock,
            ),
        }
    )


def webhook_costs() -> tuple[dict[str, float], int]:
    """Microseconds per ``verify_webhook`` on the signed bytes and on a re-spaced body; the body size."""
    from airflow_provider_dmjy.webhooks import sign_webhook, verify_webhook

    now = 1_718_000_000
    task_id = "task_2b217c24148e"
    payload = {
        "event": "task.completed",
        "timestamp": now,
        "data": {
            "taskId": task_id,
            "status": "completed",
            "videoUrl": f"https://cdn.dmjyai.vip/media/videos/{task_id}.mp4",
            "thumbnailUrl": f"https://cdn.dmjyai.vip/media/thumbnails/{task_id}.jpg",
            "duration": 10,
        },
    }
    # What the vendor signs and sends (JSON.stringify: compact), and what a re-serialising proxy forwards.
    signed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    respaced = json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")
    headers = {
        "X-Webhook-Signature": sign_webhook(API_SECRET, signed),
        "X-Webhook-Event": "task.completed",
        "X-Webhook-Timestamp": str(now),
    }
    for body, expected in ((signed, "raw"), (respaced, "reserialized")):
        matched = verify_webhook(body, headers, API_SECRET, now=now).signed_over
        if matched != expected:
            raise RuntimeError(f"verify_webhook matched the {matched} body, expected {expected}")
    costs = per_call_us(
        {
            "raw": lambda: verify_webhook(signed, headers, API_SECRET, now=now),
            "reserialized": lambda: verify_webhook(respaced, headers, API_SECRET, now=now),
        }
    )
    return costs, len(signed)


# -- the report --------------------------------------------------------------------------------------------
def machine() -> str:
    """One line: CPU model and cores, OS, Python, Airflow and aiohttp versions."""
    import airflow

    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Airflow {airflow.__version__}, aiohttp {aiohttp.__version__}"
    )


def fmt(value: float, digits: int = 0) -> str:
    """A number with thousands separators."""
    return f"{value:,.{digits}f}"


def ratio_range(numerator: Mode, denominator: Mode) -> str:
    """``median ratio (min-max of the per-round ratios)`` of CPU per poll."""
    per_round = [
        n.cpu_us_per_poll / d.cpu_us_per_poll
        for n, d in zip(numerator.rounds, denominator.rounds, strict=True)
    ]
    return (
        f"{numerator.median_us / denominator.median_us:.2f}x "
        f"(rounds {min(per_round):.2f}-{max(per_round):.2f})"
    )


def report(
    modes: dict[str, Mode],
    idle: tuple[int, int],
    signing: dict[str, float],
    webhook: tuple[dict[str, float], int],
    elapsed: float,
) -> str:
    """The results as markdown."""
    a, a0, a1, b, c = (modes[k] for k in ("a", "a0", "a1", "b", "c"))
    setup_us = 1e6 * statistics.median(m.setup_cpu_seconds for m in a.rounds)
    polls_per_trigger = statistics.median(m.polls for m in c.rounds) / WAITS
    poll_verdict = "met" if a.median_us / a0.median_us <= POLL_COST_TARGET else "**missed**"
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Command: `{COMMAND}` (or `make bench`); this run took {elapsed:.0f} s",
        f"- Setup: the simulator in a separate process on loopback HTTP (its CPU is not counted); {WAITS} "
        f"concurrent waits in one event loop, {POLLS} timed polls each per measurement, {ROUNDS} "
        "interleaved rounds in a rotating order; the connection's request budget is off "
        "(`max_requests_per_second=off`: its idle path is one comparison). CPU is this process's "
        "`time.process_time()`; "
        "figures are medians over the rounds, ratios are of medians (per-round range in brackets).",
        "",
        "## 1. The cost of one poll (client CPU per status poll)",
        "",
        "| mode | median CPU us/poll | per round | wall per round |",
        "|---|---:|---|---:|",
    ]
    for mode in (a, b, a0, a1, c):
        rounds = ", ".join(fmt(m.cpu_us_per_poll) for m in mode.rounds)
        wall = statistics.median(m.wall_seconds for m in mode.rounds)
        polls = statistics.median(m.polls for m in mode.rounds)
        lines.append(
            f"| {mode.label} | **{fmt(mode.median_us)}** | {rounds} | {wall:.2f} s for {fmt(polls)} polls |"
        )
    lines += [
        "",
        f"- **The cost of one poll: provider / bare shared aiohttp session (a/a0): {ratio_range(a, a0)}** "
        f"(target <= {POLL_COST_TARGET:.1f}x: {poll_verdict}); "
        "above the same signed GET the provider adds the skew clock's `Date` check, the capped read, the "
        "envelope parsing and error mapping, and the retry decision (no tenacity unless an attempt fails)",
        f"- Session per poll / provider (b/a): {ratio_range(b, a)}",
        f"- Session per poll / the same raw GET on a shared session (b/a0): {ratio_range(b, a0)}",
        f"- Shared session without / with keep-alive (a1/a0): {ratio_range(a1, a0)}; a new connection per "
        "poll, as when the server closes idle connections between two polls",
        f"- Full trigger / provider hook (c/a): {ratio_range(c, a)}; (c) also pays one hook setup per wait "
        f"over only {polls_per_trigger:.0f} polls (about {fmt(setup_us / polls_per_trigger)} us/poll) and an "
        "`asyncio.sleep` timer per poll",
        f"- Entering `DmjyAsyncHook` (reading the connection, acquiring the shared session): "
        f"{fmt(setup_us)} us of CPU, once per wait (not counted in (a))",
        "",
        f"Footprint of {WAITS} concurrent waits (one untimed pass per mode, 2 polls each; heap = Python "
        "allocations traced by `tracemalloc`):",
        "",
        "| mode | peak open fds | fds left open | peak heap during the polls | per wait |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in (a, b):
        fp = mode.footprint
        if fp is None:
            raise RuntimeError(f"no footprint for mode {mode.key}")
        lines.append(
            f"| {mode.label} | {fp.peak_fds} | {fp.idle_fds} | {fmt(fp.peak_heap_bytes / 1024)} KiB "
            f"| {fmt(fp.peak_heap_bytes / 1024 / WAITS, 1)} KiB |"
        )
    idle_fds, idle_heap = idle
    lines += [
        "",
        f"Between two polls, {WAITS} provider waits (hooks entered, pool warm) hold {idle_fds} sockets "
        f"(the shared pool's keep-alive connections; the pool is capped at 100) and "
        f"{fmt(idle_heap / 1024)} KiB of Python heap ({fmt(idle_heap / 1024 / WAITS, 1)} KiB per wait). "
        "A session-per-poll wait holds no socket between polls but opens one per poll.",
        "",
        "## 2. Request signing",
        "",
        "| call | us/call | share of one provider poll (a) |",
        "|---|---:|---:|",
        f"| `sign()` (HMAC-SHA256 of the sign string) | {signing['sign']:.2f} | "
        f"{100 * signing['sign'] / a.median_us:.1f} % |",
        f"| `auth_headers()` (timestamp, signing path, `sign()`) | {signing['auth_headers']:.2f} | "
        f"{100 * signing['auth_headers'] / a.median_us:.1f} % |",
        "",
        "## 3. Webhook verification (`verify_webhook`)",
        "",
        f"A typical `task.completed` delivery ({webhook[1]} bytes as signed); best of 7 interleaved repeats.",
        "",
        "| body received | us/call |",
        "|---|---:|",
        f"| the bytes the vendor signed (the raw HMAC matches) | {webhook[0]['raw']:.1f} |",
        f"| re-spaced by a proxy (`indent=2`; matches after re-serialising) "
        f"| {webhook[0]['reserialized']:.1f} |",
        "",
        f"Re-serialisation fallback / raw: {webhook[0]['reserialized'] / webhook[0]['raw']:.2f}x. "
        "`verify_webhook` re-serialises and computes both digests on every call (so that its timing "
        "does not depend on which one matched), so the two paths do the same work.",
        "",
    ]
    return "\n".join(lines)


#: The other benchmarks' tables, which ``make bench`` writes before this script runs.
OTHER_RESULTS = ("triggerer.md", "imports.md", "schedule.md", "rate_budget.md")


def other_benchmarks() -> str:
    """The other benchmarks' latest tables, headings demoted one level, for ``results.md``."""
    sections = []
    for name in OTHER_RESULTS:
        path = RESULTS.parent / name
        if path.exists():
            body = path.read_text(encoding="utf-8").strip()
            demoted = "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines())
            sections.append(f"{demoted}\n\n(from `benchmarks/{name}`)")
    return "".join(f"\n{section}\n" for section in sections)


@contextlib.contextmanager
def running_simulator() -> Iterator[Simulator]:
    """A simulator child process for the ``with`` block; always stopped at the end."""
    simulator = start_simulator()
    try:
        yield simulator
    finally:
        stop_simulator(simulator.process)


async def poll_benchmarks(
    simulator: Simulator, video_ids: list[str]
) -> tuple[dict[str, Mode], tuple[int, int]]:
    """Warm up, then every mode in every round (rotating order), then the footprint passes."""
    modes = {
        mode.key: mode
        for mode in (
            provider_mode(),
            session_per_poll_mode(simulator.base_url),
            raw_shared_mode(simulator.base_url, keep_alive=True),
            raw_shared_mode(simulator.base_url, keep_alive=False),
            trigger_mode(simulator),
        )
    }
    order = list(modes.values())
    for mode in order[:-1]:  # warm-up: imports, caches, the simulator's first requests
        await mode.run(video_ids[:20], 1)
    for round_index in range(ROUNDS):
        shift = round_index % len(order)
        for mode in order[shift:] + order[:shift]:
            mode.rounds.append(await mode.run(video_ids, POLLS))
            progress(f"  round {round_index + 1}: {mode.key} {mode.rounds[-1].cpu_us_per_poll:,.0f} us/poll")
    progress("footprint passes (tracemalloc)...")
    for key in ("a", "b"):
        modes[key].footprint = await footprint(modes[key], video_ids)
    idle = await idle_hold(video_ids)
    return modes, idle


def main() -> int:
    """Run everything, print the markdown and write it to ``benchmarks/results.md``."""
    # The trigger logs two INFO lines per wait; a benchmark of 200 waits per round would drown in them.
    os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow_provider_dmjy=WARNING")
    with running_simulator() as simulator:
        # No request budget: this measures the cost of a poll, not the spacing of polls.
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = (
            simulator.handle.conn_uri + "?max_requests_per_second=off"
        )
        progress(f"simulator: {simulator.base_url} (pid {simulator.process.pid})")
        video_ids = create_videos(WAITS)
        progress(f"created {len(video_ids)} video tasks; polling...")
        modes, idle = asyncio.run(poll_benchmarks(simulator, video_ids))
    progress("simulator stopped; signing and webhook verification...")
    signing = signing_costs()
    webhook = webhook_costs()
    text = report(modes, idle, signing, webhook, time.perf_counter() - _STARTED) + other_benchmarks()
    print(text)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    progress(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
