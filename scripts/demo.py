"""`make demo`: the flagship DAG end to end against a local simulator, then what it produced.

1. starts ``dmjy-simulator`` on a free loopback port, with its state in
   ``demo-output/simulator-state.json`` (kept for the day: a second ``make demo`` the same day finds
   the videos of the first, and reuses them instead of paying again; a file from an earlier day is
   started afresh);
2. points an Airflow home under the repository (``airflow-home/``, SQLite, made anew each time) and
   the ``dmjy_default`` connection at it, creates the ``dmjy_creates`` pool;
3. runs ``airflow dags test dmjy_daily_product_videos`` with ``review="auto"`` (the deferrable
   renders run in-process; nobody is asked);
4. stops the simulator and prints the run's summary line, each product's video, its folder, the
   gallery, and the simulator's counters (videos created by this run, and in all). Exits non-zero
   when the run did not succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from airflow_provider_dmjy.simulator.handle import SimulatorHandle

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / "airflow-home"
OUTPUT = ROOT / "demo-output"
STATE_FILE = OUTPUT / "simulator-state.json"
DAG_ID = "dmjy_daily_product_videos"
BIN = Path(sys.executable).parent


def start_simulator(log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """The simulator as a child process; returns it and its base URL once it is listening."""
    if STATE_FILE.exists() and date.fromtimestamp(STATE_FILE.stat().st_mtime) != date.today():
        STATE_FILE.unlink()  # yesterday's videos are not reused today: start the day afresh
    args = [str(BIN / "dmjy-simulator"), "--port", "0", "--render-seconds", "4", "--queue-seconds", "1"]
    args += ["--state-file", str(STATE_FILE)]
    if os.environ.get("DEMO_FAIL_RATE"):
        args += ["--fail-rate", os.environ["DEMO_FAIL_RATE"], "--seed", "7"]
    process = subprocess.Popen(  # noqa: S603 - our own console script
        args, stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the simulator did not start (see {log_path}): {line!r}")
    return process, line.rsplit(" ", 1)[-1]


def airflow(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    out = log.open("a") if log else subprocess.PIPE
    return subprocess.run(  # noqa: S603 - our own venv's airflow
        [str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT, text=True, check=False
    )


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
    AIRFLOW_HOME.mkdir()
    OUTPUT.mkdir(exist_ok=True)
    log = AIRFLOW_HOME / "demo.log"
    simulator, base_url = start_simulator(AIRFLOW_HOME / "simulator.log")
    handle = SimulatorHandle.for_base_url(base_url)
    created_before = handle.state()["videos_created"]
    print(f"simulator: {base_url} (state: {STATE_FILE.relative_to(ROOT)}, {created_before} videos so far)")
    reports_before = set(OUTPUT.glob("*/*/manifest.json"))
    try:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            # The files themselves, as the package ships them (example_dags/ links to them).
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "airflow_provider_dmjy" / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(AIRFLOW_HOME / "plugins"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            "AIRFLOW_CONN_DMJY_DEFAULT": handle.conn_uri,
            # The simulator renders in seconds; the real service takes minutes (default 15 s).
            "DMJY_POLL_INTERVAL": "1",
            "DMJY_RETRY_DELAY": "5",
        }
        print(f"airflow home: {AIRFLOW_HOME} (SQLite)")
        for step in (
            ("db", "migrate"),
            ("pools", "set", "dmjy_creates", "4", "Caps concurrent DMJY creates"),
        ):
            result = airflow(env, *step, log=log)
            if result.returncode != 0:
                print(f"`airflow {' '.join(step)}` failed; see {log}")
                return 1
        conf = json.dumps({"archive_root": OUTPUT.as_uri(), "review": "auto"})
        print(f"running {DAG_ID} with review=auto (log: {log}) ...")
        result = airflow(env, "dags", "test", DAG_ID, "--conf", conf, log=log)
        created_after = handle.state()["videos_created"]
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    new_reports = sorted(
        set(OUTPUT.glob("*/*/manifest.json")) - reports_before, key=lambda p: p.stat().st_mtime
    )
    if not new_reports:
        print(f"no report was written (exit {result.returncode}); see {log}")
        return 1
    manifest_path = new_reports[-1]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    show(manifest, manifest_path.parent)
    print(f"simulator: {created_after - created_before} videos created by this run, {created_after} in all")
    print(f"run {manifest['state']} in {time.monotonic() - started:.0f} s")
    return 0 if manifest["state"] == "success" and result.returncode == 0 else 1


def show(manifest: dict[str, object], folder: Path) -> None:
    """Each product's video, the skipped rows, the summary, the run's folder and its gallery."""
    products = manifest["products"]
    assert isinstance(products, list)
    print()
    print(f"{'sku':<10} {'product':<10} {'video id':<18} {'status':<18} archived files")
    for row in products:
        status = row["status"] + (" (reused)" if row["reused"] else "")
        files = ", ".join(name for name in (row["video_file"], row["thumbnail_file"]) if name)
        product, video_id = row["name"], row["video_id"] or "-"
        print(
            f"{row['sku']:<10} {product:<{10 - _wide(product)}} {video_id:<18} {status:<18} "
            f"{files or row['error'] or ''}"
        )
    skipped = manifest["skipped"]
    assert isinstance(skipped, list)
    for row in skipped:
        print(f"skipped catalog row {row['row']} ({row['sku']}): {row['problem']}")
    print()
    print(manifest["summary"])
    print(f"run folder: {folder.relative_to(ROOT)}/")
    print(f"gallery: {folder / 'index.html'}")
    published = OUTPUT / "published"
    if published.exists():
        print(f"published: {published.relative_to(ROOT)}/ ({len(list(published.glob('*.json')))} videos)")


def _wide(text: str) -> int:
    """How many extra columns East Asian characters take, to keep the table aligned."""
    return sum(1 for char in text if ord(char) > 0x2E80)


if __name__ == "__main__":
    sys.exit(main())
