"""Daily product videos: catalog -> balance check -> templates -> one video per product -> archive -> report.

Runs every day at ``DMJY_DAILY_AT`` (default 09:00) in ``DMJY_TIMEZONE`` (default Asia/Shanghai).
Each run:

1. reads the product catalog (CSV or JSON at any ``ObjectStoragePath``); broken rows are reported
   and skipped, never fatal;
2. checks that the compute balance covers the run before anything is spent;
3. upserts one product template per product (an existing one is reused);
4. creates one video per product (dynamic task mapping, deferrable: the renders wait in the
   triggerer, not in worker slots) inside the ``dmjy_creates`` pool, which caps how many creates
   hit the vendor at once - the vendor answers bursts with 429s and has a daily cap;
5. archives every finished video and thumbnail under ``<archive root>/<run date>/``;
6. writes ``manifest.json``, ``manifest.csv`` and an ``index.html`` gallery next to them.

A failed video does not stop the others; the report lists it with the vendor's error message, and
the run fails only when more than ``max_failed_share`` of the videos failed.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, get_current_context, task

from airflow_provider_dmjy.operators.account import DmjyCheckBalanceOperator
from airflow_provider_dmjy.operators.template import DmjyCreateTemplateOperator
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator, DmjyDownloadVideoOperator

DAILY_AT = os.environ.get("DMJY_DAILY_AT", "09:00")
TIMEZONE = pendulum.timezone(os.environ.get("DMJY_TIMEZONE", "Asia/Shanghai"))
CATALOG = os.environ.get("DMJY_CATALOG", (Path(__file__).parent / "data" / "products.csv").as_uri())
ARCHIVE_ROOT = os.environ.get(
    "DMJY_ARCHIVE_ROOT",
    (Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "dmjy-archive").as_uri(),
)
#: Shortest gap between two status checks of a render (the trigger then adapts to its progress).
POLL_INTERVAL = float(os.environ.get("DMJY_POLL_INTERVAL", "15"))
#: The pool that caps concurrent creates; create it with ``airflow pools set dmjy_creates 4 "..."``.
CREATE_POOL = os.environ.get("DMJY_CREATE_POOL", "dmjy_creates")

#: How a product becomes the video's description: short, concrete, in the catalog's language.
DESCRIPTION_TEMPLATE = "为「{name}」制作一支{duration}秒的商品短视频:突出{highlights};结尾展示价格 ¥{price}。"
REQUIRED_FIELDS = ("sku", "name", "price", "image_urls")
MAX_IMAGES = 4

hour, minute = (int(part) for part in DAILY_AT.split(":"))

with DAG(
    dag_id="dmjy_daily_product_videos",
    description="Turn the product catalog into short product videos with DMJY, archive them, report",
    schedule=f"{minute} {hour} * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # "{{ params.duration }}" stays an int
    tags=["dmjy", "example"],
    params={
        "catalog": Param(
            CATALOG, type="string", description="CSV or JSON catalog (any ObjectStoragePath URL)"
        ),
        "archive_root": Param(ARCHIVE_ROOT, type="string", description="Where videos and reports go"),
        "duration": Param(10, type="integer", minimum=1, maximum=60, description="Video length in seconds"),
        "aspect_ratio": Param("9:16", enum=["9:16", "16:9"], description="9:16 for feeds, 16:9 for pages"),
        "dmjy_conn_id": Param("dmjy_default", type="string", description="The dmjy connection"),
        "template_user_id": Param(
            None,
            type=["null", "string"],
            description="Owner of the product templates (default: the key's user)",
        ),
        "max_videos": Param(20, type="integer", minimum=1, description="Cap on videos per run"),
        "credits_per_second": Param(10, type="number", description="Vendor price, for the balance check"),
        "max_failed_share": Param(
            0.25, type="number", minimum=0, maximum=1, description="Fail the run above"
        ),
    },
    doc_md=__doc__,
) as dag:

    @task
    def ingest_products(params: dict[str, Any]) -> list[dict[str, Any]]:
        """Read the catalog; keep the valid rows (up to ``max_videos``), report the rest."""
        source = ObjectStoragePath(params["catalog"])
        text = source.read_text(encoding="utf-8")
        rows = json.loads(text) if source.suffix == ".json" else list(csv.DictReader(io.StringIO(text)))
        products, rejected = [], []
        for number, row in enumerate(rows, start=1):
            product, problem = _clean_product(row)
            if problem:
                rejected.append({"row": number, "sku": row.get("sku"), "problem": problem})
                print(f"Skipping catalog row {number} ({row.get('sku') or 'no sku'}): {problem}")
            else:
                products.append(product)
        if len(products) > params["max_videos"]:
            print(f"Capping the run at {params['max_videos']} of {len(products)} products")
            products = products[: params["max_videos"]]
        get_current_context()["ti"].xcom_push(key="rejected", value=rejected)
        print(f"{len(products)} products to film, {len(rejected)} rows skipped")
        return products

    @task
    def template_requests(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "name": f"{product['sku']} {product['name']}",
                "product_name": product["name"],
                "price": product["price"],
                "image_url": product["image_urls"][0],
                "description": product["highlights"] or None,
            }
            for product in products
        ]

    @task
    def video_requests(products: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        requests = []
        for product in products:
            images = product["image_urls"]
            requests.append(
                {
                    "description": DESCRIPTION_TEMPLATE.format(duration=params["duration"], **product),
                    "title": f"{product['name']} {product['name_en']}".strip(),
                    "image_url": images[0] if len(images) == 1 else None,
                    "image_urls": images if len(images) > 1 else None,
                }
            )
        return requests

    products = ingest_products()

    balance = DmjyCheckBalanceOperator(
        task_id="check_balance",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        video_count="{{ ti.xcom_pull(task_ids='ingest_products') | length }}",
        video_duration="{{ params.duration }}",
        credits_per_second="{{ params.credits_per_second }}",
    )

    templates = DmjyCreateTemplateOperator.partial(
        task_id="upsert_templates",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        # The account the balance check read owns the templates unless the run says otherwise.
        user_id="{{ params.template_user_id or ti.xcom_pull(task_ids='check_balance')['userId'] }}",
        if_exists="reuse",
    ).expand_kwargs(template_requests(products))

    videos = DmjyCreateVideoOperator.partial(
        task_id="create_video",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        duration="{{ params.duration }}",
        aspect_ratio="{{ params.aspect_ratio }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        pool=CREATE_POOL,
    ).expand_kwargs(video_requests(products))

    @task(trigger_rule="all_done")
    def finished_videos() -> list[str]:
        """Ids of the videos that completed (a failed one does not stop the others)."""
        return [video["id"] for video in _video_records() if video.get("status") == "completed"]

    finished = finished_videos()
    archived = DmjyDownloadVideoOperator.partial(
        task_id="archive_video",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        destination="{{ params.archive_root }}/{{ ds }}/",
        include_thumbnail=True,
    ).expand(video_id=finished)

    @task(trigger_rule="all_done")
    def write_report(products: list[dict[str, Any]], params: dict[str, Any], ds: str) -> dict[str, Any]:
        """manifest.json, manifest.csv and index.html next to the archived videos; fail above the share."""
        context = get_current_context()
        ti = context["ti"]
        videos_by_index = {video["map_index"]: video for video in _video_records()}
        downloads = {
            item["video_id"]: item for item in (ti.xcom_pull(task_ids="archive_video") or []) if item
        }
        folder = ObjectStoragePath(f"{params['archive_root']}/{ds}/")
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for index, product in enumerate(products):
            video = videos_by_index.get(index, {})
            download = downloads.get(video.get("id"), {})
            created = bool(video.get("id"))
            rows.append(
                {
                    "sku": product["sku"],
                    "product": product["name"],
                    "video_id": video.get("id"),
                    "status": video.get("status") or "not created",
                    "video_path": download.get("path"),
                    "thumbnail_path": download.get("thumbnail_path"),
                    "duration": params["duration"] if created else 0,
                    "credits": params["duration"] * params["credits_per_second"] if created else 0,
                    "error": video.get("errorMessage"),
                }
            )
        rejected = ti.xcom_pull(task_ids="ingest_products", key="rejected") or []
        manifest = {"run_date": ds, "videos": rows, "skipped_rows": rejected}
        (folder / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        (folder / "manifest.csv").write_text(_csv(rows), encoding="utf-8")
        (folder / "index.html").write_text(_gallery(ds, rows, rejected), encoding="utf-8")
        failed = sum(1 for row in rows if row["status"] != "completed")
        print(f"Report: {len(rows) - failed} of {len(rows)} videos completed; see {folder / 'index.html'}")
        if rows and failed / len(rows) > params["max_failed_share"]:
            raise RuntimeError(
                f"{failed} of {len(rows)} videos failed (more than {params['max_failed_share']:.0%}); "
                f"details in {folder / 'manifest.json'}"
            )
        return {"folder": str(folder), "completed": len(rows) - failed, "failed": failed}

    report = write_report(products)
    products >> balance >> templates >> videos >> finished >> archived >> report


def _clean_product(row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A catalog row as a product dict, or the reason it cannot be used."""
    missing = [field for field in REQUIRED_FIELDS if not str(row.get(field) or "").strip()]
    if missing:
        return {}, f"missing {', '.join(missing)}"
    images = row["image_urls"]
    if isinstance(images, str):
        images = [url.strip() for url in images.split("|") if url.strip()]
    if not 1 <= len(images) <= MAX_IMAGES:
        return {}, f"needs 1 to {MAX_IMAGES} image URLs, has {len(images)}"
    bad = [url for url in images if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc]
    if bad:
        return {}, f"image URL is not http(s): {bad[0]}"
    try:
        price = f"{float(row['price']):.2f}"
    except ValueError:
        return {}, f"price is not a number: {row['price']!r}"
    return {
        "sku": str(row["sku"]).strip(),
        "name": str(row["name"]).strip(),
        "name_en": str(row.get("name_en") or "").strip(),
        "price": price,
        "highlights": str(row.get("highlights") or "").strip(),
        "image_urls": images,
    }, None


def _video_records() -> list[dict[str, Any]]:
    """What each mapped create_video pushed under ``dmjy_video`` (also for failed renders)."""
    ti = get_current_context()["ti"]
    records = ti.xcom_pull(task_ids="create_video", key="dmjy_video") or []
    if isinstance(records, dict):
        records = [records]
    return [record for record in records if record]


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["sku"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _gallery(ds: str, rows: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> str:
    """A static page: each product's thumbnail and an inline player, or why there is no video."""
    cards = []
    for row in rows:
        name = html.escape(f"{row['sku']} {row['product']}")
        if row["video_path"]:
            video = html.escape(Path(urlsplit(row["video_path"]).path).name)
            poster = html.escape(Path(urlsplit(row["thumbnail_path"] or "").path).name)
            media = f'<video controls preload="none" poster="{poster}" src="{video}"></video>'
        else:
            reason = html.escape(row["error"] or "no video")
            media = f'<p class="error">{html.escape(row["status"])}: {reason}</p>'
        caption = f"{name}<br><code>{row['video_id'] or '-'}</code>"
        cards.append(f"<figure>{media}<figcaption>{caption}</figcaption></figure>")
    skipped = "".join(
        f"<li>row {item['row']} ({html.escape(str(item['sku']))}): {html.escape(item['problem'])}</li>"
        for item in rejected
    )
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>DMJY product videos {ds}</title>
<style>body{{font-family:sans-serif;margin:2em}}main{{display:flex;flex-wrap:wrap;gap:1em}}
figure{{width:200px;margin:0}}video{{width:200px;background:#000}}.error{{color:#b00}}</style></head>
<body><h1>Product videos, {ds}</h1><main>{"".join(cards)}</main>
<h2>Skipped catalog rows</h2><ul>{skipped or "<li>none</li>"}</ul></body></html>
"""
