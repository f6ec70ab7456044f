"""`make demo`: the flagship DAG end to end against a local simulator, then what it produced.

1. starts ``dmjy-simulator`` on a free loopback port;
2. points an Airflow home under the repository (``airflow-home/``, SQLite) and the
   ``dmjy_default`` connection at it, creates the ``dmjy_creates`` pool;
3. runs ``airflow dags test dmjy_daily_product_videos`` (the deferrable renders run in-process);
4. stops the simulator and prints each product's video id, status and archived files, and the
   path of the ``index.html`` gallery. Exits non-zero when the run did not succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pendulum

from airflow_provider_dmjy.simulator.handle import SimulatorHandle

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / "airflow-home"
OUTPUT = ROOT / "demo-output"
DAG_ID = "dmjy_daily_product_videos"
BIN = Path(sys.executable).parent


def start_simulator(log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """The simulator as a child process; returns it and its base URL once it is listening."""
    args = [str(BIN / "dmjy-simulator"), "--port", "0", "--render-seconds", "4", "--queue-seconds", "1"]
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
    print(f"simulator: {base_url}")
    try:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            # The files themselves, as the package ships them (example_dags/ links to them).
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "airflow_provider_dmjy" / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(AIRFLOW_HOME / "plugins"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            "AIRFLOW_CONN_DMJY_DEFAULT": SimulatorHandle.for_base_url(base_url).conn_uri,
            # The simulator renders in seconds; the real service takes minutes (default 15 s).
            "DMJY_POLL_INTERVAL": "1",
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
        run_date = pendulum.now("Asia/Shanghai").to_date_string()
        conf = json.dumps({"archive_root": OUTPUT.as_uri()})
        print(f"running {DAG_ID} for {run_date} (log: {log}) ...")
        result = airflow(env, "dags", "test", DAG_ID, run_date, "--conf", conf, log=log)
        state = run_state(env)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    return report(run_date, state, result.returncode, time.monotonic() - started, log)


def run_state(env: dict[str, str]) -> str:
    """The state of the DAG run that ``airflow dags test`` just made, read from the metadata DB."""
    listed = airflow(env, "dags", "list-runs", DAG_ID, "--output", "json")
    lines = [line for line in listed.stdout.splitlines() if line.startswith(("[{", "[]"))]
    try:
        runs = json.loads(lines[-1])
    except (IndexError, ValueError):
        return "unknown"
    return str(runs[0]["state"]) if runs else "unknown"


def report(run_date: str, state: str, returncode: int, seconds: float, log: Path) -> int:
    manifest_path = OUTPUT / run_date / "manifest.json"
    if not manifest_path.exists():
        print(f"no report was written (run {state}, exit {returncode}); see {log}")
        return 1
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    print()
    print(f"{'sku':<10} {'product':<10} {'video id':<18} {'status':<10} archived files")
    for row in manifest["videos"]:
        files = ", ".join(
            str(Path(path.removeprefix("file://")).relative_to(ROOT))
            for path in (row["video_path"], row["thumbnail_path"])
            if path
        )
        product, video_id = row["product"], row["video_id"] or "-"
        print(
            f"{row['sku']:<10} {product:<{10 - _wide(product)}} {video_id:<18} {row['status']:<10} "
            f"{files or row['error'] or ''}"
        )
    for skipped in manifest["skipped_rows"]:
        print(f"skipped catalog row {skipped['row']} ({skipped['sku']}): {skipped['problem']}")
    print()
    print(f"gallery: {manifest_path.parent / 'index.html'}")
    print(f"run {state} in {seconds:.0f} s")
    return 0 if state == "success" and returncode == 0 else 1


def _wide(text: str) -> int:
    """How many extra columns East Asian characters take, to keep the table aligned."""
    return sum(1 for char in text if ord(char) > 0x2E80)


if __name__ == "__main__":
    sys.exit(main())
