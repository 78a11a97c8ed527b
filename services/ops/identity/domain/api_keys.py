"""API keys for portal clients: random secrets shown once, stored only as a hash.

A key reads `tly_<key id>_<secret>`; the key id finds the record, the secret is compared in
constant time against its SHA-256 (keys are 256-bit random, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

KEY_PREFIX = "tly"
KEY_ID_BYTES = 6
SECRET_BYTES = 32
SCOPES = ("read", "write", "admin")
# `last_used_at` is written at most this often per key (authentication must not write every time).
LAST_USED_RESOLUTION_SECONDS = 60.0


class InvalidApiKeyRequest(ValueError):
    """Scopes or units that cannot be granted."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and what they may touch."""

    subject: str
    kind: str
    units: tuple[str, ...]
    all_units: bool
    scopes: tuple[str, ...]

    def may_access(self, unit: str) -> bool:
        return self.all_units or unit in self.units


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    name: str
    secret_sha256: str
    principal: Principal
    created_at: str
    revoked: bool = False
    expires_at: str = ""
    revoked_at: str = ""
    last_used_at: str = ""

    def expired(self, now: datetime) -> bool:
        return bool(self.expires_at) and parse_time(self.expires_at) <= now

    def usable(self, now: datetime) -> bool:
        return not self.revoked and not self.expired(now)

    def revoked_at_time(self, now: datetime) -> ApiKeyRecord:
        """This key revoked now (a key already revoked keeps its first revocation)."""
        return self if self.revoked else replace(self, revoked=True, revoked_at=iso(now))

    def used_at(self, now: datetime) -> ApiKeyRecord | None:
        """This key with `last_used_at` now, or None when the recorded time is recent enough."""
        if self.last_used_at and (now - parse_time(self.last_used_at)).total_seconds() < (
            LAST_USED_RESOLUTION_SECONDS
        ):
            return None
        return replace(self, last_used_at=iso(now))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (naive: UTC); ValueError when it is not one."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def new_api_key(
    *,
    name: str,
    units: tuple[str, ...],
    all_units: bool,
    scopes: tuple[str, ...],
    now: datetime,
    expires_at: str = "",
) -> tuple[str, ApiKeyRecord]:
    """Make a key; returns the secret (shown once) and the record to store."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise InvalidApiKeyRequest(f"scopes must be among {SCOPES}")
    if not all_units and not units:
        raise InvalidApiKeyRequest("a key needs at least one unit, or all_units")
    if expires_at:
        try:
            expiry = parse_time(expires_at)
        except ValueError as error:
            raise InvalidApiKeyRequest("expires_at must be an RFC 3339 time") from error
        if expiry <= now:
            raise InvalidApiKeyRequest("expires_at must be in the future")
        try:
            expires_at = iso(expiry)
        except OverflowError as error:  # e.g. year 9999 west of UTC
            raise InvalidApiKeyRequest("expires_at is out of range") from error
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    api_key = f"{KEY_PREFIX}_{key_id}_{secret}"
    record = ApiKeyRecord(
        key_id=key_id,
        name=name,
        secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        principal=Principal(
            subject=f"api_key:{key_id}",
            kind="api_key",
            units=tuple(sorted(set(units))),
            all_units=all_units,
            scopes=tuple(sorted(set(scopes))),
        ),
        created_at=iso(now),
        expires_at=expires_at,
    )
    return api_key, record


def parse_api_key(api_key: str) -> tuple[str, str] | None:
    """Split a presented key into (key id, secret), or None when it has the wrong shape."""
    prefix, _, rest = api_key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    return key_id, secret


def secret_matches(record: ApiKeyRecord, secret: str) -> bool:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return hmac.compare_digest(digest, record.secret_sha256) and not record.revoked
