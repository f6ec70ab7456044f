"""Writing a report into the run's folder: ``manifest.json``, ``manifest.csv`` and ``index.html``.

The folder is a ``pathlib.Path`` or an ``ObjectStoragePath`` (local or any object store Airflow
can reach): only ``/``, ``mkdir``, ``exists``, ``iterdir`` and ``write_text`` are used. Before
anything is written, every file a product names is looked up in the folder: a file that is not
there is never linked, the card and the manifest say it is missing, and whatever else the folder
holds is listed too. So the report lists exactly what is on disk.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_dmjy.reports.model import Outcome, ProductResult, RunReport
from airflow_provider_dmjy.reports.page import render_report
from airflow_provider_dmjy.reports.paths import LinkedFile, relative_file

__all__ = ["CSV_COLUMNS", "REPORT_FILES", "check_files", "write_run_report"]

#: The report's own files, in the order they are written (the page last: it links the others).
REPORT_FILES = ("manifest.json", "manifest.csv", "index.html")
#: ``manifest.csv``: one row per product.
CSV_COLUMNS = (
    "sku",
    "name",
    "price",
    "outcome",
    "status",
    "reused",
    "published",
    "video_id",
    "video_file",
    "thumbnail_file",
    "missing_files",
    "duration",
    "aspect_ratio",
    "credits",
    "error",
    "review_note",
    "preview_url",
    "description",
)


def _linked(folder: Any, role: str, value: str | None) -> LinkedFile | None:
    if not value:
        return None
    name = relative_file(folder, value)
    present = name is not None and bool((folder / name).exists())
    return LinkedFile(role=role, given=value, name=name, present=present)


def check_files(folder: Any, product: ProductResult) -> dict[str, LinkedFile]:
    """The product's video and thumbnail as found in ``folder`` (a role is absent when not named)."""
    found = {
        "video": _linked(folder, "video", product.video_file),
        "thumbnail": _linked(folder, "thumbnail", product.thumbnail_file),
    }
    return {role: linked for role, linked in found.items() if linked is not None}


def _present(files: dict[str, LinkedFile], role: str) -> str | None:
    linked = files.get(role)
    return linked.name if linked is not None and linked.present else None


def _missing(files: dict[str, LinkedFile]) -> list[dict[str, str]]:
    return [
        {"role": linked.role, "name": linked.name or linked.given, "problem": linked.problem}
        for linked in files.values()
        if linked.problem
    ]


def _manifest_product(product: ProductResult, files: dict[str, LinkedFile]) -> dict[str, Any]:
    """The product as the manifest lists it: file names only for files that are in the folder."""
    return {
        **product.to_dict(),
        "outcome": product.outcome,
        "video_file": _present(files, "video"),
        "thumbnail_file": _present(files, "thumbnail"),
        "missing_files": _missing(files),
    }


def _csv(entries: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = dict(entry)
        row["missing_files"] = " ".join(item["name"] for item in entry["missing_files"])
        row["published"] = "" if entry["published"] is None else entry["published"]
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in CSV_COLUMNS})
    return out.getvalue()


def _other_files(folder: Any, linked: Sequence[dict[str, LinkedFile]]) -> list[str]:
    """The folder's top-level entries that neither a product nor the report names, sorted."""
    named = set(REPORT_FILES)
    for files in linked:
        named.update(item.name.split("/", 1)[0] for item in files.values() if item.name is not None)
    if not folder.exists():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.name not in named)


def write_run_report(folder: Any, report: RunReport) -> dict[str, str]:
    """Write ``manifest.json``, ``manifest.csv`` and ``index.html`` into ``folder`` (created if
    needed) and return their paths by file name (``{"index.html": "<folder>/index.html", ...}``).
    ``folder`` is a ``pathlib.Path``, an ``ObjectStoragePath``, or a string made into one.

    ``manifest.json`` is ``report.to_dict()`` plus ``summary`` (:meth:`RunReport.summary_line`),
    ``totals``, ``generated_at``, ``files`` (every file of the folder the report names, its own
    included) and ``other_files`` (what else the folder holds); in ``products``, each product's
    ``video_file`` and ``thumbnail_file`` are the names relative to the folder, or null when the
    file is not there, and ``missing_files`` says which named file is missing (or outside the run
    folder). ``manifest.csv`` has one row per product (:data:`CSV_COLUMNS`).
    """
    if isinstance(folder, str):
        from airflow.sdk import ObjectStoragePath

        folder = ObjectStoragePath(folder)
    folder.mkdir(parents=True, exist_ok=True)
    linked = [check_files(folder, product) for product in report.products]
    other = _other_files(folder, linked)
    generated_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    entries = [
        _manifest_product(product, files) for product, files in zip(report.products, linked, strict=True)
    ]
    present = sorted({item.name for files in linked for item in files.values() if item.present and item.name})
    manifest = {
        **report.to_dict(),
        "products": entries,
        "summary": report.summary_line(),
        "totals": {
            "products": len(report.products),
            Outcome.COMPLETED: report.completed,
            Outcome.FAILED: report.failed,
            "reused": report.reused,
            "skipped": len(report.skipped),
            "published": report.published,
            "spent_credits": report.spent_credits,
        },
        "generated_at": generated_at,
        "files": [*REPORT_FILES, *present],
        "other_files": other,
    }
    contents = {
        "manifest.json": json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
        "manifest.csv": _csv(entries),
        "index.html": render_report(report, linked, other, generated_at),
    }
    paths = {}
    for name in REPORT_FILES:
        target = folder / name
        # With a byte-order mark, Excel reads the CSV's Chinese as UTF-8 (without, as the locale's
        # code page); Python reads it back with encoding="utf-8-sig".
        encoding = "utf-8-sig" if name.endswith(".csv") else "utf-8"
        target.write_text(contents[name], encoding=encoding)
        paths[name] = str(target)
    return paths
