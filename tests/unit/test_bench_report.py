"""The bench's report: memory columns, the Haystack peer beside our asks, the profile's stages,
restore and recovery.

Correctness of the report only: no test here runs a benchmark or asserts a time."""

from __future__ import annotations

import os

import pytest

from stack.bench.peer import MISSING, measure_haystack, ratio
from stack.bench.profile import OTHER_STAGE, stage_breakdown
from stack.bench.stack import anonymous_bytes, anonymous_total_mb, render_table


def _stage(peer: dict[str, object]) -> dict[str, object]:
    ask = {"p50_ms": 20.0, "p95_ms": 30.0, "p99_ms": 40.0, "requests_per_second": 50.0}
    return {
        "chunks": 1000,
        "documents": 90,
        "ingest_documents_per_second": 10.0,
        "ingest_chunks_per_second": 200.0,
        "freshness_p50_ms": 8.0,
        "freshness_p95_ms": 20.0,
        "ask": {"1": ask, "4": ask, "16": ask},
        "memory_mb": {
            "retrieval": {"anonymous": 120.0, "pss": 150.0, "uss": 140.0, "rss": 900.0},
            "gateway": {"anonymous": 60.0, "pss": 70.0, "uss": 65.0, "rss": 110.0},
        },
        "disk_mb_per_1k_chunks": 11.0,
        "peer": peer,
    }


def test_table_shows_anonymous_memory_and_the_peer_ratio() -> None:
    table = render_table({"stages": [_stage({"p50_ms": 80.0, "p95_ms": 120.0})]})
    row = table.splitlines()[2]
    assert "| 120.0 (150.0; 900.0) | 60.0 | 180.0 |" in row
    assert "| 80.0/120.0 | 0.25 |" in row


def test_a_missing_peer_is_said_once_and_leaves_its_cells_empty() -> None:
    table = render_table({"stages": [_stage({"skipped": MISSING}), _stage({"skipped": MISSING})]})
    assert table.count(MISSING) == 1
    assert "| – | None |" in table.splitlines()[2]
    assert ratio(20.0, {"skipped": MISSING}) is None


def test_anonymous_memory_of_this_process_is_read_from_the_kernel() -> None:
    assert anonymous_bytes(os.getpid()) > 0
    assert anonymous_total_mb({"a": {"anonymous": 1.5}, "b": {"anonymous": 2.0}}) == 3.5


def test_profile_samples_are_split_by_the_innermost_known_stage() -> None:
    collapsed = "\n".join(
        [
            "main (x.py:1);AnswerEngine.ask (answering.py:2);compose (composer.py:3);"
            "term_sets (lexical.py:4) 7",
            "main (x.py:1);HybridSearcher.candidates (search.py:2);EdgeVectorStore._search "
            "(services/retrieval/adapters/vectorstore_edge.py:3) 5",
            "main (x.py:1);idle (x.py:2) 2",
        ]
    )
    samples = stage_breakdown(collapsed)
    assert samples["composer (sentence choice)"] == 7
    assert samples["vector store (Qdrant Edge search + payload → chunk)"] == 5
    assert samples[OTHER_STAGE] == 2


def test_the_peer_indexes_a_document_placed_twice_in_a_unit_once() -> None:
    """A stage may place the same document again in a unit (our index upserts it by id); the peer's
    indexing must not refuse the batch (Haystack's default policy raised DuplicateDocumentError)."""
    pytest.importorskip("haystack", reason="the bench extra (haystack-ai) is not installed")
    text = "Điều 1. Phạm vi điều chỉnh.\n\nNghị định này quy định về tắt sóng 2G."
    documents = {"unit-a": [("13/2023/NĐ-CP", text), ("13/2023/NĐ-CP", text)]}
    peer = measure_haystack(documents, [("unit-a", "tắt sóng 2G")])
    assert peer["passages"] == 2  # the document's two passages, once
    assert peer["questions"] == 1


def test_snapshot_rows_show_restore_of_one_unit_and_recovery_after_losing_retrievals_data() -> None:
    snapshot = {
        "chunks": 1000,
        "chunks_after_restore": 1000,
        "snapshot_seconds": 1.0,
        "snapshot_chunks_per_second": 1000,
        "snapshot_mb": 3.0,
        "restore_seconds": 2.0,
        "restore_chunks_per_second": 500,
        "rebuild_from_originals_seconds": 40.0,
        "restore_vs_rebuild": 20.0,
        "restore_one_unit_seconds": 0.3,
        "recovery_seconds": 9.5,
        "recovery_restart_seconds": 4.0,
        "recovery_restore_seconds": 5.0,
        "recovery_first_answers_seconds": 0.5,
        "recovery_answers_back": True,
        "chunks_after_recovery": 1000,
    }
    stage = _stage({"skipped": MISSING}) | {"snapshot": snapshot}
    row = render_table({"stages": [stage]}).splitlines()[-1]
    assert row == (
        "| 1,000 | 1.0 (1,000) | 3.0 | 2.0 (500) | 40.0 | 20.0× | True | 0.3 | 9.5 (4.0 + 5.0 + 0.5) |"
    )
    lost = render_table({"stages": [stage | {"snapshot": snapshot | {"chunks_after_recovery": 10}}]})
    assert lost.splitlines()[-1].endswith("9.5 (4.0 + 5.0 + 0.5), NOT all back |")
