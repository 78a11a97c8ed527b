"""Protobuf <-> security domain, once, at the gRPC edge (no protobuf type goes further in)."""

from __future__ import annotations

from services.ops.identity.domain.accounts import Account, SecurityPolicy
from services.ops.identity.domain.audit import AuditEvent, AuditFilter, InvalidAuditQuery, Outcome, parse_iso
from services.ops.identity.domain.tokens import ACCESS_TOKEN_ALGORITHM, SigningKey, jwk_json
from services.ops.identity.use_cases.audit_trail import AuditPage
from services.ops.identity.use_cases.authentication import SessionState
from services.ops.identity.use_cases.enrolment import EnrolmentResult, EnrolmentStart
from services.ops.identity.use_cases.sessions import IssuedTokens, LoginResult
from trolyao.v1 import ops_pb2

TOKEN_TYPE = "Bearer"


def tokens_to_proto(tokens: IssuedTokens | None) -> ops_pb2.TokenPair | None:
    if tokens is None:
        return None
    return ops_pb2.TokenPair(
        access_token=tokens.access_token,
        token_type=TOKEN_TYPE,
        access_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
    )


def login_to_proto(result: LoginResult) -> ops_pb2.LoginStep:
    return ops_pb2.LoginStep(
        next=result.next,
        challenge_id=result.challenge.challenge_id if result.challenge else "",
        challenge_expires_at=int(result.challenge.expires_at) if result.challenge else 0,
        tokens=tokens_to_proto(result.tokens),
        recovery_codes_left=result.recovery_codes_left,
    )


def enrolment_to_proto(enrolment: EnrolmentStart) -> ops_pb2.OtpEnrolment:
    return ops_pb2.OtpEnrolment(
        otpauth_uri=enrolment.otpauth_uri,
        secret=enrolment.secret,
        qr_svg=enrolment.qr_svg,
        qr_png=enrolment.qr_png,
    )


def enrolment_confirmed_to_proto(result: EnrolmentResult) -> ops_pb2.EnrolmentConfirmed:
    return ops_pb2.EnrolmentConfirmed(
        recovery_codes=result.recovery_codes, tokens=tokens_to_proto(result.tokens)
    )


def session_state_to_proto(state: SessionState) -> ops_pb2.SessionState:
    return ops_pb2.SessionState(active=state.active, reason=state.reason)


def public_keys_to_proto(
    keys: list[SigningKey], *, active_kid: str, issuer: str, audience: str
) -> ops_pb2.PublicKeySet:
    return ops_pb2.PublicKeySet(
        keys=[
            ops_pb2.PublicKey(
                kid=key.kid,
                alg=ACCESS_TOKEN_ALGORITHM,
                jwk_json=jwk_json(key),
                created_at=int(key.created_at),
                retired_at=int(key.retired_at),
            )
            for key in keys
        ],
        issuer=issuer,
        audience=audience,
        active_kid=active_kid,
    )


def account_to_proto(account: Account) -> ops_pb2.Account:
    return ops_pb2.Account(
        username=account.username,
        display_name=account.display_name,
        role=account.role.value,
        units=list(account.units),
        otp_enrolled=account.otp_enrolled,
        disabled=account.disabled,
        recovery_codes_left=len(account.recovery_code_hashes),
        created_at=account.created_at,
        updated_at=account.updated_at,
        created_by=account.created_by,
    )


def policy_to_proto(policy: SecurityPolicy) -> ops_pb2.SecurityPolicy:
    return ops_pb2.SecurityPolicy(
        otp_required_for_all=policy.otp_required_for_all,
        updated_at=policy.updated_at,
        updated_by=policy.updated_by,
    )


def audit_event_to_proto(event: AuditEvent) -> ops_pb2.AuditEvent:
    return ops_pb2.AuditEvent(
        sequence=event.sequence,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        outcome=event.outcome.value,
        client_address=event.client_address,
        target=event.target,
        unit=event.unit,
        reason=event.reason,
        details=dict(event.details),
        schema_version=event.schema_version,
    )


def audit_event_from_proto(message: ops_pb2.AuditEvent) -> AuditEvent:
    """An event sent by another service (ids and times are assigned by ops)."""
    try:
        outcome = Outcome(message.outcome)
    except ValueError as error:
        raise InvalidAuditQuery(f"outcome must be one of {[o.value for o in Outcome]}") from error
    return AuditEvent(
        event_id=message.event_id,
        occurred_at=message.occurred_at,
        actor=message.actor,
        action=message.action,
        outcome=outcome,
        client_address=message.client_address,
        target=message.target,
        unit=message.unit,
        reason=message.reason,
        details=dict(message.details),
    )


def audit_page_to_proto(page: AuditPage) -> ops_pb2.QueryAuditResponse:
    return ops_pb2.QueryAuditResponse(
        events=[audit_event_to_proto(event) for event in page.events],
        next_after_sequence=page.next_after_sequence,
        more=page.more,
    )


def audit_filter_from_proto(request: ops_pb2.QueryAuditRequest) -> AuditFilter:
    try:
        since = parse_iso(request.since) if request.since else None
        until = parse_iso(request.until) if request.until else None
    except ValueError as error:
        raise InvalidAuditQuery("since and until must be ISO 8601 times") from error
    if request.outcome and request.outcome not in {o.value for o in Outcome}:
        raise InvalidAuditQuery(f"outcome must be one of {[o.value for o in Outcome]}")
    return AuditFilter(
        since=since,
        until=until,
        actor=request.actor,
        action=request.action,
        unit=request.unit,
        outcome=request.outcome,
    )
