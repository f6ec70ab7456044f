"""The wheel, not the checkout: built, installed into a clean virtualenv, used as a new user would.

``python -m build`` makes the sdist and the wheel from it, as ``make dist`` does. A virtualenv of its
own gets that wheel and the Airflow version this test runs on, and nothing else: no dev extras, no
checkout on ``sys.path`` (CI runs ``make test`` on the newest and on the oldest supported Airflow, so
each leg checks one). In it, ``airflow providers list`` lists the provider, the example DAGs the
wheel ships parse with no import error, ``airflow dags list`` lists every one of them, and
``DmjyHook().get_account()`` answers from a ``dmjy-simulator`` started from the same virtualenv.

Installing Airflow takes a minute or two, so the virtualenv is kept under ``build/wheel-venvs/``,
named after the Airflow version and the wheel's hash: hatchling's wheels are reproducible, and an
unchanged wheel is not installed twice.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import airflow
import pytest

import airflow_provider_dmjy
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / "build" / "wheel-venvs"
#: Written last into a cached virtualenv: one without it was interrupted and is made again.
READY = ".installed"
#: Not one of them may be in the clean virtualenv (the dev extra's test and lint tools).
DEV_ONLY = ("pytest", "hypothesis", "responses", "aioresponses", "mypy", "ruff")

LOCATE = """
import importlib.util, json, pathlib, airflow_provider_dmjy
package = pathlib.Path(airflow_provider_dmjy.__file__).parent
dev = [name for name in {dev!r} if importlib.util.find_spec(name)]
print(json.dumps({{"package": str(package), "example_dags": str(package / "example_dags"), "dev": dev}}))
"""
HOOK_CALL = """
import json, sys
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
account = DmjyHook().get_account()
# The example DAGs are files for a DAG folder: using the provider never imports them.
assert not [name for name in sys.modules if "example_dags" in name], "the example DAGs were imported"
print(json.dumps(account))
"""


def _run(args: Sequence[str | Path], *, env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    """Run a command; its stdout, or a failure that shows everything it printed."""
    result = subprocess.run(  # noqa: S603 - our own virtualenv's commands
        [str(arg) for arg in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result.stdout


def _json_line(output: str) -> object:
    """The last line of ``output`` that is JSON (Airflow's CLI may log lines before it)."""
    lines = [line for line in output.splitlines() if line.startswith(("[", "{"))]
    assert lines, f"no JSON in:\n{output}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel, built from its sdist exactly as ``make dist`` builds it."""
    try:
        importlib.metadata.version("build")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the wheel cannot be built: `build` (the dev extra) is not installed; run `make install`")
    out = tmp_path_factory.mktemp("dist")
    # Not from the checkout: its git-ignored build/ folder would pass for the `build` package.
    _run([sys.executable, "-m", "build", "--outdir", out, REPO], env=dict(os.environ), cwd=out, timeout=300)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def clean_venv(wheel: Path) -> Path:
    """A virtualenv with the wheel and this test's Airflow version in it, and nothing else."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    venv = VENVS / f"airflow-{airflow.__version__}-{digest}"
    if (venv / READY).exists():
        return venv
    for stale in VENVS.glob(f"airflow-{airflow.__version__}-*"):
        shutil.rmtree(stale)
    VENVS.mkdir(parents=True, exist_ok=True)
    env = _clean_env()
    _run([sys.executable, "-m", "venv", venv], env=env, cwd=VENVS)
    _run(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            wheel,
            f"apache-airflow=={airflow.__version__}",
        ],
        env=env,
        cwd=VENVS,
        timeout=900,
    )
    (venv / READY).touch()
    return venv


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its Airflow settings (tests/conftest.py: unit test mode)
    and without anything that would put the checkout or the dev virtualenv on ``sys.path``."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in dropped
    }
    return {**env, **extra}


@pytest.fixture
def simulator(clean_venv: Path, tmp_path: Path) -> Iterator[SimulatorHandle]:
    """``dmjy-simulator`` from the clean virtualenv's console script, with a balance to recognise."""
    log = (tmp_path / "simulator.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - the wheel's own console script
        [clean_venv / "bin" / "dmjy-simulator", "--port", "0", "--balance", "4321"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert "listening on" in line, f"the simulator did not start: {line!r}, see {log.name}"
        yield SimulatorHandle.for_base_url(line.rsplit(" ", 1)[-1])
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_the_top_level_example_dags_is_the_shipped_folder() -> None:
    """One copy of the example DAGs: ``example_dags/`` links to the folder the wheel ships."""
    shipped = Path(airflow_provider_dmjy.__file__).resolve().parent / "example_dags"
    assert (REPO / "example_dags").resolve() == shipped
    assert (shipped / "data" / "products.csv").is_file()
    assert not (shipped / "__init__.py").exists(), "a DAG folder, not a subpackage imported with the provider"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_wheel_installs_and_works_in_a_clean_virtualenv(
    clean_venv: Path, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    bin_dir = clean_venv / "bin"
    located = _json_line(
        _run([bin_dir / "python", "-c", LOCATE.format(dev=DEV_ONLY)], env=_clean_env(), cwd=tmp_path)
    )
    assert isinstance(located, dict)
    assert Path(located["package"]).is_relative_to(clean_venv), "the checkout was imported, not the wheel"
    assert located["dev"] == [], f"dev extras in the clean virtualenv: {located['dev']}"
    example_dags = Path(located["example_dags"])
    shipped = sorted(path.stem for path in example_dags.glob("*.py"))
    assert "dmjy_daily_product_videos" in shipped
    assert (example_dags / "data" / "products.csv").is_file()

    env = _clean_env(
        AIRFLOW_HOME=str(tmp_path / "airflow-home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(example_dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_DMJY_DEFAULT=simulator.conn_uri,
    )
    airflow_cli = bin_dir / "airflow"

    providers = _json_line(
        _run([airflow_cli, "providers", "list", "--output", "json"], env=env, cwd=tmp_path)
    )
    assert isinstance(providers, list)
    ours = [
        provider["version"] for provider in providers if provider["package_name"] == "airflow-provider-dmjy"
    ]
    assert ours == [airflow_provider_dmjy.__version__], providers

    _run([airflow_cli, "db", "migrate"], env=env, cwd=tmp_path, timeout=300)
    errors = _run(
        [airflow_cli, "dags", "list-import-errors", "--local", "--output", "json"], env=env, cwd=tmp_path
    )
    assert _json_line(errors) == []
    # What a DAG processor does with the folder, then the user's own `airflow dags list`.
    _run([airflow_cli, "dags", "reserialize"], env=env, cwd=tmp_path, timeout=300)
    listed = _json_line(_run([airflow_cli, "dags", "list", "--output", "json"], env=env, cwd=tmp_path))
    assert isinstance(listed, list)
    # Each example DAG file defines the DAG of its name (tests/dags checks the same on the checkout).
    assert sorted(dag["dag_id"] for dag in listed) == shipped
    assert {Path(dag["fileloc"]).parent for dag in listed} == {example_dags}

    account = _json_line(_run([bin_dir / "python", "-c", HOOK_CALL], env=env, cwd=tmp_path))
    assert isinstance(account, dict)
    assert account["balance"] == 4321 and account["userId"]
