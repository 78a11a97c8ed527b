"""HTTP conventions a portal developer relies on: 201 + Location for creations, 200 for updates,
`WWW-Authenticate` on 401, Vietnamese everywhere in the OpenAPI document and in 422 details, and
no silently ignored query parameter on reports."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import APIRoute

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.conftest import FAQ_ANSWER, FAQ_QUESTION
from tests.support import unique_unit

pytestmark = pytest.mark.timeout(300)

PYDANTIC_ENGLISH = ("String should", "Field required", "Input should", "Value error", "Validation Error")


def test_openapi_describes_every_response_in_vietnamese(admin: httpx.Client) -> None:
    document = admin.get("/openapi.json").json()
    assert "Successful Response" not in str(document)
    for english in PYDANTIC_ENGLISH:
        assert english not in str(document), english
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                assert response["description"], (method, path, status)
                if status == "201":
                    assert "Location" in response.get("headers", {}), (method, path)
                if status == "401":
                    assert "WWW-Authenticate" in response.get("headers", {}), (method, path)


def test_401_names_the_bearer_scheme(gateway_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer tly_khong-ton-tai"}):
        reply = httpx.get(f"{gateway_url}/v1/units", headers=headers)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer"), reply.headers


def test_validation_details_are_vietnamese(admin: httpx.Client, new_unit: Callable[[str], str]) -> None:
    unit = new_unit("vi")
    cases = [
        admin.post(f"/v1/units/{unit}/ask", json={"question": ""}),
        admin.post(f"/v1/units/{unit}/ask", json={}),
        admin.put(f"/v1/units/{unit}", json={"name": "x" * 500}),
        admin.put(f"/v1/units/{unit}/answer-threshold", json={"min_confidence": 2}),
    ]
    expected = ["cần ít nhất 1 ký tự", "thiếu trường bắt buộc", "dài quá 200 ký tự", "phải nhỏ hơn hoặc bằng"]
    for reply, words in zip(cases, expected, strict=True):
        assert reply.status_code == 422, reply.text
        detail = reply.json()["detail"]
        assert words in detail, detail
        assert not any(english in detail for english in PYDANTIC_ENGLISH), detail


def report_routes() -> list[str]:
    """Every report route of the app (a new one is walked without editing this test)."""
    routes: list[str] = []
    pending = list(create_app(GatewaySettings()).routes)
    while pending:
        route = pending.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:
            pending += inner.routes
        elif isinstance(route, APIRoute) and "/reports/" in route.path and "GET" in route.methods:
            routes.append(route.path)
    return sorted(routes)


def test_every_report_refuses_unknown_query_parameters(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("rq")
    routes = report_routes()
    assert len(routes) >= 4, routes
    for route in routes:
        path = route.replace("{unit}", unit)
        assert admin.get(path).status_code == 200, path
        reply = admin.get(path, params={"week": 7})  # a parameter no report takes: never ignored
        assert reply.status_code == 422, (path, reply.text)
        assert "week" in reply.json()["detail"], reply.text
    answer_rate = admin.get(f"/v1/units/{unit}/reports/answer-rate", params={"days": 7})
    assert answer_rate.status_code == 422 and "days" in answer_rate.json()["detail"]
    assert admin.get(f"/v1/units/{unit}/reports/calibration", params={"days": 30}).status_code == 200
    assert admin.get("/v1/reports/answer-rates", params={"unit": unit}).status_code == 422


def test_a_gap_answered_by_an_faq_entry_is_closed_in_the_api(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("gap")
    question = "Giờ tiếp công dân của đơn vị là khi nào?"
    asked = admin.post(f"/v1/units/{unit}/ask", json={"question": question})
    assert asked.status_code == 200 and asked.json()["answered"] is False, asked.text  # no knowledge yet
    gaps = f"/v1/units/{unit}/reports/unanswered-questions"
    before = admin.get(gaps).json()
    assert [g["representative"] for g in before["groups"]] == [question] and before["total"] == 1
    assert before["groups"][0]["closed_by_faq"] is None
    entry = {"question": "giờ tiếp công dân của đơn vị là khi nào", "answer": "Sáng thứ Hai đến thứ Sáu."}
    assert admin.put(f"/v1/units/{unit}/faq/tiep-dan", json=entry).status_code == 201
    after = admin.get(gaps).json()
    assert after["groups"] == [] and after["total"] == 0
    closed = admin.get(gaps, params={"include_closed": "true"}).json()
    assert [(g["representative"], g["closed_by_faq"]) for g in closed["groups"]] == [(question, "tiep-dan")]


def test_creations_answer_201_with_location_and_updates_200(admin: httpx.Client) -> None:
    unit = unique_unit("loc")
    created = admin.put(f"/v1/units/{unit}", json={"name": "Đơn vị mới"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/units/{unit}"
    renamed = admin.put(f"/v1/units/{unit}", json={"name": "Đổi tên"})
    assert renamed.status_code == 200 and "Location" not in renamed.headers
    assert admin.get(created.headers["Location"]).json()["name"] == "Đổi tên"

    entry = {"question": FAQ_QUESTION, "answer": FAQ_ANSWER}
    first = admin.put(f"/v1/units/{unit}/faq/le-phi", json=entry)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"/v1/units/{unit}/faq/le-phi"
    again = admin.put(f"/v1/units/{unit}/faq/le-phi", json={**entry, "answer": FAQ_ANSWER + " (sửa)"})
    assert again.status_code == 200 and "Location" not in again.headers
    posted = admin.post(f"/v1/units/{unit}/faq", json=entry)
    assert posted.status_code == 201 and admin.get(posted.headers["Location"]).status_code == 200


def test_document_and_faq_lists_paginate_with_a_cursor(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("page")
    ids = ["13/2023/NĐ-CP", "a b", "x.y"]
    for document_id in ids:
        reply = admin.put(
            f"/v1/units/{unit}/documents/{quote(document_id, safe='')}", json={"title": "t", "text": "x"}
        )
        assert reply.status_code == 202, reply.text
    for number in range(3):
        entry = {"question": f"Câu hỏi {number}?", "answer": f"Trả lời {number}."}
        assert admin.put(f"/v1/units/{unit}/faq/cau-{number}", json=entry).status_code == 201
    for path, field in ((f"/v1/units/{unit}/documents", "documents"), (f"/v1/units/{unit}/faq", "entries")):
        everything = admin.get(path, params={"limit": 100}).json()
        assert everything["next_cursor"] is None and len(everything[field]) >= 3, everything
        walked, cursor, pages = [], None, 0
        while True:
            page = admin.get(path, params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            assert len(page[field]) <= 2
            walked += page[field]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == everything[field] and pages == (len(walked) + 1) // 2
        assert admin.get(path, params={"cursor": "khong-phai-con-tro"}).status_code == 422
    listed = admin.get(f"/v1/units/{unit}/documents").json()["documents"]
    assert {d["document_id"] for d in listed} >= set(ids)


def test_a_snapshot_is_found_where_its_location_points(
    admin: httpx.Client, new_unit: Callable[[str], str]
) -> None:
    unit = new_unit("snap")
    taken = admin.post("/v1/snapshots", json={"unit": unit})
    assert taken.status_code == 201, taken.text
    location = taken.headers["Location"]
    assert location == f"/v1/snapshots/{taken.json()['snapshot_id']}?unit={unit}"
    found = admin.get(location)
    assert found.status_code == 200, found.text
    assert found.json()["snapshot_id"] == taken.json()["snapshot_id"]
    missing = admin.get("/v1/snapshots/20000101T000000Z-khong-co", params={"unit": unit})
    assert missing.status_code == 404 and missing.json()["code"] == "snapshot_not_found"
