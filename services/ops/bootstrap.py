"""Composition root of the ops service."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from nats.aio.client import Client as NatsClient

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.kv_repositories import ApiKeyRepository, UnitRepository
from services.ops.identity.adapters.nats_login import NatsLoginProbe
from services.ops.identity.adapters.nats_users import NatsAuth
from services.ops.identity.adapters.unit_originals import UnitOriginalsBuckets
from services.ops.identity.bootstrap import build_security_handlers
from services.ops.identity.domain.clock import Clock, system_clock
from services.ops.identity.entrypoints.grpc_server import OpsServicer
from services.ops.identity.use_cases.event_credentials import EventCredentialAdmin
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.recovery.bootstrap import SNAPSHOT_SERVICE_NAME, SnapshotRuntime, build_snapshot_runtime
from services.ops.recovery.settings import SnapshotSettings
from services.ops.service import OpsHandlers
from services.ops.settings import OpsSettings
from trolyao.messaging import API_KEYS_BUCKET, UNITS_BUCKET, JetStreamLayout, connect, ensure_layout
from trolyao.natsaccess import OPS, layout_streams
from trolyao.rpc import build_async_server
from trolyao.v1 import ops_pb2, ops_pb2_grpc

SERVICE_NAME = ops_pb2.DESCRIPTOR.services_by_name["OpsService"].full_name


@dataclass
class OpsApp:
    settings: OpsSettings
    nats: NatsClient
    handlers: OpsHandlers
    server: grpc.aio.Server
    port: int
    security: SecurityHandlers | None = None
    snapshots: SnapshotRuntime | None = None

    async def stop(self, grace: float = 2.0) -> None:
        if self.snapshots is not None:
            await self.snapshots.stop()
        await self.server.stop(grace)
        await self.nats.drain()


async def event_credential_admin(
    nats_client: NatsClient, settings: OpsSettings
) -> EventCredentialAdmin | None:
    """Units' event credentials through the API, when this ops may rewrite the server's users."""
    if settings.nats_auth_dir is None or settings.nats_config_dir is None:
        return None
    return EventCredentialAdmin(
        users=NatsAuth(settings.nats_auth_dir),
        config_dir=settings.nats_config_dir,
        units=UnitRepository(await nats_client.jetstream().key_value(UNITS_BUCKET)),
        buckets=UnitOriginalsBuckets(nats_client, replicas=settings.jetstream_replicas),
        audit=AuditTrail(nats_client.jetstream()),
        login=NatsLoginProbe(settings.nats_url),
    )


async def bootstrap(settings: OpsSettings, *, clock: Clock = system_clock) -> OpsApp:
    nats_client = await connect(settings.nats_url, name="ops", credential=settings.nats_credential())
    js = nats_client.jetstream()
    await ensure_layout(js, JetStreamLayout(replicas=settings.jetstream_replicas), only=layout_streams(OPS))
    security = await build_security_handlers(js, settings, clock=clock)
    handlers = OpsHandlers(
        units=UnitRepository(await js.key_value(UNITS_BUCKET)),
        api_keys=ApiKeyRepository(await js.key_value(API_KEYS_BUCKET)),
    )
    await handlers.seed_units(settings.units_file)
    servicer = OpsServicer(
        handlers, security=security, event_credentials=await event_credential_admin(nats_client, settings)
    )
    snapshots = await build_snapshot_runtime(nats_client, js, SnapshotSettings(), security=security)

    def register(server: grpc.aio.Server) -> None:
        ops_pb2_grpc.add_OpsServiceServicer_to_server(servicer, server)
        snapshots.register(server)

    server, _health, port = await build_async_server(
        listen=settings.listen,
        register=register,
        service_names=[SERVICE_NAME, SNAPSHOT_SERVICE_NAME],
        service_token=settings.service_token.get_secret_value(),
    )
    await server.start()
    snapshots.start()
    return OpsApp(
        settings=settings,
        nats=nats_client,
        handlers=handlers,
        server=server,
        port=port,
        security=security,
        snapshots=snapshots,
    )
