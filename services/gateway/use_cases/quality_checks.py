"""Use cases of a unit's test questions and test runs: "prove the 90% per unit".

Test questions are kept per unit and every change is audited. A run asks each question through the
answer path citizens use (retrieval's Ask with the unit's own threshold, not recorded as a citizen's
question), judges every answer, compares with the unit's previous run and publishes regressions on
`quality.<unit>.regression`. Runs start on demand, on a schedule, and after the unit's knowledge
changes: ingest's outcome events mark the unit's changes pending, and a scheduler in every gateway
replica claims a unit's due changes by compare-and-set, so one replica runs them, once per burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from google.protobuf import json_format

from services.gateway.adapters.backends import Backends
from services.gateway.adapters.quality_stores import (
    NatsRunTriggers,
    NatsTestQuestionStore,
    NatsTestRunStore,
    new_run_id,
)
from services.gateway.adapters.question_sheets import UnreadableFile, spreadsheet_rows
from services.gateway.domain.authorization import Principal
from services.gateway.domain.model import Answer
from services.gateway.domain.problems import INVALID_REQUEST, ApiProblem, ProblemKind
from services.gateway.domain.quality import (
    AssistantReply,
    CitedSource,
    InvalidTestQuestion,
    KnowledgeChange,
    PendingChanges,
    QuestionResult,
    Regression,
    RunStatus,
    RunTrigger,
    TestQuestion,
    TestQuestionStore,
    TestRun,
    count_results,
    find_regressions,
    judge,
    validate_test_question,
)
from services.gateway.domain.quality_sheet import RowProblem, UnreadableSheet, questions_from_rows
from services.gateway.settings import GatewaySettings
from trolyao.docstatus import list_statuses
from trolyao.logs import get_logger
from trolyao.messaging import DOC_STATUS_BUCKET, SCHEMA_VERSION, regression_subject
from trolyao.v1 import events_pb2

log = get_logger("gateway")

TEST_QUESTION_NOT_FOUND = ProblemKind(
    "test_question_not_found", 404, "Không tìm thấy câu hỏi kiểm tra của đơn vị."
)
TEST_RUN_NOT_FOUND = ProblemKind("test_run_not_found", 404, "Không tìm thấy lượt kiểm tra của đơn vị.")
NO_TEST_QUESTIONS = ProblemKind(
    "no_test_questions", 409, "Đơn vị chưa có câu hỏi kiểm tra nào; hãy thêm trước khi chạy kiểm tra."
)

QUESTION_SAVED_ACTION = "unit.test_question_saved"
QUESTION_DELETED_ACTION = "unit.test_question_deleted"
QUESTIONS_IMPORTED_ACTION = "unit.test_questions_imported"
RUN_STARTED_ACTION = "unit.test_run_started"
SPOT_CHECK_ACTION = "unit.spot_check_run"

KNOWLEDGE_CHANGED_OUTCOMES = frozenset({"indexed", "deleted"})
ASK_CONCURRENCY = 4
MAX_CHANGES_PER_RUN = 100
MAX_STORED_ANSWER_CHARS = 2000
RUNS_KEPT_PER_UNIT = 200
SECONDS_PER_HOUR = 3600.0
INTERRUPTED_REASON = "Lượt kiểm tra bị gián đoạn vì gateway dừng giữa chừng; hãy chạy lại."

AuditRecorder = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What an import kept (created or replaced) and which rows it left out, and why."""

    created: int
    updated: int
    problems: tuple[RowProblem, ...]


@dataclass(frozen=True, slots=True)
class TestedRate:
    """A unit's tested figures for the reports (None where there is nothing to show)."""

    test_questions: int
    tested_correct_rate: float | None
    last_test_run_at: str | None
    last_test_run_id: str | None
    tested_answerable: int | None = None  # the rate's denominator: a sample when it is small


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _judged(item: TestQuestion, answer: Answer) -> QuestionResult:
    """The verdict on the whole answer (its length counts); the run keeps a bounded copy of it."""
    reply = AssistantReply(
        answered=answer.answered,
        text=answer.text,
        confidence=answer.confidence,
        citations=tuple(
            CitedSource(document_id=c.document_id, title=c.title, path=c.path) for c in answer.citations
        ),
    )
    result = judge(item, reply)
    return replace(result, answer=result.answer[:MAX_STORED_ANSWER_CHARS])


class QualityChecks:
    """Test questions, runs and their triggers; one per gateway, wired by `create_app`."""

    def __init__(
        self,
        *,
        settings: GatewaySettings,
        backends: Backends,
        audit: AuditRecorder,
        questions: TestQuestionStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self._audit = audit
        self.questions: TestQuestionStore = questions or NatsTestQuestionStore(lambda: backends.js)
        self.runs = NatsTestRunStore(lambda: backends.js)
        self.triggers = NatsRunTriggers(lambda: backends.js)
        self._clock = clock
        self.claimant = uuid.uuid4().hex
        self._tasks: set[asyncio.Task[TestRun]] = set()

    # ------------------------------------------------------------------ test questions

    async def list_questions(self, unit: str) -> list[TestQuestion]:
        """Every test question of the unit, by id."""
        return await self.questions.in_unit(unit)

    async def get_question(self, unit: str, question_id: str) -> TestQuestion:
        """The question, or ApiProblem(test_question_not_found)."""
        item = await self.questions.get(unit, question_id)
        if item is None:
            raise ApiProblem(TEST_QUESTION_NOT_FOUND)
        return item

    async def put_question(
        self, principal: Principal, unit: str, item: TestQuestion, *, client_address: str
    ) -> tuple[TestQuestion, bool]:
        """Create or replace one question (audited); True when it is new."""
        stamp = _now_iso()
        try:
            item = validate_test_question(replace(item, created_at=stamp, updated_at=stamp))
        except InvalidTestQuestion as error:
            raise ApiProblem(INVALID_REQUEST, str(error)) from error
        (created,) = await self.questions.put_many(unit, [item])
        stored = await self.get_question(unit, item.question_id)
        await self._audit(
            principal,
            action=QUESTION_SAVED_ACTION,
            unit=unit,
            client_address=client_address,
            details={"question_id": item.question_id, "created": str(created).lower()},
        )
        return stored, created

    async def delete_question(
        self, principal: Principal, unit: str, question_id: str, *, client_address: str
    ) -> None:
        """Forget one question (audited), or ApiProblem(test_question_not_found)."""
        if not await self.questions.delete(unit, question_id):
            raise ApiProblem(TEST_QUESTION_NOT_FOUND)
        await self._audit(
            principal,
            action=QUESTION_DELETED_ACTION,
            unit=unit,
            client_address=client_address,
            details={"question_id": question_id},
        )

    async def import_questions(
        self, principal: Principal, unit: str, data: bytes, *, filename: str, client_address: str
    ) -> ImportOutcome:
        """Keep every good row of the sheet in one write (audited); report the bad rows."""
        try:
            good, problems = questions_from_rows(spreadsheet_rows(data, filename=filename))
        except (UnreadableFile, UnreadableSheet) as error:
            raise ApiProblem(INVALID_REQUEST, str(error)) from error
        stamp = _now_iso()
        good = [replace(item, created_at=stamp, updated_at=stamp) for item in good]
        created = await self.questions.put_many(unit, good) if good else []
        outcome = ImportOutcome(
            created=sum(created), updated=len(created) - sum(created), problems=tuple(problems)
        )
        await self._audit(
            principal,
            action=QUESTIONS_IMPORTED_ACTION,
            unit=unit,
            client_address=client_address,
            details={
                "filename": filename,
                "created": str(outcome.created),
                "updated": str(outcome.updated),
                "rejected": str(len(problems)),
            },
        )
        return outcome

    # ------------------------------------------------------------------ runs

    async def start_run(
        self,
        unit: str,
        trigger: RunTrigger,
        *,
        principal: Principal | None = None,
        client_address: str = "",
    ) -> TestRun:
        """Record a new running run and carry it out in the background; returns the running run."""
        questions = await self.questions.in_unit(unit)
        if not questions:
            raise ApiProblem(NO_TEST_QUESTIONS)
        run = await self._new_run(unit, trigger, len(questions))
        if principal is not None:
            await self._audit(
                principal,
                action=RUN_STARTED_ACTION,
                unit=unit,
                client_address=client_address,
                details={"run_id": run.run_id, "trigger": trigger.value},
            )
        task = asyncio.create_task(self._carry_out(run, questions))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def run_now(self, unit: str, trigger: RunTrigger) -> TestRun | None:
        """Carry out a run of the unit's questions and wait for it (None: the unit has none)."""
        questions = await self.questions.in_unit(unit)
        if not questions:
            return None
        return await self._carry_out(await self._new_run(unit, trigger, len(questions)), questions)

    async def _new_run(self, unit: str, trigger: RunTrigger, question_count: int) -> TestRun:
        run = TestRun(
            run_id=new_run_id(self._clock()),
            unit=unit,
            trigger=trigger,
            status=RunStatus.RUNNING,
            started_at=_now_iso(),
            question_count=question_count,
        )
        await self.runs.put(run)
        return run

    async def _carry_out(self, run: TestRun, questions: Sequence[TestQuestion]) -> TestRun:
        try:
            done = await self._judge_all(run, questions)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.runs.put(
                    replace(
                        run,
                        status=RunStatus.FAILED,
                        finished_at=_now_iso(),
                        reason=INTERRUPTED_REASON,
                    )
                )
            raise
        except Exception as error:
            reason = (
                error.detail if isinstance(error, ApiProblem) else "Lỗi không mong muốn khi chạy kiểm tra."
            )
            log.warning("test_run_failed", unit=run.unit, run_id=run.run_id, error=type(error).__name__)
            failed = replace(run, status=RunStatus.FAILED, finished_at=_now_iso(), reason=reason)
            await self.runs.put(failed)
            return failed
        await self.runs.put(done)
        if done.regressions:
            await self._publish_regressions(done)
        await self._prune(run.unit)
        log.info(
            "test_run_done",
            unit=run.unit,
            run_id=run.run_id,
            trigger=run.trigger.value,
            questions=len(done.results),
            correct_rate=done.counts.correct_rate,
            regressions=len(done.regressions),
        )
        return done

    async def _ask_and_judge(self, unit: str, questions: Sequence[TestQuestion]) -> list[QuestionResult]:
        """Every question asked as a citizen would (the unit's threshold, no history), judged."""
        info = await self.backends.get_unit(unit)
        gate = asyncio.Semaphore(ASK_CONCURRENCY)

        async def ask(item: TestQuestion) -> QuestionResult:
            async with gate:
                answer = await self.backends.ask(unit, item.question, (), min_confidence=info.min_confidence)
            return _judged(item, answer)

        return list(await asyncio.gather(*(ask(item) for item in questions)))

    async def spot_check(
        self, principal: Principal, unit: str, questions: Sequence[TestQuestion], *, client_address: str
    ) -> list[QuestionResult]:
        """Judge questions of the caller's own against the unit, keeping nothing but the audit entry."""
        try:
            checked = [validate_test_question(item) for item in questions]
        except InvalidTestQuestion as error:
            raise ApiProblem(INVALID_REQUEST, str(error)) from error
        results = await self._ask_and_judge(unit, checked)
        counts = count_results(results)
        await self._audit(
            principal,
            action=SPOT_CHECK_ACTION,
            unit=unit,
            client_address=client_address,
            details={
                "questions": str(len(results)),
                "answerable": str(counts.answerable),
                "correct": str(counts.correct),
                "must_refuse_right": str(counts.must_refuse_right),
            },
        )
        return results

    async def _judge_all(self, run: TestRun, questions: Sequence[TestQuestion]) -> TestRun:
        results = await self._ask_and_judge(run.unit, questions)
        previous = await self._previous_run(run)
        changes: tuple[KnowledgeChange, ...] = ()
        regressions: list[Regression] = []
        if previous is not None:
            changes = await self._changes_between(run.unit, previous.started_at, run.started_at)
            regressions = find_regressions(
                previous.results, results, previous_run_id=previous.run_id, changes=changes
            )
        return replace(
            run,
            status=RunStatus.DONE,
            finished_at=_now_iso(),
            results=tuple(results),
            regressions=tuple(regressions),
            changes=changes,
            previous_run_id=previous.run_id if previous is not None else "",
        )

    async def _previous_run(self, run: TestRun) -> TestRun | None:
        earlier = [run_id for run_id in await self.runs.run_ids(run.unit) if run_id < run.run_id]
        return await self.runs.latest_done(run.unit, earlier)

    async def _changes_between(self, unit: str, since: str, until: str) -> tuple[KnowledgeChange, ...]:
        """The unit's documents indexed or deleted after `since` and up to `until` (ISO times)."""
        bucket = await self.backends.js.key_value(DOC_STATUS_BUCKET)
        changed = [
            KnowledgeChange(
                document_id=status.document_id,
                version=status.version,
                status=status.status,
                updated_at=status.updated_at,
            )
            for status in await list_statuses(bucket, unit)
            if status.status in KNOWLEDGE_CHANGED_OUTCOMES and since < status.updated_at <= until
        ]
        changed.sort(key=lambda change: change.updated_at, reverse=True)
        return tuple(changed[:MAX_CHANGES_PER_RUN])

    async def _publish_regressions(self, run: TestRun) -> None:
        event = events_pb2.TestRegressed(
            schema_version=SCHEMA_VERSION,
            event_id=str(uuid.uuid4()),
            unit=run.unit,
            run_id=run.run_id,
            previous_run_id=run.previous_run_id,
            trigger=run.trigger.value,
            occurred_at=_now_iso(),
            regressions=[
                events_pb2.RegressedQuestion(
                    question_id=item.question_id,
                    question=item.question,
                    previous_verdict=item.previous_verdict.value,
                    verdict=item.verdict.value,
                    reason=item.reason,
                    changes=[
                        events_pb2.KnowledgeChange(
                            document_id=c.document_id,
                            version=c.version,
                            status=c.status,
                            updated_at=c.updated_at,
                        )
                        for c in item.changes
                    ],
                )
                for item in run.regressions
            ],
        )
        rate = run.counts.correct_rate
        if rate is not None:
            event.correct_rate = rate
        try:
            await self.backends.js.publish(
                regression_subject(run.unit),
                json_format.MessageToJson(event).encode(),
                headers={"Nats-Msg-Id": event.event_id},
            )
        except Exception as error:  # the run is recorded; the event is what is lost, loudly
            log.error("regression_event_failed", unit=run.unit, run_id=run.run_id, error=type(error).__name__)

    async def _prune(self, unit: str) -> None:
        for run_id in (await self.runs.run_ids(unit))[RUNS_KEPT_PER_UNIT:]:
            await self.runs.delete(unit, run_id)

    async def get_run(self, unit: str, run_id: str) -> TestRun:
        """The run, or ApiProblem(test_run_not_found)."""
        run = await self.runs.get(unit, run_id)
        if run is None:
            raise ApiProblem(TEST_RUN_NOT_FOUND)
        return self._settled(run)

    async def list_runs(self, unit: str, *, offset: int, limit: int) -> tuple[int, list[TestRun]]:
        """(how many runs the unit has, one page of them, newest first)."""
        run_ids = await self.runs.run_ids(unit)
        page = [await self.runs.get(unit, run_id) for run_id in run_ids[offset : offset + limit]]
        return len(run_ids), [self._settled(run) for run in page if run is not None]

    def _settled(self, run: TestRun) -> TestRun:
        """A run still `running` long after any run could take is one whose gateway stopped."""
        if run.status is not RunStatus.RUNNING:
            return run
        started = datetime.fromisoformat(run.started_at).timestamp()
        if self._clock() - started <= self.settings.test_run_lease_seconds:
            return run
        return replace(run, status=RunStatus.FAILED, reason=INTERRUPTED_REASON)

    async def tested_rates(self, units: Sequence[str]) -> dict[str, TestedRate]:
        """Each unit's test-question count and its last finished run's correct rate, for the reports.

        A unit without test questions has no rate, whatever its old runs said. One unit is read
        alone; many are read in one pass over each bucket's keys."""
        if len(units) == 1:
            counts = {units[0]: len(await self.questions.in_unit(units[0]))}
            run_ids = {units[0]: await self.runs.run_ids(units[0])}
        else:
            counts, run_ids = await self.questions.counts(), await self.runs.latest_ids()
        rates: dict[str, TestedRate] = {}
        for unit in units:
            count = counts.get(unit, 0)
            last = await self.runs.latest_done(unit, run_ids.get(unit, [])) if count else None
            rates[unit] = TestedRate(
                test_questions=count,
                tested_correct_rate=last.counts.correct_rate if last is not None else None,
                last_test_run_at=(last.finished_at or None) if last is not None else None,
                last_test_run_id=last.run_id if last is not None else None,
                tested_answerable=last.counts.answerable if last is not None else None,
            )
        return rates

    async def forget_unit(self, unit: str) -> None:
        """Remove every test question, run and pending trigger of the unit (unit deletion)."""
        await self.questions.delete_unit(unit)
        await self.runs.delete_unit(unit)
        await self.triggers.delete_unit(unit)

    # ------------------------------------------------------------------ automatic runs

    async def knowledge_changed(self, unit: str, outcome: str) -> bool:
        """Note an ingest outcome; True when it changed the unit's knowledge (a run will follow)."""
        if outcome not in KNOWLEDGE_CHANGED_OUTCOMES:
            return False
        await self.triggers.record_change(unit, self._clock())
        return True

    async def schedule_due_units(self) -> list[str]:
        """Mark every unit whose last run is older than the schedule as pending a scheduled run."""
        hours = self.settings.test_run_schedule_hours
        if hours <= 0:
            return []
        now = self._clock()
        run_ids = await self.runs.latest_ids()
        due = []
        for unit in await self.questions.counts():
            newest = run_ids.get(unit, [])
            started = int(newest[0].partition("-")[0]) / 1000 if newest else 0.0
            if now - started >= hours * SECONDS_PER_HOUR:
                await self.triggers.record_change(unit, now, RunTrigger.SCHEDULE)
                due.append(unit)
        return due

    async def run_due_changes(self) -> list[TestRun]:
        """Claim and run every unit whose pending changes are due (the runs this replica won)."""
        settings = self.settings
        done: list[TestRun] = []
        for unit in await self.triggers.pending_units():
            claimed = await self.triggers.claim(
                unit,
                claimant=self.claimant,
                now=self._clock(),
                lease_seconds=settings.test_run_lease_seconds,
                quiet_seconds=settings.test_run_quiet_seconds,
                max_wait_seconds=settings.test_run_max_wait_seconds,
            )
            if claimed is None:
                continue
            run = await self._run_claimed(claimed)
            if run is not None:
                done.append(run)
        return done

    async def _run_claimed(self, claimed: PendingChanges) -> TestRun | None:
        try:
            return await self.run_now(claimed.unit, RunTrigger(claimed.trigger))
        finally:
            await self.triggers.release(claimed)

    async def stop(self) -> None:
        """Cancel the runs still going (each is recorded as failed)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


__all__ = [
    "NO_TEST_QUESTIONS",
    "TEST_QUESTION_NOT_FOUND",
    "TEST_RUN_NOT_FOUND",
    "ImportOutcome",
    "QualityChecks",
    "TestedRate",
]
