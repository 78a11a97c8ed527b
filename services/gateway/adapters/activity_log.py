"""Question and feedback records on JetStream: written after each answer, read back for reports.

Questions go to `questions.<unit>.<question_id>` (stream QUESTIONS) and feedback to
`feedback.<unit>.<question_id>` (stream FEEDBACK), as JSON. One subject per question lets feedback
check that the question exists in that unit (a last-message lookup) without scanning. Reports read
a time window with a short-lived ordered pull consumer that starts at the window's first second.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.gateway.domain.reports import FeedbackRecord, QuestionRecord, TimeWindow
from trolyao.logs import get_logger
from trolyao.messaging import (
    FEEDBACK_STREAM,
    QUESTIONS_STREAM,
    feedback_filters,
    feedback_subject,
    question_filters,
    question_subject,
)

log = get_logger("gateway")

FETCH_BATCH = 512
FETCH_TIMEOUT_SECONDS = 2.0
CONSUMER_INACTIVE_SECONDS = 30.0
MAX_RECORDS_PER_REPORT = 200_000

Record = TypeVar("Record")


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """What is recorded about one answered (or abstained) question."""

    question_id: str
    unit: str
    question: str
    answered: bool
    confidence: float
    answer_source: str
    first_citation: str
    asked_at: str
    subject: str
    latency_ms: float
    conversation_id: str = ""


class ActivityLog:
    """Publishes question and feedback records, and reads them back for a time window."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def record_question(self, record: AskedQuestion) -> None:
        """Publish one question record (the caller decides what a failure means)."""
        payload = json.dumps(_as_dict(record), ensure_ascii=False).encode()
        await self._js().publish(
            question_subject(record.unit, record.question_id),
            payload,
            headers={"Nats-Msg-Id": "q-" + record.question_id},
        )

    async def find_question(self, unit: str, question_id: str) -> QuestionRecord | None:
        """The unit's question with this id, or None (ids of other units are never found here)."""
        try:
            message = await self._js().get_last_msg(QUESTIONS_STREAM, question_subject(unit, question_id))
        except NotFoundError:
            return None
        return _question(json.loads(message.data or b"{}"))

    async def record_feedback(
        self, *, unit: str, question_id: str, helpful: bool, comment: str, subject: str, submitted_at: str
    ) -> None:
        """Publish one verdict; the latest verdict on a question is the one reports count."""
        record = {
            "question_id": question_id,
            "unit": unit,
            "helpful": helpful,
            "comment": comment,
            "subject": subject,
            "submitted_at": submitted_at,
        }
        await self._js().publish(
            feedback_subject(unit, question_id), json.dumps(record, ensure_ascii=False).encode()
        )

    async def questions(self, window: TimeWindow, unit: str | None = None) -> list[QuestionRecord]:
        """Question records of one unit (or every unit) asked inside the window."""
        records = await self._read(QUESTIONS_STREAM, question_filters(unit), window, _question)
        return [r for r in records if window.contains(r.asked_at)]

    async def feedback(self, window: TimeWindow, unit: str | None = None) -> list[FeedbackRecord]:
        """Feedback records given from the window's start on (a verdict may come after the question)."""
        open_ended = TimeWindow(since=window.since, until=datetime.max.replace(tzinfo=UTC))
        return await self._read(FEEDBACK_STREAM, feedback_filters(unit), open_ended, _feedback)

    async def _read(
        self,
        stream: str,
        filters: list[str],
        window: TimeWindow,
        parse: Callable[[dict[str, Any]], Record | None],
    ) -> list[Record]:
        js = self._js()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=window.since,
            ack_policy=AckPolicy.NONE,
            filter_subjects=filters,
            inactive_threshold=CONSUMER_INACTIVE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        # pull_subscribe names the ephemeral consumer in `config.name`, which lets us delete it after.
        subscription = await js.pull_subscribe(filters[0], stream=stream, config=config)
        records: list[Record] = []
        try:
            info = await subscription.consumer_info()
            pending = int(info.num_pending or 0)
            while pending > 0 and len(records) < MAX_RECORDS_PER_REPORT:
                messages = await subscription.fetch(
                    batch=min(FETCH_BATCH, pending), timeout=FETCH_TIMEOUT_SECONDS
                )
                for message in messages:
                    pending = int(message.metadata.num_pending)
                    if message.metadata.timestamp >= window.until:
                        pending = 0
                        break
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        parsed = parse(json.loads(message.data))
                        if parsed is not None:
                            records.append(parsed)
                if not messages:
                    break
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, config.name or "")
        if len(records) >= MAX_RECORDS_PER_REPORT:
            log.warning("report_records_truncated", stream=stream, limit=MAX_RECORDS_PER_REPORT)
        return records


def _as_dict(record: AskedQuestion) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _parse_time(value: object) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _question(raw: dict[str, Any]) -> QuestionRecord | None:
    if not raw.get("question_id") or not raw.get("unit"):
        return None
    return QuestionRecord(
        question_id=str(raw["question_id"]),
        unit=str(raw["unit"]),
        question=str(raw.get("question", "")),
        answered=bool(raw.get("answered", False)),
        asked_at=_parse_time(raw["asked_at"]),
        confidence=float(raw.get("confidence", 0.0)),
        answer_source=str(raw.get("answer_source", "")),
    )


def _feedback(raw: dict[str, Any]) -> FeedbackRecord | None:
    if not raw.get("question_id") or not raw.get("unit"):
        return None
    return FeedbackRecord(
        question_id=str(raw["question_id"]),
        unit=str(raw["unit"]),
        helpful=bool(raw["helpful"]),
        submitted_at=_parse_time(raw["submitted_at"]),
        comment=str(raw.get("comment", "")),
    )


__all__ = ["ActivityLog", "AskedQuestion"]
