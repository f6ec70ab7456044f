"""The run's folder name, the link to the run in Airflow, and file names relative to the folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_dmjy.reports import airflow_run_url, file_href, relative_file, safe_folder_name

RUN_ID = "manual__2026-03-02T01:00:03.512344+00:00"


def test_safe_folder_name_of_a_manual_run() -> None:
    name = safe_folder_name(RUN_ID)
    assert re.fullmatch(r"manual__2026-03-02T01-00-03\.512344-00-00_[0-9a-f]{8}", name), name
    assert safe_folder_name(RUN_ID) == name  # the same every time


@pytest.mark.parametrize(
    "run_id",
    [
        RUN_ID,
        "scheduled__2026-03-02T01:00:00+00:00",
        "a/b",
        "..",
        ".hidden",
        "spaces and 中文",
        "x" * 300,
        "back\\slash:colon",
    ],
)
def test_safe_folder_name_is_one_safe_segment(run_id: str) -> None:
    name = safe_folder_name(run_id)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name), name
    assert len(name) <= 100
    assert name not in (".", "..")


def test_safe_folder_name_keeps_a_safe_id_and_separates_ids_that_differ_in_replaced_characters() -> None:
    assert safe_folder_name("scheduled__2026-03-02") == "scheduled__2026-03-02"
    assert safe_folder_name("run+01:00") != safe_folder_name("run-01:00")
    assert safe_folder_name("x" * 300) != safe_folder_name("x" * 299)


def test_safe_folder_name_refuses_an_empty_id() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        safe_folder_name("")


def test_airflow_run_url_with_a_base_url() -> None:
    assert airflow_run_url("dmjy_daily", RUN_ID, base_url="https://airflow.example.com/") == (
        f"https://airflow.example.com/dags/dmjy_daily/runs/{RUN_ID}"
    )
    # Characters that would end the path or start a query are encoded; ":" and "+" stay.
    assert airflow_run_url("d", "a b/c?#", base_url="http://h:8080/sub") == (
        "http://h:8080/sub/dags/d/runs/a%20b%2Fc%3F%23"
    )


def test_airflow_run_url_reads_api_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.internal:8080")
    assert airflow_run_url("d", "r") == "http://airflow.internal:8080/dags/d/runs/r"


def test_airflow_run_url_is_none_without_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    assert airflow_run_url("d", "r") is None
    assert airflow_run_url("d", "r", base_url=" ") is None


def test_relative_file(tmp_path: Path) -> None:
    folder = tmp_path / "2026-03-02" / "run"
    assert relative_file(folder, "a.mp4") == "a.mp4"
    assert relative_file(folder, "clips/./a.mp4") == "clips/a.mp4"
    assert relative_file(folder, str(folder / "a.mp4")) == "a.mp4"
    assert relative_file(folder, (folder / "秋季 外套.mp4").as_uri()) == "秋季 外套.mp4"
    assert relative_file(folder, "../other-run/a.mp4") is None
    assert relative_file(folder, str(tmp_path / "a.mp4")) is None
    assert relative_file(folder, str(folder) + "-other/a.mp4") is None  # a sibling with the same prefix
    assert relative_file(folder, ".") is None


def test_file_href_encodes_each_segment() -> None:
    assert file_href("秋季 外套 #2.mp4") == "./%E7%A7%8B%E5%AD%A3%20%E5%A4%96%E5%A5%97%20%232.mp4"
    assert file_href("clips/a:b.mp4") == "./clips/a%3Ab.mp4"


def test_relative_file_of_an_object_store_folder() -> None:
    from airflow.sdk import ObjectStoragePath

    folder = ObjectStoragePath("s3://aws_default@videos/2026-03-02/run")
    # What the download operator returns for a file it wrote there: str() of its path.
    assert relative_file(folder, str(folder / "a.mp4")) == "a.mp4"
    assert relative_file(folder, "s3://aws_default@videos/2026-03-02/run/clips/b.jpg") == "clips/b.jpg"
    assert relative_file(folder, "s3://aws_default@videos/2026-03-02/other/a.mp4") is None
    assert relative_file(folder, "s3://aws_default@videos/2026-03-02/run/../other/a.mp4") is None
    assert relative_file(folder, "https://cdn.example.com/2026-03-02/run/a.mp4") is None
    assert relative_file(folder, "a.mp4") == "a.mp4"
