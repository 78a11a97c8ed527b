"""The durable JetStream consumer: fetch document events, hand them to the handlers, ack by policy.

At-least-once: a crash before the ack means redelivery, and the handlers are idempotent. While a
message is being worked on, `in_progress()` keeps JetStream from redelivering it to a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.ingest.adapters.retrieval_client import RetrievalRejected, RetrievalUnavailable
from services.ingest.domain.events import (
    DeleteDocument,
    DocumentRef,
    PoisonMessage,
    UpsertDocument,
)
from services.ingest.domain.model import IngestError
from services.ingest.entrypoints.event_decoding import decode_event
from services.ingest.service import IngestHandlers
from services.ingest.settings import IngestSettings
from trolyao.logs import get_logger
from trolyao.messaging import DOCS_STREAM, INGEST_DURABLE
from trolyao.telemetry.event_tracing import consume_span, observe_event_applied

log = get_logger("ingest")

FETCH_TIMEOUT_SECONDS = 1.0
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


def consumer_config(settings: IngestSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INGEST_DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_seconds,
        max_deliver=settings.max_deliver,
        max_ack_pending=1000,
        filter_subject="docs.>",
    )


class DocumentEventConsumer:
    def __init__(self, *, js: JetStreamContext, handlers: IngestHandlers, settings: IngestSettings) -> None:
        self._js = js
        self._handlers = handlers
        self._settings = settings
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        subscription = await self._js.pull_subscribe(
            "docs.>", durable=INGEST_DURABLE, stream=DOCS_STREAM, config=consumer_config(self._settings)
        )
        log.info("consumer_started", durable=INGEST_DURABLE)
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(self._settings.batch_size, timeout=FETCH_TIMEOUT_SECONDS)
            except TimeoutError:
                continue
            except Exception as error:  # connection blips: the client reconnects by itself
                log.warning("fetch_failed", error=type(error).__name__)
                await asyncio.sleep(FETCH_TIMEOUT_SECONDS)
                continue
            # Events are independent: retrieval orders versions per document under its unit lock
            # and status writes are compare-and-set, so a batch is worked on concurrently.
            results = await asyncio.gather(
                *(self.process(message) for message in messages), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    raise result  # cancellation and interpreter exit still stop the loop
                if result is not None:
                    log.error("event_not_settled", error=type(result).__name__)
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        log.info("consumer_stopped", durable=INGEST_DURABLE)

    async def process(self, message: Msg) -> None:
        interval = self._settings.ack_wait_seconds / HEARTBEATS_PER_ACK_WAIT
        heartbeat = asyncio.create_task(_keep_in_progress(message, interval))
        try:
            with consume_span(message, consumer=INGEST_DURABLE):  # continues the publisher's trace
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


def _subject_unit(subject: str) -> str:
    parts = subject.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] else "_unknown"
