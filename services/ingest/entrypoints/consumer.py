"""Ingest's JetStream consumer: every unit's lanes, served fairly; events handed to the handlers,
acked by policy.

Each unit has an interactive and a bulk lane (`entrypoints/lanes.py`); a fetched event waits for a
slot of the `FairScheduler` (interactive first, round-robin across units, bounded per unit), so one
unit's import never holds back another unit's change. Within one document order is kept by the
handlers, not by delivery: retrieval never applies an older version over a newer one and status
writes are compare-and-set.

At-least-once: a crash before the ack means redelivery, and the handlers are idempotent. While a
message waits for its slot or is worked on, `in_progress()` keeps JetStream from redelivering it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.ingest.adapters.backlog_metrics import units_with_events
from services.ingest.adapters.retrieval_client import RetrievalRejected, RetrievalUnavailable
from services.ingest.domain.events import (
    DeleteDocument,
    DocumentRef,
    PoisonMessage,
    UpsertDocument,
)
from services.ingest.domain.fairness import FairScheduler
from services.ingest.domain.model import IngestError
from services.ingest.entrypoints.event_decoding import decode_event
from services.ingest.entrypoints.lanes import legacy_start_sequence, retire_legacy, subscribe_lane
from services.ingest.service import IngestHandlers
from services.ingest.settings import IngestSettings
from trolyao.logs import get_logger
from trolyao.messaging import IngestLane
from trolyao.telemetry.event_tracing import consume_span, observe_event_applied

log = get_logger("ingest")

FETCH_TIMEOUT_SECONDS = 2.0
HEARTBEATS_PER_ACK_WAIT = 3
SETTLE_RETRY_SECONDS = 5.0
RETRIES_EXHAUSTED = "Đã thử lại nhiều lần nhưng không xử lý được văn bản; vui lòng gửi lại sau."
INDEX_REJECTED = "Dịch vụ tìm kiếm từ chối dữ liệu của văn bản này."
INTERNAL_ERROR = "Lỗi nội bộ khi xử lý sự kiện này; sự kiện đã được chuyển sang hàng thư lỗi."
# NATS being briefly away is retried like an unavailable retrieval service; any other surprise is
# dead-lettered at once as `internal_error`.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    RetrievalUnavailable,
    IngestError,
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.NoRespondersError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.ServiceUnavailableError,
)


class DocumentEventConsumer:
    """Serves every unit's lanes: fetches from each, waits for a fair slot, works, acks by policy."""

    def __init__(self, *, js: JetStreamContext, handlers: IngestHandlers, settings: IngestSettings) -> None:
        self._js = js
        self._handlers = handlers
        self._settings = settings
        self._stopping = asyncio.Event()
        self.scheduler = FairScheduler(capacity=settings.batch_size, per_unit=settings.unit_in_flight)
        self._lanes: dict[tuple[str, IngestLane], asyncio.Task[None]] = {}
        self._working: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self._take_over()
        log.info("consumer_started", units=len(self._lanes))
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._settings.discovery_seconds)
            if not self._stopping.is_set():
                await self._discover(start_sequence=None)  # a unit seen from now on: all of it
        await self._wind_down()
        log.info("consumer_stopped")

    async def _take_over(self) -> None:
        """Open the lanes of every unit with events; carry over and retire the old `ingest` durable."""
        while not self._stopping.is_set():
            try:
                start = await legacy_start_sequence(self._js)
                await self._discover(start_sequence=start, raise_errors=True)
                if start is not None:
                    await retire_legacy(self._js)
                return
            except Exception as error:  # NATS not ready yet: try again
                log.warning("lanes_not_opened", error=type(error).__name__)
                await asyncio.sleep(self._settings.discovery_seconds)

    async def _discover(self, *, start_sequence: int | None, raise_errors: bool = False) -> None:
        try:
            units = await units_with_events(self._js)
        except Exception as error:
            if raise_errors:
                raise
            log.warning("discovery_failed", error=type(error).__name__)
            return
        for unit in sorted(units):
            for lane in IngestLane:
                serving = self._lanes.get((unit, lane))
                if serving is not None and not serving.done():  # a lane that died is opened again
                    continue
                try:
                    subscription = await subscribe_lane(
                        self._js, unit, lane, self._settings, start_sequence=start_sequence
                    )
                except Exception as error:
                    if raise_errors:
                        raise
                    log.warning("lane_not_opened", unit=unit, lane=lane.value, error=type(error).__name__)
                    continue
                serving = asyncio.create_task(self._serve(unit, lane, subscription))
                serving.add_done_callback(_report_lane_end)
                self._lanes[(unit, lane)] = serving

    async def _serve(
        self, unit: str, lane: IngestLane, subscription: JetStreamContext.PullSubscription
    ) -> None:
        """Fetch a unit's lane; each event waits its turn for a slot, then is worked on."""
        interactive = lane is IngestLane.INTERACTIVE
        interval = self._settings.ack_wait_seconds / HEARTBEATS_PER_ACK_WAIT
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(
                    self._settings.unit_in_flight, timeout=FETCH_TIMEOUT_SECONDS
                )
            except TimeoutError:
                continue
            except Exception as error:  # connection blips: the client reconnects by itself
                log.warning("fetch_failed", unit=unit, lane=lane.value, error=type(error).__name__)
                await asyncio.sleep(FETCH_TIMEOUT_SECONDS)
                continue
            for position, message in enumerate(messages):
                heartbeat = asyncio.create_task(_keep_in_progress(message, interval))
                try:
                    await self.scheduler.acquire(unit, interactive=interactive)
                except asyncio.CancelledError:  # stopping: hand back what was not started
                    for waiting in messages[position:]:
                        with contextlib.suppress(Exception):
                            await waiting.nak()
                    raise
                finally:
                    heartbeat.cancel()
                work = asyncio.create_task(self._work(message, unit, interactive=interactive))
                self._working.add(work)
                work.add_done_callback(self._working.discard)
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()

    async def _work(self, message: Msg, unit: str, *, interactive: bool) -> None:
        try:
            await self.process(message)
        finally:
            self.scheduler.release(unit, interactive=interactive)

    async def _wind_down(self) -> None:
        """Stop fetching (a lane waiting for a slot gives its events back), finish what was started."""
        lanes = list(self._lanes.values())
        still_running: set[asyncio.Task[None]] = set()
        if lanes:
            _done, still_running = await asyncio.wait(lanes, timeout=FETCH_TIMEOUT_SECONDS + 1)
        for task in still_running:
            task.cancel()
        await asyncio.gather(*still_running, return_exceptions=True)
        if self._working:
            await asyncio.gather(*list(self._working), return_exceptions=True)

    async def process(self, message: Msg) -> None:
        interval = self._settings.ack_wait_seconds / HEARTBEATS_PER_ACK_WAIT
        heartbeat = asyncio.create_task(_keep_in_progress(message, interval))
        try:
            with consume_span(message, consumer=_consumer_name(message)):  # continues the publisher's trace
                await self._process(message)
        except Exception as error:  # not even dead-lettered (NATS away?): let it come back later
            log.exception("event_settle_failed", error=type(error).__name__)
            with contextlib.suppress(Exception):
                await message.nak(delay=SETTLE_RETRY_SECONDS)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _process(self, message: Msg) -> None:
        metadata = message.metadata
        sequence = metadata.sequence.stream if metadata.sequence else 0
        deliveries = metadata.num_delivered or 1
        rejection = _Rejection(
            message=message, subject_unit=_subject_unit(message.subject), sequence=sequence
        )
        command: UpsertDocument | DeleteDocument | None = None
        try:
            command = decode_event(message.subject, message.data)
            handled = await self._handlers.handle(command, stream_sequence=sequence)
        except PoisonMessage as poison:
            document = poison.document or _document_of(command)
            await self._reject(rejection, poison.code, poison.message, document=document)
            return
        except RETRYABLE_ERRORS as error:
            if deliveries >= self._settings.max_deliver:
                await self._reject(
                    rejection, "retries_exhausted", RETRIES_EXHAUSTED, document=_document_of(command)
                )
                return
            delay = min(self._settings.max_backoff_seconds, 0.5 * 2 ** (deliveries - 1))
            log.warning(
                "event_retry", error=str(error), deliveries=deliveries, delay=delay, sequence=sequence
            )
            await message.nak(delay=delay)
            return
        except RetrievalRejected as error:
            await self._reject(
                rejection,
                "index_rejected",
                INDEX_REJECTED,
                letter_text=f"{INDEX_REJECTED} ({error})",
                document=_document_of(command),
            )
            return
        except Exception as error:  # a bug or a surprise must cost one event, never the consumer
            log.exception("event_internal_error", error=type(error).__name__, sequence=sequence)
            await self._reject(rejection, "internal_error", INTERNAL_ERROR, document=_document_of(command))
            return
        await message.ack_sync()
        observe_event_applied(message, unit=rejection.subject_unit, outcome=handled.outcome)

    async def _reject(
        self,
        rejection: _Rejection,
        code: str,
        text: str,
        *,
        letter_text: str = "",
        document: DocumentRef | None,
    ) -> None:
        """Dead-letter the event, mark its document failed (telling its unit), and never see it again."""
        message = rejection.message
        await self._handlers.dead_letter(
            rejection.subject_unit,
            message.subject,
            code,
            letter_text or text,
            message.data,
            rejection.sequence,
        )
        if document is not None:
            try:
                await self._handlers.record_failure(
                    document.unit, document.document_id, document.version, code, text
                )
            except Exception as error:  # the letter holds the reason; the status is best effort
                log.warning("failure_status_not_written", code=code, error=type(error).__name__)
        await message.term()


@dataclass(frozen=True, slots=True)
class _Rejection:
    message: Msg
    subject_unit: str
    sequence: int


def _document_of(command: UpsertDocument | DeleteDocument | None) -> DocumentRef | None:
    if command is None:
        return None
    return DocumentRef(unit=command.unit, document_id=command.document_id, version=command.version)


async def _keep_in_progress(message: Msg, interval: float) -> None:
    """Tell JetStream the message is still being worked on, so a short ack_wait is safe: a crashed
    consumer's messages come back quickly, a slow document (OCR, embeddings) is never redelivered."""
    while True:
        await asyncio.sleep(interval)
        with contextlib.suppress(Exception):
            await message.in_progress()


def _report_lane_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("lane_failed", error=type(task.exception()).__name__)


def _consumer_name(message: Msg) -> str:
    metadata = message.metadata
    return str(metadata.consumer or "") if metadata else ""


def _subject_unit(subject: str) -> str:
    parts = subject.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] else "_unknown"
