"""gRPC plumbing shared by the services: servers that always serve grpc.health.v1, and channels."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from trolyao.service_auth import (
    AioServiceTokenServerInterceptor,
    ServiceTokenServerInterceptor,
    SyncTokenInterceptor,
    aio_token_interceptors,
)
from trolyao.telemetry import rpc_tracing

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.enable_retries", 1),
]
OVERALL_HEALTH = ""


LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")


def require_token_beyond_loopback(listen: str, service_token: str) -> None:
    """A server without a service token may listen on loopback only (in-process tests, one
    machine's own calls); anywhere else it would take calls from whoever reaches the port."""
    host = listen.rsplit(":", 1)[0]
    if not service_token and not (host.startswith("127.") or host in LOOPBACK_HOSTS):
        raise ValueError(f"listening on {listen} needs TROLYAO_SERVICE_TOKEN (service-to-service auth)")


def build_sync_server(
    *,
    listen: str,
    register: Callable[[grpc.Server], None],
    service_names: list[str],
    service_token: str,
    max_workers: int = 8,
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A thread-pool server with the standard health service; returns the bound port too.
    Every call but health checks must carry `service_token` (empty: no check, in-process tests)."""
    require_token_beyond_loopback(listen, service_token)
    token_check = [ServiceTokenServerInterceptor(service_token)] if service_token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=CHANNEL_OPTIONS,
        interceptors=[*token_check, *rpc_tracing.sync_server_interceptors()],
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    for name in [OVERALL_HEALTH, *service_names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer, port


async def build_async_server(
    *,
    listen: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: list[str],
    service_token: str,
) -> tuple[grpc.aio.Server, health_async.HealthServicer, int]:
    """An asyncio server with the standard health service; returns the bound port too.
    Every call but health checks must carry `service_token` (empty: no check, in-process tests)."""
    require_token_beyond_loopback(listen, service_token)
    token_check = [AioServiceTokenServerInterceptor(service_token)] if service_token else []
    server = grpc.aio.server(
        options=CHANNEL_OPTIONS, interceptors=[*token_check, *rpc_tracing.aio_server_interceptors()]
    )
    register(server)
    health_servicer = health_async.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    for name in [OVERALL_HEALTH, *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer, port


def async_channel(address: str, *, service_token: str = "") -> grpc.aio.Channel:
    """A channel to another service; its calls carry `service_token` when one is given."""
    token = aio_token_interceptors(service_token) if service_token else []
    return grpc.aio.insecure_channel(
        address, options=CHANNEL_OPTIONS, interceptors=[*rpc_tracing.aio_channel_interceptors(), *token]
    )


def sync_channel(address: str, *, service_token: str = "") -> grpc.Channel:
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    if service_token:
        channel = grpc.intercept_channel(channel, SyncTokenInterceptor(service_token))
    return rpc_tracing.traced_sync_channel(channel)


async def check_health(channel: grpc.aio.Channel, *, service: str = "", timeout: float = 2.0) -> bool:
    """True when the peer's health service says SERVING within the timeout."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
