"""Bulk import (a folder, an eval corpus) and reindex, through the same events as everything else."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import httpx
import pytest

from services.ingest.entrypoints.operator_commands import bulk_import, corpus_items, folder_items, reindex
from stack.launcher import Stack
from tests.support import unique_unit
from trolyao.rpc import sync_channel
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]


def create_unit(stack: Stack, unit: str) -> None:
    httpx.put(
        f"{stack.gateway_url}/v1/units/{unit}",
        json={"name": "Đơn vị nhập liệu"},
        headers={"Authorization": f"Bearer {stack.api_key}"},
    ).raise_for_status()


def test_folder_import_then_reindex_keeps_every_document(running_stack: Stack, tmp_path: Path) -> None:
    unit = unique_unit("import")
    create_unit(running_stack, unit)
    folder = tmp_path / "van-ban"
    (folder / "huong-dan").mkdir(parents=True)
    (folder / "quy-che.txt").write_text(
        "Điều 1. Giờ làm việc\nCơ quan làm việc từ 8 giờ đến 17 giờ các ngày trong tuần.", encoding="utf-8"
    )
    (folder / "huong-dan" / "nop-ho-so.md").write_text(
        "# Nộp hồ sơ\n\nHồ sơ nộp trực tuyến qua Cổng dịch vụ công quốc gia.", encoding="utf-8"
    )
    with (folder / "hoi-dap.csv").open("w", newline="", encoding="utf-8") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(["Câu hỏi", "Trả lời"])
        writer.writerow(["Lệ phí cấp giấy phép là bao nhiêu?", "Lệ phí cấp giấy phép là 500.000 đồng."])
    (folder / "anh.bmp").write_bytes(b"BM" + bytes(64))

    report = asyncio.run(bulk_import(running_stack.nats_url, unit, folder_items(folder), show_progress=False))
    assert report.submitted == 4
    assert report.indexed == 3
    assert list(report.failed) == ["anh.bmp"]
    assert report.failed["anh.bmp"].startswith("unsupported_format")

    again = asyncio.run(bulk_import(running_stack.nats_url, unit, folder_items(folder), show_progress=False))
    assert (again.indexed, again.unchanged) == (0, 3), again  # an unchanged folder makes no new versions
    assert list(again.failed) == ["anh.bmp"]
    (folder / "quy-che.txt").write_text(
        "Điều 1. Giờ làm việc\nCơ quan làm việc từ 7 giờ 30.", encoding="utf-8"
    )
    edited = asyncio.run(bulk_import(running_stack.nats_url, unit, folder_items(folder), show_progress=False))
    assert (edited.indexed, edited.unchanged) == (1, 2), edited

    retrieval = retrieval_pb2_grpc.RetrievalServiceStub(
        sync_channel(running_stack.retrieval_address(unit), service_token=running_stack.service_token)
    )
    before = retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit))
    assert sorted(d.document_id for d in before.documents) == [
        "hoi-dap.csv",
        "huong-dan:nop-ho-so.md",
        "quy-che.txt",
    ]

    reports = asyncio.run(reindex(running_stack.nats_url, unit, show_progress=False))
    assert reports[unit].submitted == 4  # the failed one is retried from its original too
    assert reports[unit].indexed == 3
    after = retrieval.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit))
    assert {(d.document_id, d.version, d.chunk_count) for d in after.documents} == {
        (d.document_id, d.version, d.chunk_count) for d in before.documents
    }


def test_corpus_jsonl_import(running_stack: Stack, tmp_path: Path) -> None:
    unit = unique_unit("corpus")
    create_unit(running_stack, unit)
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {
            "id": "91/2015/QH13|1",
            "title": "91/2015/QH13 - Điều 1. Phạm vi điều chỉnh",
            "text": "Phạm vi điều chỉnh\n\nBộ luật này quy định địa vị pháp lý của cá nhân, pháp nhân.",
        },
        {
            "id": "91/2015/QH13|2",
            "title": "91/2015/QH13 - Điều 2. Công nhận quyền dân sự",
            "text": "Công nhận quyền dân sự\n\n1. Quyền dân sự được công nhận, tôn trọng, bảo vệ.",
        },
    ]
    corpus.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    report = asyncio.run(bulk_import(running_stack.nats_url, unit, corpus_items(corpus), show_progress=False))
    assert (report.submitted, report.indexed, report.failed) == (2, 2, {})
    answer = httpx.post(
        f"{running_stack.gateway_url}/v1/units/{unit}/ask",
        json={"question": "Bộ luật dân sự quy định địa vị pháp lý của ai?"},
        headers={"Authorization": f"Bearer {running_stack.api_key}"},
        timeout=60,
    ).json()
    assert answer["citations"][0]["document_id"] == "91/2015/QH13|1"
