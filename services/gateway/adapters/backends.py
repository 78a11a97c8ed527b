"""The gateway's view of its dependencies: ops and retrieval over gRPC, NATS for events and status.

gRPC failures are translated here, once, into `ApiProblem`s: a dependency that is down becomes
503 with a Vietnamese reason (never a hang: every call has a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from services.gateway.domain.authorization import Principal
from services.gateway.domain.model import Answer, ApiKeyInfo, Citation, IssuedApiKey, UnitInfo
from services.gateway.domain.problems import (
    CONFLICT,
    DEPENDENCY_UNAVAILABLE,
    FORBIDDEN,
    INVALID_REQUEST,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHENTICATED,
    UNIT_NOT_FOUND,
    ApiProblem,
    ProblemKind,
)
from trolyao.logs import get_logger
from trolyao.messaging import JetStreamLayout, NatsCredential, connect, ensure_layout
from trolyao.natsaccess import GATEWAY, layout_streams
from trolyao.routing import RetrievalRoutes
from trolyao.rpc import async_channel, check_health
from trolyao.telemetry import record_ask_outcome
from trolyao.units import SERVICE_DEFAULT_MIN_CONFIDENCE
from trolyao.v1 import ops_pb2, ops_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc, snapshots_pb2_grpc

log = get_logger("gateway")

Reply = TypeVar("Reply")
# How long an accepted key is remembered per replica: a revoked or expired key is refused by every
# replica within this (README: "within 5 s").
API_KEY_CACHE_SECONDS = 4.0
MAX_CACHED_API_KEYS = 10_000
NATS_RETRY_SECONDS = 0.5
DEFAULT_RETRY_AFTER_SECONDS = "5"
THRESHOLD_DIGITS = 6

_DEPENDENCY_NAMES = {"retrieval": "dịch vụ tìm kiếm (retrieval)", "ops": "dịch vụ vận hành (ops)"}


async def call_backend(
    dependency: str, call: Awaitable[Reply], *, not_found: ProblemKind = NOT_FOUND
) -> Reply:
    """Await a gRPC call and translate its failure into the gateway's error vocabulary."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise backend_problem(dependency, error, not_found=not_found) from error


def backend_problem(
    dependency: str, error: grpc.aio.AioRpcError, *, not_found: ProblemKind = NOT_FOUND
) -> ApiProblem:
    """The problem a failed gRPC call answers with; routes that read some refusals their own way
    hand every other one to this."""
    code = error.code()
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    ):
        return ApiProblem(
            DEPENDENCY_UNAVAILABLE,
            f"Không kết nối được {_DEPENDENCY_NAMES[dependency]}; vui lòng thử lại sau ít phút.",
            headers={"Retry-After": "5"},
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return ApiProblem(not_found)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ApiProblem(INVALID_REQUEST, error.details() or "")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return ApiProblem(UNAUTHENTICATED)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return ApiProblem(FORBIDDEN)
    if code == grpc.StatusCode.ABORTED:
        return ApiProblem(CONFLICT)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ApiProblem(RATE_LIMITED, headers={"Retry-After": _retry_after(error)})
    log.error("backend_error", dependency=dependency, code=code.name)
    return ApiProblem(
        DEPENDENCY_UNAVAILABLE, f"{_DEPENDENCY_NAMES[dependency]} gặp lỗi; vui lòng thử lại sau."
    )


def _retry_after(error: grpc.aio.AioRpcError) -> str:
    """The `retry-after` trailing metadata ops sends with RESOURCE_EXHAUSTED (lockouts)."""
    for key, value in error.trailing_metadata() or ():
        if key == "retry-after":
            return str(value)
    return DEFAULT_RETRY_AFTER_SECONDS


class Backends:
    """Channels and stubs, opened in the app's lifespan and closed with it."""

    def __init__(
        self,
        *,
        retrieval_addr: str | Sequence[str],
        ops_addr: str,
        nats_url: str,
        timeout: float,
        nats_credential: NatsCredential | None = None,
        service_token: str = "",
        jetstream_replicas: int = 1,
    ) -> None:
        self._layout = JetStreamLayout(replicas=jetstream_replicas)
        self.timeout = timeout
        self._retrieval_addr = retrieval_addr
        self._ops_addr = ops_addr
        self._nats_url = nats_url
        self._nats_credential = nats_credential
        self._service_token = service_token
        self.nats: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._connector: asyncio.Task[None] | None = None
        self._api_key_cache: dict[str, tuple[float, Principal]] = {}

    async def start(self) -> None:
        """Open channels inside the running event loop (grpc.aio binds them to it)."""
        self._retrieval = RetrievalRoutes(self._retrieval_addr, service_token=self._service_token)
        self._ops_channel = async_channel(self._ops_addr, service_token=self._service_token)
        self.ops = ops_pb2_grpc.OpsServiceStub(self._ops_channel)
        self.snapshots = snapshots_pb2_grpc.SnapshotServiceStub(self._ops_channel)
        self._connector = asyncio.create_task(self._connect_nats())

    async def _connect_nats(self) -> None:
        while True:
            try:
                client = await connect(self._nats_url, name="gateway", credential=self._nats_credential)
                await ensure_layout(client.jetstream(), self._layout, only=layout_streams(GATEWAY))
            except Exception as error:  # NATS not up yet: keep trying, /readyz says so meanwhile
                log.warning("nats_connect_retry", error=type(error).__name__)
                await asyncio.sleep(NATS_RETRY_SECONDS)
                continue
            self.nats = client
            self._js = client.jetstream()
            log.info("nats_connected")
            return

    @property
    def js(self) -> JetStreamContext:
        if self._js is None or self.nats is None or not self.nats.is_connected:
            raise ApiProblem(
                DEPENDENCY_UNAVAILABLE,
                "Không kết nối được hàng đợi sự kiện (NATS); vui lòng thử lại sau ít phút.",
                headers={"Retry-After": "5"},
            )
        return self._js

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self.nats is not None:
            with contextlib.suppress(Exception):
                await self.nats.drain()
        await self._retrieval.close()
        await self._ops_channel.close()

    async def readiness(self) -> dict[str, tuple[bool, str]]:
        """Each dependency: (ready, Vietnamese reason)."""
        retrieval_service = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name
        # Every retrieval worker must answer: each owns some of the units.
        *workers_ok, ops_ok = await asyncio.gather(
            *(
                check_health(channel, service=retrieval_service, timeout=2.0)
                for channel in self._retrieval.channels
            ),
            check_health(self._ops_channel, timeout=2.0),
        )
        retrieval_ok = all(workers_ok)
        nats_ok = self.nats is not None and self.nats.is_connected
        return {
            "nats": (
                nats_ok,
                "sẵn sàng" if nats_ok else "không kết nối được máy chủ NATS (hàng đợi sự kiện)",
            ),
            "retrieval": (
                retrieval_ok,
                "sẵn sàng" if retrieval_ok else "dịch vụ tìm kiếm (retrieval) không phản hồi",
            ),
            "vector_store": (
                retrieval_ok,
                "sẵn sàng"
                if retrieval_ok
                else "kho vector (Qdrant) không truy cập được qua dịch vụ tìm kiếm",
            ),
            "ops": (ops_ok, "sẵn sàng" if ops_ok else "dịch vụ vận hành (ops) không phản hồi"),
        }

    def retrieval(self, unit: str) -> retrieval_pb2_grpc.RetrievalServiceStub:
        """The stub of the retrieval worker that owns `unit` (trolyao/routing.py)."""
        return self._retrieval.stub(unit)

    async def unit_index_documents(self, unit: str) -> int:
        """How many documents the unit's index holds (retrieval's registry)."""
        request = retrieval_pb2.GetUnitStatsRequest(unit=unit)
        reply = await call_backend(
            "retrieval", self.retrieval(unit).GetUnitStats(request, timeout=self.timeout)
        )
        return int(reply.documents)

    async def authenticate_api_key(self, api_key: str) -> Principal:
        cached = self._api_key_cache.get(api_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        reply = await call_backend(
            "ops",
            self.ops.AuthenticateApiKey(
                ops_pb2.AuthenticateApiKeyRequest(api_key=api_key), timeout=self.timeout
            ),
            not_found=UNAUTHENTICATED,
        )
        principal = Principal(
            subject=reply.subject,
            kind=reply.kind,
            units=frozenset(reply.units),
            all_units=reply.all_units,
            scopes=frozenset(reply.scopes),
        )
        self._api_key_cache[api_key] = (time.monotonic() + API_KEY_CACHE_SECONDS, principal)
        if len(self._api_key_cache) > MAX_CACHED_API_KEYS:
            now = time.monotonic()
            self._api_key_cache = {k: v for k, v in self._api_key_cache.items() if v[0] > now}
        return principal

    # ---- typed calls: protobuf stops here --------------------------------------------------

    async def ask(
        self,
        unit: str,
        question: str,
        history: Sequence[tuple[str, str]],
        *,
        min_confidence: float | None = None,
    ) -> Answer:
        """Retrieval's answer to `question` in `unit`, with earlier (question, answer) turns.

        `min_confidence` is the unit's abstention threshold (None: retrieval's default).
        """
        request = retrieval_pb2.AskRequest(
            unit=unit,
            question=question,
            history=[retrieval_pb2.ConversationTurn(question=q, answer=a) for q, a in history],
            min_confidence=min_confidence or SERVICE_DEFAULT_MIN_CONFIDENCE,
        )
        started = time.perf_counter()
        reply = await call_backend("retrieval", self.retrieval(unit).Ask(request, timeout=self.timeout))
        seconds = time.perf_counter() - started
        record_ask_outcome(unit=unit, answered=reply.answered, source=reply.answer_source, seconds=seconds)
        return Answer(
            answered=reply.answered,
            text=reply.answer,
            confidence=max(0.0, min(1.0, reply.confidence)),
            source=reply.answer_source or "none",
            resolved_question=reply.resolved_question,
            citations=tuple(
                Citation(
                    document_id=c.document_id,
                    title=c.title,
                    snippet=c.snippet,
                    path=c.path,
                    number=c.number,
                    source_url=c.source_url,
                    chunk_ordinal=c.chunk_ordinal,
                    score=c.score,
                    role=c.role or "answer",
                    passage=c.passage,
                    question=c.question,
                )
                for c in reply.citations
            ),
        )

    async def get_unit(self, unit: str) -> UnitInfo:
        """The unit, or ApiProblem(unit_not_found)."""
        reply = await call_backend(
            "ops",
            self.ops.GetUnit(ops_pb2.GetUnitRequest(unit_id=unit), timeout=self.timeout),
            not_found=UNIT_NOT_FOUND,
        )
        return _unit(reply)

    async def list_units(self) -> list[UnitInfo]:
        """Every unit of the ministry."""
        reply = await call_backend(
            "ops", self.ops.ListUnits(ops_pb2.ListUnitsRequest(), timeout=self.timeout)
        )
        return [_unit(unit) for unit in reply.units]

    async def put_unit(self, unit: str, name: str) -> UnitInfo:
        """Create or rename the unit."""
        reply = await call_backend(
            "ops", self.ops.PutUnit(ops_pb2.PutUnitRequest(unit_id=unit, name=name), timeout=self.timeout)
        )
        return _unit(reply)

    async def set_unit_threshold(self, unit: str, min_confidence: float | None) -> UnitInfo:
        """Set the unit's abstention threshold (None: back to retrieval's default); name unchanged."""
        request = ops_pb2.PutUnitRequest(
            unit_id=unit, min_confidence=min_confidence or SERVICE_DEFAULT_MIN_CONFIDENCE
        )
        reply = await call_backend(
            "ops", self.ops.PutUnit(request, timeout=self.timeout), not_found=UNIT_NOT_FOUND
        )
        return _unit(reply)

    async def record_audit_event(
        self,
        *,
        actor: str,
        action: str,
        unit: str,
        client_address: str,
        details: dict[str, str],
        target: str = "",
    ) -> None:
        """Append a successful change made through the gateway to ops' audit trail."""
        event = ops_pb2.AuditEvent(
            actor=actor,
            action=action,
            outcome="success",
            client_address=client_address,
            target=target or f"unit:{unit}",
            unit=unit,
            details=details,
        )
        await call_backend(
            "ops",
            self.ops.RecordAuditEvent(ops_pb2.RecordAuditEventRequest(event=event), timeout=self.timeout),
        )

    async def create_api_key(
        self,
        *,
        name: str,
        units: Sequence[str],
        all_units: bool,
        scopes: Sequence[str],
        expires_at: str = "",
    ) -> IssuedApiKey:
        """Issue a key through ops (a unit that does not exist is unit_not_found)."""
        request = ops_pb2.CreateApiKeyRequest(
            name=name, units=list(units), all_units=all_units, scopes=list(scopes), expires_at=expires_at
        )
        reply = await call_backend(
            "ops", self.ops.CreateApiKey(request, timeout=self.timeout), not_found=UNIT_NOT_FOUND
        )
        return IssuedApiKey(
            key_id=reply.key_id,
            api_key=reply.api_key,
            name=name,
            units=tuple(reply.principal.units),
            all_units=reply.principal.all_units,
            scopes=tuple(reply.principal.scopes),
            expires_at=reply.expires_at,
        )

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, newest first, without secrets."""
        reply = await call_backend(
            "ops", self.ops.ListApiKeys(ops_pb2.ListApiKeysRequest(), timeout=self.timeout)
        )
        return [_api_key(key) for key in reply.keys]

    async def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        """Revoke the key (404 when there is none); this replica forgets it at once."""
        reply = await call_backend(
            "ops", self.ops.RevokeApiKey(ops_pb2.RevokeApiKeyRequest(key_id=key_id), timeout=self.timeout)
        )
        self._api_key_cache = {
            key: cached
            for key, cached in self._api_key_cache.items()
            if cached[1].subject != reply.principal.subject
        }
        return _api_key(reply)

    async def delete_unit_index(self, unit: str) -> tuple[int, int]:
        """Drop the unit's whole index in retrieval; the (documents, chunks) it held."""
        reply = await call_backend(
            "retrieval",
            self.retrieval(unit).DeleteUnit(
                retrieval_pb2.DeleteUnitIndexRequest(unit=unit), timeout=self.timeout
            ),
        )
        return int(reply.documents), int(reply.chunks)

    async def delete_unit(self, unit: str) -> tuple[int, int]:
        """Forget the unit's record and keys in ops; (keys deleted, keys narrowed). Cached API keys
        of this replica are forgotten too, so a deleted key stops working here at once."""
        reply = await call_backend(
            "ops",
            self.ops.DeleteUnit(ops_pb2.DeleteUnitRequest(unit_id=unit), timeout=self.timeout),
            not_found=UNIT_NOT_FOUND,
        )
        self._api_key_cache.clear()
        return int(reply.api_keys_deleted), int(reply.api_keys_narrowed)


def _api_key(reply: ops_pb2.ApiKeyInfo) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=reply.key_id,
        name=reply.name,
        units=frozenset(reply.principal.units),
        all_units=reply.principal.all_units,
        scopes=tuple(reply.principal.scopes),
        created_at=reply.created_at,
        expires_at=reply.expires_at,
        revoked=reply.revoked,
        revoked_at=reply.revoked_at,
        last_used_at=reply.last_used_at,
    )


def _unit(reply: ops_pb2.Unit) -> UnitInfo:
    return UnitInfo(
        unit_id=reply.unit_id,
        name=reply.name,
        created_at=reply.created_at,
        updated_at=reply.updated_at,
        # proto float is 32-bit: 0.62 arrives as 0.6200000047...; six places give it back.
        min_confidence=round(reply.min_confidence, THRESHOLD_DIGITS)
        if reply.min_confidence > SERVICE_DEFAULT_MIN_CONFIDENCE
        else None,
    )
