"""A realistic run for the report's browser test and the screenshot in docs/images/report.png: the
example catalog's eight valid products (Chinese names), one failed render, two reused videos, the
two broken catalog rows, and the simulator's own MP4 and JPEG as every archived file."""

from __future__ import annotations

import shutil
from pathlib import Path

import airflow_provider_dmjy.simulator as simulator
from airflow_provider_dmjy.reports import ProductResult, RunReport, SkippedRow, airflow_run_url

ASSETS = Path(simulator.__file__).parent / "assets"
DAG_ID = "dmjy_daily_product_videos"
RUN_ID = "manual__2026-03-02T01:00:03.512344+00:00"
DURATION = 10
CREDITS_PER_SECOND = 10
#: sku, name, price, highlights, video id, fate ("new", "reused", or the vendor's failure message).
CATALOG = [
    ("CUP-001", "智能保温杯", "99.00", "温度实时显示、12小时保温、一键开盖", "task_935f5e67f6b0", "new"),
    ("LAMP-002", "护眼台灯", "159.00", "无频闪、三档色温、触控调光", "task_2e5337f25b9f", "new"),
    ("BAG-003", "轻量双肩包", "219.00", "防泼水面料、15寸电脑仓、仅重600克", "task_35ff9ff40693", "new"),
    ("TEA-004", "高山乌龙茶", "68.50", "台湾高山茶园、手工采摘、兰花香", "task_29fc06694d41", "reused"),
    (
        "EAR-005",
        "降噪耳机",
        "399.00",
        "主动降噪、30小时续航、低延迟",
        "task_f8377a87495a",
        "Image resolution too low: every product image must be at least 512x512 pixels",
    ),
    ("MAT-006", "瑜伽垫", "129.00", "6毫米加厚、双面防滑、附收纳带", "task_772c31e47406", "new"),
    ("PLANT-009", "多肉盆栽", "39.90", "免打理、陶瓷花盆、办公室桌面", "task_db438f3d22e5", "reused"),
    ("FAN-010", "桌面风扇", "79.00", "静音电机、USB供电、三档风速", "task_8d7f60711fc0", "new"),
]
SKIPPED = [
    SkippedRow(row=7, sku="PEN-007", problem="missing name"),
    SkippedRow(
        row=8, sku="SOAP-008", problem="image URL is not http(s): ftp://images.example.com/products/soap.jpg"
    ),
]
#: One product's files carry a space, Chinese characters and a ``#``: its links must be encoded.
ODD_NAMES = {"MAT-006": "MAT-006 瑜伽垫 #2"}


def script(name: str, highlights: str, price: str) -> str:
    """The description the example DAG renders (its DESCRIPTION_TEMPLATE)."""
    return f"为「{name}」制作一支{DURATION}秒的商品短视频:突出{highlights};结尾展示价格 ¥{price}。"


def build_sample_run(folder: Path) -> RunReport:
    """Archive the sample's files into ``folder`` and return the run's report."""
    folder.mkdir(parents=True, exist_ok=True)
    products = []
    for sku, name, price, highlights, video_id, fate in CATALOG:
        failed = fate not in ("new", "reused")
        stem = ODD_NAMES.get(sku, video_id)
        if not failed:
            shutil.copyfile(ASSETS / "sample.mp4", folder / f"{stem}.mp4")
            shutil.copyfile(ASSETS / "thumb.jpg", folder / f"{stem}.jpg")
        products.append(
            ProductResult(
                sku=sku,
                name=name,
                price=f"¥{price}",
                description=script(name, highlights, price),
                duration=DURATION,
                aspect_ratio="9:16",
                video_id=video_id,
                status="failed" if failed else "completed",
                reused=fate == "reused",
                video_file=None if failed else f"{stem}.mp4",
                thumbnail_file=None if failed else f"{stem}.jpg",
                preview_url=None if failed else f"https://cdn.dmjy.example.com/videos/{video_id}.mp4",
                error=fate if failed else None,
                credits=DURATION * CREDITS_PER_SECOND if fate == "new" else 0,
                published=None if failed else True,
            )
        )
    return RunReport(
        dag_id=DAG_ID,
        run_id=RUN_ID,
        run_after="2026-03-02T09:00:03+08:00",
        run_url=airflow_run_url(DAG_ID, RUN_ID, base_url="http://localhost:8080"),
        state="success",
        products=products,
        skipped=list(SKIPPED),
        estimate_credits=len(CATALOG) * DURATION * CREDITS_PER_SECOND,
        budget_credits=5000,
        usage_today_credits=1200,
    )
