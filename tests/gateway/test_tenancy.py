"""Tenancy: a credential of unit A never touches unit B, on any endpoint, through any id.

The walk enumerates the app's routes, so a new endpoint fails this test until it is given a way
to be called with B's ids (or a written reason why it holds no unit's data). Unit A's credential
is the strongest a unit can hold (read + write + admin on A only); every request carries B's ids
in the path, the body and the query, and must get 403 or 404 with nothing of B's in the reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from services.gateway.entrypoints.app import create_app
from services.gateway.settings import GatewaySettings
from tests.gateway.conftest import HTTP_TIMEOUT_SECONDS, bearer

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

DENIED = {403, 404}
SNAPSHOT_ID = "20261127T080000Z-all-0123456789ab"
# Routes that only take a person's access token (issue 5): an API key is refused outright (401).
TOKEN_ONLY_PREFIXES = ("/v1/accounts", "/v1/audit")
TOKEN_ONLY_DENIED = {401, 403, 404}
# Routes that hold no unit's data, with the reason; everything else must be walked.
NOT_UNIT_SCOPED = {
    "/healthz": "liveness only",
    "/readyz": "dependency readiness only",
    "/openapi.json": "the API description",
    "/docs": "interactive docs",
    "/docs/oauth2-redirect": "interactive docs",
    "/redoc": "interactive docs",
    "/metrics": "Prometheus scrape, served only with TROLYAO_GATEWAY_METRICS_TOKEN (a scraper's bearer "
    "token, never an API key: tests/security/test_metrics_labels.py)",
    "/console": "redirect to the web console's static files",
}
NOT_UNIT_SCOPED_PREFIXES = {
    "/docs-assets": "Swagger UI and ReDoc files served offline (a static mount): no data",
    "/console/": "the web console's static files: no data (what it shows comes from this API, walked here)",
    "/v1/auth/": "login, OTP, tokens and signing keys (issue 5): no unit data; tested there — and failed "
    "logins from this address would lock other tests out",
}
# Listings answer 200 with the caller's own units only.
FILTERED_LISTINGS = {("GET", "/v1/units"), ("GET", "/v1/models")}


@dataclass(frozen=True)
class UnitB:
    unit: str
    document_id: str
    faq_id: str
    question_id: str
    conversation_id: str
    secret: str
    key_id: str
    test_question_id: str
    run_id: str
    credential_id: str

    def markers(self) -> list[str]:
        return [
            self.unit,
            self.document_id,
            self.faq_id,
            self.question_id,
            self.conversation_id,
            self.secret,
            self.key_id,
            self.test_question_id,
            self.run_id,
            self.credential_id,
        ]


def body_for(path: str, b: UnitB) -> dict[str, Any] | None:
    """A valid-looking body full of B's ids for each route that takes one."""
    question = {"question": f"{b.secret} là gì?", "conversation_id": b.conversation_id}
    bodies: dict[str, dict[str, Any]] = {
        "/v1/units/{unit}": {"name": "Đổi tên trái phép"},
        "/v1/units/{unit}/answer-threshold": {"min_confidence": 0.99},
        "/v1/api-keys": {"name": "chiếm quyền", "units": [b.unit], "scopes": ["read", "write", "admin"]},
        "/v1/units/{unit}/documents/{document_id}": {"title": "ghi đè", "text": "nội dung ghi đè"},
        "/v1/units/{unit}/faq": {"question": "câu hỏi", "answer": "trả lời"},
        "/v1/units/{unit}/faq/{faq_id}": {"question": "câu hỏi", "answer": "trả lời"},
        "/v1/units/{unit}/ask": question,
        "/v1/units/{unit}/ask/stream": question,
        "/v1/units/{unit}/feedback": {"question_id": b.question_id, "helpful": False, "comment": "x"},
        "/v1/chat/completions": {
            "model": b.unit,
            "messages": [{"role": "user", "content": question["question"]}],
        },
        "/v1/snapshots": {"unit": b.unit},
        "/v1/snapshots/{snapshot_id}/verify": {"unit": b.unit},
        "/v1/snapshots/{snapshot_id}/restore": {"unit": b.unit},
        "/v1/snapshots/{snapshot_id}/restore/preview": {"unit": b.unit},
        "/v1/accounts": {"username": "ke-gian", "display_name": "x", "role": "unit_admin", "units": [b.unit]},
        "/v1/units/{unit}/test-questions/promote": {"question": question["question"], "answer": b.secret},
        "/v1/units/{unit}/spot-checks": {
            "questions": [{"question": question["question"], "must_refuse": True}]
        },
        "/v1/units/{unit}/test-questions/{test_question_id}": {
            "question": question["question"],
            "must_refuse": True,
        },
    }
    return bodies.get(path)


def without_echo(reply: httpx.Response) -> str:
    """The reply text, less a problem's `instance` (the caller's own request path, echoed)."""
    if reply.headers.get("content-type", "").startswith("application/problem+json"):
        body = reply.json()
        body.pop("instance", None)
        return json.dumps(body, ensure_ascii=False)
    return reply.text


def flat_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """(full path, route) of every route, looking inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        else:
            yield prefix + str(getattr(route, "path", "")), route


def fill_path(path: str, unit: str, b: UnitB) -> str:
    values = {
        "unit": unit,
        "document_id": b.document_id,
        "faq_id": b.faq_id,
        "model": b.unit,
        "username": "admin",
        "snapshot_id": SNAPSHOT_ID,
        "key_id": b.key_id,
        "test_question_id": b.test_question_id,
        "run_id": b.run_id,
        "credential_id": b.credential_id,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def requests_for(path: str, method: str, a: str, b: UnitB) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, url, body): B in the path; and A in the path with B's ids in body and ids."""
    query = f"?unit={b.unit}&model={b.unit}&question_id={b.question_id}"
    body = body_for(path, b)
    calls = [(method, fill_path(path, b.unit, b) + query, body)]
    names_b_resource = any(
        name in path
        for name in ("{document_id}", "{faq_id}", "{test_question_id}", "{run_id}", "{credential_id}")
    )
    if "{unit}" in path and names_b_resource and method in ("GET", "DELETE"):
        # B's document/FAQ ids under A find nothing (PUT would legitimately create A's own).
        calls.append((method, fill_path(path, a, b) + query, body))
    if path == "/v1/units/{unit}/feedback":
        calls.append((method, fill_path(path, a, b) + query, body))  # B's question id under A
    return calls


@pytest.fixture(scope="module")
def unit_b(admin: httpx.Client, new_unit: Callable[[str], str]) -> UnitB:
    unit = new_unit("tenant-b")
    secret = "MẬT-" + unit.upper()
    admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {secret}"}).raise_for_status()
    document_id = f"bi-mat-{unit}"
    admin.put(
        f"/v1/units/{unit}/documents/{document_id}",
        json={"title": f"Kế hoạch {secret}", "text": f"Mã dự án nội bộ là {secret}, hạn chót tháng 9."},
    ).raise_for_status()
    faq = admin.put(f"/v1/units/{unit}/faq/hoi-{unit}", json={"question": f"{secret}?", "answer": secret})
    faq.raise_for_status()
    asked = admin.post(f"/v1/units/{unit}/ask", json={"question": f"Mã dự án {secret} là gì?"}).json()
    key = admin.post("/v1/api-keys", json={"name": "Cổng của B", "units": [unit], "scopes": ["read"]})
    key.raise_for_status()
    test_question_id = f"kiem-tra-{unit}"
    admin.put(
        f"/v1/units/{unit}/test-questions/{test_question_id}",
        json={"question": f"Mã dự án {secret} là gì?", "expected_answer": secret},
    ).raise_for_status()
    started = admin.post(f"/v1/units/{unit}/test-runs")
    assert started.status_code == 202, started.text
    credential = admin.post(f"/v1/units/{unit}/event-credentials")
    assert credential.status_code == 201, credential.text
    return UnitB(
        key_id=key.json()["key_id"],
        unit=unit,
        document_id=document_id,
        faq_id=f"hoi-{unit}",
        question_id=asked["question_id"],
        conversation_id=asked["conversation_id"],
        secret=secret,
        test_question_id=test_question_id,
        run_id=started.json()["run_id"],
        credential_id=credential.json()["credential_id"],
    )


def test_unit_a_credential_never_reaches_unit_b_on_any_endpoint(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str], unit_b: UnitB
) -> None:
    unit_a = new_unit("tenant-a")
    key_a = issue_key([unit_a], ["read", "write", "admin"])
    routes = list(flat_routes(create_app(GatewaySettings()).routes))
    walked: set[str] = set()
    with httpx.Client(base_url=gateway_url, headers=bearer(key_a), timeout=HTTP_TIMEOUT_SECONDS) as client:
        for path, route in routes:
            if path in NOT_UNIT_SCOPED or path.startswith(tuple(NOT_UNIT_SCOPED_PREFIXES)):
                continue
            assert isinstance(route, APIRoute), f"unexpected route {path}: give it a place in this walk"
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                for verb, url, body in requests_for(path, method, unit_a, unit_b):
                    reply = client.request(verb, url, json=body)
                    walked.add(path)
                    label = f"{verb} {url} → {reply.status_code} {reply.text[:300]}"
                    if (method, path) in FILTERED_LISTINGS:
                        assert reply.status_code == 200, label
                    elif path.startswith(TOKEN_ONLY_PREFIXES):
                        assert reply.status_code in TOKEN_ONLY_DENIED, label
                    else:
                        assert reply.status_code in DENIED, label
                    shown = without_echo(reply)
                    for marker in unit_b.markers():
                        assert marker not in shown, f"{label}: leaked {marker!r}"
    expected = {
        path
        for path, _ in routes
        if path not in NOT_UNIT_SCOPED and not path.startswith(tuple(NOT_UNIT_SCOPED_PREFIXES))
    }
    assert walked == expected
    assert {"/v1/chat/completions", "/v1/units/{unit}/ask/stream", "/v1/reports/answer-rates"} <= walked


def test_unit_a_cannot_continue_unit_b_conversation(
    gateway_url: str, new_unit: Callable[[str], str], issue_key: Callable[..., str], unit_b: UnitB
) -> None:
    """A conversation id is scoped to (unit, credential): B's id used in A starts a fresh one."""
    unit_a = new_unit("tenant-a")
    with httpx.Client(
        base_url=gateway_url, headers=bearer(issue_key([unit_a], ["read"])), timeout=60
    ) as client:
        reply = client.post(
            f"/v1/units/{unit_a}/ask",
            json={"question": "còn hạn chót thì sao?", "conversation_id": unit_b.conversation_id},
        )
    assert reply.status_code == 200
    for marker in (unit_b.secret, unit_b.document_id, unit_b.unit):
        assert marker not in reply.text
