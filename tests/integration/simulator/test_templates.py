"""Template endpoints."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sim_helpers import Api, error_of

from airflow_provider_dmjy.simulator import SimulatorHandle


def test_create_list_delete(sim: SimulatorHandle, api: Api) -> None:
    body = {
        "userId": "user_xyz",
        "name": "新品发布模板",
        "imageUrl": "https://example.com/template.jpg",
        "description": "适用于新品发布宣传",
        "productName": "旗舰产品",
        "price": "299.00",
    }
    created = api.post("/templates", body).json()["data"]
    assert set(created) == {"id", "name", "createdAt"}
    assert re.fullmatch(r"tpl_[0-9a-f]{12}", created["id"])
    other = api.post("/templates", {"userId": "user_other", "name": "B"}).json()["data"]
    listing = api.get("/templates").json()["data"]
    assert [t["id"] for t in listing["templates"]] == [other["id"], created["id"]]
    assert listing["pagination"] == {"total": 2, "page": 1, "limit": 20, "totalPages": 1}
    first = listing["templates"][1]
    assert first == {
        "id": created["id"],
        "userId": "user_xyz",
        "name": "新品发布模板",
        "imageUrl": "https://example.com/template.jpg",
        "productPosterUrl": None,
        "description": "适用于新品发布宣传",
        "productName": "旗舰产品",
        "price": "299.00",
        "createdAt": created["createdAt"],
        "updatedAt": created["createdAt"],
    }
    mine = api.get("/templates?userId=user_xyz&limit=1").json()["data"]
    assert [t["id"] for t in mine["templates"]] == [created["id"]]
    assert mine["pagination"] == {"total": 1, "page": 1, "limit": 1, "totalPages": 1}
    assert sim.state()["templates"] == {created["id"]: "新品发布模板", other["id"]: "B"}
    assert api.delete(f"/templates/{created['id']}").json() == {"success": True}
    assert api.delete(f"/templates/{created['id']}").status_code == 404
    assert api.get("/templates").json()["data"]["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n"}, "userId"),
        ({"userId": "u"}, "name"),
        ({"userId": "u", "name": ""}, "name"),
        ({"userId": "u", "name": "n", "price": 299}, "price"),
        ({"userId": "u", "name": "n", "imageUrl": 1}, "imageUrl"),
    ],
)
def test_create_validation(api: Api, body: dict[str, Any], field: str) -> None:
    resp = api.post("/templates", body)
    assert resp.status_code == 400
    error = error_of(resp)
    assert error["code"] == "INVALID_PARAMETER"
    assert error["field"] == field
    assert field in error["message"]


@pytest.mark.parametrize(("query", "field"), [("page=-1", "page"), ("limit=500", "limit")])
def test_list_validation(api: Api, query: str, field: str) -> None:
    resp = api.get(f"/templates?{query}")
    assert resp.status_code == 400
    assert error_of(resp)["field"] == field
