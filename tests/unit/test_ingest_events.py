"""Decoding document events: well-formed ones become commands, everything else a PoisonMessage."""

from __future__ import annotations

import base64
import json

import pytest

from services.ingest.domain.events import DeleteDocument, PoisonMessage, UpsertDocument
from services.ingest.entrypoints.event_decoding import decode_event


def payload(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_upsert_with_inline_text_becomes_command_with_hash() -> None:
    command = decode_event(
        "docs.cuc-bao-chi.upsert",
        payload(
            schemaVersion=1,
            eventId="e1",
            documentId="nd-13",
            version="7",
            text="Điều 1.",
            metadata={"title": "Nghị định 13", "number": "13/2023/NĐ-CP"},
        ),
    )
    assert isinstance(command, UpsertDocument)
    assert command.unit == "cuc-bao-chi"
    assert command.version == 7
    assert command.text == "Điều 1."
    assert command.metadata.number == "13/2023/NĐ-CP"
    assert command.content_hash.startswith("sha256:")


def test_upsert_with_base64_data_and_snake_case_fields() -> None:
    data = "xin chào".encode()
    command = decode_event(
        "docs.u1.upsert",
        payload(
            schema_version=1,
            document_id="a",
            version=2,
            data=base64.b64encode(data).decode(),
            filename="a.txt",
        ),
    )
    assert isinstance(command, UpsertDocument)
    assert command.data == data
    assert command.filename == "a.txt"


def test_delete_and_version_from_time() -> None:
    command = decode_event("docs.u1.delete", payload(document_id="a", occurred_at="2026-01-02T03:04:05Z"))
    assert isinstance(command, DeleteDocument)
    assert command.version == 1_767_323_045_000_000


@pytest.mark.parametrize(
    ("subject", "body", "code"),
    [
        ("docs.u1.upsert", b"{not json", "malformed_json"),
        ("docs.u1.upsert", b"\xff\xfe", "malformed_json"),
        ("docs.u1.upsert", payload(document_id="a", version="x", text="t"), "malformed_json"),
        ("docs.u1.upsert", payload(document_id="a", version=1), "missing_content"),
        ("docs.u1.upsert", payload(document_id="", version=1, text="t"), "invalid_document_id"),
        ("docs.u1.upsert", payload(document_id="a", text="t"), "missing_version"),
        ("docs.u1.upsert", payload(unit="u2", document_id="a", version=1, text="t"), "unit_mismatch"),
        (
            "docs.u1.upsert",
            payload(schema_version=9, document_id="a", version=1, text="t"),
            "unsupported_schema_version",
        ),
        ("docs.U_1.upsert", payload(document_id="a", version=1, text="t"), "invalid_unit"),
        ("docs.u1.rename", payload(document_id="a", version=1), "unknown_subject"),
        ("docs.u1.delete", payload(document_id="a", occurred_at="yesterday"), "invalid_time"),
    ],
)
def test_malformed_events_are_poison_with_a_vietnamese_reason(subject: str, body: bytes, code: str) -> None:
    with pytest.raises(PoisonMessage) as caught:
        decode_event(subject, body)
    assert caught.value.code == code
    assert caught.value.message  # a sentence for people
    assert any(ch in caught.value.message for ch in "àáảãạăâđêôơư")


def test_unknown_fields_are_accepted_so_the_contract_can_grow() -> None:
    command = decode_event("docs.u1.upsert", payload(document_id="a", version=1, text="t", future_field=True))
    assert isinstance(command, UpsertDocument)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"objectName": "don-vi-khac.bmQtMTM/1"}, "object_unit_mismatch"),
        ({"objectName": "u1x.bmQtMTM/1"}, "object_unit_mismatch"),  # a look-alike unit id
        ({"objectName": "u1.bmQtMTM"}, "object_unit_mismatch"),  # not an original's name
        ({"text": "Điều 1.", "metadata": {"title": "T" * 1001}}, "metadata_too_long"),
        ({"text": "Điều 1.", "metadata": {"issuer": "B" * 301}}, "metadata_too_long"),
        ({"text": "Điều 1.", "filename": "a" * 256}, "field_too_long"),
    ],
)
def test_events_break_no_bound(fields: dict[str, object], code: str) -> None:
    with pytest.raises(PoisonMessage) as raised:
        decode_event("docs.u1.upsert", payload(schemaVersion=1, documentId="nd-13", version="3", **fields))
    assert raised.value.code == code
    assert raised.value.document is not None
    assert (raised.value.document.unit, raised.value.document.version) == ("u1", 3)


def test_an_event_may_load_its_own_units_original_and_bounded_metadata() -> None:
    command = decode_event(
        "docs.u1.upsert",
        payload(
            schemaVersion=1,
            documentId="nd-13",
            version="3",
            objectName="u1.bmQtMTM/2",
            metadata={"title": "T" * 1000, "issuer": "B" * 300},
        ),
    )
    assert isinstance(command, UpsertDocument) and command.object_name == "u1.bmQtMTM/2"
