"""Composition of snapshots: picks the storage adapter, connects retrieval, NATS and the audit
trail, and builds the handlers, the gRPC servicer and the scheduler. Used by the ops service's
bootstrap and by the drill command (which needs only the handlers)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import grpc
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.security_layout import ensure_security_layout
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.recovery.adapters.snapshot_nats import (
    AuditTrailSink,
    NatsEventReplayer,
    NatsSnapshotSources,
)
from services.ops.recovery.adapters.snapshot_retrieval import GrpcUnitArchives
from services.ops.recovery.adapters.snapshot_storage import (
    LocalSnapshotStorage,
    S3SnapshotStorage,
    build_s3_client,
)
from services.ops.recovery.domain.retention import RetentionPolicy
from services.ops.recovery.domain.snapshot_ports import SnapshotStorage
from services.ops.recovery.entrypoints.scheduler import SnapshotScheduler
from services.ops.recovery.entrypoints.snapshot_grpc import SnapshotServicer, StepUpRestoreAuthorizer
from services.ops.recovery.settings import SnapshotSettings
from services.ops.recovery.use_cases.context import RecoveryContext, SnapshotConfig
from services.ops.recovery.use_cases.snapshots import SnapshotHandlers
from trolyao.logs import get_logger
from trolyao.v1 import snapshots_pb2, snapshots_pb2_grpc

log = get_logger("ops")

SNAPSHOT_SERVICE_NAME = snapshots_pb2.DESCRIPTOR.services_by_name["SnapshotService"].full_name


def build_storage(settings: SnapshotSettings) -> SnapshotStorage:
    if settings.s3_bucket:
        client = build_s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        )
        return S3SnapshotStorage(client, bucket=settings.s3_bucket, prefix=settings.s3_prefix)
    return LocalSnapshotStorage(settings.local_dir)


@dataclass
class SnapshotRuntime:
    """Snapshot handlers with what they own (the retrieval channel, the scheduler)."""

    handlers: SnapshotHandlers
    archives: GrpcUnitArchives
    scheduler: SnapshotScheduler | None = None
    servicer: SnapshotServicer | None = None
    _observer: asyncio.Task[None] | None = None

    def register(self, server: grpc.aio.Server) -> None:
        """Add SnapshotService to the ops gRPC server."""
        if self.servicer is not None:
            snapshots_pb2_grpc.add_SnapshotServiceServicer_to_server(self.servicer, server)

    def start(self) -> None:
        if self.scheduler is not None:
            self.scheduler.start()
        self._observer = asyncio.get_running_loop().create_task(self._observe_existing_snapshots())

    async def _observe_existing_snapshots(self) -> None:
        try:
            await self.handlers.observe_existing_snapshots()
        except Exception as error:  # storage unreadable: the gauge starts with the next snapshot
            log.warning("snapshot_ages_unread", error=type(error).__name__)

    async def stop(self) -> None:
        if self._observer is not None:
            self._observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._observer
        if self.scheduler is not None:
            await self.scheduler.stop()
        with contextlib.suppress(Exception):
            await self.archives.close()


async def build_snapshot_runtime(
    nats_client: NatsClient,
    js: JetStreamContext,
    settings: SnapshotSettings,
    *,
    security: SecurityHandlers | None = None,
) -> SnapshotRuntime:
    """Handlers always; the servicer when `security` can check restore callers; the scheduler when
    a schedule is configured and the servicer is built (i.e. inside the ops service)."""
    await ensure_security_layout(js)
    audit = AuditTrailSink(AuditTrail(js))
    archives = GrpcUnitArchives(
        settings.retrieval_route(),
        timeout_seconds=settings.transfer_timeout_seconds,
        service_token=settings.service_token.get_secret_value(),
    )
    handlers = SnapshotHandlers(
        RecoveryContext(
            storage=build_storage(settings),
            archives=archives,
            sources=NatsSnapshotSources(js),
            replayer=NatsEventReplayer(nats_client, timeout_seconds=settings.replay_timeout_seconds),
            audit=audit,
            config=SnapshotConfig(
                retention=RetentionPolicy(
                    hourly_hours=settings.keep_hourly_hours,
                    daily_days=settings.keep_daily_days,
                    keep_last=settings.keep_last,
                    on_demand_days=settings.on_demand_keep_days,
                    on_demand_keep_last=settings.on_demand_keep_last,
                    on_demand_per_hour=settings.on_demand_per_hour,
                )
            ),
        )
    )
    runtime = SnapshotRuntime(handlers=handlers, archives=archives)
    if security is not None:
        runtime.servicer = SnapshotServicer(handlers, authorizer=StepUpRestoreAuthorizer(security, audit))
        if settings.schedule_seconds > 0:
            runtime.scheduler = SnapshotScheduler(handlers, interval_seconds=settings.schedule_seconds)
    return runtime
