"""Replays of one unit's document events on request: how a restore gets back every change that was
acknowledged after its snapshot.

Ops sends `ReplayDocumentEvents` on `ops.replay.<unit>` (core NATS request/reply). One ingest replica
answers (queue group `ingest-replay`): it reads `docs.<unit>.>` of the DOCS stream from
`from_sequence` to `to_sequence` with an ephemeral, ack-less, in-memory consumer, feeds each event to
the same handlers as the live consumer (with its stream sequence), and replies
`DocumentEventsReplayed`. The handlers are idempotent and version-ordered, so an event the live
consumer applies too, or one the snapshot already held, is harmless.

Per event: a poison event is skipped (it was dead-lettered when first consumed); a refused one is
counted as failed; a retryable failure is retried with backoff, and if retrieval stays unavailable
the replay stops and says so (the restore reports it; running the restore again is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
from google.protobuf import json_format
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.ingest.adapters.retrieval_client import RetrievalRejected, RetrievalUnavailable
from services.ingest.domain.events import PoisonMessage
from services.ingest.domain.model import IngestError
from services.ingest.entrypoints.event_decoding import decode_event
from services.ingest.service import IngestHandlers
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOCS_STREAM,
    REPLAY_QUEUE_GROUP,
    REPLAY_SUBJECT_PREFIX,
    SCHEMA_VERSION,
    UNIT_ID_PATTERN,
    unit_docs_filter,
)
from trolyao.v1 import snapshots_pb2

log = get_logger("ingest")

FETCH_BATCH = 64
FETCH_TIMEOUT_SECONDS = 2.0
CONSUMER_IDLE_SECONDS = 60.0
RETRY_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 8.0


class ReplayResponder:
    """Answers replay requests; each runs in its own task, so units replay side by side."""

    def __init__(self, *, nats_client: NatsClient, js: JetStreamContext, handlers: IngestHandlers) -> None:
        self._nats = nats_client
        self._js = js
        self._handlers = handlers
        self._subscription: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._subscription = await self._nats.subscribe(
            f"{REPLAY_SUBJECT_PREFIX}.*", queue=REPLAY_QUEUE_GROUP, cb=self._on_request
        )
        log.info("replay_responder_started", subject=f"{REPLAY_SUBJECT_PREFIX}.*")

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_request(self, message: Msg) -> None:
        task = asyncio.create_task(self._serve(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: Msg) -> None:
        command = snapshots_pb2.ReplayDocumentEvents()
        try:
            json_format.Parse(message.data.decode("utf-8"), command, ignore_unknown_fields=True)
            if not UNIT_ID_PATTERN.fullmatch(command.unit) or command.from_sequence <= 0:
                raise ValueError("unit and from_sequence are required")
            result = await self.replay(command)
        except (ValueError, json_format.ParseError, UnicodeDecodeError) as error:
            result = snapshots_pb2.DocumentEventsReplayed(
                schema_version=SCHEMA_VERSION,
                replay_id=command.replay_id,
                unit=command.unit,
                error=f"yêu cầu phát lại không hợp lệ: {error}",
            )
        except Exception as error:  # always answer: ops is waiting for this reply
            log.exception("replay_failed", unit=command.unit, replay_id=command.replay_id)
            result = snapshots_pb2.DocumentEventsReplayed(
                schema_version=SCHEMA_VERSION,
                replay_id=command.replay_id,
                unit=command.unit,
                error=f"ingest không phát lại được ({type(error).__name__}); hãy khôi phục lại",
            )
        if message.reply:
            await message.respond(json_format.MessageToJson(result).encode())

    async def replay(
        self, command: snapshots_pb2.ReplayDocumentEvents
    ) -> snapshots_pb2.DocumentEventsReplayed:
        """Feed the unit's events in [from_sequence, to_sequence] to the handlers, in stream order."""
        result = snapshots_pb2.DocumentEventsReplayed(
            schema_version=SCHEMA_VERSION,
            replay_id=command.replay_id,
            unit=command.unit,
            from_sequence=command.from_sequence,
            to_sequence=command.to_sequence,
        )
        info = await self._js.stream_info(DOCS_STREAM)
        result.stream_first_sequence = int(info.state.first_seq)
        last = min(command.to_sequence or int(info.state.last_seq), int(info.state.last_seq))
        if command.from_sequence > last or info.state.messages == 0:
            log.info("replay_done", unit=command.unit, events=0, replay_id=command.replay_id)
            return result
        subject = unit_docs_filter(command.unit)
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=command.from_sequence,
            filter_subject=subject,
            inactive_threshold=CONSUMER_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        subscription = await self._js.pull_subscribe(subject, stream=DOCS_STREAM, config=config)
        consumer = ""
        try:
            consumer_info = await subscription.consumer_info()
            consumer, pending = consumer_info.name, int(consumer_info.num_pending or 0)
            done = pending == 0
            while not done:
                try:
                    messages = await subscription.fetch(
                        min(FETCH_BATCH, pending), timeout=FETCH_TIMEOUT_SECONDS
                    )
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for message in messages:
                    sequence = int(message.metadata.sequence.stream)
                    pending = int(message.metadata.num_pending)
                    if sequence > last:
                        done = True
                        break
                    result.events += 1
                    await self._apply(message, sequence, result)
                    if result.error:
                        return result
                    done = pending == 0 or sequence >= last
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            if consumer:
                with contextlib.suppress(Exception):
                    await self._js.delete_consumer(DOCS_STREAM, consumer)
        log.info(
            "replay_done",
            unit=command.unit,
            events=result.events,
            applied=result.applied,
            failed=result.failed,
            replay_id=command.replay_id,
        )
        return result

    async def _apply(self, message: Msg, sequence: int, result: snapshots_pb2.DocumentEventsReplayed) -> None:
        try:
            command = decode_event(message.subject, message.data)
        except PoisonMessage:
            result.failed += 1
            return
        delay = FIRST_RETRY_SECONDS
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                await self._handlers.handle(command, stream_sequence=sequence, replayed=True)
                result.applied += 1
                return
            except PoisonMessage:
                result.failed += 1
                return
            except RetrievalRejected:
                result.failed += 1
                return
            except (RetrievalUnavailable, IngestError) as error:
                if isinstance(error, IngestError) and not error.retryable:
                    result.failed += 1
                    return
                if attempt == RETRY_ATTEMPTS:
                    result.error = (
                        f"dừng phát lại ở sự kiện {sequence}: dịch vụ tìm kiếm không phản hồi ({error})"
                    )
                    log.warning("replay_stopped", unit=command.unit, sequence=sequence, error=str(error))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
