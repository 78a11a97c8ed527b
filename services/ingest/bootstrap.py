"""Composition root of the ingest service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from nats.aio.client import Client as NatsClient

from services.ingest.adapters.originals import JetStreamOriginals
from services.ingest.adapters.parsers import default_parsers
from services.ingest.adapters.retrieval_client import GrpcRetrievalClient
from services.ingest.domain.model import IngestLimits
from services.ingest.domain.preparation import prepare_document
from services.ingest.entrypoints.consumer import DocumentEventConsumer
from services.ingest.entrypoints.replay import ReplayResponder
from services.ingest.service import IngestHandlers
from services.ingest.settings import IngestSettings
from trolyao.audit import AUDIT_STREAM
from trolyao.logs import get_logger
from trolyao.messaging import (
    DOC_STATUS_BUCKET,
    ORIGINALS_BUCKET,
    JetStreamLayout,
    connect,
    ensure_layout,
)
from trolyao.natsaccess import INGEST, layout_streams

log = get_logger("ingest")
DRAIN_TIMEOUT_SECONDS = 3.0


@dataclass
class IngestApp:
    nats: NatsClient
    consumer: DocumentEventConsumer
    retrieval: GrpcRetrievalClient
    replay: ReplayResponder | None = None

    async def stop(self) -> None:
        self.consumer.stop()
        if self.replay is not None:
            await self.replay.stop()
        await self.retrieval.close()
        try:
            await asyncio.wait_for(self.nats.drain(), timeout=DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("nats_drain_timeout")
            await self.nats.close()


def limits_from(settings: IngestSettings) -> IngestLimits:
    return IngestLimits(
        max_bytes=settings.max_document_bytes, max_pages=settings.max_pages, max_chunks=settings.max_chunks
    )


async def bootstrap(settings: IngestSettings) -> IngestApp:
    nats_client = await connect(settings.nats_url, name="ingest", credential=settings.nats_credential())
    js = nats_client.jetstream()
    await ensure_layout(
        js, JetStreamLayout(replicas=settings.jetstream_replicas), only=layout_streams(INGEST)
    )
    retrieval = GrpcRetrievalClient(
        settings.retrieval_route(),
        timeout_seconds=settings.index_timeout_seconds,
        service_token=settings.service_token.get_secret_value(),
    )
    limits = limits_from(settings)

    async def publish(subject: str, payload: bytes) -> None:
        await js.publish(subject, payload)

    async def append_audit(subject: str, payload: bytes, message_id: str) -> None:
        await js.publish(subject, payload, stream=AUDIT_STREAM, headers={"Nats-Msg-Id": message_id})

    handlers = IngestHandlers(
        retrieval=retrieval,
        status_bucket=await js.key_value(DOC_STATUS_BUCKET),
        originals=JetStreamOriginals(await js.object_store(ORIGINALS_BUCKET), js=js),
        publish=publish,
        prepare=partial(prepare_document, parsers=default_parsers(), limits=limits),
        limits=limits,
        append_audit=append_audit,
    )
    consumer = DocumentEventConsumer(js=js, handlers=handlers, settings=settings)
    replay = ReplayResponder(nats_client=nats_client, js=js, handlers=handlers)
    await replay.start()
    return IngestApp(nats=nats_client, consumer=consumer, retrieval=retrieval, replay=replay)
