"""Every change made through the HTTP API leaves one audit record (README, "Security").

`ChangeAudit` wraps the app: when a route of `AUDITED_ROUTES` answers with success, it appends one
record to ops' audit trail — the caller (`Principal.subject`: an API key id, an account, the
bootstrap key), the client address, the unit and the path's ids — before the response leaves, so
a client never sees a change succeed whose record is missing without the gateway logging it.

Every mutating route is in exactly one of the tables below; `tests/security/test_change_audit.py`
walks the app's routes, so a new route that none of them names fails the test. Document events
published straight on NATS (units' systems, operator imports) are audited by ingest when applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.domain.authorization import Principal
from trolyao.logs import get_logger

log = get_logger("gateway")

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRINCIPAL_SCOPE_KEY = "trolyao.principal"
AUDIT_DETAILS_SCOPE_KEY = "trolyao.audit_details"
SUCCESS_STATUS_CEILING = 400

# (method, route path) → the action the gateway records for it.
AUDITED_ROUTES: dict[tuple[str, str], str] = {
    ("PUT", "/v1/units/{unit}"): "unit.saved",
    ("PUT", "/v1/units/{unit}/documents/{document_id}"): "document.upserted",
    ("DELETE", "/v1/units/{unit}/documents/{document_id}"): "document.deleted",
    ("POST", "/v1/units/{unit}/documents/{document_id}/reindex"): "document.reindexed",
    ("POST", "/v1/units/{unit}/faq"): "faq.created",
    ("PUT", "/v1/units/{unit}/faq/{faq_id}"): "faq.saved",
    ("DELETE", "/v1/units/{unit}/faq/{faq_id}"): "faq.deleted",
    ("POST", "/v1/api-keys"): "api_key.issued",
    ("DELETE", "/v1/api-keys/{key_id}"): "api_key.revoked",
}
# Routes whose use case writes its own record, with what only it knows (previous values).
SELF_AUDITED_ROUTES: dict[tuple[str, str], str] = {
    ("PUT", "/v1/units/{unit}/answer-threshold"): "unit.answer_threshold_changed",
    ("DELETE", "/v1/units/{unit}"): "unit.deleted",
    ("PUT", "/v1/units/{unit}/test-questions/{test_question_id}"): "unit.test_question_saved",
    ("DELETE", "/v1/units/{unit}/test-questions/{test_question_id}"): "unit.test_question_deleted",
    ("POST", "/v1/units/{unit}/test-questions/import"): "unit.test_questions_imported",
    ("POST", "/v1/units/{unit}/test-questions/promote"): "unit.test_question_saved",
    ("POST", "/v1/units/{unit}/test-runs"): "unit.test_run_started",
    ("POST", "/v1/units/{unit}/spot-checks"): "unit.spot_check_run",
}
# Routes ops audits itself (it checks the forwarded access token and records the outcome).
AUDITED_BY_OPS_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/auth/login"): "login.password",
    ("POST", "/v1/auth/login/otp"): "login.otp",
    ("POST", "/v1/auth/login/recovery"): "login.recovery_code",
    ("POST", "/v1/auth/enrolment/start"): "otp.enrolment_started",
    ("POST", "/v1/auth/enrolment/confirm"): "otp.enrolment_confirmed",
    ("POST", "/v1/auth/refresh"): "token.refreshed",
    ("POST", "/v1/auth/logout"): "token.logout",
    ("POST", "/v1/auth/step-up"): "login.step_up",
    ("POST", "/v1/auth/password"): "account.password_changed",
    ("PUT", "/v1/auth/policy"): "policy.changed",
    ("POST", "/v1/auth/signing-keys/rotate"): "signing_key.rotated",
    ("POST", "/v1/accounts"): "account.created",
    ("PUT", "/v1/accounts/{username}/role"): "account.role_changed",
    ("PUT", "/v1/accounts/{username}/status"): "account.disabled",
    ("POST", "/v1/accounts/{username}/otp-reset"): "account.otp_reset",
    ("POST", "/v1/snapshots"): "snapshot.taken",
    ("POST", "/v1/snapshots/{snapshot_id}/restore"): "snapshot.restored",
    ("DELETE", "/v1/snapshots/{snapshot_id}"): "snapshot.deleted",
    ("POST", "/v1/units/{unit}/event-credentials"): "event_credential.issued",
    ("DELETE", "/v1/units/{unit}/event-credentials/{credential_id}"): "event_credential.revoked",
}
# POST routes that change no knowledge, setting or credential (questions and ratings go to the
# activity log behind the reports; verifying a snapshot reads it).
NOT_CHANGES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/v1/units/{unit}/ask"),
        ("POST", "/v1/units/{unit}/ask/stream"),
        ("POST", "/v1/units/{unit}/feedback"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/snapshots/{snapshot_id}/verify"),
        ("POST", "/v1/snapshots/{snapshot_id}/restore/preview"),
    }
)

RecordChange = Callable[..., Awaitable[None]]


class ChangeAudit:
    """ASGI middleware: one audit record for each successful request to an `AUDITED_ROUTES` route."""

    def __init__(self, app: ASGIApp, *, record: RecordChange) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < SUCCESS_STATUS_CEILING:
                await self._record(scope, message)
            await send(message)

        await self.app(scope, receive, audited_send)

    async def _record(self, scope: Scope, message: Message) -> None:
        route = scope.get("route")
        action = AUDITED_ROUTES.get((str(scope.get("method")), str(getattr(route, "path", ""))))
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if action is None or not isinstance(principal, Principal):
            return
        path_params = {str(k): str(v) for k, v in dict(scope.get("path_params") or {}).items()}
        details = path_params | {"status": str(message["status"])}
        details |= dict(scope.get(AUDIT_DETAILS_SCOPE_KEY) or {})
        for name, value in message.get("headers") or ():
            if name.lower() == b"location":
                details["location"] = value.decode("latin-1")
        client = scope.get("client")
        unit = path_params.get("unit", "")
        try:
            await self.record(
                actor=principal.subject,
                action=action,
                unit=unit,
                target=str(scope.get("path", "")),
                client_address=str(client[0]) if client else "",
                details=details,
            )
        except Exception as error:  # the change is made; a lost audit record must at least be loud
            log.error("audit_record_failed", unit=unit, action=action, error=type(error).__name__)


def remember_principal(scope: Scope, principal: Principal) -> None:
    """Called by the authentication dependency: who made the request, for its audit record."""
    scope[PRINCIPAL_SCOPE_KEY] = principal


def add_audit_details(scope: Scope, **details: str) -> None:
    """What a route knows that the path does not say (an issued key's id), for the audit record."""
    scope.setdefault(AUDIT_DETAILS_SCOPE_KEY, {}).update(details)


__all__ = [
    "AUDITED_BY_OPS_ROUTES",
    "AUDITED_ROUTES",
    "NOT_CHANGES",
    "SELF_AUDITED_ROUTES",
    "ChangeAudit",
    "add_audit_details",
    "remember_principal",
]
