"""The identity use cases as one object, for the gRPC servicers and the admin CLI.

Each method hands over to the use case module that owns it (login, enrolment, session_refresh,
step_up, password_change, account_admin, security_policy, signing_keys, audit_trail,
authentication); this class adds no logic of its own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from services.ops.identity.domain.accounts import Account, Actor, SecurityPolicy
from services.ops.identity.domain.audit import AuditEvent, AuditFilter
from services.ops.identity.domain.tokens import SigningKey
from services.ops.identity.use_cases import (
    account_admin,
    audit_trail,
    authentication,
    enrolment,
    login,
    password_change,
    security_policy,
    session_refresh,
    signing_key_rotation,
    signing_keys,
    step_up,
)
from services.ops.identity.use_cases.audit_trail import AuditPage
from services.ops.identity.use_cases.authentication import SessionState
from services.ops.identity.use_cases.context import IdentityContext, SecurityConfig
from services.ops.identity.use_cases.enrolment import EnrolmentResult, EnrolmentStart
from services.ops.identity.use_cases.sessions import IssuedTokens, LoginResult


class SecurityHandlers:
    """Use cases of the security domain. Wired once by `bootstrap` (and by the admin CLI)."""

    def __init__(self, context: IdentityContext) -> None:
        self._ctx = context

    @property
    def config(self) -> SecurityConfig:
        return self._ctx.config

    @property
    def context(self) -> IdentityContext:
        """What the use cases run over (for calling a use case function directly)."""
        return self._ctx

    # ------------------------------------------------------------------ signing keys

    async def ensure_signing_key(self) -> SigningKey:
        """The active signing key, made (or rotated) when missing or older than the rotation period."""
        return await signing_keys.ensure_signing_key(self._ctx)

    async def public_keys(self) -> tuple[list[SigningKey], str]:
        """Published keys (newest first) and the active kid."""
        return await signing_keys.public_keys(self._ctx)

    async def rotate_signing_key(
        self, *, access_token: str, client_address: str
    ) -> tuple[list[SigningKey], str]:
        """Make a new key active now (ministry admin, step-up)."""
        return await signing_key_rotation.rotate_signing_key(
            self._ctx, access_token=access_token, client_address=client_address
        )

    # ------------------------------------------------------------------ callers and sessions

    async def check_session(self, session_id: str, subject: str) -> SessionState:
        """Is the session behind an access token still valid (not revoked, account unchanged)?"""
        return await authentication.check_session(self._ctx, session_id, subject)

    async def authenticate(self, access_token: str) -> Actor:
        """Verify an access token (signature, lifetime) and its session; Unauthenticated otherwise."""
        return await authentication.authenticate(self._ctx, access_token)

    async def authorise_dangerous(
        self, *, access_token: str, client_address: str, unit: str | None, action: str
    ) -> Actor:
        """For other ops use cases (restore, snapshot deletion): a ministry admin, or for `unit` that
        unit's admin, whose OTP is recent (see `authentication.authorise_dangerous`)."""
        return await authentication.authorise_dangerous(
            self._ctx, access_token=access_token, client_address=client_address, unit=unit, action=action
        )

    async def refresh(self, *, refresh_token: str, client_address: str) -> IssuedTokens:
        """Rotate a refresh token. Reuse of a rotated token revokes the family."""
        return await session_refresh.refresh(
            self._ctx, refresh_token=refresh_token, client_address=client_address
        )

    async def logout(self, *, access_token: str, refresh_token: str, client_address: str) -> None:
        """End the session named by a valid access token, or by its current refresh token."""
        await session_refresh.logout(
            self._ctx, access_token=access_token, refresh_token=refresh_token, client_address=client_address
        )

    # ------------------------------------------------------------------ login, enrolment, step-up

    async def start_login(self, *, username: str, password: str, client_address: str) -> LoginResult:
        """Check the password (same work and same answer whether or not the account exists)."""
        return await login.start_login(
            self._ctx, username=username, password=password, client_address=client_address
        )

    async def verify_login_otp(self, *, challenge_id: str, code: str, client_address: str) -> LoginResult:
        """Second step with a TOTP code."""
        return await login.verify_login_otp(
            self._ctx, challenge_id=challenge_id, code=code, client_address=client_address
        )

    async def verify_recovery_code(
        self, *, challenge_id: str, recovery_code: str, client_address: str
    ) -> LoginResult:
        """Second step with a single-use recovery code (it is struck off when accepted)."""
        return await login.verify_recovery_code(
            self._ctx, challenge_id=challenge_id, recovery_code=recovery_code, client_address=client_address
        )

    async def start_enrolment(
        self, *, challenge_id: str, access_token: str, client_address: str
    ) -> EnrolmentStart:
        """A fresh pending secret (replacing any earlier pending one), as URI and QR codes."""
        return await enrolment.start_enrolment(
            self._ctx, challenge_id=challenge_id, access_token=access_token, client_address=client_address
        )

    async def confirm_enrolment(
        self, *, challenge_id: str, access_token: str, code: str, client_address: str
    ) -> EnrolmentResult:
        """Confirm the pending secret with a first code; returns recovery codes (and tokens at login)."""
        return await enrolment.confirm_enrolment(
            self._ctx,
            challenge_id=challenge_id,
            access_token=access_token,
            code=code,
            client_address=client_address,
        )

    async def step_up(self, *, access_token: str, code: str, client_address: str) -> IssuedTokens:
        """Prove the second factor again; the new access token's otp_at is now."""
        return await step_up.step_up(
            self._ctx, access_token=access_token, code=code, client_address=client_address
        )

    async def change_password(
        self, *, access_token: str, current_password: str, new_password: str, client_address: str
    ) -> None:
        """Change one's own password; every session of the account ends (log in again)."""
        await password_change.change_password(
            self._ctx,
            access_token=access_token,
            current_password=current_password,
            new_password=new_password,
            client_address=client_address,
        )

    # ------------------------------------------------------------------ accounts, roles, policy

    async def create_account(
        self,
        *,
        access_token: str,
        client_address: str,
        username: str,
        display_name: str,
        role: str,
        units: tuple[str, ...],
    ) -> tuple[Account, str]:
        """Create an account with a random initial password (returned once). Step-up required."""
        return await account_admin.create_account(
            self._ctx,
            access_token=access_token,
            client_address=client_address,
            username=username,
            display_name=display_name,
            role=role,
            units=units,
        )

    async def create_first_admin(
        self, *, username: str, display_name: str, password: str, allow_additional: bool = False
    ) -> tuple[Account, EnrolmentStart]:
        """For the admin CLI: a ministry admin with a pending authenticator (the QR to print).

        Refuses when a ministry admin exists already, unless `allow_additional` (break-glass).
        """
        return await account_admin.create_first_admin(
            self._ctx,
            username=username,
            display_name=display_name,
            password=password,
            allow_additional=allow_additional,
        )

    async def get_account(self, *, access_token: str, username: str) -> Account:
        return await account_admin.get_account(self._ctx, access_token=access_token, username=username)

    async def list_accounts(self, *, access_token: str) -> list[Account]:
        return await account_admin.list_accounts(self._ctx, access_token=access_token)

    async def set_account_role(
        self, *, access_token: str, client_address: str, username: str, role: str, units: tuple[str, ...]
    ) -> Account:
        """Change an account's role and units (step-up). Its sessions end."""
        return await account_admin.set_account_role(
            self._ctx,
            access_token=access_token,
            client_address=client_address,
            username=username,
            role=role,
            units=units,
        )

    async def set_account_disabled(
        self, *, access_token: str, client_address: str, username: str, disabled: bool
    ) -> Account:
        """Disable (sessions end at once) or re-enable an account (step-up)."""
        return await account_admin.set_account_disabled(
            self._ctx,
            access_token=access_token,
            client_address=client_address,
            username=username,
            disabled=disabled,
        )

    async def reset_account_otp(self, *, access_token: str, client_address: str, username: str) -> Account:
        """Forget an account's authenticator and recovery codes (lost phone); it enrols again."""
        return await account_admin.reset_account_otp(
            self._ctx, access_token=access_token, client_address=client_address, username=username
        )

    async def get_policy(self, *, access_token: str) -> SecurityPolicy:
        return await security_policy.get_policy(self._ctx, access_token=access_token)

    async def set_policy(
        self, *, access_token: str, client_address: str, otp_required_for_all: bool
    ) -> SecurityPolicy:
        """Require OTP of every account, or only of admins (ministry admin, step-up)."""
        return await security_policy.set_policy(
            self._ctx,
            access_token=access_token,
            client_address=client_address,
            otp_required_for_all=otp_required_for_all,
        )

    # ------------------------------------------------------------------ audit trail

    async def record_event(self, event: AuditEvent) -> AuditEvent:
        """Append an event sent by another service (documents, snapshots, units)."""
        return await audit_trail.record_event(self._ctx, event)

    async def query_audit(
        self,
        *,
        access_token: str,
        client_address: str,
        audit_filter: AuditFilter,
        limit: int,
        after_sequence: int,
        newest_first: bool = False,
    ) -> AuditPage:
        """One page of matching events, oldest first or newest first (ministry admins)."""
        return await audit_trail.query_audit(
            self._ctx,
            access_token=access_token,
            client_address=client_address,
            audit_filter=audit_filter,
            limit=limit,
            after_sequence=after_sequence,
            newest_first=newest_first,
        )

    async def export_audit(
        self, *, access_token: str, client_address: str, audit_filter: AuditFilter
    ) -> AsyncGenerator[AuditEvent, None]:
        """Every matching event, oldest first (ministry admins). The export itself is audited first."""
        return await audit_trail.export_audit(
            self._ctx, access_token=access_token, client_address=client_address, audit_filter=audit_filter
        )
