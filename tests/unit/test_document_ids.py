"""Document ids: canonical form, refusals, and the names derived from them."""

from __future__ import annotations

import re
import unicodedata

import pytest

from trolyao.document_ids import (
    InvalidDocumentId,
    canonical_document_id,
    document_id_from_key,
    document_key,
    original_object_name,
)

KV_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")  # what NATS KV accepts in a key
IDS = ["13/2023/NĐ-CP", "Luật Phòng, chống ma túy|1", "a b", "x.y", "*", ">", "$KV.x"]


@pytest.mark.parametrize("document_id", IDS)
def test_keys_are_safe_and_reversible(document_id: str) -> None:
    key = document_key("cuc-bao-chi", document_id)
    assert KV_KEY.match(key), key
    assert key.count(".") == 1
    assert document_id_from_key(key) == ("cuc-bao-chi", document_id)
    assert original_object_name("cuc-bao-chi", document_id, 3) == f"{key}/3"


def test_keys_of_ids_already_in_nfc_are_those_written_before() -> None:
    # The encoding written by earlier releases: unpadded URL-safe base64 of the UTF-8 id.
    assert document_key("u", "nd-13-2023") == "u.bmQtMTMtMjAyMw"


def test_nfd_and_nfc_are_one_id() -> None:
    nfc = "Nghị định 13/2023/NĐ-CP"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert canonical_document_id(nfd) == nfc
    assert document_key("u", canonical_document_id(nfd)) == document_key("u", nfc)


@pytest.mark.parametrize("document_id", ["", "a" * 201, "a\nb", "a\x00b", "a\x1fb", " a", "a\t", "\ud800"])
def test_invalid_ids_are_refused(document_id: str) -> None:
    with pytest.raises(InvalidDocumentId) as refused:
        canonical_document_id(document_id)
    assert refused.value.message


def test_longest_id_is_accepted() -> None:
    assert canonical_document_id("đ" * 200) == "đ" * 200
