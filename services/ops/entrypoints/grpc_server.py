"""gRPC edge of the ops service; one table maps domain errors to gRPC statuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from services.ops.adapters.kv_repositories import ConcurrentUpdate
from services.ops.domain.api_keys import InvalidApiKeyRequest, Principal
from services.ops.domain.units import InvalidUnit, Unit
from services.ops.service import NotFound, OpsHandlers, Unauthenticated
from trolyao.logs import get_logger
from trolyao.v1 import ops_pb2, ops_pb2_grpc

log = get_logger("ops")

_ERROR_STATUS: list[tuple[type[Exception], grpc.StatusCode]] = [
    (InvalidUnit, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidApiKeyRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (ConcurrentUpdate, grpc.StatusCode.ABORTED),
]

Reply = TypeVar("Reply")


def unit_to_proto(unit: Unit) -> ops_pb2.Unit:
    return ops_pb2.Unit(
        unit_id=unit.unit_id, name=unit.name, created_at=unit.created_at, updated_at=unit.updated_at
    )


def principal_to_proto(principal: Principal) -> ops_pb2.Principal:
    return ops_pb2.Principal(
        subject=principal.subject,
        kind=principal.kind,
        units=list(principal.units),
        all_units=principal.all_units,
        scopes=list(principal.scopes),
    )


class OpsServicer(ops_pb2_grpc.OpsServiceServicer):
    def __init__(self, handlers: OpsHandlers) -> None:
        self._handlers = handlers

    async def _call(
        self, context: grpc.aio.ServicerContext, rpc: str, work: Callable[[], Awaitable[Reply]]
    ) -> Reply:
        try:
            return await work()
        except Exception as error:
            status = next(
                (code for kind, code in _ERROR_STATUS if isinstance(error, kind)), grpc.StatusCode.INTERNAL
            )
            if status is grpc.StatusCode.INTERNAL:
                log.exception("rpc_failed", rpc=rpc)
            await context.abort(status, str(error))
            raise

    async def PutUnit(self, request: ops_pb2.PutUnitRequest, context: grpc.aio.ServicerContext) -> ops_pb2.Unit:
        async def work() -> ops_pb2.Unit:
            return unit_to_proto(await self._handlers.put_unit(request.unit_id, request.name))

        return await self._call(context, "PutUnit", work)

    async def GetUnit(self, request: ops_pb2.GetUnitRequest, context: grpc.aio.ServicerContext) -> ops_pb2.Unit:
        async def work() -> ops_pb2.Unit:
            return unit_to_proto(await self._handlers.get_unit(request.unit_id))

        return await self._call(context, "GetUnit", work)

    async def ListUnits(
        self, request: ops_pb2.ListUnitsRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ListUnitsResponse:
        async def work() -> ops_pb2.ListUnitsResponse:
            units = await self._handlers.list_units()
            return ops_pb2.ListUnitsResponse(units=[unit_to_proto(unit) for unit in units])

        return await self._call(context, "ListUnits", work)

    async def CreateApiKey(
        self, request: ops_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.CreateApiKeyResponse:
        async def work() -> ops_pb2.CreateApiKeyResponse:
            api_key, record = await self._handlers.create_api_key(
                name=request.name,
                units=tuple(request.units),
                all_units=request.all_units,
                scopes=tuple(request.scopes),
            )
            return ops_pb2.CreateApiKeyResponse(
                key_id=record.key_id, api_key=api_key, principal=principal_to_proto(record.principal)
            )

        return await self._call(context, "CreateApiKey", work)

    async def AuthenticateApiKey(
        self, request: ops_pb2.AuthenticateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Principal:
        async def work() -> ops_pb2.Principal:
            return principal_to_proto(await self._handlers.authenticate_api_key(request.api_key))

        return await self._call(context, "AuthenticateApiKey", work)
