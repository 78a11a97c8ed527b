"""NATS identities of the embedded stack: their secrets under the data dir and the server's users.

Ops owns identities, so this adapter lives here; the operator's tools (stack/launcher.py,
stack/event_credentials.py) use it too, and ops' event-credential use case
(identity/use_cases/event_credentials.py) rewrites the users through it when an admin issues or
revokes a unit's credential over the API.

At first start each service identity (trolyao/natsaccess.py) gets a random password, kept in a
file of mode 0600; the server's config holds only bcrypt hashes. Units' event credentials are kept
in a registry beside them (hashes only: the secret is shown once, when issued). The users part of
the server config is its own file (`auth.conf`, included by the main config), rewritten on every
issue or revocation; a SIGHUP makes the running nats-server reload it.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import bcrypt

from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.natsaccess import (
    OPERATOR,
    SERVICE_IDENTITIES,
    Grant,
    service_grant,
    unit_grant,
    unit_originals_bucket,
    unit_user,
)

AUTH_CONFIG_NAME = "auth.conf"
PID_FILE_NAME = "nats-server.pid"
REGISTRY_NAME = "event-credentials.json"
REGISTRY_LOCK_NAME = "event-credentials.lock"
SECRET_FILE_MODE = 0o600
# Secrets are 256 random bits: the hash cost guards nothing a brute force could reach, and every
# connection pays it on the server.
BCRYPT_ROUNDS = 8
SECRET_BYTES = 32
CREDENTIAL_ID_BYTES = 6


class UnknownCredential(LookupError):
    """No event credential with that id."""


@dataclass(frozen=True, slots=True)
class EventCredential:
    """One unit's event credential as the registry keeps it (no secret, only its hash)."""

    credential_id: str
    unit: str
    user: str
    password_hash: str
    issued_at: float
    issued_by: str
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _write_secret_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(SECRET_FILE_MODE)


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS, prefix=b"2a")).decode()


def password_variable(identity: str) -> str:
    """The environment variable a deployed nats-server reads a service identity's password from."""
    return f"TROLYAO_NATS_{identity.upper()}_PASSWORD"


class NatsAuth:
    """The secrets and users of one nats-server, kept in `directory` (under the data dir).

    `passwords_from_environment`: compose and Kubernetes give each service its password from a
    secret; the server's config then names the variable (`$TROLYAO_NATS_GATEWAY_PASSWORD`), which
    nats-server resolves from its own environment, instead of holding a hash.
    """

    def __init__(self, directory: Path, *, passwords_from_environment: bool = False) -> None:
        self.directory = directory
        self.passwords_from_environment = passwords_from_environment

    # ---- service identities
    def password(self, identity: str) -> str:
        """The identity's password, made at first use."""
        path = self.directory / f"{identity}.password"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        password = secrets.token_urlsafe(SECRET_BYTES)
        _write_secret_file(path, password + "\n")
        return password

    def has_password(self, identity: str) -> bool:
        return (self.directory / f"{identity}.password").exists()

    def operator_url(self, server_url: str) -> str:
        """`nats://operator:<password>@host:port`: the operator's tools take one URL."""
        scheme, _, rest = server_url.partition("://")
        return f"{scheme}://{OPERATOR}:{self.password(OPERATOR)}@{rest}"

    # ---- units' event credentials
    def credentials(self) -> list[EventCredential]:
        path = self.directory / REGISTRY_NAME
        if not path.exists():
            return []
        return [EventCredential(**record) for record in json.loads(path.read_text(encoding="utf-8"))]

    def _save(self, credentials: list[EventCredential]) -> None:
        records = [asdict(credential) for credential in credentials]
        _write_secret_file(self.directory / REGISTRY_NAME, json.dumps(records, indent=1) + "\n")

    @contextmanager
    def _registry_lock(self) -> Iterator[None]:
        """One writer at a time: the admin CLI and ops (the API) may change the registry together."""
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.directory / REGISTRY_LOCK_NAME, os.O_RDWR | os.O_CREAT, SECRET_FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def issue(self, unit: str, *, issued_by: str) -> tuple[EventCredential, str]:
        """A new credential for `unit`, and its password (kept nowhere: show it once)."""
        if not UNIT_ID_PATTERN.match(unit):
            raise ValueError(f"invalid unit id {unit!r}")
        credential_id = secrets.token_hex(CREDENTIAL_ID_BYTES)
        password = secrets.token_urlsafe(SECRET_BYTES)
        credential = EventCredential(
            credential_id=credential_id,
            unit=unit,
            user=unit_user(unit, credential_id),
            password_hash=_hash(password),
            issued_at=time.time(),
            issued_by=issued_by,
        )
        with self._registry_lock():
            self._save([*self.credentials(), credential])
        return credential, password

    def revoke(self, credential_id: str) -> EventCredential:
        with self._registry_lock():
            credentials = self.credentials()
            for index, credential in enumerate(credentials):
                if credential.credential_id == credential_id:
                    if credential.active:
                        revoked = EventCredential(**{**asdict(credential), "revoked_at": time.time()})
                        credentials[index] = revoked
                        self._save(credentials)
                    return credentials[index]
        raise UnknownCredential(credential_id)

    def unit_buckets(self) -> set[str]:
        """Originals buckets of every unit that was ever given a credential (kept after revocation)."""
        return {unit_originals_bucket(credential.unit) for credential in self.credentials()}

    # ---- the server's side
    def authorization_config(self) -> str:
        """nats-server `authorization` block: every service identity and every active credential."""
        users = [
            _user_entry(
                identity,
                self._service_password_entry(identity),
                service_grant(identity, unit_buckets=self.unit_buckets()),
            )
            for identity in (*SERVICE_IDENTITIES, OPERATOR)
        ]
        users += [
            _user_entry(
                credential.user,
                json.dumps(credential.password_hash),
                unit_grant(credential.unit, credential.user),
            )
            for credential in self.credentials()
            if credential.active
        ]
        return "authorization {\n  users = [\n" + ",\n".join(users) + "\n  ]\n}\n"

    def _service_password_entry(self, identity: str) -> str:
        if self.passwords_from_environment:
            return "$" + password_variable(identity)
        return json.dumps(_hash(self.password(identity)))

    def write_config(self, config_dir: Path) -> Path:
        """Write `auth.conf` (mode 0600) for the main config to include."""
        path = config_dir / AUTH_CONFIG_NAME
        _write_secret_file(path, self.authorization_config())
        return path

    def apply(self, config_dir: Path) -> bool:
        """Write the users file; True when the running (embedded) server was told to reload it."""
        with self._registry_lock():  # the last writer writes the latest registry
            self.write_config(config_dir)
        return reload_nats_server(config_dir)


def _user_entry(user: str, password: str, grant: Grant) -> str:
    """One user; `password` is already config text (a quoted hash, or an unquoted $VARIABLE)."""
    publish: dict[str, list[str]] = {"allow": list(grant.publish)}
    if grant.publish_deny:
        publish["deny"] = list(grant.publish_deny)
    permissions: dict[str, object] = {"publish": publish, "subscribe": {"allow": list(grant.subscribe)}}
    if grant.allow_responses:
        permissions["allow_responses"] = True
    return (
        f'    {{"user": {json.dumps(user)}, "password": {password},\n'
        f'     "permissions": {json.dumps(permissions)}}}'
    )


def reload_nats_server(config_dir: Path) -> bool:
    """Ask the nats-server whose pid file is in `config_dir` to reload its config (SIGHUP).
    False when no server runs there (the new config is read at its next start)."""
    pid_file = config_dir / PID_FILE_NAME
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True
