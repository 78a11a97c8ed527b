"""gRPC edge of snapshots (trolyao.v1.SnapshotService, served by the ops process).

One table maps domain errors to gRPC statuses; the stable problem code travels in the trailing
metadata `problem-code` (FAILED_PRECONDITION means both "damaged snapshot" and "step-up needed"),
and a refused snapshot's details are its Vietnamese reason. RestoreSnapshot checks the caller's
access token itself (a ministry admin with a recent OTP), whatever the gateway checked before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Protocol, TypeVar

import grpc

from services.ops.identity.domain.accounts import PermissionDenied, Role
from services.ops.identity.domain.errors import StepUpRequired, Unauthenticated
from services.ops.identity.domain.tokens import otp_is_fresh
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.recovery.domain.snapshot_ports import SnapshotAudit
from services.ops.recovery.domain.snapshots import (
    InvalidSnapshotRequest,
    PointInTime,
    RestoreBusy,
    RestorePhase,
    RestoreReport,
    SnapshotLimitReached,
    SnapshotManifest,
    SnapshotRejected,
    SnapshotTrigger,
)
from services.ops.recovery.use_cases.context import parse_time
from services.ops.recovery.use_cases.point_in_time import RestorePreview
from services.ops.recovery.use_cases.snapshots import SnapshotHandlers
from trolyao.logs import get_logger
from trolyao.v1 import snapshots_pb2, snapshots_pb2_grpc

log = get_logger("ops")

PROBLEM_CODE_METADATA = "problem-code"
RETRY_AFTER_METADATA = "retry-after"
ACTION_RESTORE_DENIED = "snapshot.restore_denied"
ACTION_DELETE_DENIED = "snapshot.delete_denied"
OUTCOME_DENIED = "denied"

_ERROR_STATUS: list[tuple[type[Exception], grpc.StatusCode, str]] = [
    (SnapshotRejected, grpc.StatusCode.FAILED_PRECONDITION, ""),
    (InvalidSnapshotRequest, grpc.StatusCode.INVALID_ARGUMENT, "invalid_request"),
    (RestoreBusy, grpc.StatusCode.ABORTED, "restore_in_progress"),
    (SnapshotLimitReached, grpc.StatusCode.RESOURCE_EXHAUSTED, "snapshot_limit_reached"),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "unauthenticated"),
    (StepUpRequired, grpc.StatusCode.FAILED_PRECONDITION, "step_up_required"),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "forbidden"),
]

Reply = TypeVar("Reply")


class RestoreAuthorizer(Protocol):
    """Decides whether a caller may restore; returns the actor to audit."""

    async def authorize_restore(
        self, access_token: str, client_address: str, *, denied_action: str = ACTION_RESTORE_DENIED
    ) -> str: ...


class StepUpRestoreAuthorizer:
    """A restore needs a ministry admin's access token with an OTP proven within the step-up window."""

    def __init__(
        self, security: SecurityHandlers, audit: SnapshotAudit, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._security = security
        self._audit = audit
        self._clock = clock

    async def authorize_restore(
        self, access_token: str, client_address: str, *, denied_action: str = ACTION_RESTORE_DENIED
    ) -> str:
        """The actor, when the token is a ministry admin's with a fresh OTP (restores and deletes)."""
        if not access_token:
            raise Unauthenticated("restoring a snapshot needs a ministry admin's access token")
        actor = await self._security.authenticate(access_token)
        reason = ""
        if actor.role is not Role.MINISTRY_ADMIN:
            reason = "ministry_admin_required"
        elif not otp_is_fresh(
            actor.otp_at, now=self._clock(), max_age_seconds=self._security.config.step_up_max_age_seconds
        ):
            reason = "step_up_required"
        if reason:
            await self._audit.record(
                denied_action,
                OUTCOME_DENIED,
                actor=actor.subject,
                reason=reason,
                client_address=client_address,
            )
            if reason == "step_up_required":
                raise StepUpRequired("restoring a snapshot needs an OTP entered within the last minutes")
            raise PermissionDenied(reason)
        return actor.subject


def manifest_to_proto(manifest: SnapshotManifest) -> snapshots_pb2.SnapshotInfo:
    return snapshots_pb2.SnapshotInfo(
        snapshot_id=manifest.snapshot_id,
        scope=manifest.scope.value,
        created_at=manifest.created_at,
        embedding_model=manifest.embedding_model,
        schema_version=manifest.schema_version,
        stream_sequence=manifest.stream_sequence,
        size_bytes=manifest.size_bytes,
        units=[
            snapshots_pb2.UnitSnapshotInfo(
                unit=entry.unit,
                stream_sequence=entry.stream_sequence,
                replay_from_sequence=entry.replay_from_sequence,
                documents=entry.documents,
                chunks=entry.chunks,
                originals=entry.originals,
                index_format=entry.index_format,
            )
            for entry in manifest.units
        ],
        parts=[
            snapshots_pb2.SnapshotPart(
                name=part.name, kind=part.kind.value, unit=part.unit, size=part.size, sha256=part.sha256
            )
            for part in manifest.parts
        ],
        trigger=manifest.trigger.value,
        seconds=manifest.seconds,
        storage=manifest.storage,
    )


def _phases(phases: tuple[RestorePhase, ...]) -> list[snapshots_pb2.RestorePhase]:
    return [snapshots_pb2.RestorePhase(name=phase.name, seconds=phase.seconds) for phase in phases]


def report_to_proto(report: RestoreReport) -> snapshots_pb2.RestoreReport:
    return snapshots_pb2.RestoreReport(
        snapshot_id=report.snapshot_id,
        units=[
            snapshots_pb2.UnitRestoreReport(
                unit=item.unit,
                documents=item.documents,
                chunks=item.chunks,
                replay_from_sequence=item.replay_from_sequence,
                replay_to_sequence=item.replay_to_sequence,
                replayed_events=item.replayed_events,
                replay_complete=item.replay_complete,
                replay_note=item.replay_note,
                missing_originals=list(item.missing_originals),
                restored_key_values=item.restored_key_values,
                phases=_phases(item.phases),
                skipped_events=item.skipped_events,
            )
            for item in report.units
        ],
        restored_buckets=list(report.restored_buckets),
        phases=_phases(report.phases),
        seconds=report.seconds,
    )


def _point_in_time(request: snapshots_pb2.RestoreSnapshotRequest) -> PointInTime:
    if request.up_to_sequence < 0:
        raise InvalidSnapshotRequest("up_to_sequence phải là số thứ tự không âm")
    moment = None
    if request.up_to_time:
        try:
            moment = parse_time(request.up_to_time)
            moment = moment.astimezone(UTC) if moment is not None else None
        except OverflowError:  # e.g. year 9999 west of UTC
            moment = None
        if moment is None:
            raise InvalidSnapshotRequest(
                "up_to_time phải là thời điểm RFC 3339, ví dụ 2026-12-04T08:30:00+07:00"
            )
    return PointInTime(up_to_sequence=request.up_to_sequence, up_to_time=moment)


def preview_to_proto(preview: RestorePreview) -> snapshots_pb2.RestorePreview:
    return snapshots_pb2.RestorePreview(
        snapshot_id=preview.snapshot_id,
        units=[
            snapshots_pb2.UnitRestorePreview(
                unit=item.unit,
                replay_from_sequence=item.replay_from_sequence,
                replay_to_sequence=item.replay_to_sequence,
                skipped_events=item.skipped_events,
                skipped=[
                    snapshots_pb2.SkippedEvent(
                        sequence=event.sequence,
                        stored_at=event.stored_at,
                        kind=event.kind,
                        document_id=event.document_id,
                        version=event.version,
                        source=event.source,
                    )
                    for event in item.skipped
                ],
            )
            for item in preview.units
        ],
    )


def _scope_unit(unit: str, all_units: bool) -> str | None:
    if all_units and unit:
        raise InvalidSnapshotRequest("chỉ chọn một trong hai: một đơn vị, hoặc tất cả đơn vị")
    if not all_units and not unit:
        raise InvalidSnapshotRequest("cần chỉ rõ đơn vị, hoặc chọn tất cả đơn vị")
    return None if all_units else unit


class SnapshotServicer(snapshots_pb2_grpc.SnapshotServiceServicer):
    def __init__(self, handlers: SnapshotHandlers, *, authorizer: RestoreAuthorizer) -> None:
        self._handlers = handlers
        self._authorizer = authorizer

    async def _call(
        self, context: grpc.aio.ServicerContext, rpc: str, work: Callable[[], Awaitable[Reply]]
    ) -> Reply:
        try:
            return await work()
        except Exception as error:
            status, code = next(
                ((status, code) for kind, status, code in _ERROR_STATUS if isinstance(error, kind)),
                (grpc.StatusCode.INTERNAL, "internal_error"),
            )
            details = str(error)
            if isinstance(error, SnapshotRejected):
                code, details = error.code.value, error.message
            if status is grpc.StatusCode.INTERNAL:
                log.exception("rpc_failed", rpc=rpc)
            metadata: tuple[tuple[str, str], ...] = ((PROBLEM_CODE_METADATA, code),)
            if isinstance(error, SnapshotLimitReached):
                metadata += ((RETRY_AFTER_METADATA, str(error.retry_after_seconds)),)
            context.set_trailing_metadata(metadata)
            await context.abort(status, details)
            raise

    async def TakeSnapshot(
        self, request: snapshots_pb2.TakeSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.SnapshotInfo:
        async def work() -> snapshots_pb2.SnapshotInfo:
            manifest = await self._handlers.take_snapshot(
                unit=_scope_unit(request.unit, request.all_units),
                trigger=SnapshotTrigger.MANUAL,
                actor=request.actor or "unknown",
                client_address=request.client_address,
            )
            return manifest_to_proto(manifest)

        return await self._call(context, "TakeSnapshot", work)

    async def ListSnapshots(
        self, request: snapshots_pb2.ListSnapshotsRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.ListSnapshotsResponse:
        async def work() -> snapshots_pb2.ListSnapshotsResponse:
            manifests = await self._handlers.list_snapshots(unit=request.unit or None, limit=request.limit)
            if request.unit:
                manifests = [manifest.only_unit(request.unit) for manifest in manifests]
            return snapshots_pb2.ListSnapshotsResponse(snapshots=[manifest_to_proto(m) for m in manifests])

        return await self._call(context, "ListSnapshots", work)

    async def VerifySnapshot(
        self, request: snapshots_pb2.VerifySnapshotRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.VerifySnapshotResponse:
        async def work() -> snapshots_pb2.VerifySnapshotResponse:
            try:
                await self._handlers.verify_snapshot(request.snapshot_id, unit=request.unit or None)
            except SnapshotRejected as rejected:
                return snapshots_pb2.VerifySnapshotResponse(
                    ok=False, code=rejected.code.value, reason=rejected.message
                )
            return snapshots_pb2.VerifySnapshotResponse(ok=True)

        return await self._call(context, "VerifySnapshot", work)

    async def RestoreSnapshot(
        self, request: snapshots_pb2.RestoreSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.RestoreReport:
        async def work() -> snapshots_pb2.RestoreReport:
            unit = _scope_unit(request.unit, request.all_units)
            point = _point_in_time(request)
            actor = await self._authorizer.authorize_restore(
                request.caller.access_token, request.caller.client_address
            )
            report = await self._handlers.restore_snapshot(
                request.snapshot_id,
                unit=unit,
                actor=actor,
                client_address=request.caller.client_address,
                point=point,
            )
            return report_to_proto(report)

        return await self._call(context, "RestoreSnapshot", work)

    async def PreviewRestore(
        self, request: snapshots_pb2.RestoreSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.RestorePreview:
        async def work() -> snapshots_pb2.RestorePreview:
            unit = _scope_unit(request.unit, request.all_units)
            point = _point_in_time(request)
            await self._authorizer.authorize_restore(
                request.caller.access_token, request.caller.client_address
            )
            preview = await self._handlers.preview_restore(request.snapshot_id, unit=unit, point=point)
            return preview_to_proto(preview)

        return await self._call(context, "PreviewRestore", work)

    async def DeleteSnapshot(
        self, request: snapshots_pb2.DeleteSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> snapshots_pb2.DeleteSnapshotResponse:
        async def work() -> snapshots_pb2.DeleteSnapshotResponse:
            actor = await self._authorizer.authorize_restore(
                request.caller.access_token, request.caller.client_address, denied_action=ACTION_DELETE_DENIED
            )
            await self._handlers.delete_snapshot(
                request.snapshot_id, actor=actor, client_address=request.caller.client_address
            )
            return snapshots_pb2.DeleteSnapshotResponse(snapshot_id=request.snapshot_id)

        return await self._call(context, "DeleteSnapshot", work)
