"""A run's report: what each product became, in ``manifest.json``, ``manifest.csv`` and a static
``index.html`` people open (docs/reports.md).

Build a :class:`RunReport` of :class:`ProductResult` and :class:`SkippedRow` from a DAG's XComs and
hand it to :func:`write_run_report` with the run's folder (a ``pathlib.Path`` or an
``ObjectStoragePath``). Nothing here imports Airflow at import time: :func:`airflow_run_url` reads
``[api] base_url`` only when it is called without one.
"""

from __future__ import annotations

from airflow_provider_dmjy.reports.files import CSV_COLUMNS, REPORT_FILES, check_files, write_run_report
from airflow_provider_dmjy.reports.model import (
    FAILED_STATUSES,
    RUN_STATES,
    WAITING_STATUSES,
    Outcome,
    ProductResult,
    RunReport,
    RunState,
    SkippedRow,
    format_credits,
)
from airflow_provider_dmjy.reports.page import render_report
from airflow_provider_dmjy.reports.paths import (
    LinkedFile,
    airflow_run_url,
    file_href,
    relative_file,
    safe_folder_name,
)

__all__ = [
    "CSV_COLUMNS",
    "FAILED_STATUSES",
    "REPORT_FILES",
    "RUN_STATES",
    "WAITING_STATUSES",
    "LinkedFile",
    "Outcome",
    "ProductResult",
    "RunReport",
    "RunState",
    "SkippedRow",
    "airflow_run_url",
    "check_files",
    "file_href",
    "format_credits",
    "relative_file",
    "render_report",
    "safe_folder_name",
    "write_run_report",
]
