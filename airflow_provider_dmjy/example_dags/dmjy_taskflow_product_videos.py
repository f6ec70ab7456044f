"""TaskFlow product videos: ``@task.dmjy_video`` mapped over a list of products, then a report.

The decorated function builds one video's create arguments in Python (description, images,
duration, aspect ratio, title) and returns them as a dict; the task then creates the video and
waits for it exactly like ``DmjyCreateVideoOperator``: validated before any request, deferrable
(the render waits in the triggerer), never charged twice across retries. ``.expand(product=...)``
makes one mapped task instance, hence one video, per product. Runs on demand (no schedule).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

#: Shortest gap between two status checks of a render (the trigger then adapts to its progress).
POLL_INTERVAL = float(os.environ.get("DMJY_POLL_INTERVAL", "15"))

#: Three products of the sample catalog (data/products.csv); the image URLs are placeholders.
PRODUCTS = [
    {
        "sku": "CUP-001",
        "name": "智能保温杯",
        "highlights": "温度实时显示、12小时保温、一键开盖",
        "image_urls": [
            "https://images.example.com/products/cup-front.jpg",
            "https://images.example.com/products/cup-side.jpg",
        ],
    },
    {
        "sku": "LAMP-002",
        "name": "护眼台灯",
        "highlights": "无频闪、三档色温、触控调光",
        "image_urls": ["https://images.example.com/products/lamp.jpg"],
    },
    {
        "sku": "TEA-004",
        "name": "高山乌龙茶",
        "highlights": "台湾高山茶园、手工采摘、兰花香",
        "image_urls": ["https://images.example.com/products/tea.jpg"],
    },
]

with DAG(
    dag_id="dmjy_taskflow_product_videos",
    description="One DMJY video per product with the @task.dmjy_video TaskFlow decorator",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dmjy", "example"],
    params={
        "duration": Param(10, type="integer", minimum=1, maximum=60, description="Video length in seconds"),
        "aspect_ratio": Param("9:16", enum=["9:16", "16:9"], description="9:16 for feeds, 16:9 for pages"),
    },
    doc_md=__doc__,
) as dag:
    # The decorator's arguments are the operator's (connection, waiting, retries); the function
    # returns the create arguments. `params` comes from the task context.
    @task.dmjy_video(deferrable=True, poll_interval=POLL_INTERVAL, timeout=3600, retries=2)
    def product_video(product: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """The create arguments of one product's video."""
        return {
            "description": (
                f"为「{product['name']}」制作一支{params['duration']}秒的商品短视频:突出{product['highlights']}。"
            ),
            "image_urls": product["image_urls"],
            "duration": params["duration"],
            "aspect_ratio": params["aspect_ratio"],
            "title": f"{product['sku']} {product['name']}",
        }

    @task
    def report(videos: list[dict[str, Any]]) -> None:
        """Each video's id, status and URL (the task dicts the mapped video tasks returned)."""
        for video in videos:
            print(f"{video['id']}  {video['status']:<9}  {video['title']}  {video['videoUrl']}")

    report(product_video.expand(product=PRODUCTS))
