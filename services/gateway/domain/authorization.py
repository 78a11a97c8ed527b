"""Who may do what: the gateway's single authorisation check.

Every route declares the unit it touches and the scope it needs; `authorize` is the only place that
decides. A unit-scoped credential never reaches another unit, whatever id it puts in a path, body
or query, because routes take the unit from the path and pass it here before doing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_IMPLIED: dict[Scope, set[Scope]] = {
    Scope.READ: {Scope.READ, Scope.WRITE, Scope.ADMIN},
    Scope.WRITE: {Scope.WRITE, Scope.ADMIN},
    Scope.ADMIN: {Scope.ADMIN},
}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    kind: str
    units: frozenset[str]
    all_units: bool
    scopes: frozenset[str]
    # Set for people logged in with an access token (kind "user"); API keys leave the defaults.
    otp_at: float | None = None
    amr: frozenset[str] = frozenset()
    session_id: str | None = None
    role: str | None = None

    @property
    def is_ministry_admin(self) -> bool:
        return self.all_units and Scope.ADMIN in self.scopes


class Forbidden(PermissionError):
    """The credential is valid but does not cover this unit or action."""


def authorize(principal: Principal, *, unit: str | None, scope: Scope) -> None:
    """Raise Forbidden unless the principal holds `scope` on `unit` (None: ministry-wide)."""
    if not (_IMPLIED[scope] & {Scope(s) for s in principal.scopes if s in Scope.__members__.values()}):
        raise Forbidden(scope.value)
    if unit is None:
        if not principal.all_units:
            raise Forbidden("ministry")
        return
    if not (principal.all_units or unit in principal.units):
        raise Forbidden(unit)


def may_manage_key(principal: Principal, *, key_units: frozenset[str], key_all_units: bool) -> bool:
    """Whether `principal` may see and revoke an API key: ministry admins any key, a unit's admins
    only keys bound to units they administer (never a ministry-wide key)."""
    if principal.is_ministry_admin:
        return True
    if Scope.ADMIN not in principal.scopes or key_all_units or not key_units:
        return False
    return key_units <= principal.units
