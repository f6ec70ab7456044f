"""A product catalog read into the products a video run can use, and the rows it cannot use.

A catalog is CSV (a header row; ``image_urls`` separated by ``|``) or JSON (a list of objects,
``image_urls`` a list or a ``|``-separated string). A row needs ``sku``, ``name``, ``price`` and
``image_urls``; ``name_en`` and ``highlights`` are optional. Its values are checked with the rules
of the vendor calls they feed (:mod:`airflow_provider_dmjy.client.validation`): a price the
template create would refuse (negative, NaN, infinite, more than two decimals), an image URL that is
not http(s), or too many images rejects the row with the reason, so one bad row never fails a task
after money was spent on the others. No Airflow here: the source is anything with ``read_text`` and
``suffix`` (an ``ObjectStoragePath``, a ``pathlib.Path``). :func:`template_arguments` and
:func:`video_arguments` turn a product into the arguments of the template and video operators.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Mapping
from typing import Any

from airflow_provider_dmjy.client import validation
from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = ["REQUIRED_FIELDS", "clean_product", "read_catalog", "template_arguments", "video_arguments"]

#: The columns a row must fill.
REQUIRED_FIELDS = ("sku", "name", "price", "image_urls")


def read_catalog(
    source: Any, *, skus: Collection[str] = (), limit: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(products, rejected)`` from the catalog at ``source``.

    Only the rows whose SKU is in ``skus`` are read when it is not empty (the others are neither
    products nor rejected); at most ``limit`` products are kept, in catalog order. A product is
    ``{"sku", "name", "name_en", "price", "highlights", "image_urls"}``; a rejected row is
    ``{"row", "sku", "problem"}`` (``row`` counts from 1, the header excluded), the shape of
    :class:`~airflow_provider_dmjy.reports.SkippedRow`.
    """
    text = source.read_text(encoding="utf-8")
    rows = (
        json.loads(text) if str(source.suffix).lower() == ".json" else list(csv.DictReader(io.StringIO(text)))
    )
    if not isinstance(rows, list):
        raise ValueError(f"a JSON catalog must be a list of objects, not {type(rows).__name__}")
    products, rejected = [], []
    for number, row in enumerate(rows, start=1):
        sku = str(row.get("sku") or "").strip() if isinstance(row, Mapping) else ""
        if skus and sku not in skus:
            continue
        product, problem = clean_product(row)
        if product is None:
            rejected.append({"row": number, "sku": sku or None, "problem": problem})
        else:
            products.append(product)
    return products[:limit] if limit is not None else products, rejected


def clean_product(row: Any) -> tuple[dict[str, Any] | None, str]:
    """``(product, "")`` for a usable row, ``(None, why)`` otherwise."""
    if not isinstance(row, Mapping):
        return None, f"not an object: {type(row).__name__}"
    missing = [field for field in REQUIRED_FIELDS if not str(row.get(field) or "").strip()]
    if missing:
        return None, f"missing {', '.join(missing)}"
    images = row["image_urls"]
    if isinstance(images, str):
        images = [url.strip() for url in images.split("|") if url.strip()]
    try:
        image_urls = validation.check_image_urls(images)
        price = validation.check_price(row["price"])
        name = validation.check_text(
            "name", "name", str(row["name"]).strip(), required=True, max_length=validation.MAX_NAME_LENGTH
        )
    except DmjyValidationError as error:
        return None, str(error)
    return {
        "sku": str(row["sku"]).strip(),
        "name": name,
        "name_en": str(row.get("name_en") or "").strip(),
        "price": price,
        "highlights": str(row.get("highlights") or "").strip(),
        "image_urls": list(image_urls),
    }, ""


def template_arguments(product: Mapping[str, Any]) -> dict[str, Any]:
    """``DmjyCreateTemplateOperator`` arguments for a product: named "SKU name" (the template's
    identity for ``if_exists="reuse"``), its name, price, first image and highlights."""
    return {
        "name": f"{product['sku']} {product['name']}",
        "product_name": product["name"],
        "price": product["price"],
        "image_url": product["image_urls"][0],
        "description": product.get("highlights") or None,
    }


def video_arguments(product: Mapping[str, Any]) -> dict[str, Any]:
    """``DmjyCreateVideoOperator`` arguments for a product: its ``description`` (the script, which
    the caller writes into the product), its image or images, the title "SKU name", and its
    ``duration`` and ``aspect_ratio`` when the caller wrote them into the product too. The same
    list serves the creates (``expand_kwargs``) and the balance check's ``videos``, so both see the
    same fingerprints."""
    images = list(product["image_urls"])
    shape = {key: product[key] for key in ("duration", "aspect_ratio") if product.get(key) is not None}
    return {
        "description": product["description"],
        "title": f"{product['sku']} {product['name']}",
        "image_url": images[0] if len(images) == 1 else None,
        "image_urls": images if len(images) > 1 else None,
        **shape,
    }
