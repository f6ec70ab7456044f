"""The example DAGs parse cleanly (no import error, no deprecation warning) and use no logical date."""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_dmjy

PACKAGE = Path(airflow_provider_dmjy.__file__).parent
#: The files themselves (the checkout's top-level example_dags/ links here), as the wheel ships them.
EXAMPLES = PACKAGE / "example_dags"
DAG_FILES = sorted(EXAMPLES.glob("*.py"))
#: The context names that only a run with a logical date has (a run triggered from the CLI or the
#: REST API without a date has none): no example DAG and no provider module may use them.
LOGICAL_DATE_NAMES = re.compile(  # not "<ts>", a placeholder in a docstring
    r"(?<![<\w])(ds|ds_nodash|ts|ts_nodash|ts_nodash_with_tz|logical_date|execution_date|data_interval_start"
    r"|data_interval_end|prev_ds|next_ds|prev_execution_date|next_execution_date|yesterday_ds|tomorrow_ds)\b"
)


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_example_dag_parses_without_deprecation_warnings(path: Path) -> None:
    # Import Airflow's own modules first: only what the DAG file itself triggers is judged.
    import airflow.providers.standard.operators.hitl
    import airflow.providers.standard.operators.trigger_dagrun
    import airflow.sdk  # noqa: F401

    import airflow_provider_dmjy.operators.video  # noqa: F401

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _import(path)
    deprecations = [
        w for w in caught if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
    ]
    assert deprecations == [], [str(w.message) for w in deprecations]
    assert module.dag.dag_id == path.stem
    assert module.dag.doc_md


def test_dagbag_has_no_import_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert {"dmjy_daily_product_videos", "dmjy_video_housekeeping"} <= set(bag.dag_ids)


def test_no_example_dag_or_provider_module_depends_on_a_logical_date() -> None:
    sources = [path for path in PACKAGE.rglob("*.py") if "simulator" not in path.parts]
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if LOGICAL_DATE_NAMES.search(line) and "logical_date=None" not in line
    ]
    assert found == []


def test_the_pattern_finds_what_it_should() -> None:
    # The search above must not pass by matching nothing.
    for line in ('destination="{{ ds }}/"', "def report(ds: str)", "context['logical_date']"):
        assert LOGICAL_DATE_NAMES.search(line)
    assert not LOGICAL_DATE_NAMES.search("dag_run.run_after, run_id, dsn, tsv, <ts>")
