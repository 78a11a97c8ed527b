"""`GET /v1/units/{unit}/queue`: how many of the unit's changes wait for ingest, and when they should
be searchable — what the console's banner shows while a unit imports its library. Read scope on the
unit, like the documents list."""

from typing import Annotated

from fastapi import APIRouter, Depends

from services.gateway.domain.authorization import Principal, Scope
from services.gateway.domain.ingest_queue import queue_banner
from services.gateway.entrypoints.routing import UNIT_PATH, RouteContext, problem_responses
from services.gateway.entrypoints.schemas.ingest_queue import IngestQueueOut
from trolyao.ingestqueue import QueueReading

TAG_DOCUMENTS = "văn bản"
SECONDS_PER_MINUTE = 60


def queue_out(reading: QueueReading) -> IngestQueueOut:
    eta = reading.eta_seconds
    return IngestQueueOut(
        unit=reading.unit,
        waiting=reading.waiting,
        interactive=reading.interactive,
        bulk=reading.bulk,
        per_minute=round(reading.per_second * SECONDS_PER_MINUTE, 1),
        eta_seconds=None if eta is None else round(eta, 1),
        message=queue_banner(reading.waiting, eta),
        updated_at=reading.updated_at,
    )


def build_router(ctx: RouteContext) -> APIRouter:
    """Route /v1/units/{unit}/queue."""
    router = APIRouter()
    CurrentPrincipal = Annotated[Principal, Depends(ctx.principal)]

    @router.get(
        "/v1/units/{unit}/queue",
        response_model=IngestQueueOut,
        tags=[TAG_DOCUMENTS],
        summary="Hàng đợi xử lý văn bản của đơn vị",
        responses=problem_responses(401, 403, 422, 429, 503),
    )
    async def ingest_queue(principal: CurrentPrincipal, unit: Annotated[str, UNIT_PATH]) -> IngestQueueOut:
        """Số thay đổi văn bản của đơn vị đang chờ xử lý (tải lên qua cổng được ưu tiên trước nhập
        hàng loạt) và thời gian ước tính đến khi tìm kiếm được, ví dụ `GET
        /v1/units/cuc-bao-chi/queue`. Số liệu được cập nhật vài giây một lần."""
        ctx.require(principal, unit, Scope.READ)
        return queue_out(await ctx.gateway.ingest_queue(unit))

    return router


__all__ = ["build_router", "queue_out"]
