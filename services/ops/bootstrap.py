"""Composition root of the ops service."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from nats.aio.client import Client as NatsClient

from services.ops.adapters.kv_repositories import ApiKeyRepository, UnitRepository
from services.ops.entrypoints.grpc_server import OpsServicer
from services.ops.service import OpsHandlers
from services.ops.settings import OpsSettings
from trolyao.messaging import API_KEYS_BUCKET, UNITS_BUCKET, connect, ensure_layout
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

    async def stop(self, grace: float = 2.0) -> None:
        await self.server.stop(grace)
        await self.nats.drain()


async def bootstrap(settings: OpsSettings) -> OpsApp:
    nats_client = await connect(settings.nats_url, name="ops")
    js = nats_client.jetstream()
    await ensure_layout(js)
    handlers = OpsHandlers(
        units=UnitRepository(await js.key_value(UNITS_BUCKET)),
        api_keys=ApiKeyRepository(await js.key_value(API_KEYS_BUCKET)),
    )
    await handlers.seed_units(settings.units_file)
    servicer = OpsServicer(handlers)
    server, _health, port = await build_async_server(
        listen=settings.listen,
        register=lambda server: ops_pb2_grpc.add_OpsServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
    )
    await server.start()
    return OpsApp(settings=settings, nats=nats_client, handlers=handlers, server=server, port=port)
