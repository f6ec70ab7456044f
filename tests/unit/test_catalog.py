"""Reading a product catalog: the rows a video run can use, and why it skips the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_dmjy.catalog import clean_product, read_catalog, template_arguments, video_arguments

IMAGE = "https://images.example.com/p.jpg"
ROW = {"sku": "A-1", "name": "杯", "price": "9.90", "image_urls": IMAGE}


def test_csv_rows_become_products_and_broken_rows_are_reported(tmp_path: Path) -> None:
    catalog = tmp_path / "c.csv"
    catalog.write_text(
        "sku,name,name_en,price,highlights,image_urls\n"
        f"A-1,杯,Cup,9.90,轻,{IMAGE}|{IMAGE}\n"
        f"B-2,,Pen,5,,{IMAGE}\n"
        f"C-3,灯,Lamp,-5,,{IMAGE}\n"
        f"D-4,茶,Tea,12,,{IMAGE}\n",
        encoding="utf-8",
    )
    products, rejected = read_catalog(catalog)
    assert [p["sku"] for p in products] == ["A-1", "D-4"]
    assert products[0] == {
        "sku": "A-1",
        "name": "杯",
        "name_en": "Cup",
        "price": "9.90",
        "highlights": "轻",
        "image_urls": [IMAGE, IMAGE],
    }
    assert [(row["row"], row["sku"]) for row in rejected] == [(2, "B-2"), (3, "C-3")]
    assert rejected[0]["problem"] == "missing name" and "price" in rejected[1]["problem"]
    # skus picks rows (the others are neither products nor rejected); limit caps the products.
    assert read_catalog(catalog, skus=["D-4", "C-3"]) == ([products[1]], [rejected[1]])
    assert read_catalog(catalog, limit=1)[0] == products[:1]


@pytest.mark.parametrize("price", ["-0.01", "NaN", "inf", "1e400", "9.999", "", None, True, float("nan"), -1])
def test_a_price_the_vendor_would_refuse_rejects_the_row(price: object) -> None:
    product, problem = clean_product({**ROW, "price": price})
    assert product is None and ("price" in problem)


@pytest.mark.parametrize(
    ("images", "reason"),
    [("ftp://x/a.jpg", "http"), ("|".join([IMAGE] * 10), "at most 9"), ("  |  ", "must not be empty")],
)
def test_bad_images_reject_the_row(images: str, reason: str) -> None:
    product, problem = clean_product({**ROW, "image_urls": images})
    assert product is None and reason in problem


def test_a_json_catalog_takes_lists_and_numbers(tmp_path: Path) -> None:
    catalog = tmp_path / "c.json"
    catalog.write_text(json.dumps([{**ROW, "price": 12.5, "image_urls": [IMAGE]}, "not an object"]))
    products, rejected = read_catalog(catalog)
    assert products[0]["price"] == "12.50" and products[0]["image_urls"] == [IMAGE]
    assert rejected == [{"row": 2, "sku": None, "problem": "not an object: str"}]
    catalog.write_text("{}")
    with pytest.raises(ValueError, match="list of objects"):
        read_catalog(catalog)


def test_operator_arguments_of_a_product() -> None:
    product, _ = clean_product({**ROW, "highlights": "轻"})
    assert product is not None
    assert template_arguments(product) == {
        "name": "A-1 杯",
        "product_name": "杯",
        "price": "9.90",
        "image_url": IMAGE,
        "description": "轻",
    }
    video = video_arguments({**product, "description": "脚本"})
    assert video == {"description": "脚本", "title": "A-1 杯", "image_url": IMAGE, "image_urls": None}
    two = video_arguments({**product, "description": "脚本", "image_urls": [IMAGE, IMAGE]})
    assert two["image_url"] is None and two["image_urls"] == [IMAGE, IMAGE]
