"""A unit whose index is gone does not look healthy (issue 14, finding 15): its documents' status
says `failed` (`index_missing`) instead of `indexed` while every question would abstain."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import httpx
import pytest

from stack.launcher import Stack
from tests.security.conftest import settled

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]


def test_statuses_report_a_wiped_unit_index(
    admin: httpx.Client, new_unit: Callable[[], str], security_stack: Stack
) -> None:
    unit, neighbour = new_unit(), new_unit()
    for owner in (unit, neighbour):
        reply = admin.put(
            f"/v1/units/{owner}/documents/quy-dinh",
            json={"title": "Quy định", "text": "Điều 1. Phạm vi\nQuy định áp dụng cho cán bộ."},
        )
        assert reply.status_code == 202, reply.text
        assert settled(admin, owner, "quy-dinh")["status"] == "indexed"

    security_stack.kill("retrieval")  # a lost disk for one unit
    shutil.rmtree(security_stack.data_dir / "retrieval" / "shards" / unit)
    shutil.rmtree(security_stack.data_dir / "retrieval" / "registry" / unit)
    security_stack.restart("retrieval")
    security_stack.wait_ready()

    status = admin.get(f"/v1/units/{unit}/documents/quy-dinh").json()
    assert (status["status"], status["code"]) == ("failed", "index_missing"), status
    listed = admin.get(f"/v1/units/{unit}/documents").json()["documents"]
    assert [(item["document_id"], item["code"]) for item in listed] == [("quy-dinh", "index_missing")]
    assert admin.get(f"/v1/units/{neighbour}/documents/quy-dinh").json()["status"] == "indexed"
