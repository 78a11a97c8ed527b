"""gRPC edge of the ops service; one table maps domain errors to gRPC statuses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate
from services.ops.identity.adapters.nats_users import EventCredential, UnknownCredential
from services.ops.identity.adapters.security_repositories import AlreadyExists
from services.ops.identity.domain.accounts import InvalidAccountRequest, PermissionDenied
from services.ops.identity.domain.api_keys import ApiKeyRecord, InvalidApiKeyRequest, Principal
from services.ops.identity.domain.audit import AuditEvent as AuditRecord
from services.ops.identity.domain.audit import InvalidAuditEvent, InvalidAuditQuery, iso_time
from services.ops.identity.domain.errors import LoginFailed, NotFound, StepUpRequired, Unauthenticated
from services.ops.identity.domain.login import ChallengeFailed
from services.ops.identity.domain.throttling import LockedOut
from services.ops.identity.domain.units import InvalidUnit, Unit
from services.ops.identity.entrypoints.security_conversions import (
    account_to_proto,
    audit_event_from_proto,
    audit_event_to_proto,
    audit_filter_from_proto,
    audit_page_to_proto,
    enrolment_confirmed_to_proto,
    enrolment_to_proto,
    login_to_proto,
    policy_to_proto,
    public_keys_to_proto,
    session_state_to_proto,
    tokens_to_proto,
)
from services.ops.identity.use_cases.event_credentials import (
    EventCredentialAdmin,
    EventCredentialsUnavailable,
)
from services.ops.identity.use_cases.security import SecurityHandlers
from services.ops.service import OpsHandlers
from trolyao.logs import get_logger
from trolyao.natsaccess import unit_originals_bucket
from trolyao.v1 import ops_pb2, ops_pb2_grpc

log = get_logger("ops")

_ERROR_STATUS: list[tuple[type[Exception], grpc.StatusCode]] = [
    (InvalidUnit, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidApiKeyRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (UnknownCredential, grpc.StatusCode.NOT_FOUND),
    (EventCredentialsUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (ConcurrentUpdate, grpc.StatusCode.ABORTED),
    # accounts, OTP, tokens, audit (issue 5)
    (LoginFailed, grpc.StatusCode.UNAUTHENTICATED),
    (ChallengeFailed, grpc.StatusCode.UNAUTHENTICATED),
    (LockedOut, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StepUpRequired, grpc.StatusCode.FAILED_PRECONDITION),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (InvalidAccountRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidAuditEvent, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidAuditQuery, grpc.StatusCode.INVALID_ARGUMENT),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),
]
RETRY_AFTER_METADATA = "retry-after"
UNIT_DELETION_ACTOR = "ops:unit.deleted"

Reply = TypeVar("Reply")


def unit_to_proto(unit: Unit) -> ops_pb2.Unit:
    return ops_pb2.Unit(
        unit_id=unit.unit_id,
        name=unit.name,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
        min_confidence=unit.min_confidence,
    )


def principal_to_proto(principal: Principal) -> ops_pb2.Principal:
    return ops_pb2.Principal(
        subject=principal.subject,
        kind=principal.kind,
        units=list(principal.units),
        all_units=principal.all_units,
        scopes=list(principal.scopes),
    )


def api_key_to_proto(record: ApiKeyRecord) -> ops_pb2.ApiKeyInfo:
    """A key as listed: never its secret's hash."""
    return ops_pb2.ApiKeyInfo(
        key_id=record.key_id,
        name=record.name,
        principal=principal_to_proto(record.principal),
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked=record.revoked,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
    )


def event_credential_to_proto(credential: EventCredential) -> ops_pb2.EventCredentialInfo:
    """A credential as listed: never its secret nor the secret's hash."""
    return ops_pb2.EventCredentialInfo(
        credential_id=credential.credential_id,
        unit=credential.unit,
        user=credential.user,
        issued_at=iso_time(credential.issued_at),
        issued_by=credential.issued_by,
        revoked_at="" if credential.revoked_at is None else iso_time(credential.revoked_at),
        active=credential.active,
        originals_bucket=unit_originals_bucket(credential.unit),
    )


class OpsServicer(ops_pb2_grpc.OpsServiceServicer):
    def __init__(
        self,
        handlers: OpsHandlers,
        *,
        security: SecurityHandlers | None = None,
        event_credentials: EventCredentialAdmin | None = None,
    ) -> None:
        self._handlers = handlers
        self._security = security
        self._event_credentials = event_credentials

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

    async def PutUnit(
        self, request: ops_pb2.PutUnitRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Unit:
        async def work() -> ops_pb2.Unit:
            min_confidence = request.min_confidence if request.HasField("min_confidence") else None
            unit = await self._handlers.put_unit(request.unit_id, request.name, min_confidence=min_confidence)
            return unit_to_proto(unit)

        return await self._call(context, "PutUnit", work)

    async def GetUnit(
        self, request: ops_pb2.GetUnitRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Unit:
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

    async def DeleteUnit(
        self, request: ops_pb2.DeleteUnitRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.DeleteUnitResponse:
        async def work() -> ops_pb2.DeleteUnitResponse:
            deleted, narrowed = await self._handlers.delete_unit(request.unit_id)
            if self._event_credentials is not None:  # a deleted unit's systems publish no more
                await self._event_credentials.revoke_unit(request.unit_id, actor=UNIT_DELETION_ACTOR)
            return ops_pb2.DeleteUnitResponse(api_keys_deleted=deleted, api_keys_narrowed=narrowed)

        return await self._call(context, "DeleteUnit", work)

    async def CreateApiKey(
        self, request: ops_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.CreateApiKeyResponse:
        async def work() -> ops_pb2.CreateApiKeyResponse:
            api_key, record = await self._handlers.create_api_key(
                name=request.name,
                units=tuple(request.units),
                all_units=request.all_units,
                scopes=tuple(request.scopes),
                expires_at=request.expires_at,
            )
            return ops_pb2.CreateApiKeyResponse(
                key_id=record.key_id,
                api_key=api_key,
                principal=principal_to_proto(record.principal),
                expires_at=record.expires_at,
            )

        return await self._call(context, "CreateApiKey", work)

    async def AuthenticateApiKey(
        self, request: ops_pb2.AuthenticateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Principal:
        async def work() -> ops_pb2.Principal:
            return principal_to_proto(await self._handlers.authenticate_api_key(request.api_key))

        return await self._call(context, "AuthenticateApiKey", work)

    async def ListApiKeys(
        self, request: ops_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ListApiKeysResponse:
        async def work() -> ops_pb2.ListApiKeysResponse:
            keys = await self._handlers.list_api_keys()
            return ops_pb2.ListApiKeysResponse(keys=[api_key_to_proto(record) for record in keys])

        return await self._call(context, "ListApiKeys", work)

    async def RevokeApiKey(
        self, request: ops_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ApiKeyInfo:
        async def work() -> ops_pb2.ApiKeyInfo:
            return api_key_to_proto(await self._handlers.revoke_api_key(request.key_id))

        return await self._call(context, "RevokeApiKey", work)

    # ---------------------------------------------------------------- units' event credentials

    def _credential_admin(self) -> EventCredentialAdmin:
        if self._event_credentials is None:
            raise EventCredentialsUnavailable("event credentials are issued with the admin CLI here")
        return self._event_credentials

    async def IssueEventCredential(
        self, request: ops_pb2.IssueEventCredentialRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.IssuedEventCredential:
        async def work() -> ops_pb2.IssuedEventCredential:
            issued = await self._credential_admin().issue(
                request.unit, actor=request.actor, client_address=request.client_address
            )
            return ops_pb2.IssuedEventCredential(
                credential=event_credential_to_proto(issued.credential),
                password=issued.password,
                reloaded=issued.reloaded,
            )

        return await self._call(context, "IssueEventCredential", work)

    async def ListEventCredentials(
        self, request: ops_pb2.ListEventCredentialsRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ListEventCredentialsResponse:
        async def work() -> ops_pb2.ListEventCredentialsResponse:
            credentials = await self._credential_admin().list(request.unit)
            return ops_pb2.ListEventCredentialsResponse(
                credentials=[event_credential_to_proto(credential) for credential in credentials]
            )

        return await self._call(context, "ListEventCredentials", work)

    async def RevokeEventCredential(
        self, request: ops_pb2.RevokeEventCredentialRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.EventCredentialInfo:
        async def work() -> ops_pb2.EventCredentialInfo:
            credential, _reloaded = await self._credential_admin().revoke(
                request.credential_id,
                actor=request.actor,
                client_address=request.client_address,
                unit=request.unit,
            )
            return event_credential_to_proto(credential)

        return await self._call(context, "RevokeEventCredential", work)

    # ---------------------------------------------------------------- accounts, OTP, tokens, audit

    def _security_handlers(self) -> SecurityHandlers:
        if self._security is None:
            raise NotImplementedError("security handlers not wired")
        return self._security

    async def _secure(
        self, context: grpc.aio.ServicerContext, rpc: str, work: Callable[[], Awaitable[Reply]]
    ) -> Reply:
        """Like `_call`, and a lockout also tells the client when to retry (trailing metadata)."""

        async def guarded() -> Reply:
            try:
                return await work()
            except LockedOut as error:
                context.set_trailing_metadata(((RETRY_AFTER_METADATA, str(error.retry_after_seconds)),))
                raise

        return await self._call(context, rpc, guarded)

    async def StartLogin(
        self, request: ops_pb2.StartLoginRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.LoginStep:
        async def work() -> ops_pb2.LoginStep:
            result = await self._security_handlers().start_login(
                username=request.username, password=request.password, client_address=request.client_address
            )
            return login_to_proto(result)

        return await self._secure(context, "StartLogin", work)

    async def VerifyLoginOtp(
        self, request: ops_pb2.VerifyLoginOtpRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.LoginStep:
        async def work() -> ops_pb2.LoginStep:
            result = await self._security_handlers().verify_login_otp(
                challenge_id=request.challenge_id, code=request.code, client_address=request.client_address
            )
            return login_to_proto(result)

        return await self._secure(context, "VerifyLoginOtp", work)

    async def VerifyRecoveryCode(
        self, request: ops_pb2.VerifyRecoveryCodeRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.LoginStep:
        async def work() -> ops_pb2.LoginStep:
            result = await self._security_handlers().verify_recovery_code(
                challenge_id=request.challenge_id,
                recovery_code=request.recovery_code,
                client_address=request.client_address,
            )
            return login_to_proto(result)

        return await self._secure(context, "VerifyRecoveryCode", work)

    async def StartEnrolment(
        self, request: ops_pb2.StartEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.OtpEnrolment:
        async def work() -> ops_pb2.OtpEnrolment:
            enrolment = await self._security_handlers().start_enrolment(
                challenge_id=request.challenge_id,
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
            )
            return enrolment_to_proto(enrolment)

        return await self._secure(context, "StartEnrolment", work)

    async def ConfirmEnrolment(
        self, request: ops_pb2.ConfirmEnrolmentRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.EnrolmentConfirmed:
        async def work() -> ops_pb2.EnrolmentConfirmed:
            result = await self._security_handlers().confirm_enrolment(
                challenge_id=request.challenge_id,
                access_token=request.caller.access_token,
                code=request.code,
                client_address=request.caller.client_address,
            )
            return enrolment_confirmed_to_proto(result)

        return await self._secure(context, "ConfirmEnrolment", work)

    async def RefreshTokens(
        self, request: ops_pb2.RefreshTokensRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.TokenPair:
        async def work() -> ops_pb2.TokenPair:
            tokens = await self._security_handlers().refresh(
                refresh_token=request.refresh_token, client_address=request.client_address
            )
            return tokens_to_proto(tokens) or ops_pb2.TokenPair()

        return await self._secure(context, "RefreshTokens", work)

    async def Logout(
        self, request: ops_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.LogoutResponse:
        async def work() -> ops_pb2.LogoutResponse:
            await self._security_handlers().logout(
                access_token=request.caller.access_token,
                refresh_token=request.refresh_token,
                client_address=request.caller.client_address,
            )
            return ops_pb2.LogoutResponse()

        return await self._secure(context, "Logout", work)

    async def StepUp(
        self, request: ops_pb2.StepUpRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.TokenPair:
        async def work() -> ops_pb2.TokenPair:
            tokens = await self._security_handlers().step_up(
                access_token=request.caller.access_token,
                code=request.code,
                client_address=request.caller.client_address,
            )
            return tokens_to_proto(tokens) or ops_pb2.TokenPair()

        return await self._secure(context, "StepUp", work)

    async def CheckSession(
        self, request: ops_pb2.CheckSessionRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.SessionState:
        async def work() -> ops_pb2.SessionState:
            state = await self._security_handlers().check_session(request.session_id, request.subject)
            return session_state_to_proto(state)

        return await self._secure(context, "CheckSession", work)

    async def GetPublicKeys(
        self, request: ops_pb2.GetPublicKeysRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.PublicKeySet:
        async def work() -> ops_pb2.PublicKeySet:
            security = self._security_handlers()
            keys, active_kid = await security.public_keys()
            tokens = security.config.tokens
            return public_keys_to_proto(
                keys, active_kid=active_kid, issuer=tokens.issuer, audience=tokens.audience
            )

        return await self._secure(context, "GetPublicKeys", work)

    async def RotateSigningKey(
        self, request: ops_pb2.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.PublicKeySet:
        async def work() -> ops_pb2.PublicKeySet:
            security = self._security_handlers()
            keys, active_kid = await security.rotate_signing_key(
                access_token=request.caller.access_token, client_address=request.caller.client_address
            )
            tokens = security.config.tokens
            return public_keys_to_proto(
                keys, active_kid=active_kid, issuer=tokens.issuer, audience=tokens.audience
            )

        return await self._secure(context, "RotateSigningKey", work)

    async def ChangePassword(
        self, request: ops_pb2.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ChangePasswordResponse:
        async def work() -> ops_pb2.ChangePasswordResponse:
            await self._security_handlers().change_password(
                access_token=request.caller.access_token,
                current_password=request.current_password,
                new_password=request.new_password,
                client_address=request.caller.client_address,
            )
            return ops_pb2.ChangePasswordResponse()

        return await self._secure(context, "ChangePassword", work)

    async def CreateAccount(
        self, request: ops_pb2.CreateAccountRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.CreateAccountResponse:
        async def work() -> ops_pb2.CreateAccountResponse:
            account, password = await self._security_handlers().create_account(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                username=request.username,
                display_name=request.display_name,
                role=request.role,
                units=tuple(request.units),
            )
            return ops_pb2.CreateAccountResponse(account=account_to_proto(account), initial_password=password)

        return await self._secure(context, "CreateAccount", work)

    async def GetAccount(
        self, request: ops_pb2.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Account:
        async def work() -> ops_pb2.Account:
            account = await self._security_handlers().get_account(
                access_token=request.caller.access_token, username=request.username
            )
            return account_to_proto(account)

        return await self._secure(context, "GetAccount", work)

    async def ListAccounts(
        self, request: ops_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.ListAccountsResponse:
        async def work() -> ops_pb2.ListAccountsResponse:
            accounts = await self._security_handlers().list_accounts(access_token=request.caller.access_token)
            return ops_pb2.ListAccountsResponse(accounts=[account_to_proto(account) for account in accounts])

        return await self._secure(context, "ListAccounts", work)

    async def SetAccountRole(
        self, request: ops_pb2.SetAccountRoleRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Account:
        async def work() -> ops_pb2.Account:
            account = await self._security_handlers().set_account_role(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                username=request.username,
                role=request.role,
                units=tuple(request.units),
            )
            return account_to_proto(account)

        return await self._secure(context, "SetAccountRole", work)

    async def SetAccountDisabled(
        self, request: ops_pb2.SetAccountDisabledRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Account:
        async def work() -> ops_pb2.Account:
            account = await self._security_handlers().set_account_disabled(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                username=request.username,
                disabled=request.disabled,
            )
            return account_to_proto(account)

        return await self._secure(context, "SetAccountDisabled", work)

    async def ResetAccountOtp(
        self, request: ops_pb2.ResetAccountOtpRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.Account:
        async def work() -> ops_pb2.Account:
            account = await self._security_handlers().reset_account_otp(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                username=request.username,
            )
            return account_to_proto(account)

        return await self._secure(context, "ResetAccountOtp", work)

    async def GetSecurityPolicy(
        self, request: ops_pb2.GetSecurityPolicyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.SecurityPolicy:
        async def work() -> ops_pb2.SecurityPolicy:
            policy = await self._security_handlers().get_policy(access_token=request.caller.access_token)
            return policy_to_proto(policy)

        return await self._secure(context, "GetSecurityPolicy", work)

    async def SetSecurityPolicy(
        self, request: ops_pb2.SetSecurityPolicyRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.SecurityPolicy:
        async def work() -> ops_pb2.SecurityPolicy:
            policy = await self._security_handlers().set_policy(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                otp_required_for_all=request.otp_required_for_all,
            )
            return policy_to_proto(policy)

        return await self._secure(context, "SetSecurityPolicy", work)

    async def RecordAuditEvent(
        self, request: ops_pb2.RecordAuditEventRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.AuditEvent:
        async def work() -> ops_pb2.AuditEvent:
            event = await self._security_handlers().record_event(audit_event_from_proto(request.event))
            return audit_event_to_proto(event)

        return await self._secure(context, "RecordAuditEvent", work)

    async def QueryAudit(
        self, request: ops_pb2.QueryAuditRequest, context: grpc.aio.ServicerContext
    ) -> ops_pb2.QueryAuditResponse:
        async def work() -> ops_pb2.QueryAuditResponse:
            page = await self._security_handlers().query_audit(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                audit_filter=audit_filter_from_proto(request),
                limit=request.limit,
                after_sequence=request.after_sequence,
                newest_first=request.newest_first,
            )
            return audit_page_to_proto(page)

        return await self._secure(context, "QueryAudit", work)

    async def ExportAudit(
        self, request: ops_pb2.QueryAuditRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ops_pb2.AuditEvent]:
        async def work() -> AsyncIterator[AuditRecord]:
            return await self._security_handlers().export_audit(
                access_token=request.caller.access_token,
                client_address=request.caller.client_address,
                audit_filter=audit_filter_from_proto(request),
            )

        events = await self._secure(context, "ExportAudit", work)
        async for event in events:
            yield audit_event_to_proto(event)
