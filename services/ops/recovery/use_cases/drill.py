"""Recovery drill: snapshot, damage, restore, replay, and compare answers, timing each phase.

Run beside the live stack with the stack's environment (TROLYAO_DATA_DIR, TROLYAO_NATS_URL,
TROLYAO_RETRIEVAL_ADDR or TROLYAO_RETRIEVAL_ADDRESSES and the TROLYAO_OPS_SNAPSHOT_* settings), on
the machine that holds the retrieval data. Phases:

1. `ask_before`: every question is asked of retrieval;
2. `snapshot`: a snapshot of the unit (trigger "drill");
3. `damage`: the unit's index files (its Qdrant Edge shard and its registry) are deleted, as an
   incident would; damage "none" skips this (e.g. against a Qdrant server);
4. `restore`: verify, import, replay the document events after the snapshot (audited as
   `drill:<user>`);
5. `ask_after`: the same questions; each answer must equal the one before (answered or not, the
   text, the cited documents and passages).

The command line is recovery/entrypoints/drill_cli.py.
"""

from __future__ import annotations

import asyncio
import getpass
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.ops.recovery.bootstrap import build_snapshot_runtime, build_storage
from services.ops.recovery.domain.snapshots import SnapshotTrigger
from services.ops.recovery.settings import SnapshotSettings
from trolyao.messaging import UNIT_ID_PATTERN, connect, ensure_layout
from trolyao.routing import RetrievalRoutes
from trolyao.v1 import retrieval_pb2, retrieval_pb2_grpc

ASK_TIMEOUT_SECONDS = 60.0
RETRIEVAL_DIR = "retrieval"
SHARDS_DIR = "shards"
REGISTRY_DIR = "registry"
DAMAGE_FILES = "files"
DAMAGE_NONE = "none"


@dataclass(frozen=True, slots=True)
class DrillPhase:
    name: str
    seconds: float


@dataclass
class DrillReport:
    unit: str
    snapshot_id: str = ""
    questions: int = 0
    matched: int = 0
    answered_before: int = 0
    answered_while_damaged: int = 0
    chunks_before: int = 0
    chunks_after: int = 0
    replayed_events: int = 0
    mismatches: list[str] = field(default_factory=list)
    phases: list[DrillPhase] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.matched == self.questions and not self.mismatches


def answer_fingerprint(reply: retrieval_pb2.AskResponse) -> tuple[Any, ...]:
    """What must not change across a restore: answered or not, the text, the cited passages."""
    return (
        reply.answered,
        reply.answer,
        reply.answer_source,
        tuple((citation.document_id, citation.chunk_ordinal) for citation in reply.citations),
    )


async def _ask_all(
    stub: retrieval_pb2_grpc.RetrievalServiceStub, unit: str, questions: Sequence[str]
) -> list[retrieval_pb2.AskResponse]:
    replies = []
    for question in questions:
        replies.append(
            await stub.Ask(
                retrieval_pb2.AskRequest(unit=unit, question=question), timeout=ASK_TIMEOUT_SECONDS
            )
        )
    return replies


async def _chunks(stub: retrieval_pb2_grpc.RetrievalServiceStub, unit: str) -> int:
    stats = await stub.GetUnitStats(retrieval_pb2.GetUnitStatsRequest(unit=unit), timeout=ASK_TIMEOUT_SECONDS)
    return int(stats.chunks)


def damage_unit_files(data_dir: Path, unit: str) -> list[Path]:
    """Delete the unit's shard and registry under the retrieval data dir; returns what was removed."""
    removed = []
    for path in (
        data_dir / RETRIEVAL_DIR / SHARDS_DIR / unit,
        data_dir / RETRIEVAL_DIR / REGISTRY_DIR / unit,
    ):
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed


async def run_drill(
    *,
    unit: str,
    questions: Sequence[str],
    settings: SnapshotSettings,
    damage: str = DAMAGE_FILES,
    keep_snapshot: bool = False,
    actor: str = "",
) -> DrillReport:
    """Run the drill against the stack `settings` point at; returns the report (prints nothing)."""
    if not UNIT_ID_PATTERN.fullmatch(unit):
        raise ValueError(f"invalid unit id {unit!r}")
    report = DrillReport(unit=unit, questions=len(questions))
    actor = actor or f"drill:{getpass.getuser()}"
    nats_client = await connect(settings.nats_url, name="ops-drill", credential=settings.nats_credential())
    routes = RetrievalRoutes(
        settings.retrieval_route(), service_token=settings.service_token.get_secret_value()
    )
    runtime = None
    try:
        js = nats_client.jetstream()
        await ensure_layout(js)
        runtime = await build_snapshot_runtime(nats_client, js, settings)
        handlers = runtime.handlers
        stub = routes.stub(unit)

        async def timed(name: str, work: Any) -> Any:
            started = time.perf_counter()
            result = await work
            report.phases.append(DrillPhase(name, round(time.perf_counter() - started, 4)))
            return result

        before = await timed("ask_before", _ask_all(stub, unit, questions))
        report.answered_before = sum(reply.answered for reply in before)
        report.chunks_before = await _chunks(stub, unit)
        manifest = await timed(
            "snapshot", handlers.take_snapshot(unit=unit, trigger=SnapshotTrigger.DRILL, actor=actor)
        )
        report.snapshot_id = manifest.snapshot_id
        if damage == DAMAGE_FILES:
            await timed("damage", asyncio.to_thread(damage_unit_files, settings.data_dir, unit))
            try:
                damaged = await _ask_all(stub, unit, questions)
                report.answered_while_damaged = sum(reply.answered for reply in damaged)
            except grpc.aio.AioRpcError:
                report.answered_while_damaged = 0
        restored = await timed(
            "restore", handlers.restore_snapshot(manifest.snapshot_id, unit=unit, actor=actor)
        )
        report.replayed_events = sum(item.replayed_events for item in restored.units)
        for item in restored.units:
            report.phases.extend(DrillPhase(f"restore.{phase.name}", phase.seconds) for phase in item.phases)
        after = await timed("ask_after", _ask_all(stub, unit, questions))
        report.chunks_after = await _chunks(stub, unit)
        for question, old, new in zip(questions, before, after, strict=True):
            if answer_fingerprint(old) == answer_fingerprint(new):
                report.matched += 1
            else:
                report.mismatches.append(question)
        if not keep_snapshot:
            await asyncio.to_thread(_delete_snapshot, settings, manifest.snapshot_id)
    finally:
        if runtime is not None:
            await runtime.stop()
        await routes.close()
        await nats_client.drain()
    return report


def _delete_snapshot(settings: SnapshotSettings, snapshot_id: str) -> None:
    build_storage(settings).delete(snapshot_id)
