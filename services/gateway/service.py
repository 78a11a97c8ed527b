"""The gateway's use cases: plain async methods over its adapters (no HTTP types here).

Routes authorise first (one `authorize` check), then call one of these. Every question is
recorded for the answer-rate reports; documents and FAQ entries become events in the one ingest
pipeline; conversations are remembered per (unit, credential).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from google.protobuf import json_format

from services.gateway.adapters.activity_log import ActivityLog, AskedQuestion
from services.gateway.adapters.backends import Backends
from services.gateway.adapters.faq_workbook import FAQ_MEDIA_TYPE, faq_filename, faq_workbook
from services.gateway.adapters.ingest_lanes import bulk_waiting, lane_events
from services.gateway.adapters.kv_stores import NatsConversationStore, NatsFaqStore
from services.gateway.adapters.unit_data import remove_unit_data
from services.gateway.domain.authorization import Principal
from services.gateway.domain.calibration import Calibration, rated_answers, suggest_threshold
from services.gateway.domain.conversations import (
    Conversation,
    ConversationStore,
    Turn,
    conversation_key,
)
from services.gateway.domain.faq import FaqEntry, FaqStore, faq_document_id
from services.gateway.domain.ingest_queue import bulk_quota_text, bulk_retry_after
from services.gateway.domain.model import AnsweredQuestion, UnitInfo
from services.gateway.domain.problems import (
    BULK_BACKLOG_FULL,
    DOCUMENT_NOT_FOUND,
    FAQ_NOT_FOUND,
    QUESTION_NOT_FOUND,
    STALE_VERSION,
    UNIT_NOT_FOUND,
    ApiProblem,
)
from services.gateway.domain.reports import (
    AnswerRateReport,
    KnowledgeGap,
    MinistryAnswerRates,
    TimeWindow,
    answer_rate_report,
    close_gaps_answered_by_faq,
    group_similar_questions,
    ministry_answer_rates,
    problem_questions,
)
from services.gateway.settings import GatewaySettings
from services.gateway.use_cases.quality_checks import QualityChecks
from trolyao.audit import GATEWAY_EVENT_SOURCE
from trolyao.docstatus import DocumentStatus, list_statuses, read_status, write_status
from trolyao.document_ids import original_object_name
from trolyao.ingestqueue import QueueReading, read_queue_reading
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    INGEST_QUEUES_BUCKET,
    ORIGINALS_BUCKET,
    SCHEMA_VERSION,
    IngestLane,
    bulk_upsert_subject,
    delete_subject,
    upsert_subject,
)
from trolyao.v1 import documents_pb2, events_pb2

log = get_logger("gateway")

# How long a unit (its existence and its answer threshold) is remembered: a threshold set through
# another gateway replica takes effect within this.
UNIT_CACHE_SECONDS = 5.0
THRESHOLD_CHANGED_ACTION = "unit.answer_threshold_changed"
UNIT_DELETED_ACTION = "unit.deleted"
MILLISECONDS = 1000.0
FAQ_ID_BYTES = 6
_METADATA_FIELDS = frozenset(documents_pb2.DocumentMetadata.DESCRIPTOR.fields_by_name)


def _threshold_text(value: float | None) -> str:
    return "default" if value is None else f"{value:g}"


def now_iso() -> str:
    """UTC now, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def now_version() -> int:
    """A version derived from the clock (microseconds), for uploads that do not name one."""
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class DocumentUpload:
    """A document to (re)index: its bytes and what is known about them."""

    data: bytes
    filename: str
    media_type: str
    title: str = ""
    version: int | None = None
    metadata: dict[str, str] | None = None


INDEX_MISSING_CODE = "index_missing"
INDEX_MISSING_TEXT = (
    "Chỉ mục tìm kiếm của đơn vị không còn văn bản nào (có thể đã mất dữ liệu); "
    "cần khôi phục từ bản sao lưu hoặc lập chỉ mục lại."
)
@dataclass(frozen=True, slots=True)
class UnitRemoval:
    """What deleting a unit removed."""

    unit: str
    snapshot_id: str
    documents: int
    chunks: int
    originals: int
    api_keys_deleted: int
    api_keys_narrowed: int


class Gateway:
    """Use cases behind the HTTP routes, wired once by `create_app`."""

    def __init__(
        self,
        *,
        settings: GatewaySettings,
        backends: Backends,
        conversations: ConversationStore | None = None,
        faq: FaqStore | None = None,
        activity: ActivityLog | None = None,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.conversations: ConversationStore = conversations or NatsConversationStore(lambda: backends.js)
        self.faq: FaqStore = faq or NatsFaqStore(lambda: backends.js)
        self.activity = activity or ActivityLog(lambda: backends.js)
        self.quality = QualityChecks(settings=settings, backends=backends, audit=self.audit)
        self._known_units: dict[str, tuple[float, UnitInfo]] = {}

    # ------------------------------------------------------------------ units

    async def ensure_unit(self, unit: str) -> UnitInfo:
        """The unit, or ApiProblem(unit_not_found) (remembered for a few seconds)."""
        known = self._known_units.get(unit)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        return self._remember(await self.backends.get_unit(unit))

    def _remember(self, info: UnitInfo) -> UnitInfo:
        self._known_units[info.unit_id] = (time.monotonic() + UNIT_CACHE_SECONDS, info)
        return info

    async def put_unit(self, unit: str, name: str) -> tuple[UnitInfo, bool]:
        """Create or rename a unit (its answer threshold is kept); True when it was created."""
        try:
            await self.backends.get_unit(unit)
            existed = True
        except ApiProblem as error:
            if error.kind is not UNIT_NOT_FOUND:
                raise
            existed = False
        return self._remember(await self.backends.put_unit(unit, name)), not existed

    async def remove_unit(
        self, principal: Principal, unit: str, *, snapshot_id: str, client_address: str
    ) -> UnitRemoval:
        """Delete the unit: its index (retrieval), then its statuses, FAQ entries, conversations,
        originals, events and question records (JetStream), then its record and API keys (ops),
        audited. The record goes last, so a failure half-way leaves a unit a retry can finish."""
        await self.ensure_unit(unit)
        documents, chunks = await self.backends.delete_unit_index(unit)
        removed = await remove_unit_data(self.backends.js, unit)
        await self.quality.forget_unit(unit)  # its test questions, runs and pending run trigger
        keys_deleted, keys_narrowed = await self.backends.delete_unit(unit)
        self._known_units.pop(unit, None)
        removal = UnitRemoval(
            unit=unit,
            snapshot_id=snapshot_id,
            documents=documents,
            chunks=chunks,
            originals=removed.originals,
            api_keys_deleted=keys_deleted,
            api_keys_narrowed=keys_narrowed,
        )
        await self.backends.record_audit_event(
            actor=principal.subject,
            action=UNIT_DELETED_ACTION,
            unit=unit,
            client_address=client_address,
            details={
                "snapshot_id": snapshot_id,
                "documents": str(documents),
                "originals": str(removed.originals),
                "api_keys_deleted": str(keys_deleted),
                "api_keys_narrowed": str(keys_narrowed),
            },
        )
        log.info("unit_deleted", unit=unit, documents=documents, chunks=chunks, snapshot_id=snapshot_id)
        return removal

    async def set_answer_threshold(
        self, principal: Principal, unit: str, min_confidence: float | None, *, client_address: str
    ) -> UnitInfo:
        """Set the unit's abstention threshold (None: the retrieval service's default), audited."""
        before = await self.ensure_unit(unit)
        info = self._remember(await self.backends.set_unit_threshold(unit, min_confidence))
        await self.audit(
            principal,
            action=THRESHOLD_CHANGED_ACTION,
            unit=unit,
            client_address=client_address,
            details={
                "previous": _threshold_text(before.min_confidence),
                "min_confidence": _threshold_text(info.min_confidence),
            },
        )
        log.info("answer_threshold_set", unit=unit, min_confidence=info.min_confidence)
        return info

    async def audit(
        self, principal: Principal, *, action: str, unit: str, client_address: str, details: dict[str, str]
    ) -> None:
        """Record a change made through the gateway in ops' audit trail (after the change is made)."""
        try:
            await self.backends.record_audit_event(
                actor=principal.subject,
                action=action,
                unit=unit,
                client_address=client_address,
                details=details,
            )
        except Exception as error:  # the change is made; a lost audit entry must at least be loud
            log.error("audit_record_failed", unit=unit, action=action, error=type(error).__name__)

    # ------------------------------------------------------------------ asking

    async def ask(
        self,
        principal: Principal,
        unit: str,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        conversation_id: str | None = None,
        remember: bool = True,
    ) -> AnsweredQuestion:
        """Answer from the unit's knowledge; with a conversation, earlier turns travel as history.

        Explicit `history` wins over the remembered one (clients that keep their own transcript).
        The unit's own answer threshold, if it has one, travels with the question.
        """
        info = await self.ensure_unit(unit)
        conversation: Conversation | None = None
        key = ""
        if remember:
            known = conversation_id is not None
            conversation_id = conversation_id or uuid.uuid4().hex
            key = conversation_key(unit, principal.subject, conversation_id)
            # A new conversation has nothing to load (and needs no NATS to be answered).
            remembered = await self.conversations.load(key) if known else None
            conversation = remembered or Conversation(conversation_id=conversation_id)
            if not history:
                history = conversation.history()
        started = time.perf_counter()
        answer = await self.backends.ask(unit, question, history, min_confidence=info.min_confidence)
        question_id = str(uuid.uuid4())
        await self._record(
            AskedQuestion(
                question_id=question_id,
                unit=unit,
                question=question,
                answered=answer.answered,
                confidence=answer.confidence,
                answer_source=answer.source,
                first_citation=answer.citations[0].document_id if answer.citations else "",
                asked_at=now_iso(),
                subject=principal.subject,
                latency_ms=round((time.perf_counter() - started) * MILLISECONDS, 1),
                conversation_id=conversation_id or "",
            )
        )
        if conversation is not None:
            turn = Turn(
                question=question, answer=answer.text, question_id=question_id, answered=answer.answered
            )
            try:
                await self.conversations.save(key, conversation.with_turn(turn))
            except Exception as error:  # the answer is still good; the next follow-up lacks context
                log.warning("conversation_save_failed", unit=unit, error=type(error).__name__)
        return AnsweredQuestion(
            unit=unit, question_id=question_id, conversation_id=conversation_id or "", answer=answer
        )

    async def _record(self, record: AskedQuestion) -> None:
        """Keep the question and its outcome for the reports (best effort: the answer matters more)."""
        try:
            await self.activity.record_question(record)
        except Exception as error:
            log.warning("question_record_failed", unit=record.unit, error=type(error).__name__)

    async def submit_feedback(
        self, principal: Principal, unit: str, question_id: str, *, helpful: bool, comment: str
    ) -> str:
        """Record a verdict on one of the unit's answers; returns when it was recorded."""
        if await self.activity.find_question(unit, question_id) is None:
            raise ApiProblem(QUESTION_NOT_FOUND)
        submitted_at = now_iso()
        await self.activity.record_feedback(
            unit=unit,
            question_id=question_id,
            helpful=helpful,
            comment=comment,
            subject=principal.subject,
            submitted_at=submitted_at,
        )
        return submitted_at

    # ------------------------------------------------------------------ documents

    async def upsert_document(
        self, unit: str, document_id: str, upload: DocumentUpload, *, bulk: bool = False
    ) -> DocumentStatus:
        """Keep the original, mark the document pending (with its place in its lane) and publish the
        upsert event — on the unit's bulk lane when `bulk`, past the unit's quota refused with 429.

        A version older than the one recorded is refused (409); re-sending the recorded version
        changes nothing and reports its current status.
        """
        js = self.backends.js
        version = upload.version or now_version()
        object_name = original_object_name(unit, document_id, version)
        event_id = str(uuid.uuid4())
        # The event is built before anything is written: a request it cannot carry (a version
        # beyond the wire type) leaves no `pending` status behind.
        event = events_pb2.DocumentUpserted(
            schema_version=SCHEMA_VERSION,
            event_id=event_id,
            unit=unit,
            document_id=document_id,
            version=version,
            content_hash="sha256:" + hashlib.sha256(upload.data).hexdigest(),
            occurred_at=now_iso(),
            source=GATEWAY_EVENT_SOURCE,
            object_name=object_name,
            filename=upload.filename,
            media_type=upload.media_type,
        )
        for key, value in (upload.metadata or {}).items():
            if key in _METADATA_FIELDS:
                setattr(event.metadata, key, str(value))
        if upload.title:
            event.metadata.title = upload.title
        lane = IngestLane.BULK if bulk else IngestLane.INTERACTIVE
        if bulk:
            await self._admit_bulk(unit)
        status = DocumentStatus(
            unit=unit,
            document_id=document_id,
            version=version,
            status="pending",
            title=upload.title,
            filename=upload.filename,
            queue_lane=lane.value,
            queue_ordinal=await lane_events(js, unit, lane) + 1,
        )
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        if not await write_status(bucket, status):
            current = await read_status(bucket, unit, document_id)
            if current is not None and current.version > version:
                raise ApiProblem(
                    STALE_VERSION,
                    f"Đã có phiên bản {current.version} của văn bản này; "
                    f"phiên bản {version} cũ hơn nên không được nhận.",
                )
            if current is not None:
                return current
        store = await js.object_store(ORIGINALS_BUCKET)
        await store.put(object_name, upload.data)
        subject = bulk_upsert_subject(unit) if bulk else upsert_subject(unit)
        await js.publish(
            subject, json_format.MessageToJson(event).encode(), headers={"Nats-Msg-Id": event_id}
        )
        log.info(
            "document_upsert_published", unit=unit, version=version, bytes=len(upload.data), lane=lane.value
        )
        return replace(status, updated_at=now_iso())

    async def _admit_bulk(self, unit: str) -> None:
        """Refuse a bulk upload (429, `Retry-After`) while the unit's bulk backlog is at its quota."""
        limit = self.settings.bulk_backlog_limit
        waiting = await bulk_waiting(self.backends.js, unit)
        if waiting < limit:
            return
        reading = await self.ingest_queue(unit)
        retry_after = bulk_retry_after(waiting, limit, reading.per_second)
        log.info("bulk_upload_refused", unit=unit, waiting=waiting, limit=limit, retry_after=retry_after)
        raise ApiProblem(
            BULK_BACKLOG_FULL,
            bulk_quota_text(waiting, limit, retry_after),
            headers={"Retry-After": str(retry_after)},
        )

    async def delete_document(self, unit: str, document_id: str) -> DocumentStatus:
        """Publish the delete event; the status says `pending` until ingest reports `deleted`."""
        js = self.backends.js
        bucket = await js.key_value(DOC_STATUS_BUCKET)
        current = await read_status(bucket, unit, document_id)
        if current is None or current.status == "deleted":
            raise ApiProblem(DOCUMENT_NOT_FOUND)
        version = max(now_version(), current.version + 1)
        pending = DocumentStatus(
            unit=unit,
            document_id=document_id,
            version=version,
            status="pending",
            title=current.title,
            filename=current.filename,
            queue_lane=IngestLane.INTERACTIVE.value,
            queue_ordinal=await lane_events(js, unit, IngestLane.INTERACTIVE) + 1,
        )
        # Pending first, so a GET right after the DELETE never shows the old `indexed`.
        await write_status(bucket, pending)
        event_id = str(uuid.uuid4())
        event = events_pb2.DocumentDeleted(
            schema_version=SCHEMA_VERSION,
            event_id=event_id,
            unit=unit,
            document_id=document_id,
            version=version,
            occurred_at=now_iso(),
            source=GATEWAY_EVENT_SOURCE,
        )
        await js.publish(
            delete_subject(unit), json_format.MessageToJson(event).encode(), headers={"Nats-Msg-Id": event_id}
        )
        return replace(pending, updated_at=now_iso())

    async def document_status(self, unit: str, document_id: str) -> DocumentStatus:
        """The recorded status, or ApiProblem(document_not_found)."""
        bucket = await self.backends.js.key_value(DOC_STATUS_BUCKET)
        status = await read_status(bucket, unit, document_id)
        if status is None:
            raise ApiProblem(DOCUMENT_NOT_FOUND)
        return (await self._checked_against_index(unit, [status]))[0]

    async def ingest_queue(self, unit: str) -> QueueReading:
        """The unit's changes waiting for ingest and its recent drain rate, as ingest last read them
        (every few seconds); an empty queue when ingest has none for the unit."""
        bucket = await self.backends.js.key_value(INGEST_QUEUES_BUCKET)
        return await read_queue_reading(bucket, unit) or QueueReading(unit=unit)

    async def list_documents(self, unit: str, *, include_deleted: bool = False) -> list[DocumentStatus]:
        """Every document of the unit with its status, by id."""
        bucket = await self.backends.js.key_value(DOC_STATUS_BUCKET)
        statuses = await self._checked_against_index(unit, await list_statuses(bucket, unit))
        return [status for status in statuses if include_deleted or status.status != "deleted"]

    async def _checked_against_index(self, unit: str, statuses: list[DocumentStatus]) -> list[DocumentStatus]:
        """`indexed` records say `failed` (`index_missing`) when the unit's index holds nothing: a
        lost or wiped index must not look healthy while every question abstains."""
        if not any(status.status == "indexed" for status in statuses):
            return statuses
        try:
            if await self.backends.unit_index_documents(unit) > 0:
                return statuses
        except ApiProblem:  # retrieval away: the record is all there is to say
            return statuses
        return [
            replace(status, status="failed", code=INDEX_MISSING_CODE, message=INDEX_MISSING_TEXT)
            if status.status == "indexed"
            else status
            for status in statuses
        ]

    # ------------------------------------------------------------------ FAQ

    async def put_faq(self, entry: FaqEntry) -> tuple[FaqEntry, DocumentStatus]:
        """Create or replace an FAQ entry and (re)index it as the document `faq-<id>`."""
        existing = await self.faq.get(entry.unit, entry.faq_id)
        stamp = now_iso()
        entry = replace(
            entry,
            version=now_version(),
            created_at=existing.created_at if existing is not None else stamp,
            updated_at=stamp,
        )
        status = await self.upsert_document(
            entry.unit,
            entry.document_id,
            DocumentUpload(
                data=faq_workbook(entry),
                filename=faq_filename(entry),
                media_type=FAQ_MEDIA_TYPE,
                title=entry.question,
                version=entry.version,
                metadata={"doc_type": "Hỏi đáp"},
            ),
        )
        await self.faq.put(entry)
        return entry, status

    async def new_faq_id(self, unit: str) -> str:
        """A fresh random FAQ id."""
        while True:
            faq_id = secrets.token_hex(FAQ_ID_BYTES)
            if await self.faq.get(unit, faq_id) is None:
                return faq_id

    async def get_faq(self, unit: str, faq_id: str) -> tuple[FaqEntry, DocumentStatus | None]:
        """The entry and its indexing status, or ApiProblem(faq_not_found)."""
        entry = await self.faq.get(unit, faq_id)
        if entry is None:
            raise ApiProblem(FAQ_NOT_FOUND)
        bucket = await self.backends.js.key_value(DOC_STATUS_BUCKET)
        return entry, await read_status(bucket, unit, faq_document_id(faq_id))

    async def list_faq(self, unit: str) -> list[tuple[FaqEntry, DocumentStatus | None]]:
        """Every entry of the unit with its indexing status."""
        bucket = await self.backends.js.key_value(DOC_STATUS_BUCKET)
        return [
            (entry, await read_status(bucket, unit, entry.document_id)) for entry in await self.faq.list(unit)
        ]

    async def delete_faq(self, unit: str, faq_id: str) -> DocumentStatus:
        """Forget the entry and remove its document from the index."""
        entry = await self.faq.get(unit, faq_id)
        if entry is None:
            raise ApiProblem(FAQ_NOT_FOUND)
        try:
            status = await self.delete_document(unit, entry.document_id)
        except ApiProblem as problem:
            if problem.kind is not DOCUMENT_NOT_FOUND:
                raise
            status = DocumentStatus(
                unit=unit, document_id=entry.document_id, version=entry.version, status="deleted"
            )
        await self.faq.delete(unit, faq_id)
        return status

    # ------------------------------------------------------------------ reports

    async def answer_rate(self, unit: str, window: TimeWindow) -> AnswerRateReport:
        """The unit's answer rate and daily trend over the window."""
        questions = await self.activity.questions(window, unit)
        feedback = await self.activity.feedback(window, unit)
        return answer_rate_report(unit, questions, feedback, window, target=self.settings.answer_rate_target)

    async def knowledge_gaps(self, unit: str, window: TimeWindow) -> list[KnowledgeGap]:
        """The unit's unanswered and poorly rated questions in the window, grouped by similarity,
        each closed by the FAQ entry that now answers it (if any)."""
        questions = await self.activity.questions(window, unit)
        feedback = await self.activity.feedback(window, unit)
        groups = group_similar_questions(problem_questions(questions, feedback))
        return close_gaps_answered_by_faq(groups, await self.faq.list(unit))

    async def calibration(
        self, unit: str, window: TimeWindow, *, target_wrong_rate: float
    ) -> tuple[UnitInfo, Calibration]:
        """The unit (with its threshold in force) and the threshold its rated answers suggest."""
        info = await self.backends.get_unit(unit)
        questions = await self.activity.questions(window, unit)
        feedback = await self.activity.feedback(window, unit)
        samples = rated_answers(questions, feedback)
        return info, suggest_threshold(samples, target_wrong_rate=target_wrong_rate)

    async def ministry_answer_rates(self, window: TimeWindow) -> MinistryAnswerRates:
        """Every unit's answer rate against the target, with its staff's ratings."""
        units = await self.backends.list_units()
        questions = await self.activity.questions(window)
        feedback = await self.activity.feedback(window)
        return ministry_answer_rates(
            [(u.unit_id, u.name) for u in units],
            questions,
            window,
            feedback=feedback,
            target=self.settings.answer_rate_target,
        )


__all__ = ["DocumentUpload", "Gateway", "now_iso", "now_version"]
