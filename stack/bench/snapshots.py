"""Benchmark of snapshots: snapshot and restore time (and chunks/s) beside the time to rebuild the
same index from the originals through the pipeline. The ratio is the point of snapshots.

`bench_snapshots(...)` starts its own stack (five processes, free ports, a fresh data dir), loads
`units` × `documents_per_unit` synthetic legal documents of `articles_per_document` articles
through the gateway (that load, from the first upload to the last `indexed`, is the rebuild from
originals: parse, chunk, embed, index; `load="direct"` indexes the chunks straight into retrieval
instead, a lower bound of that rebuild for large sizes), takes a snapshot of everything, wipes
every unit's index (retrieval killed, shards and registries deleted, restarted), restores
everything, checks that every unit holds its chunks again, and returns the numbers as a dict.
`scripts/bench_snapshots.py` prints them; the lead's `make bench` can call the function.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
from pydantic import SecretStr

from services.ops.recovery.bootstrap import build_snapshot_runtime
from services.ops.recovery.settings import SnapshotSettings
from stack.launcher import Stack, StackPorts
from trolyao.messaging import connect, ensure_layout
from trolyao.rpc import sync_channel
from trolyao.v1 import documents_pb2, retrieval_pb2, retrieval_pb2_grpc

UPLOAD_WORKERS = 8
DIRECT_WORKERS = 2
LOAD_PIPELINE = "pipeline"
LOAD_DIRECT = "direct"
POLL_SECONDS = 1.0
LOAD_TIMEOUT_SECONDS = 6 * 3_600.0
HTTP_TIMEOUT_SECONDS = 120.0
RECOVERY_POLL_SECONDS = 0.05
RECOVERY_ANSWER_TIMEOUT_SECONDS = 600.0
TOPICS = (
    "cấp giấy phép hoạt động báo chí điện tử",
    "thiết lập trang thông tin điện tử tổng hợp",
    "đăng ký cung cấp dịch vụ trò chơi điện tử",
    "xuất bản phẩm điện tử",
    "hoạt động in và phát hành",
    "quản lý tần số vô tuyến điện",
)


def synthetic_document(unit_index: int, document_index: int, articles: int) -> str:
    """A decree-like text whose articles the chunker keeps apart (one chunk per article)."""
    topic = TOPICS[(unit_index + document_index) % len(TOPICS)]
    lines = [f"Chương I\nQUY ĐỊNH CHUNG VỀ {topic.upper()} SỐ {document_index}"]
    for article in range(1, articles + 1):
        lines.append(
            f"Điều {article}. Quy định số {article} về {topic}\n"
            f"1. Cơ quan có thẩm quyền giải quyết hồ sơ {topic} loại {article} trong thời hạn "
            f"{article % 30 + 5} ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ của tổ chức, cá nhân.\n"
            f"2. Mức lệ phí thẩm định hồ sơ loại {article} là {(article % 9 + 1) * 100}.000 đồng; "
            f"trường hợp từ chối phải trả lời bằng văn bản và nêu rõ lý do (văn bản {document_index})."
        )
    return "\n\n".join(lines)


def unit_chunk_counts(stack: Stack, units: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for unit in units:
        with sync_channel(stack.retrieval_address(unit), service_token=stack.service_token) as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
            reply = stub.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=60)
            counts[unit] = int(reply.chunks)
    return counts


def _create_units(stack: Stack, units: list[str]) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as client:
        for unit in units:
            client.put(f"/v1/units/{unit}", json={"name": f"Đơn vị đo {unit}"}).raise_for_status()


def _load(stack: Stack, units: list[str], documents_per_unit: int, articles: int) -> float:
    """Upload every document and wait until all are indexed; returns the seconds it took."""
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    _create_units(stack, units)
    started = time.perf_counter()

    def upload(job: tuple[int, str, int]) -> None:
        unit_index, unit, document_index = job
        text = synthetic_document(unit_index, document_index, articles)
        with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as own:
            own.put(
                f"/v1/units/{unit}/documents/vb-{document_index}",
                json={"title": f"Văn bản {document_index}", "text": text, "version": 1},
            ).raise_for_status()

    jobs = [(i, unit, d) for i, unit in enumerate(units) for d in range(documents_per_unit)]
    with concurrent.futures.ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
        list(pool.map(upload, jobs))
    deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
    pending = set(units)
    while pending and time.monotonic() < deadline:
        for unit in list(pending):
            with sync_channel(stack.retrieval_address(unit), service_token=stack.service_token) as channel:
                stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
                try:
                    listed = stub.ListDocuments(retrieval_pb2.ListDocumentsRequest(unit=unit), timeout=60)
                except grpc.RpcError:
                    continue  # busy: ask again at the next poll
            if len(listed.documents) >= documents_per_unit:
                pending.discard(unit)
        if pending:
            time.sleep(POLL_SECONDS)
    if pending:
        raise TimeoutError(f"units not indexed in time: {sorted(pending)}")
    return time.perf_counter() - started


def _load_direct(stack: Stack, units: list[str], documents_per_unit: int, articles: int) -> float:
    """Index every document straight into retrieval (IndexDocument, one chunk per article): the
    rebuild without parsing and the event pipeline, i.e. a lower bound of rebuilding from originals."""
    _create_units(stack, units)
    started = time.perf_counter()

    def index_unit(job: tuple[int, str]) -> None:
        unit_index, unit = job
        with sync_channel(stack.retrieval_address(unit), service_token=stack.service_token) as channel:
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
            for document_index in range(documents_per_unit):
                sections = synthetic_document(unit_index, document_index, articles).split("\n\n")[1:]
                stub.IndexDocument(
                    retrieval_pb2.IndexDocumentRequest(
                        unit=unit,
                        document_id=f"vb-{document_index}",
                        version=1,
                        content_hash=f"bench-{unit_index}-{document_index}",
                        metadata=documents_pb2.DocumentMetadata(title=f"Văn bản {document_index}"),
                        chunks=[
                            documents_pb2.Chunk(
                                ordinal=ordinal,
                                text=section,
                                path=f"Điều {ordinal + 1}",
                                kind=documents_pb2.CHUNK_KIND_PASSAGE,
                            )
                            for ordinal, section in enumerate(sections)
                        ],
                    ),
                    timeout=HTTP_TIMEOUT_SECONDS,
                )

    with concurrent.futures.ThreadPoolExecutor(DIRECT_WORKERS) as pool:
        list(pool.map(index_unit, list(enumerate(units))))
    return time.perf_counter() - started


def wipe_indexes(stack: Stack) -> None:
    for worker in stack.retrieval_keys:
        stack.kill(worker)
    for name in ("shards", "registry", "unit-models"):
        shutil.rmtree(stack.data_dir / "retrieval" / name, ignore_errors=True)
    for worker in stack.retrieval_keys:
        stack.restart(worker)
    stack.wait_ready()


def wipe_retrieval_data(stack: Stack) -> None:
    """Lose the retrieval process's whole data directory, as a lost disk or machine would: the
    processes (every worker) are killed, their directory deleted, and new ones started on it."""
    for worker in stack.retrieval_keys:
        stack.kill(worker)
    shutil.rmtree(stack.data_dir / "retrieval", ignore_errors=True)
    for worker in stack.retrieval_keys:
        stack.restart(worker)
    stack.wait_ready()


def synthetic_question(unit_index: int) -> str:
    """A question `synthetic_document`'s articles answer (article 3 of every document)."""
    topic = TOPICS[unit_index % len(TOPICS)]
    return f"Thời hạn giải quyết hồ sơ {topic} loại 3 là bao lâu?"


def _answer_fingerprint(client: httpx.Client, unit: str, question: str) -> tuple[Any, ...] | None:
    """What must be the same once a unit answers again (None while it cannot answer)."""
    try:
        reply = client.post(f"/v1/units/{unit}/ask", json={"question": question})
    except httpx.HTTPError:
        return None
    if reply.status_code != httpx.codes.OK:
        return None
    body = reply.json()
    return (
        body["answered"],
        body["answer"],
        tuple((citation["document_id"], citation.get("snippet", "")) for citation in body["citations"]),
    )


def answers(stack: Stack, questions: dict[str, str]) -> dict[str, tuple[Any, ...] | None]:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as client:
        return {unit: _answer_fingerprint(client, unit, question) for unit, question in questions.items()}


def _wait_for_answers(stack: Stack, questions: dict[str, str], expected: dict[str, Any]) -> bool:
    """Ask every unit until each answers as `expected` (True) or the deadline passes (False)."""
    pending = dict(questions)
    deadline = time.monotonic() + RECOVERY_ANSWER_TIMEOUT_SECONDS
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS) as client:
        while pending and time.monotonic() < deadline:
            for unit, question in list(pending.items()):
                if _answer_fingerprint(client, unit, question) == expected[unit]:
                    del pending[unit]
            if pending:
                time.sleep(RECOVERY_POLL_SECONDS)
    return not pending


async def _recover(stack: Stack) -> tuple[float, int, int]:
    """`trolyao recover` in-process: (seconds, units restored, units without a snapshot)."""
    nats_client = await connect(stack.nats_url, name="recovery-bench")
    try:
        js = nats_client.jetstream()
        await ensure_layout(js)
        runtime = await build_snapshot_runtime(nats_client, js, _snapshot_settings(stack))
        try:
            started = time.perf_counter()
            report = await runtime.handlers.recover_units(actor="bench")
            return time.perf_counter() - started, report.units, len(report.without_snapshot)
        finally:
            await runtime.stop()
    finally:
        await nats_client.drain()


def measure_recovery(stack: Stack, questions: dict[str, str]) -> dict[str, Any]:
    """Lose retrieval's data, recover every unit the documented way (`trolyao recover`: newest
    snapshot + replay), and time until every unit answers its question as it did before.

    `recovery_seconds` runs from the kill to the last unit answering again: restart of an empty
    retrieval, the recovery, and the first asks (which open what the restore left closed)."""
    expected = answers(stack, questions)
    started = time.perf_counter()
    wipe_retrieval_data(stack)
    restarted = time.perf_counter()
    recover_seconds, restored_units, without_snapshot = asyncio.run(_recover(stack))
    recovered = time.perf_counter()
    all_back = _wait_for_answers(stack, questions, expected)
    finished = time.perf_counter()
    return {
        "recovery_seconds": round(finished - started, 2),
        "recovery_restart_seconds": round(restarted - started, 2),
        "recovery_restore_seconds": round(recover_seconds, 2),
        "recovery_first_answers_seconds": round(finished - recovered, 2),
        "recovery_units": restored_units,
        "recovery_units_without_snapshot": without_snapshot,
        "recovery_answers_back": all_back and all(value is not None for value in expected.values()),
    }


def _snapshot_settings(stack: Stack) -> SnapshotSettings:
    return SnapshotSettings(
        data_dir=stack.data_dir,
        nats_url=stack.nats_url,
        retrieval_addresses=",".join(stack.retrieval_addresses),
        service_token=SecretStr(stack.service_token),
    )


async def snapshot_and_restore(stack: Stack, wipe: Any) -> dict[str, float]:
    """Snapshot everything, `wipe`, restore everything; then restore one unit alone (its index
    swapped in while the others answer)."""
    settings = _snapshot_settings(stack)
    nats_client = await connect(settings.nats_url, name="snapshot-bench")
    try:
        js = nats_client.jetstream()
        await ensure_layout(js)
        runtime = await build_snapshot_runtime(nats_client, js, settings)
        try:
            started = time.perf_counter()
            manifest = await runtime.handlers.take_snapshot(unit=None, actor="bench")
            snapshot_seconds = time.perf_counter() - started
            await asyncio.to_thread(wipe)
            started = time.perf_counter()
            report = await runtime.handlers.restore_snapshot(manifest.snapshot_id, unit=None, actor="bench")
            restore_seconds = time.perf_counter() - started
            import_seconds = sum(p.seconds for u in report.units for p in u.phases if p.name == "import")
            # the largest unit: what a unit's restore costs where it matters
            one_unit = max(manifest.units, key=lambda entry: entry.chunks).unit if manifest.units else None
            started = time.perf_counter()
            if one_unit is not None:
                await runtime.handlers.restore_snapshot(manifest.snapshot_id, unit=one_unit, actor="bench")
            one_unit_seconds = time.perf_counter() - started
        finally:
            await runtime.stop()
    finally:
        await nats_client.drain()
    return {
        "snapshot_seconds": snapshot_seconds,
        "snapshot_bytes": float(manifest.size_bytes),
        "restore_seconds": restore_seconds,
        "restore_import_seconds": import_seconds,
        "restore_one_unit_seconds": one_unit_seconds,
    }


def bench_snapshots(
    *,
    units: int = 10,
    documents_per_unit: int = 100,
    articles_per_document: int = 100,
    embedder: str = "none",
    load: str = LOAD_PIPELINE,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the benchmark on a fresh stack; returns the measurements (see the module doc)."""
    owned = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="trolyao-snapshot-bench-")) if data_dir is None else data_dir
    stack = Stack(
        data_dir=root,
        ports=StackPorts.free(),
        api_key="tly_bench_" + secrets.token_urlsafe(24),
        extra_env={
            "TROLYAO_RETRIEVAL_EMBEDDER": embedder,
            "TROLYAO_OPS_SNAPSHOT_SCHEDULE_SECONDS": "0",
            "TROLYAO_OPS_UNITS_FILE": str(root / "no-seeded-units.yaml"),
            # a benchmark measures capacity, not the per-credential limit
            "TROLYAO_GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "TROLYAO_GATEWAY_RATE_LIMIT_BURST": "100000",
        },
    )
    unit_ids = [f"bench-{index:02d}" for index in range(units)]
    try:
        stack.start()
        loader = _load_direct if load == LOAD_DIRECT else _load
        rebuild_seconds = loader(stack, unit_ids, documents_per_unit, articles_per_document)
        chunks_before = unit_chunk_counts(stack, unit_ids)
        timings = asyncio.run(snapshot_and_restore(stack, lambda: wipe_indexes(stack)))
        chunks_after = unit_chunk_counts(stack, unit_ids)
        recovery = measure_recovery(stack, {unit: synthetic_question(i) for i, unit in enumerate(unit_ids)})
        chunks_recovered = unit_chunk_counts(stack, unit_ids)
    finally:
        stack.stop()
    if owned:  # kept when the run failed, for its logs
        shutil.rmtree(root, ignore_errors=True)
    chunks = sum(chunks_before.values())
    return {
        "units": units,
        "documents": units * documents_per_unit,
        "chunks": chunks,
        "embedder": embedder,
        "rebuild_path": "retrieval IndexDocument (no parsing)"
        if load == LOAD_DIRECT
        else "gateway → ingest → retrieval",
        "restored_exactly": chunks_after == chunks_before,
        "rebuild_from_originals_seconds": round(rebuild_seconds, 2),
        "rebuild_chunks_per_second": round(chunks / rebuild_seconds, 1) if rebuild_seconds else 0.0,
        "snapshot_seconds": round(timings["snapshot_seconds"], 2),
        "snapshot_chunks_per_second": round(chunks / timings["snapshot_seconds"], 1),
        "snapshot_megabytes": round(timings["snapshot_bytes"] / 1_000_000, 2),
        "restore_seconds": round(timings["restore_seconds"], 2),
        "restore_chunks_per_second": round(chunks / timings["restore_seconds"], 1),
        "restore_import_seconds": round(timings["restore_import_seconds"], 2),
        "rebuild_to_restore_ratio": round(rebuild_seconds / timings["restore_seconds"], 1),
        "restore_one_unit_seconds": round(timings["restore_one_unit_seconds"], 2),
        **recovery,
        "recovered_exactly": chunks_recovered == chunks_before,
    }


def render_restore(result: dict[str, Any]) -> str:
    """The quick restore bench (`trolyao bench --only restore`) as a few lines."""
    r = result
    return "\n".join(
        [
            f"{r['units']} units, {r['documents']:,} documents, {r['chunks']:,} chunks"
            f" (rebuild path: {r['rebuild_path']}, embedder {r['embedder']})",
            f"  rebuild {r['rebuild_from_originals_seconds']} s"
            f" | snapshot {r['snapshot_seconds']} s ({r['snapshot_megabytes']} MB)"
            f" | restore all {r['restore_seconds']} s (import {r['restore_import_seconds']} s),"
            f" restore ÷ rebuild {r['rebuild_to_restore_ratio']}×"
            f" | restore one unit {r['restore_one_unit_seconds']} s"
            f" | every chunk back: {r['restored_exactly']}",
            f"  retrieval's data lost → every unit answering again: {r['recovery_seconds']} s"
            f" (restart {r['recovery_restart_seconds']} s,"
            f" recover {r['recovery_restore_seconds']} s for {r['recovery_units']} units,"
            f" first answers {r['recovery_first_answers_seconds']} s);"
            f" answers as before: {r['recovery_answers_back']}, every chunk back: {r['recovered_exactly']}",
        ]
    )
