"""Service-to-service authentication of gRPC calls: a shared service token in the call metadata.

Every client channel between services adds the token; retrieval's and ops' servers refuse a call
without it, or with another, as UNAUTHENTICATED before any handler runs. The standard health
service stays open (probes carry no secret and learn nothing).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

SERVICE_TOKEN_METADATA = "x-trolyao-service-token"
OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/",)
REFUSAL_MESSAGE = "Thiếu hoặc sai mã xác thực giữa các dịch vụ."


def _authenticated(details: grpc.HandlerCallDetails, expected: bytes) -> bool:
    if details.method.startswith(OPEN_METHOD_PREFIXES):
        return True
    for key, value in details.invocation_metadata or ():
        if key == SERVICE_TOKEN_METADATA:
            given = value.encode() if isinstance(value, str) else bytes(value)
            return hmac.compare_digest(given, expected)
    return False


def _refuse(_request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSAL_MESSAGE)


async def _refuse_async(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSAL_MESSAGE)


def _refusing(handler: grpc.RpcMethodHandler, refuse: Callable[[Any, Any], Any]) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that only refuses the call."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.stream_stream_rpc_method_handler(refuse)


class ServiceTokenServerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Sync servers: refuse calls that do not carry the service token."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or _authenticated(handler_call_details, self._expected):
            return handler
        return _refusing(handler, _refuse)


class AioServiceTokenServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """asyncio servers: the same as `ServiceTokenServerInterceptor`."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or _authenticated(handler_call_details, self._expected):
            return handler
        return _refusing(handler, _refuse_async)


def _with_token(metadata: Any, token: str) -> list[tuple[str, str | bytes]]:
    return [*(metadata or ()), (SERVICE_TOKEN_METADATA, token)]


class _AioTokenClient:
    def __init__(self, token: str) -> None:
        self._token = token

    async def _forward(self, continuation: Any, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        with_token = grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=grpc.aio.Metadata(*_with_token(details.metadata, self._token)),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )
        return await continuation(with_token, request)


# grpc.aio files each interceptor under one call kind: one class per kind, one behaviour.
class AioTokenUnaryUnary(_AioTokenClient, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    intercept_unary_unary = _AioTokenClient._forward


class AioTokenUnaryStream(_AioTokenClient, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    intercept_unary_stream = _AioTokenClient._forward


class AioTokenStreamUnary(_AioTokenClient, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    intercept_stream_unary = _AioTokenClient._forward


class AioTokenStreamStream(_AioTokenClient, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    intercept_stream_stream = _AioTokenClient._forward


def aio_token_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    return [
        AioTokenUnaryUnary(token),
        AioTokenUnaryStream(token),
        AioTokenStreamUnary(token),
        AioTokenStreamStream(token),
    ]


class SyncTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Sync channels (operator tools, tests): add the service token to every call."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _forward(self, continuation: Any, details: Any, request: Any) -> Any:
        with_token = _SyncCallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=_with_token(details.metadata, self._token),
            credentials=details.credentials,
            wait_for_ready=getattr(details, "wait_for_ready", None),
            compression=getattr(details, "compression", None),
        )
        return continuation(with_token, request)

    intercept_unary_unary = _forward
    intercept_unary_stream = _forward
    intercept_stream_unary = _forward
    intercept_stream_stream = _forward


class _SyncCallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(
        self,
        *,
        method: str,
        timeout: float | None,
        metadata: Any,
        credentials: Any,
        wait_for_ready: bool | None,
        compression: Any,
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression
