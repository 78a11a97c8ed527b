"""Accounts of civil servants: roles bound to units, Argon2id passwords, and who may manage whom.

An account holds exactly one role. Unit roles (unit admin, unit editor, viewer) are bound to one or
more units; a ministry admin acts on every unit. One role per account keeps the access token's
flat `units` + `scopes` claims exact: a mix (admin of A, viewer of B) would widen B.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trolyao.messaging import UNIT_ID_PATTERN

USERNAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9]|[._-](?=[a-z0-9])){2,63}$")
MAX_DISPLAY_NAME_CHARS = 200
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
INITIAL_PASSWORD_BYTES = 18
MAX_UNITS_PER_ACCOUNT = 64
ARGON2_HASH_BYTES = 32
ARGON2_SALT_BYTES = 16


class Role(StrEnum):
    MINISTRY_ADMIN = "ministry_admin"
    UNIT_ADMIN = "unit_admin"
    UNIT_EDITOR = "unit_editor"
    VIEWER = "viewer"


ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.MINISTRY_ADMIN: ("admin", "read", "write"),
    Role.UNIT_ADMIN: ("admin", "read", "write"),
    Role.UNIT_EDITOR: ("read", "write"),
    Role.VIEWER: ("read",),
}
# Two factors for everyone who can change documents, FAQ entries or settings (the seed's doctrine):
# every role with the write or admin scope. The policy's `otp_required_for_all` adds viewers.
ROLES_REQUIRING_OTP = frozenset(
    role for role, scopes in ROLE_SCOPES.items() if {"write", "admin"} & set(scopes)
)
ROLES_UNIT_ADMINS_MANAGE = frozenset({Role.UNIT_EDITOR, Role.VIEWER})


class InvalidAccountRequest(ValueError):
    """A username, role binding or password that breaks the rules."""


class PermissionDenied(PermissionError):
    """The caller is authenticated but its role does not allow this."""


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """Ministry-wide login policy: every role that can change anything always needs OTP whatever it
    says; `otp_required_for_all` extends that to read-only viewers."""

    otp_required_for_all: bool = False
    updated_at: str = ""
    updated_by: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """One person's account. Secrets are only ever held sealed (`*_sealed`) or hashed."""

    username: str
    display_name: str
    role: Role
    units: tuple[str, ...]
    password_hash: str
    created_at: str
    updated_at: str
    created_by: str
    otp_secret_sealed: str = ""
    otp_pending_sealed: str = ""
    otp_enrolled_at: str = ""
    otp_last_step: int = 0
    recovery_code_hashes: tuple[str, ...] = ()
    disabled: bool = False
    # Bumped whenever role, password, authenticator or status change: sessions from before end.
    epoch: int = 0

    @property
    def otp_enrolled(self) -> bool:
        return bool(self.otp_secret_sealed)

    @property
    def all_units(self) -> bool:
        return self.role is Role.MINISTRY_ADMIN

    @property
    def scopes(self) -> tuple[str, ...]:
        return ROLE_SCOPES[self.role]

    @property
    def subject(self) -> str:
        return subject_of(self.username)

    def requires_otp(self, policy: SecurityPolicy) -> bool:
        """Must this account pass a second factor to log in (enrolled, admin role, or policy)?"""
        return self.otp_enrolled or self.role in ROLES_REQUIRING_OTP or policy.otp_required_for_all


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a management call, taken from a verified access token."""

    username: str
    role: Role
    units: tuple[str, ...]
    otp_at: float | None
    session_id: str

    @property
    def subject(self) -> str:
        return subject_of(self.username)


def subject_of(username: str) -> str:
    """The token subject and audit actor of an account."""
    return f"user:{username}"


def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def validate_username(raw: str) -> str:
    """The normalised username, or InvalidAccountRequest."""
    username = normalise_username(raw)
    if not USERNAME_PATTERN.match(username):
        raise InvalidAccountRequest(
            "username must have 3-64 lower-case letters or digits, single '.', '_' or '-' between them"
        )
    return username


def validate_display_name(raw: str) -> str:
    name = " ".join(raw.split())
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidAccountRequest(f"display name must have at most {MAX_DISPLAY_NAME_CHARS} characters")
    return name


def validate_role_binding(role: str, units: Iterable[str]) -> tuple[Role, tuple[str, ...]]:
    """Parse a role and its units: a ministry admin has none, every other role at least one."""
    try:
        parsed = Role(role)
    except ValueError as error:
        raise InvalidAccountRequest(f"role must be one of {[r.value for r in Role]}") from error
    bound = tuple(sorted({unit.strip() for unit in units if unit.strip()}))
    if parsed is Role.MINISTRY_ADMIN:
        if bound:
            raise InvalidAccountRequest("a ministry admin acts on every unit; give no units")
        return parsed, ()
    if not bound:
        raise InvalidAccountRequest("a unit role needs at least one unit")
    if len(bound) > MAX_UNITS_PER_ACCOUNT:
        raise InvalidAccountRequest(f"at most {MAX_UNITS_PER_ACCOUNT} units per account")
    for unit in bound:
        if not UNIT_ID_PATTERN.match(unit):
            raise InvalidAccountRequest("unit ids are lower-case letters, digits or '-'")
    return parsed, bound


def validate_new_password(password: str, *, username: str) -> None:
    """Length limits (the upper one keeps Argon2 from being fed megabytes) and not the username."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidAccountRequest(
            f"password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
    if username and username in password.lower():
        raise InvalidAccountRequest("password must not contain the username")


def new_initial_password() -> str:
    """A random first password (shown once to the admin who created the account)."""
    return secrets.token_urlsafe(INITIAL_PASSWORD_BYTES)


class PasswordHashing:
    """Argon2id with configurable cost (production: RFC 9106 profile; tests: cheap)."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=ARGON2_HASH_BYTES,
            salt_len=ARGON2_SALT_BYTES,
            type=Type.ID,
        )
        # Verified against when the username is unknown, so that case costs the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(INITIAL_PASSWORD_BYTES))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a None hash (unknown user) burns the same work and fails."""
        too_long = len(password) > MAX_PASSWORD_CHARS
        if too_long or password_hash is None:
            password_hash, password = None, password[:MAX_PASSWORD_CHARS]
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def may_grant(actor: Actor, role: Role, units: tuple[str, ...]) -> bool:
    """May `actor` give (or take away) `role` on `units`?"""
    if actor.role is Role.MINISTRY_ADMIN:
        return True
    if actor.role is Role.UNIT_ADMIN:
        return role in ROLES_UNIT_ADMINS_MANAGE and bool(units) and set(units) <= set(actor.units)
    return False


def ensure_may_manage(actor: Actor, account: Account) -> None:
    """Raise PermissionDenied unless `actor` may change `account` (never its own role or status)."""
    if actor.username == account.username:
        raise PermissionDenied("an account cannot change its own role, status or authenticator")
    if not may_grant(actor, account.role, account.units):
        raise PermissionDenied("the account is outside the caller's authority")


def may_view(actor: Actor, account: Account) -> bool:
    """Ministry admins see everyone; unit admins see accounts sharing a unit; others only themselves."""
    if actor.username == account.username or actor.role is Role.MINISTRY_ADMIN:
        return True
    return actor.role is Role.UNIT_ADMIN and bool(set(account.units) & set(actor.units))
