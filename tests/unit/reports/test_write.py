"""write_run_report: the manifest, the CSV, the page; escaping; and only files that are there."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy.reports import (
    CSV_COLUMNS,
    ProductResult,
    RunReport,
    SkippedRow,
    write_run_report,
)

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def hrefs(self) -> list[str]:
        return [str(attrs["href"]) for attrs in self.all("a")]


def archived(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"media")


def report(*products: ProductResult, skipped: list[SkippedRow] | None = None) -> RunReport:
    return RunReport(
        dag_id="dmjy_daily_product_videos",
        run_id="manual__2026-03-02T01:00:03+00:00",
        run_after="2026-03-02T09:00:03+08:00",
        run_url="http://localhost:8080/dags/dmjy_daily_product_videos/runs/manual__2026-03-02T01:00:03+00:00",
        state="success",
        products=list(products),
        skipped=skipped or [],
        estimate_credits=200,
        budget_credits=5000,
        usage_today_credits=0,
    )


def done(sku: str, stem: str, **values: Any) -> ProductResult:
    fields: dict[str, Any] = {
        "sku": sku,
        "name": "智能保温杯",
        "price": "¥99.00",
        "description": "为「智能保温杯」制作一支10秒的商品短视频",
        "duration": 10,
        "aspect_ratio": "9:16",
        "video_id": f"vid_{sku}",
        "status": "completed",
        "video_file": f"{stem}.mp4",
        "thumbnail_file": f"{stem}.jpg",
        "credits": 100,
    }
    return ProductResult(**{**fields, **values})


def test_writes_the_three_files_and_the_manifest_lists_the_run(tmp_path: Path) -> None:
    folder = tmp_path / "2026-03-02" / "run"
    archived(folder, "a.mp4", "a.jpg")
    failed = ProductResult(sku="B", name="降噪耳机", status="failed", error="Image too small", video_id="v2")
    paths = write_run_report(folder, report(done("A", "a"), failed, skipped=[SkippedRow(7, "P", "no name")]))

    assert paths == {name: str(folder / name) for name in ("manifest.json", "manifest.csv", "index.html")}
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (
        manifest["summary"]
        == report(done("A", "a"), failed, skipped=[SkippedRow(7, "P", "no name")]).summary_line()
    )
    assert manifest["totals"] == {
        "products": 2,
        "completed": 1,
        "failed": 1,
        "reused": 0,
        "skipped": 1,
        "published": 0,
        "spent_credits": 100.0,
    }
    assert manifest["files"] == ["manifest.json", "manifest.csv", "index.html", "a.jpg", "a.mp4"]
    assert manifest["other_files"] == []
    assert manifest["products"][0]["video_file"] == "a.mp4"
    assert manifest["products"][0]["missing_files"] == []
    assert manifest["products"][1]["error"] == "Image too small"
    assert manifest["skipped"] == [{"row": 7, "sku": "P", "problem": "no name"}]
    assert RunReport.from_dict(manifest).products[1] == failed

    with (folder / "manifest.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(row["sku"], row["name"], row["outcome"], row["video_file"]) for row in rows] == [
        ("A", "智能保温杯", "completed", "a.mp4"),
        ("B", "降噪耳机", "failed", ""),
    ]


def test_the_page_shows_the_figures_the_player_and_the_failure(tmp_path: Path) -> None:
    archived(tmp_path, "a.mp4", "a.jpg")
    failed = ProductResult(sku="B", name="降噪耳机", status="failed", error="Image too small")
    write_run_report(tmp_path, report(done("A", "a", reused=True, credits=0), failed))
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    page = Page(text)

    [video] = page.all("video")
    assert video == {
        "controls": None,
        "preload": "none",
        "playsinline": None,
        "poster": "./a.jpg",
        "src": "./a.mp4",
    }
    assert "./a.mp4" in page.hrefs() and "./a.jpg" in page.hrefs()
    assert report().run_url in page.hrefs()
    cards = {attrs["data-sku"]: attrs["data-outcome"] for attrs in page.all("li") if "data-sku" in attrs}
    assert cards == {"A": "completed", "B": "failed"}
    words = " ".join(page.text)
    assert "Image too small" in words and "Vendor's message" in words
    assert "reused" in words and "¥99.00" in words and "9:16" in words and "10 s" in words
    assert "为「智能保温杯」制作一支10秒的商品短视频" in words
    assert "0 / 200" in words  # credits spent / estimated: a reused video costs nothing
    assert not page.all("script") and "http://" not in text.replace(str(report().run_url), "")


def test_a_hostile_value_stays_text(tmp_path: Path) -> None:
    stem = "x\"'<b>"
    archived(tmp_path, f"{stem}.mp4", f"{stem}.jpg")
    hostile = done(
        HOSTILE,
        stem,
        name=HOSTILE,
        error=HOSTILE,
        review_note=HOSTILE,
        preview_url="javascript:alert(3)",
        video_id=HOSTILE,
        description=HOSTILE,
        price=HOSTILE,
        duration=HOSTILE,  # typed int; a raw vendor value that slipped through still stays text
    )
    bad_report = RunReport(
        **{
            **report(hostile).to_dict(),
            "products": [hostile],
            "skipped": [SkippedRow(1, HOSTILE, HOSTILE)],
            "dag_id": HOSTILE,
            "run_id": HOSTILE,
            "state": HOSTILE,
            "run_url": "javascript:alert(4)",
        }
    )
    write_run_report(tmp_path, bad_report)
    page = Page((tmp_path / "index.html").read_text(encoding="utf-8"))

    assert [tag for tag, _ in page.tags].count("img") == 0  # the poster is an attribute, no <img>
    assert not page.all("script")
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert not [href for href in page.hrefs() if href.startswith("javascript")]
    assert page.all("video")[0]["src"] == "./x%22%27%3Cb%3E.mp4"
    assert sum(HOSTILE in text for text in page.text) >= 8  # name, sku, script, error, note, skipped...


def test_a_deleted_file_is_reported_missing_and_never_linked(tmp_path: Path) -> None:
    archived(tmp_path, "a.mp4", "a.jpg", "b.mp4", "b.jpg")
    (tmp_path / "a.mp4").unlink()
    (tmp_path / "b.jpg").unlink()
    write_run_report(tmp_path, report(done("A", "a"), done("B", "b")))
    page = Page((tmp_path / "index.html").read_text(encoding="utf-8"))
    words = " ".join(page.text)

    assert "Video file missing: a.mp4" in words
    assert "Thumbnail file missing: b.jpg" in words
    assert "./a.mp4" not in page.hrefs() and "./b.jpg" not in page.hrefs()
    assert [attrs["src"] for attrs in page.all("img")] == ["./a.jpg"]  # A: the thumbnail alone
    assert [(v["src"], v.get("poster")) for v in page.all("video")] == [("./b.mp4", None)]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    a, b = manifest["products"]
    assert (a["video_file"], a["thumbnail_file"]) == (None, "a.jpg")
    assert a["missing_files"] == [{"role": "video", "name": "a.mp4", "problem": "missing"}]
    assert (b["video_file"], b["missing_files"][0]["name"]) == ("b.mp4", "b.jpg")
    assert "a.mp4" not in manifest["files"] and "b.jpg" not in manifest["files"]
    rows = list(csv.DictReader((tmp_path / "manifest.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [row["missing_files"] for row in rows] == ["a.mp4", "b.jpg"]


def test_files_outside_the_folder_are_not_linked_and_extra_files_are_listed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    archived(folder, "a.jpg", "leftover.mp4", ".leftover.mp4.part")
    archived(tmp_path, "elsewhere.mp4")
    product = done("A", "a")
    product = ProductResult(**{**product.to_dict(), "video_file": str(tmp_path / "elsewhere.mp4")})
    climbing = ProductResult(sku="C", name="c", status="completed", video_file="../elsewhere.mp4")
    absolute = ProductResult(sku="D", name="d", status="completed", thumbnail_file=str(folder / "a.jpg"))
    write_run_report(folder, report(product, climbing, absolute))

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [p["missing_files"][0]["problem"] for p in manifest["products"][:2]] == [
        "outside the run folder"
    ] * 2
    assert manifest["products"][2]["thumbnail_file"] == "a.jpg"  # an absolute path in the folder
    assert manifest["other_files"] == [".leftover.mp4.part", "leftover.mp4"]
    page = Page((folder / "index.html").read_text(encoding="utf-8"))
    assert "./leftover.mp4" in page.hrefs()
    assert not [href for href in page.hrefs() if "elsewhere" in href]


def test_cjk_file_names_are_url_encoded(tmp_path: Path) -> None:
    archived(tmp_path, "瑜伽垫 #2.mp4", "瑜伽垫 #2.jpg")
    write_run_report(tmp_path, report(done("MAT", "瑜伽垫 #2")))
    [video] = Page((tmp_path / "index.html").read_text(encoding="utf-8")).all("video")
    assert video["src"] == "./%E7%91%9C%E4%BC%BD%E5%9E%AB%20%232.mp4"


def test_works_with_object_storage_path(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    folder = ObjectStoragePath(f"file://{tmp_path}/2026-03-02/run")
    archived(tmp_path / "2026-03-02" / "run", "a.mp4", "a.jpg", "stray.mp4")
    # What the download operator returns: the file's ObjectStoragePath as a string.
    product = ProductResult(**{**done("A", "a").to_dict(), "video_file": str(folder / "a.mp4")})
    paths = write_run_report(folder, report(product, done("B", "b")))

    assert paths["index.html"] == f"file://{tmp_path}/2026-03-02/run/index.html"
    manifest = json.loads((tmp_path / "2026-03-02" / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["products"][0]["video_file"] == "a.mp4"
    assert manifest["products"][1]["missing_files"] == [
        {"role": "video", "name": "b.mp4", "problem": "missing"},
        {"role": "thumbnail", "name": "b.jpg", "problem": "missing"},
    ]
    assert manifest["other_files"] == ["stray.mp4"]


def test_a_folder_given_as_a_string(tmp_path: Path) -> None:
    archived(tmp_path / "run", "a.mp4", "a.jpg")
    paths = write_run_report(f"file://{tmp_path}/run/", report(done("A", "a")))
    assert paths["index.html"] == f"file://{tmp_path}/run/index.html"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["products"][0]["missing_files"] == []


@pytest.mark.parametrize("state", ["success", "failed", "awaiting review", "running", "queued"])
def test_every_state_renders(tmp_path: Path, state: str) -> None:
    write_run_report(tmp_path, RunReport(dag_id="d", run_id="r", run_after="2026-03-02", state=state))
    assert "No products in this run." in (tmp_path / "index.html").read_text(encoding="utf-8")
