"""Automatic test runs against a real nats-server: ingest outcomes mark a unit's knowledge as
changed, bursts are debounced into few runs, and two gateway replicas never run the same changes
twice. The answer engine is replaced by a fake one here (the real one is in tests/gateway)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest
from nats.js.errors import NotFoundError

from services.gateway.domain import quality
from services.gateway.domain.model import Answer, Citation, UnitInfo
from services.gateway.entrypoints.knowledge_changes import QualityWorkers
from services.gateway.settings import GatewaySettings
from services.gateway.use_cases.quality_checks import QualityChecks
from tests.support import unique_unit
from trolyao.messaging import (
    STATUS_STREAM,
    TEST_RUN_TRIGGER_DURABLE,
    JetStreamLayout,
    connect,
    ensure_layout,
    status_subject,
)

pytestmark = pytest.mark.timeout(120)

QUIET_SECONDS = 10.0
MAX_WAIT_SECONDS = 120.0
DOCUMENTS = 200
SECONDS_BETWEEN_DOCUMENTS = 1.5
POLL_SECONDS = 2.0


class FakeEngine:
    """What Backends offers QualityChecks: NATS, the unit, and an answer that says `date`."""

    def __init__(self, js: object, date: str = "15/9/2024") -> None:
        self.js = js
        self.date = date
        self.asked = 0

    async def get_unit(self, unit: str) -> UnitInfo:
        return UnitInfo(unit_id=unit, name=unit, created_at="", updated_at="")

    async def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]],
        *,
        min_confidence: float | None = None,
    ) -> Answer:
        self.asked += 1
        return Answer(
            answered=True,
            text=f"Từ {self.date} sẽ tắt sóng 2G.",
            confidence=0.9,
            source="extractive",
            citations=(Citation(document_id="tb-2g", title="Thông báo", snippet=""),),
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _no_audit(*_: object, **__: object) -> None:
    return None


def _checks(engine: FakeEngine, clock: Clock, **settings: float) -> QualityChecks:
    return QualityChecks(
        settings=GatewaySettings(
            test_run_quiet_seconds=QUIET_SECONDS, test_run_max_wait_seconds=MAX_WAIT_SECONDS, **settings
        ),
        backends=engine,  # type: ignore[arg-type]
        audit=_no_audit,
        clock=clock,
    )


def test_a_bulk_import_on_two_replicas_triggers_a_few_runs_each_run_once(nats_server: str) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test-quality-triggers")
        js = client.jetstream()
        await ensure_layout(js, JetStreamLayout())
        clock = Clock()
        engine = FakeEngine(js)
        replicas = [_checks(engine, clock), _checks(engine, clock)]
        unit = unique_unit("bulk")
        await replicas[0].questions.put_many(
            unit, [quality.TestQuestion(question_id="q", question="Khi nào?", expected_answer="15/9/2024")]
        )
        claimed: list[int] = []
        original_release = replicas[0].triggers.release

        async def counting_release(pending: quality.PendingChanges) -> None:
            claimed.append(pending.count)
            await original_release(pending)

        for replica in replicas:
            replica.triggers.release = counting_release  # type: ignore[method-assign]

        runs: list[quality.TestRun] = []
        next_poll = clock.now
        for index in range(DOCUMENTS):
            # Each outcome reaches one replica (the shared durable consumer); both poll for due runs.
            assert await replicas[index % 2].knowledge_changed(unit, "indexed")
            clock.now += SECONDS_BETWEEN_DOCUMENTS
            while next_poll <= clock.now:
                for replica in replicas:
                    runs += await replica.run_due_changes()
                next_poll += POLL_SECONDS
        assert not await replicas[0].knowledge_changed(unit, "unchanged")
        clock.now += QUIET_SECONDS
        for replica in replicas:
            runs += await replica.run_due_changes()
        assert await replicas[1].run_due_changes() == []

        assert 1 <= len(runs) <= 4, [r.started_at for r in runs]
        assert sum(claimed) == DOCUMENTS, claimed
        assert all(
            r.trigger is quality.RunTrigger.CHANGE and r.status is quality.RunStatus.DONE for r in runs
        )
        assert engine.asked == len(runs)
        assert unit not in await replicas[0].triggers.pending_units()
        await client.drain()

    asyncio.run(scenario())


def test_racing_claims_give_the_run_to_one_replica(nats_server: str) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test-quality-claims")
        js = client.jetstream()
        await ensure_layout(js, JetStreamLayout())
        clock = Clock()
        engine = FakeEngine(js)
        replicas = [_checks(engine, clock) for _ in range(4)]
        unit = unique_unit("claim")
        await replicas[0].triggers.record_change(unit, clock.now)
        clock.now += QUIET_SECONDS
        claims = await asyncio.gather(
            *(
                r.triggers.claim(
                    unit,
                    claimant=r.claimant,
                    now=clock.now,
                    lease_seconds=60,
                    quiet_seconds=QUIET_SECONDS,
                    max_wait_seconds=MAX_WAIT_SECONDS,
                )
                for r in replicas
            )
        )
        won = [c for c in claims if c is not None]
        assert len(won) == 1
        # A change arriving during the run is kept for the next one; the lease of a dead replica lapses.
        await replicas[1].triggers.record_change(unit, clock.now + 1)
        await replicas[0].triggers.release(won[0])
        (pending,) = [u for u in await replicas[0].triggers.pending_units() if u == unit]
        assert pending == unit
        clock.now += QUIET_SECONDS + 1
        lapsed = await replicas[2].triggers.claim(
            unit,
            claimant="dead",
            now=clock.now,
            lease_seconds=5,
            quiet_seconds=QUIET_SECONDS,
            max_wait_seconds=MAX_WAIT_SECONDS,
        )
        assert lapsed is not None and lapsed.count == 1
        taken_over = await replicas[3].triggers.claim(
            unit,
            claimant=replicas[3].claimant,
            now=clock.now + 6,
            lease_seconds=60,
            quiet_seconds=QUIET_SECONDS,
            max_wait_seconds=MAX_WAIT_SECONDS,
        )
        assert taken_over is not None and taken_over.claimed_by == replicas[3].claimant
        await client.drain()

    asyncio.run(scenario())


def test_outcome_events_on_nats_lead_to_a_change_run_with_a_regression_event(nats_server: str) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test-quality-workers")
        js = client.jetstream()
        await ensure_layout(js, JetStreamLayout())
        engine = FakeEngine(js)
        checks = QualityChecks(
            settings=GatewaySettings(
                test_run_quiet_seconds=0.2, test_run_poll_seconds=0.1, test_run_schedule_hours=0
            ),
            backends=engine,  # type: ignore[arg-type]
            audit=_no_audit,
        )
        unit = unique_unit("su-kien")
        await checks.questions.put_many(
            unit, [quality.TestQuestion(question_id="q", question="Khi nào?", expected_answer="15/9/2024")]
        )
        first = await checks.run_now(unit, quality.RunTrigger.MANUAL)
        assert first is not None and first.counts.correct == 1
        engine.date = "1/10/2024"
        regressions = await client.subscribe(f"quality.{unit}.regression")
        workers = QualityWorkers(checks)
        workers.start()
        try:
            for _ in range(100):  # the consumer starts at new events: wait until it exists
                try:
                    await js.consumer_info(STATUS_STREAM, TEST_RUN_TRIGGER_DURABLE)
                    break
                except NotFoundError:
                    await asyncio.sleep(0.1)
            # Junk and another unit's name in the body are ignored; a failure changes nothing.
            await js.publish(status_subject(unit), b"not json")
            await js.publish(
                status_subject(unit), json.dumps({"unit": "khac", "outcome": "indexed"}).encode()
            )
            await js.publish(status_subject(unit), json.dumps({"unit": unit, "code": "parse_error"}).encode())
            event = {
                "unit": unit,
                "documentId": "tb-2g",
                "version": "2",
                "outcome": "indexed",
                "eventId": str(uuid.uuid4()),
            }
            await js.publish(status_subject(unit), json.dumps(event).encode())
            message = await regressions.next_msg(timeout=30)
        finally:
            await workers.stop()
        published = json.loads(message.data)
        assert published["unit"] == unit and published["previousRunId"] == first.run_id
        assert (
            published["regressions"][0]["questionId"] == "q"
            and published["regressions"][0]["verdict"] == "wrong"
        )
        run_ids = await checks.runs.run_ids(unit)
        latest = await checks.runs.get(unit, run_ids[0])
        assert latest is not None and latest.trigger is quality.RunTrigger.CHANGE and len(run_ids) == 2
        await client.drain()

    asyncio.run(scenario())


def test_forgetting_a_unit_removes_its_questions_runs_and_pending_changes_and_a_stalled_run_reads_failed(
    nats_server: str,
) -> None:
    async def scenario() -> None:
        client = await connect(nats_server, name="test-quality-forget")
        js = client.jetstream()
        await ensure_layout(js, JetStreamLayout())
        clock = Clock()
        checks = _checks(FakeEngine(js), clock)
        unit, other = unique_unit("quen"), unique_unit("giu")
        question = quality.TestQuestion(question_id="q", question="Khi nào?", expected_answer="15/9/2024")
        for name in (unit, other):
            await checks.questions.put_many(name, [question])
            assert await checks.run_now(name, quality.RunTrigger.MANUAL) is not None
            await checks.triggers.record_change(name, clock.now)
        stalled = quality.TestRun(
            run_id="0000000000001-abcdef",
            unit=unit,
            trigger=quality.RunTrigger.MANUAL,
            status=quality.RunStatus.RUNNING,
            started_at="2027-01-15T08:00:00.000+00:00",
        )
        await checks.runs.put(stalled)
        clock.now = 1_800_000_000.0 + 3600  # an hour after it started: longer than any lease
        shown = await checks.get_run(unit, stalled.run_id)
        assert shown.status is quality.RunStatus.FAILED and "gián đoạn" in shown.reason

        await checks.forget_unit(unit)
        assert await checks.questions.in_unit(unit) == []
        assert await checks.runs.run_ids(unit) == []
        assert unit not in await checks.triggers.pending_units()
        assert [q.question_id for q in await checks.questions.in_unit(other)] == ["q"]
        assert len(await checks.runs.run_ids(other)) == 1 and other in await checks.triggers.pending_units()
        await client.drain()

    asyncio.run(scenario())
