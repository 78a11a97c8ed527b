"""Ingest trusts no event (issue 14, findings 2, 3 and 14): an event names its unit three times
(subject, body, original's name) and all three must agree; metadata is bounded; one bad event is
dead-lettered and the consumer goes on; every upsert gets exactly one outcome for its unit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from stack.launcher import Stack
from tests.security.conftest import EventTap, settled, upsert_event
from trolyao.document_ids import original_object_name
from trolyao.messaging import deadletter_subject, status_subject, upsert_subject

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

SECRET_TEXT = "Điều 1. Kho lưu trữ\nMã truy cập kho lưu trữ mật là KHO-MAT-4711.\n"
PLAIN_TEXT = "Điều 1. Phạm vi\nQuy chế này áp dụng cho cán bộ của đơn vị.\n"
MEBIBYTE = 1024 * 1024


def _put(admin: httpx.Client, unit: str, document_id: str, text: str, version: int) -> None:
    reply = admin.put(
        f"/v1/units/{unit}/documents/{document_id}",
        json={"title": document_id, "text": text, "version": version},
    )
    assert reply.status_code == 202, reply.text


def _outcomes(tap: EventTap, unit: str, document_id: str) -> list[dict[str, object]]:
    return [body for body in tap.on(status_subject(unit)) if body.get("documentId") == document_id]


def test_an_event_cannot_load_another_units_original(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    victim, attacker = new_unit(), new_unit()
    _put(admin, victim, "kho-mat", SECRET_TEXT, 1)
    assert settled(admin, victim, "kho-mat")["status"] == "indexed"
    stolen = original_object_name(victim, "kho-mat", 1)
    tap = EventTap(security_stack.nats_url, [deadletter_subject(attacker), status_subject(attacker)])
    asyncio.run(
        tap.run(
            [
                (
                    upsert_subject(attacker),
                    upsert_event(attacker, "lay-cap", 1, objectName=stolen, filename="kho.txt"),
                ),
                (upsert_subject(attacker), upsert_event(attacker, "hop-le", 1, text=PLAIN_TEXT)),
            ],
            until=lambda t: bool(
                t.on(deadletter_subject(attacker))
                and _outcomes(t, attacker, "lay-cap")
                and _outcomes(t, attacker, "hop-le")
            ),
        )
    )
    assert [letter["code"] for letter in tap.on(deadletter_subject(attacker))] == ["object_unit_mismatch"]
    assert [outcome.get("code") for outcome in _outcomes(tap, attacker, "lay-cap")] == [
        "object_unit_mismatch"
    ]
    failed = settled(admin, attacker, "lay-cap")
    assert (failed["status"], failed["code"]) == ("failed", "object_unit_mismatch")
    assert settled(admin, attacker, "hop-le")["status"] == "indexed"
    answer = admin.post(f"/v1/units/{attacker}/ask", json={"question": "Mã truy cập kho lưu trữ mật là gì?"})
    assert answer.status_code == 200, answer.text
    assert "4711" not in answer.text


def test_oversized_metadata_is_dead_lettered_and_the_consumer_goes_on(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    """The finding's event: 6.8 MB, a 3.4 MB title and 1.7 MB number and issuer (it used to crash
    ingest in a loop: its status record, title stored twice, exceeded NATS's message limit)."""
    unit = new_unit()
    metadata = {
        "title": "T" * (34 * MEBIBYTE // 10),
        "number": "1" * (17 * MEBIBYTE // 10),
        "issuer": "B" * (17 * MEBIBYTE // 10),
    }
    huge = upsert_event(unit, "qua-lon", 1, text=PLAIN_TEXT, metadata=metadata)
    assert len(huge) > 6 * MEBIBYTE
    tap = EventTap(security_stack.nats_url, [deadletter_subject(unit), status_subject(unit)])
    asyncio.run(
        tap.run(
            [
                (upsert_subject(unit), huge),
                (upsert_subject(unit), upsert_event(unit, "tiep-theo", 1, text=PLAIN_TEXT)),
            ],
            until=lambda t: bool(
                t.on(deadletter_subject(unit))
                and _outcomes(t, unit, "qua-lon")
                and _outcomes(t, unit, "tiep-theo")
            ),
        )
    )
    letters = tap.on(deadletter_subject(unit))
    assert [letter["code"] for letter in letters] == ["metadata_too_long"]
    assert [outcome.get("code") for outcome in _outcomes(tap, unit, "qua-lon")] == ["metadata_too_long"]
    assert [outcome.get("outcome") for outcome in _outcomes(tap, unit, "tiep-theo")] == ["indexed"]
    failed = settled(admin, unit, "qua-lon")
    assert (failed["status"], failed["code"]) == ("failed", "metadata_too_long")
    assert len(failed["title"]) <= 1000
    assert security_stack.processes["ingest"].poll() is None, "ingest exited"


def test_a_stale_upsert_reports_stale_to_its_unit(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    unit = new_unit()
    _put(admin, unit, "quy-che", PLAIN_TEXT, 2)
    assert settled(admin, unit, "quy-che")["status"] == "indexed"
    tap = EventTap(security_stack.nats_url, [status_subject(unit)])
    asyncio.run(
        tap.run(
            [(upsert_subject(unit), upsert_event(unit, "quy-che", 1, text="Bản cũ hơn."))],
            until=lambda t: bool(_outcomes(t, unit, "quy-che")),
        )
    )
    outcomes = _outcomes(tap, unit, "quy-che")
    assert [(outcome.get("outcome"), outcome.get("version")) for outcome in outcomes] == [("stale", "1")]
    current = admin.get(f"/v1/units/{unit}/documents/quy-che").json()
    assert (current["status"], current["version"]) == ("indexed", 2)


def test_gateway_bounds_metadata_and_multipart_versions(
    admin: httpx.Client, new_unit: Callable[[], str]
) -> None:
    """Findings 3 and 6 at the front door: 422, and no status is left behind."""
    unit = new_unit()
    long_issuer = admin.put(
        f"/v1/units/{unit}/documents/dai",
        json={"title": "t", "text": PLAIN_TEXT, "metadata": {"issuer": "B" * 301}},
    )
    assert long_issuer.status_code == 422, long_issuer.text
    assert "issuer" in long_issuer.json()["detail"]
    for version in (str(2**63 + 5), str(2**62 + 1), "0"):
        huge_version = admin.put(
            f"/v1/units/{unit}/documents/phien-ban",
            files={"file": ("a.txt", PLAIN_TEXT.encode(), "text/plain")},
            data={"version": version},
        )
        assert huge_version.status_code == 422, huge_version.text
    assert admin.get(f"/v1/units/{unit}/documents/phien-ban").status_code == 404
    assert admin.get(f"/v1/units/{unit}/documents/dai").status_code == 404
    usable = admin.put(
        f"/v1/units/{unit}/documents/phien-ban",
        files={"file": ("a.txt", PLAIN_TEXT.encode(), "text/plain")},
        data={"version": str(2**62)},
    )
    assert usable.status_code == 202, usable.text
    indexed = settled(admin, unit, "phien-ban")
    assert (indexed["status"], indexed["version"]) == ("indexed", 2**62)
