"""A unit's own abstention threshold (issue 10) against the real stack: set through the gateway,
kept by ops, honoured by retrieval on every ask path, and calibrated from staff feedback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from services.gateway.domain.calibration import suggest_threshold
from tests.gateway.conftest import (
    HTTP_TIMEOUT_SECONDS,
    REPORT_DOCUMENT,
    KnowledgeUnit,
    bearer,
    wait_until_settled,
)
from tests.gateway.test_api_stack import client_for, parse_sse

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

QUESTION = "Doanh thu năm 2023 là bao nhiêu?"
CALIBRATION_QUESTIONS = (
    "Doanh thu năm 2023 là bao nhiêu?",
    "Lợi nhuận sau thuế năm 2023 đạt bao nhiêu?",
    "Thời hạn cấp giấy phép hoạt động báo chí điện tử là bao lâu?",
)
ROUNDS = 11
TARGET_WRONG_RATE = 0.3
PROBLEM_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ThresholdUnit:
    """A unit holding the same report as `knowledge_unit`, with an admin key of its own."""

    unit: str
    admin_key: str
    read_key: str


@pytest.fixture(scope="module")
def threshold_unit(
    admin: httpx.Client, new_unit: Callable[[str], str], issue_key: Callable[..., str]
) -> ThresholdUnit:
    unit = new_unit("nguong")
    path = f"/v1/units/{unit}/documents/bao-cao-2023"
    admin.put(path, json={"title": "Báo cáo tài chính 2023", "text": REPORT_DOCUMENT}).raise_for_status()
    assert wait_until_settled(admin, path)["status"] == "indexed"
    return ThresholdUnit(
        unit=unit,
        admin_key=issue_key([unit], ["read", "write", "admin"]),
        read_key=issue_key([unit], ["read"]),
    )


def set_threshold(client: httpx.Client, unit: str, value: float | None) -> httpx.Response:
    return client.put(f"/v1/units/{unit}/answer-threshold", json={"min_confidence": value})


def test_a_unit_with_a_high_threshold_abstains_where_the_default_answers(
    gateway_url: str, knowledge_unit: KnowledgeUnit, threshold_unit: ThresholdUnit
) -> None:
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        default = client.post(f"/v1/units/{knowledge_unit.unit}/ask", json={"question": QUESTION}).json()
    assert default["answered"] is True and default["answer_source"] != "faq"
    unit = threshold_unit.unit
    with client_for(gateway_url, threshold_unit.admin_key) as client:
        own = client.post(f"/v1/units/{unit}/ask", json={"question": QUESTION}).json()
        assert own["answered"] is True
        # Above what either unit's verifier gives this answer (corpus statistics differ a little).
        strict = round(max(own["confidence"], default["confidence"]) + 0.02, 4)
        assert strict < 1.0

        reply = set_threshold(client, unit, strict)
        assert reply.status_code == 200, reply.text
        assert reply.json()["min_confidence"] == pytest.approx(strict)
        assert client.get(f"/v1/units/{unit}").json()["min_confidence"] == pytest.approx(strict)

        asked = client.post(f"/v1/units/{unit}/ask", json={"question": QUESTION}).json()
        assert asked["answered"] is False and asked["answer_source"] == "none"
        assert (
            asked["confidence"] == pytest.approx(own["confidence"], abs=0.01) and asked["confidence"] < strict
        )
        streamed = client.post(f"/v1/units/{unit}/ask/stream", json={"question": QUESTION})
        done = [json.loads(data) for event, data in parse_sse(streamed.text) if event == "done"]
        assert done and done[0]["answered"] is False
        chat = client.post(
            "/v1/chat/completions", json={"model": unit, "messages": [{"role": "user", "content": QUESTION}]}
        ).json()
        assert chat["trolyao"]["answered"] is False

        reset = set_threshold(client, unit, None)
        assert reset.status_code == 200 and reset.json()["min_confidence"] is None
        assert client.post(f"/v1/units/{unit}/ask", json={"question": QUESTION}).json()["answered"] is True
    with client_for(gateway_url, threshold_unit.read_key) as reader:
        assert set_threshold(reader, unit, 0.3).status_code == 403

    # The other unit, same document, still answers: thresholds are per unit.
    with client_for(gateway_url, knowledge_unit.read_key) as client:
        again = client.post(f"/v1/units/{knowledge_unit.unit}/ask", json={"question": QUESTION}).json()
    assert again["answered"] is True


def test_rename_keeps_the_threshold(admin: httpx.Client, new_unit: Callable[[str], str]) -> None:
    unit = new_unit("doi-ten")
    assert set_threshold(admin, unit, 0.7).status_code == 200
    renamed = admin.put(f"/v1/units/{unit}", json={"name": "Tên mới"}).json()
    assert renamed["name"] == "Tên mới" and renamed["min_confidence"] == pytest.approx(0.7)
    assert admin.get("/v1/units").status_code == 200


@pytest.mark.parametrize("body", [{"min_confidence": 0}, {"min_confidence": 1}, {"min_confidence": 1.5}, {}])
def test_threshold_outside_zero_to_one_is_refused(admin: httpx.Client, body: dict[str, object]) -> None:
    reply = admin.put("/v1/units/cuc-khong-ton-tai/answer-threshold", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM_TYPE)


def test_threshold_of_an_unknown_unit_is_not_found(admin: httpx.Client) -> None:
    reply = set_threshold(admin, "khong-co-don-vi-nay", 0.5)
    assert reply.status_code == 404 and reply.json()["code"] == "unit_not_found"
    calibration = admin.get("/v1/units/khong-co-don-vi-nay/reports/calibration")
    assert calibration.status_code == 404 and calibration.json()["code"] == "unit_not_found"


def test_calibration_suggests_a_threshold_from_submitted_feedback(
    gateway_url: str, threshold_unit: ThresholdUnit
) -> None:
    unit = threshold_unit.unit
    path = f"/v1/units/{unit}/reports/calibration"
    with client_for(gateway_url, threshold_unit.admin_key) as client:
        assert set_threshold(client, unit, None).status_code == 200
        before = client.get(path, params={"target_wrong_rate": TARGET_WRONG_RATE}).json()
        assert before["reason"] == "too_few_ratings" and before["suggested"] is None
        assert before["min_confidence"] is None and len(before["rows"]) == 19

        asked = [
            client.post(f"/v1/units/{unit}/ask", json={"question": question}).json()
            for _ in range(ROUNDS)
            for question in CALIBRATION_QUESTIONS
        ]
        governed = [a for a in asked if a["answered"] and a["answer_source"] != "faq"]
        assert len(governed) >= 30, [a["answer_source"] for a in asked]
        # Staff find the least confident kind of answer wrong, the others right.
        weakest = min(a["confidence"] for a in governed)
        samples: list[tuple[float, bool]] = []
        for answer in asked:
            helpful = answer["confidence"] > weakest
            verdict = client.post(
                f"/v1/units/{unit}/feedback",
                json={"question_id": answer["question_id"], "helpful": helpful},
            )
            assert verdict.status_code == 202, verdict.text
            if answer in governed:
                samples.append((answer["confidence"], helpful))

        report = client.get(path, params={"days": 90, "target_wrong_rate": TARGET_WRONG_RATE})
        assert report.status_code == 200, report.text
    body = report.json()
    expected = suggest_threshold(samples, target_wrong_rate=TARGET_WRONG_RATE)
    assert body["rated"] == len(samples) == expected.rated
    assert body["suggested"] == expected.suggested and body["reason"] == expected.reason
    assert [(r["threshold"], r["answered"], r["wrong"]) for r in body["rows"]] == [
        (r.threshold, r.answered, r.wrong) for r in expected.rows
    ]
    assert body["target_wrong_rate"] == TARGET_WRONG_RATE and body["min_confidence"] is None
    if expected.suggested is not None:
        assert expected.suggested > weakest


def test_another_units_credential_gets_neither_threshold_nor_calibration(
    gateway_url: str,
    new_unit: Callable[[str], str],
    issue_key: Callable[..., str],
    threshold_unit: ThresholdUnit,
) -> None:
    other = new_unit("khac")
    key = issue_key([other], ["read", "write", "admin"])
    with httpx.Client(base_url=gateway_url, headers=bearer(key), timeout=HTTP_TIMEOUT_SECONDS) as client:
        unit = threshold_unit.unit
        assert set_threshold(client, unit, 0.9).status_code == 403
        assert client.get(f"/v1/units/{unit}/reports/calibration").status_code == 403
        assert set_threshold(client, other, 0.9).status_code == 200
        assert client.get(f"/v1/units/{other}/reports/calibration").status_code == 200
