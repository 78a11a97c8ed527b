"""Accounts, sessions, challenges, lockout counters, signing keys and the login policy in NATS KV.

Every read-modify-write goes through a revision check (`update(..., last=revision)`), so two ops
replicas (or two concurrent logins) cannot overwrite each other: the loser gets ConcurrentUpdate
and retries on fresh state. Secrets arrive here already sealed or hashed, except signing keys,
which this module seals with the SecretBox before they touch the bucket.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.ops.identity.adapters.kv_repositories import ConcurrentUpdate
from services.ops.identity.domain.accounts import Account, Role, SecurityPolicy
from services.ops.identity.domain.login import ChallengePurpose, LoginChallenge
from services.ops.identity.domain.secret_box import SecretBox
from services.ops.identity.domain.throttling import FailureCounter
from services.ops.identity.domain.tokens import Session, SigningKey, load_signing_key
from trolyao.keyvalue import live_keys

SIGNING_KEY_PREFIX = "key."
POLICY_KEY = "login"


class AlreadyExists(RuntimeError):
    """An entry with that key exists already."""


class _JsonBucket:
    """JSON values with revisions over one KV bucket."""

    def __init__(self, bucket: KeyValue) -> None:
        self.bucket = bucket

    async def get(self, key: str) -> tuple[dict[str, Any], int] | None:
        try:
            entry = await self.bucket.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        return json.loads(entry.value), int(entry.revision or 0)

    async def create(self, key: str, value: dict[str, Any]) -> int:
        try:
            return int(await self.bucket.create(key, _encode(value)))
        except KeyWrongLastSequenceError as error:
            raise AlreadyExists(key) from error

    async def update(self, key: str, value: dict[str, Any], *, revision: int) -> int:
        try:
            return int(await self.bucket.update(key, _encode(value), last=revision))
        except KeyWrongLastSequenceError as error:
            raise ConcurrentUpdate(key) from error

    async def put(self, key: str, value: dict[str, Any], *, revision: int | None) -> int:
        """Create when `revision` is None, else update at exactly that revision."""
        if revision is None:
            try:
                return await self.create(key, value)
            except AlreadyExists as error:
                raise ConcurrentUpdate(key) from error
        return await self.update(key, value, revision=revision)

    async def delete(self, key: str) -> None:
        try:
            await self.bucket.delete(key)
        except KeyNotFoundError:
            return

    async def keys(self, prefix: str = "") -> list[str]:
        return [key for key in await live_keys(self.bucket) if key.startswith(prefix)]


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _account_from(raw: dict[str, Any]) -> Account:
    raw["role"] = Role(raw["role"])
    raw["units"] = tuple(raw["units"])
    raw["recovery_code_hashes"] = tuple(raw.get("recovery_code_hashes", ()))
    return Account(**raw)


class AccountRepository:
    """Accounts keyed by username."""

    def __init__(self, bucket: KeyValue) -> None:
        self._json = _JsonBucket(bucket)

    async def get(self, username: str) -> Account | None:
        found = await self.get_for_update(username)
        return found[0] if found else None

    async def get_for_update(self, username: str) -> tuple[Account, int] | None:
        found = await self._json.get(username)
        return (_account_from(found[0]), found[1]) if found else None

    async def create(self, account: Account) -> None:
        """Store a new account; AlreadyExists when the username is taken."""
        await self._json.create(account.username, asdict(account))

    async def update(self, account: Account, *, revision: int) -> None:
        await self._json.update(account.username, asdict(account), revision=revision)

    async def list(self) -> list[Account]:
        accounts = [await self.get(key) for key in await self._json.keys()]
        return [account for account in accounts if account is not None]


class SessionRepository:
    """Sessions (refresh-token families) keyed by session id."""

    def __init__(self, bucket: KeyValue) -> None:
        self._json = _JsonBucket(bucket)

    async def get_for_update(self, session_id: str) -> tuple[Session, int] | None:
        found = await self._json.get(session_id)
        if found is None:
            return None
        raw, revision = found
        raw["previous_digests"] = tuple(raw["previous_digests"])
        raw["amr"] = tuple(raw["amr"])
        return Session(**raw), revision

    async def get(self, session_id: str) -> Session | None:
        found = await self.get_for_update(session_id)
        return found[0] if found else None

    async def create(self, session: Session) -> None:
        await self._json.create(session.session_id, asdict(session))

    async def update(self, session: Session, *, revision: int) -> None:
        await self._json.update(session.session_id, asdict(session), revision=revision)


class ChallengeRepository:
    """Login challenges keyed by challenge id (short TTL bucket)."""

    def __init__(self, bucket: KeyValue) -> None:
        self._json = _JsonBucket(bucket)

    async def get_for_update(self, challenge_id: str) -> tuple[LoginChallenge, int] | None:
        found = await self._json.get(challenge_id)
        if found is None:
            return None
        raw, revision = found
        raw["purpose"] = ChallengePurpose(raw["purpose"])
        return LoginChallenge(**raw), revision

    async def create(self, challenge: LoginChallenge) -> None:
        await self._json.create(challenge.challenge_id, asdict(challenge))

    async def update(self, challenge: LoginChallenge, *, revision: int) -> None:
        await self._json.update(challenge.challenge_id, asdict(challenge), revision=revision)

    async def delete(self, challenge_id: str) -> None:
        await self._json.delete(challenge_id)


class ThrottleRepository:
    """Failure counters keyed by hashed username or address (shared by every replica)."""

    def __init__(self, bucket: KeyValue) -> None:
        self._json = _JsonBucket(bucket)

    async def get_for_update(self, key: str) -> tuple[FailureCounter, int | None]:
        found = await self._json.get(key)
        if found is None:
            return FailureCounter(), None
        return FailureCounter(**found[0]), found[1]

    async def put(self, key: str, counter: FailureCounter, *, revision: int | None) -> None:
        await self._json.put(key, asdict(counter), revision=revision)

    async def clear(self, key: str) -> None:
        await self._json.delete(key)


class SigningKeyRepository:
    """Ed25519 signing keys, private halves sealed with the configured secret key."""

    def __init__(self, bucket: KeyValue, box: SecretBox) -> None:
        self._json = _JsonBucket(bucket)
        self._box = box

    @staticmethod
    def _context(kid: str) -> str:
        return f"signing-key:{kid}"

    def _record(self, key: SigningKey) -> dict[str, Any]:
        return {
            "kid": key.kid,
            "created_at": key.created_at,
            "retired_at": key.retired_at,
            "private_key_sealed": self._box.seal(key.private_bytes(), context=self._context(key.kid)),
        }

    async def list(self) -> list[tuple[SigningKey, int]]:
        """Every stored key with its revision, newest first."""
        keys: list[tuple[SigningKey, int]] = []
        for name in await self._json.keys(SIGNING_KEY_PREFIX):
            found = await self._json.get(name)
            if found is None:
                continue
            raw, revision = found
            private = self._box.open(raw["private_key_sealed"], context=self._context(raw["kid"]))
            keys.append(
                (
                    load_signing_key(
                        kid=raw["kid"],
                        private_bytes=private,
                        created_at=float(raw["created_at"]),
                        retired_at=float(raw["retired_at"]),
                    ),
                    revision,
                )
            )
        return sorted(keys, key=lambda item: (item[0].created_at, item[0].kid), reverse=True)

    async def create(self, key: SigningKey) -> None:
        await self._json.create(SIGNING_KEY_PREFIX + key.kid, self._record(key))

    async def update(self, key: SigningKey, *, revision: int) -> None:
        await self._json.update(SIGNING_KEY_PREFIX + key.kid, self._record(key), revision=revision)

    async def delete(self, kid: str) -> None:
        await self._json.delete(SIGNING_KEY_PREFIX + kid)


class SecurityPolicyRepository:
    """The one ministry-wide login policy."""

    def __init__(self, bucket: KeyValue) -> None:
        self._json = _JsonBucket(bucket)

    async def get_for_update(self) -> tuple[SecurityPolicy, int | None]:
        found = await self._json.get(POLICY_KEY)
        if found is None:
            return SecurityPolicy(), None
        return SecurityPolicy(**found[0]), found[1]

    async def get(self) -> SecurityPolicy:
        return (await self.get_for_update())[0]

    async def put(self, policy: SecurityPolicy, *, revision: int | None) -> None:
        await self._json.put(POLICY_KEY, asdict(policy), revision=revision)
