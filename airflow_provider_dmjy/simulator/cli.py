"""The ``dmjy-simulator`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.persistence import StateFileError
from airflow_provider_dmjy.simulator.profiles import PROFILES
from airflow_provider_dmjy.simulator.server import SimulatorServer


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults come from :class:`SimulatorConfig`.

    Every option's help ends with ``(default: ...)``, in the words of the options table in
    ``docs/simulator.md`` (a test holds the two together).
    """
    d = SimulatorConfig()
    p = argparse.ArgumentParser(prog="dmjy-simulator", description="Local simulator of the DMJY video API.")
    p.add_argument("--host", default=d.host, help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port",
        type=int,
        default=d.port,
        help="port; 0 picks a free one, read it from the ready line (default: %(default)s)",
    )
    p.add_argument("--api-key", default=d.api_key, help="the only API key accepted (default: %(default)s)")
    p.add_argument(
        "--api-secret",
        default=d.api_secret,
        help="its secret, for header and signature mode and for signing webhooks (default: %(default)s)",
    )
    p.add_argument(
        "--balance",
        type=int,
        default=d.balance,
        help="starting compute balance, in credits (default: %(default)s)",
    )
    p.add_argument(
        "--cost-per-second",
        type=int,
        default=d.cost_per_second,
        help="credits charged per second of video on create (default: %(default)s)",
    )
    p.add_argument(
        "--low-balance-threshold",
        type=int,
        default=d.low_balance_threshold,
        help="a create that takes the balance below it sends account.low_balance (default: %(default)s)",
    )
    p.add_argument(
        "--render-seconds",
        type=float,
        default=d.render_seconds,
        help="seconds from create to completed or failed, the queue included (default: %(default)s)",
    )
    p.add_argument(
        "--queue-seconds",
        type=float,
        default=d.queue_seconds,
        help="seconds a new task stays pending before processing (default: %(default)s)",
    )
    p.add_argument(
        "--fail-rate",
        type=float,
        default=d.fail_rate,
        help="probability, 0 to 1, that a render ends failed (default: %(default)s)",
    )
    p.add_argument(
        "--render-profile",
        choices=PROFILES,
        default=d.render_profile,
        help="how renders unfold: linear (a straight line, exact timings), lognormal (long-tailed queue "
        "and render times around --queue-seconds and --render-seconds), steps (those times, progress in "
        "jumps 0, 10, 30, 60, 90, 99), stall (those times, then 99 held 0.5x to 3x the render time), "
        "mixed (each video draws one of the four); see docs/simulator.md (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seed of the fail draws and the render-profile draws, for repeatable runs; without it each "
        "run draws anew (default: none)",
    )
    p.add_argument(
        "--clock-offset-seconds",
        type=float,
        default=d.clock_offset_seconds,
        help="the simulator's clock runs this far ahead of the host's, behind when negative "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=d.rate_limit,
        help="requests per second per key before a 429 with Retry-After (default: off)",
    )
    p.add_argument(
        "--rate-burst",
        type=float,
        default=d.rate_burst,
        help="the rate limit's bucket: requests a key may send at once after a pause; without it, one "
        "second's worth (default: none)",
    )
    p.add_argument(
        "--daily-cap",
        type=int,
        default=d.daily_cap,
        help="creates per key per day before the daily-limit 429 (default: off)",
    )
    p.add_argument(
        "--sign-query-string",
        action="store_true",
        default=d.sign_query_string,
        help="verify signatures over path?query instead of the path alone (default: off)",
    )
    p.add_argument(
        "--webhook-url",
        default=d.webhook_url,
        help="where account.* events go when the create had no callbackUrl (default: none)",
    )
    p.add_argument(
        "--state-file",
        metavar="PATH",
        default=d.state_file,
        help="keep videos, templates, balance and counters in this JSON file across restarts: loaded "
        "at start when present, rewritten atomically after every change; without it the state lives in "
        "memory (default: off)",
    )
    p.add_argument(
        "--log-level",
        default=d.log_level,
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level of uvicorn and of the simulator (default: %(default)s)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Map parsed arguments onto a :class:`SimulatorConfig`."""
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        api_secret=args.api_secret,
        balance=args.balance,
        cost_per_second=args.cost_per_second,
        low_balance_threshold=args.low_balance_threshold,
        render_seconds=args.render_seconds,
        queue_seconds=args.queue_seconds,
        fail_rate=args.fail_rate,
        render_profile=args.render_profile,
        seed=args.seed,
        clock_offset_seconds=args.clock_offset_seconds,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        daily_cap=args.daily_cap,
        sign_query_string=args.sign_query_string,
        log_level=args.log_level,
        webhook_url=args.webhook_url,
        state_file=args.state_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; prints one ready line to stdout."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    server = SimulatorServer(config)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server.start()
    except StateFileError as error:
        # An unreadable state file is the user's to fix; a traceback would hide the one line that matters.
        print(f"dmjy-simulator: error: {error}", file=sys.stderr)
        return 2
    host = config.host if ":" not in config.host else f"[{config.host}]"
    print(f"DMJY simulator listening on http://{host}:{server.port}/api/v1", flush=True)
    try:
        while not stop.wait(0.2):
            if not server.is_alive():
                print("DMJY simulator stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0
