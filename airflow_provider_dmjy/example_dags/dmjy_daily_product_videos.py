"""Daily product videos: catalog -> budget -> approval -> videos -> archive -> review -> publish -> report.

Runs daily at ``DMJY_DAILY_AT`` (09:00) in ``DMJY_TIMEZONE`` (Asia/Shanghai) and when triggered, with
or without a logical date, each run in its own folder ``<archive_root>/<day of run_after>/<run id>/``:
reads the catalog (broken rows are reported and skipped); checks the balance and
``daily_budget_credits``; asks "Spend N credits on M videos?" above ``approval_above_credits``;
creates a template and a video per product (mapped, deferrable, retried; a video of the same content
completed earlier that day is reused, so two runs of a day pay once); archives the videos; asks a
reviewer to approve them or to choose products to drop or to render again (a new run, ``variation``
+ 1: another script); publishes the approved ones to ``<archive_root>/published/``; writes
``manifest.json``, ``manifest.csv`` and ``index.html``; fails when more than ``max_failed_share`` of
the videos failed, or another task did. ``review="auto"`` approves without asking (docs/review.md).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_dmjy.catalog import read_catalog, template_arguments, video_arguments
from airflow_provider_dmjy.operators import review_results as review
from airflow_provider_dmjy.operators.account import DmjyCheckBalanceOperator
from airflow_provider_dmjy.operators.review import DmjyReviewVideosOperator, DmjySpendApprovalOperator
from airflow_provider_dmjy.operators.template import DmjyCreateTemplateOperator
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator, DmjyDownloadVideoOperator
from airflow_provider_dmjy.reports import safe_folder_name, write_run_report

DAILY_AT = os.environ.get("DMJY_DAILY_AT", "09:00")
TIMEZONE = pendulum.timezone(os.environ.get("DMJY_TIMEZONE", "Asia/Shanghai"))
CATALOG = os.environ.get("DMJY_CATALOG", (Path(__file__).parent / "data" / "products.csv").as_uri())
_HOME = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()
ARCHIVE_ROOT = os.environ.get("DMJY_ARCHIVE_ROOT", (_HOME / "dmjy-archive").as_uri())
#: Shortest gap between two status checks of a render (the trigger then adapts to its progress).
POLL_INTERVAL = float(os.environ.get("DMJY_POLL_INTERVAL", "15"))
#: The pool that caps concurrent creates; create it with ``airflow pools set dmjy_creates 4 "..."``.
CREATE_POOL = os.environ.get("DMJY_CREATE_POOL", "dmjy_creates")
#: Pause before a create or archive is tried again (a retried create never pays twice).
RETRY = {"retries": 2, "retry_delay": timedelta(seconds=float(os.environ.get("DMJY_RETRY_DELAY", "60")))}
#: A product's script; ``variation`` n takes ANGLES[n % 4] (and says which take it is from n = 4).
SCRIPT = "为「{name}」制作一支{duration}秒的商品短视频:{angle}{take};结尾展示价格 ¥{price}。"
ANGLES = ("突出{}", "从一个日常使用场景讲起,自然带出{}", "用特写镜头逐一呈现{}", "用快节奏剪辑介绍{}")


hour, minute = (int(part) for part in DAILY_AT.split(":"))

with DAG(
    dag_id="dmjy_daily_product_videos",
    description="Turn the product catalog into reviewed short product videos with DMJY",
    schedule=f"{minute} {hour} * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # "{{ params.duration }}" stays an int
    tags=["dmjy", "example"],
    params={
        "catalog": Param(CATALOG, type="string", description="CSV or JSON catalog (a storage URL)"),
        "archive_root": Param(ARCHIVE_ROOT, type="string", description="Where videos and reports go"),
        "duration": Param(10, type="integer", minimum=1, maximum=60, description="Seconds per video"),
        "aspect_ratio": Param("9:16", enum=["9:16", "16:9"], description="9:16 feeds, 16:9 pages"),
        "dmjy_conn_id": Param("dmjy_default", type="string", description="The dmjy connection"),
        "template_user_id": Param(None, type=["null", "string"], description="Default: the key's"),
        "max_videos": Param(20, type="integer", minimum=1, description="Cap on videos per run"),
        "credits_per_second": Param(10, type="number", description="Vendor price, for estimates"),
        "max_failed_share": Param(0.25, type="number", minimum=0, maximum=1, description="Fail above"),
        "review": Param("human", enum=["human", "auto"], description="auto: approve without asking"),
        "approval_above_credits": Param(1000, type=["null", "number"], description="Ask above"),
        "daily_budget_credits": Param(None, type=["null", "number"], description="null: no budget"),
        "reuse": Param("completed", enum=["completed", "never"], description="Reuse today's videos"),
        "skus": Param([], type="array", items={"type": "string"}, description="Empty: every product"),
        "variation": Param(0, type="integer", minimum=0, description="The script's angle"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def ingest_products(params: dict[str, Any], ti: Any = None) -> list[dict[str, Any]]:
        """The catalog's valid rows (of ``skus``, up to ``max_videos``) with their scripts and shape."""
        catalog = ObjectStoragePath(params["catalog"])
        products, rejected = read_catalog(catalog, skus=params["skus"], limit=params["max_videos"])
        for row in rejected:
            print(f"Skipping catalog row {row['row']} ({row['sku'] or 'no sku'}): {row['problem']}")
        ti.xcom_push(key="rejected", value=rejected)
        n = params["variation"]
        take = f"(第{n + 1}版)" if n >= len(ANGLES) else ""
        for p in products:
            angle = ANGLES[n % len(ANGLES)].format(p["highlights"] or p["name"])
            p["description"] = SCRIPT.format(duration=params["duration"], angle=angle, take=take, **p)
            p.update(duration=params["duration"], aspect_ratio=params["aspect_ratio"])
        return products

    @task(multiple_outputs=True)
    def plan_run(params: dict[str, Any], dag_run: Any = None) -> dict[str, str]:
        """The run's folder and the start of its day, from its ``run_after`` and id (no logical date)."""
        day = pendulum.instance(dag_run.run_after).in_timezone(TIMEZONE)
        folder = (
            f"{params['archive_root'].rstrip('/')}/{day.to_date_string()}/{safe_folder_name(dag_run.run_id)}/"
        )
        return {"folder": folder, "since": day.start_of("day").to_iso8601_string()}

    products, plan = ingest_products(), plan_run()
    folder = plan["folder"]
    balance = DmjyCheckBalanceOperator(
        task_id="check_balance",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        videos=products.map(video_arguments),  # what create_video renders: only what it pays counts
        reuse="{{ params.reuse }}",
        reuse_within=plan["since"],
        credits_per_second="{{ params.credits_per_second }}",
        daily_budget_credits="{{ params.daily_budget_credits }}",
    )
    approval = DmjySpendApprovalOperator(
        task_id="approve_spend",
        review="{{ params.review }}",
        estimate_credits="{{ ti.xcom_pull('check_balance', key='dmjy_budget')['required_credits'] }}",
        approval_above_credits="{{ params.approval_above_credits }}",
        products=products,
    )
    templates = DmjyCreateTemplateOperator.partial(
        task_id="upsert_templates",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        user_id="{{ params.template_user_id or ti.xcom_pull('check_balance')['userId'] }}",
        if_exists="reuse",
        map_index_template="{{ task.name }}",
    ).expand_kwargs(products.map(template_arguments))
    videos = DmjyCreateVideoOperator.partial(
        task_id="create_video",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        reuse="{{ params.reuse }}",
        reuse_within=plan["since"],  # the same day: a manual and a scheduled run pay once
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        pool=CREATE_POOL,
        map_index_template="{{ task.title }}",  # "SKU name" in the UI, not 0-7
        **RETRY,
    ).expand_kwargs(products.map(video_arguments))

    @task(trigger_rule="all_done")
    def finished_videos(products: list[dict[str, Any]], ti: Any = None) -> list[str]:
        """Ids of the completed videos (created or reused); their "SKU name" labels the archive tasks."""
        created = ti.xcom_pull(task_ids="create_video", key="dmjy_video")
        done = [e for e in review.product_entries(products, created) if e["status"] == "completed"]
        ti.xcom_push(key="labels", value=[f"{e['sku']} {e['name']}" for e in done])
        return [e["video_id"] for e in done]

    finished = finished_videos(products)
    archived = DmjyDownloadVideoOperator.partial(
        task_id="archive_video",
        dmjy_conn_id="{{ params.dmjy_conn_id }}",
        destination=folder,
        include_thumbnail=True,
        map_index_template="{{ ti.xcom_pull('finished_videos', key='labels')[ti.map_index] }}",
        **RETRY,
    ).expand(video_id=finished)
    review_videos = DmjyReviewVideosOperator(
        task_id="review_videos",
        review="{{ params.review }}",
        products=products,
        videos="{{ ti.xcom_pull(task_ids='create_video', key='dmjy_video') }}",
        trigger_rule="all_done",  # products without a video are shown too, and can be rendered again
    )

    @task
    def publish_videos(
        products: list[dict[str, Any]], folder: str, params: dict[str, Any], ti: Any = None
    ) -> list[str]:
        """Copy the approved videos to ``<archive_root>/published/``, a record each (docs/review.md)."""
        root = ObjectStoragePath(f"{params['archive_root'].rstrip('/')}/published/")
        records = review.publish_run(ti, products, ObjectStoragePath(folder), root)
        print(f"Published {len(records)} videos in {root}: {', '.join(r['sku'] for r in records) or 'none'}")
        return [record["video_id"] for record in records]

    @task.short_circuit
    def chosen_again(params: dict[str, Any], ti: Any = None) -> dict[str, Any] | None:
        """The next run's conf when the reviewer chose products to render again; else skip."""
        decision = review.ReviewDecision.from_answer(ti.xcom_pull(task_ids="review_videos"))
        return decision.render_again_conf(params) if decision else None

    @task(trigger_rule="all_done")
    def write_report(
        products: Any, folder: str, params: dict[str, Any], ti: Any = None, dag_run: Any = None
    ) -> str:
        """manifest.json, manifest.csv and index.html in the run's folder; fails a failed run."""
        path = ObjectStoragePath(folder)
        cps, share = params["credits_per_second"], params["max_failed_share"]
        report = review.run_report(
            ti, dag_run, products, path, credits_per_second=cps, max_failed_share=share
        )
        write_run_report(path, report)
        print(f"{report.summary_line()}\nReport: {folder}index.html")
        if report.state == "failed":
            raise RuntimeError(f"{report.summary_line()}; details in {folder}manifest.json")
        return report.summary_line()

    again, published = chosen_again(), publish_videos(products, folder)
    render_again = TriggerDagRunOperator(
        task_id="render_again", trigger_dag_id=dag.dag_id, conf=again, logical_date=None
    )
    [products, plan] >> balance >> approval >> templates >> videos >> finished
    archived >> review_videos >> [published, again]
    published >> write_report(products, folder)
