"""gRPC instrumentation for `trolyao.rpc`: OpenTelemetry's interceptors plus trolyao's own.

Every server and channel made by `trolyao.rpc` gets these interceptors, so trace context rides
in the call metadata (client → server) and each call is a CLIENT and a SERVER span. Health
checks are left out (they run every few seconds and say nothing about a request). On top of
OpenTelemetry's spans, trolyao's interceptor labels each span with the unit (and document id)
the request names, and records `rpc.server.duration` per method and status code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    client_interceptor,
    server_interceptor,
)
from opentelemetry.instrumentation.grpc.filters import health_check, negate
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.trace import Span

from trolyao.telemetry import attributes as attr
from trolyao.telemetry.instruments import trolyao_metrics

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICE_PREFIX = "grpc.reflection."
UNKNOWN_CODE = grpc.StatusCode.UNKNOWN.name
_UNIT_FIELDS = ("unit", "unit_id")
_DOCUMENT_FIELD = "document_id"


def _traced_call(details: Any) -> bool:
    """Which calls get spans: all but health checks."""
    return bool(negate(health_check())(details))


def annotate_with_request(span: Span, request: Any) -> None:
    """Put the unit and document id a request names on its span (never the request's content)."""
    if not span.is_recording():
        return
    for name in _UNIT_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, str) and value:
            span.set_attribute(attr.UNIT, value)
            break
    document_id = getattr(request, _DOCUMENT_FIELD, None)
    if isinstance(document_id, str) and document_id:
        span.set_attribute(attr.DOCUMENT_ID, document_id)


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _measured(full_method: str) -> bool:
    service, _ = _split_method(full_method)
    return service != HEALTH_SERVICE and not service.startswith(REFLECTION_SERVICE_PREFIX)


def _record(full_method: str, started: float, code: Any) -> None:
    service, method = _split_method(full_method)
    name = code.name if isinstance(code, grpc.StatusCode) else UNKNOWN_CODE
    trolyao_metrics().rpc_server_duration.record(
        time.perf_counter() - started,
        {
            attr.RPC_SYSTEM: "grpc",
            attr.RPC_SERVICE: service,
            attr.RPC_METHOD: method,
            attr.RPC_STATUS_CODE: name,
        },
    )


def _final_code(context: Any, failed: bool) -> Any:
    try:
        code = context.code()
    except Exception:  # a context without code(): report what we know
        code = None
    if code is None or code == grpc.StatusCode.OK:
        return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    return code


class RequestAnnotatingServerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Sync servers: unit attributes on the current (OpenTelemetry) span, and call durations."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not _measured(method):
            return handler
        inner = handler.unary_unary

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            annotate_with_request(trace.get_current_span(), request)
            failed = False
            try:
                return inner(request, context)
            except Exception:
                failed = True
                raise
            finally:
                _record(method, started, _final_code(context, failed))

        return handler._replace(unary_unary=behavior)


class AioRequestAnnotatingServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """asyncio servers: the same as `RequestAnnotatingServerInterceptor`."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not _measured(method):
            return handler
        inner = handler.unary_unary

        async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            annotate_with_request(trace.get_current_span(), request)
            failed = False
            try:
                return await inner(request, context)
            except Exception:
                failed = True
                raise
            finally:
                _record(method, started, _final_code(context, failed))

        return handler._replace(unary_unary=behavior)


def sync_server_interceptors() -> list[grpc.ServerInterceptor]:
    """For `grpc.server(...)`: OpenTelemetry's span first (outermost), then trolyao's."""
    return [
        server_interceptor(filter_=_traced_call),  # type: ignore[no-untyped-call]
        RequestAnnotatingServerInterceptor(),
    ]


def aio_server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """For `grpc.aio.server(...)`."""
    return [
        aio_server_interceptor(filter_=_traced_call),  # type: ignore[no-untyped-call]
        AioRequestAnnotatingServerInterceptor(),
    ]


def aio_channel_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """For `grpc.aio.insecure_channel(...)`: CLIENT spans carrying the unit, context in metadata."""
    return list(
        aio_client_interceptors(  # type: ignore[no-untyped-call]
            filter_=_traced_call, request_hook=annotate_with_request
        )
    )


def traced_sync_channel(channel: grpc.Channel) -> grpc.Channel:
    """A sync channel whose calls are CLIENT spans (OpenTelemetry's own channel wrapper: its sync
    interceptor is not a `grpc.UnaryUnaryClientInterceptor`)."""
    interceptor = client_interceptor(  # type: ignore[no-untyped-call]
        filter_=_traced_call, request_hook=annotate_with_request
    )
    return intercept_channel(channel, interceptor)  # type: ignore[no-untyped-call]
