"""Access tokens (JWT signed with Ed25519, `kid` rotation) and rotating refresh tokens in sessions.

Access tokens are short-lived JWTs (`typ: at+jwt`, RFC 9068) signed with EdDSA; verifiers accept
exactly that algorithm, so neither `alg: none` nor an HMAC forged with the public key passes.
A session is a refresh-token family: every refresh rotates the secret; presenting a secret the
session has already rotated away is reuse (a stolen token), and revokes the whole session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from services.ops.identity.domain.accounts import Account

ACCESS_TOKEN_ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"
JWK_KEY_TYPE = "OKP"
JWK_CURVE = "Ed25519"
KID_BYTES = 12
SESSION_ID_BYTES = 16
TOKEN_ID_BYTES = 16
REFRESH_SECRET_BYTES = 32
REFRESH_TOKEN_PREFIX = "tlr"
SESSION_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
MAX_REMEMBERED_REFRESH_DIGESTS = 32
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "sid", "role", "scopes")

AMR_PASSWORD = "pwd"
AMR_OTP = "otp"
AMR_RECOVERY_CODE = "rc"


class InvalidToken(ValueError):
    """A token that is malformed, forged, expired, or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class TokenSettings:
    issuer: str
    audience: str
    access_ttl_seconds: int
    refresh_ttl_seconds: int
    leeway_seconds: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key; `retired_at` is 0 while it is the active key."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
    retired_at: float = 0.0

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JSON Web Key (RFC 8037)."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": JWK_KEY_TYPE,
            "crv": JWK_CURVE,
            "x": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "kid": self.kid,
            "alg": ACCESS_TOKEN_ALGORITHM,
            "use": "sig",
        }

    def private_bytes(self) -> bytes:
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def new_signing_key(now: float) -> SigningKey:
    return SigningKey(
        kid=secrets.token_urlsafe(KID_BYTES), private_key=Ed25519PrivateKey.generate(), created_at=now
    )


def load_signing_key(*, kid: str, private_bytes: bytes, created_at: float, retired_at: float) -> SigningKey:
    return SigningKey(
        kid=kid,
        private_key=Ed25519PrivateKey.from_private_bytes(private_bytes),
        created_at=created_at,
        retired_at=retired_at,
    )


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """Load an Ed25519 public JWK; anything else (RSA, EC, oct) is refused."""
    if jwk.get("kty") != JWK_KEY_TYPE or jwk.get("crv") != JWK_CURVE or not isinstance(jwk.get("x"), str):
        raise InvalidToken("not an Ed25519 public key")
    x = str(jwk["x"])
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    subject: str
    username: str
    role: str
    units: tuple[str, ...]
    all_units: bool
    scopes: tuple[str, ...]
    session_id: str
    token_id: str
    issued_at: int
    expires_at: int
    otp_at: float | None
    amr: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Session:
    """A login and its refresh-token family."""

    session_id: str
    username: str
    created_at: float
    expires_at: float
    refresh_digest: str
    generation: int
    previous_digests: tuple[str, ...]
    otp_at: float | None
    amr: tuple[str, ...]
    account_epoch: int
    revoked_at: float = 0.0
    revoked_reason: str = ""

    def is_active(self, now: float) -> bool:
        return not self.revoked_at and now < self.expires_at

    def revoked(self, *, now: float, reason: str) -> Session:
        return self if self.revoked_at else replace(self, revoked_at=now, revoked_reason=reason)


class RefreshOutcome(StrEnum):
    ROTATED = "rotated"
    REUSED = "reused"
    INVALID = "invalid"
    INACTIVE = "inactive"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _refresh_token(session_id: str, secret: str) -> str:
    return f"{REFRESH_TOKEN_PREFIX}_{session_id}_{secret}"


def new_session(
    *, username: str, account_epoch: int, otp_at: float | None, amr: tuple[str, ...], now: float, ttl: int
) -> tuple[Session, str]:
    """A new session and its first refresh token (returned once, stored only as a digest)."""
    session_id = secrets.token_hex(SESSION_ID_BYTES)
    secret = secrets.token_urlsafe(REFRESH_SECRET_BYTES)
    session = Session(
        session_id=session_id,
        username=username,
        created_at=now,
        expires_at=now + ttl,
        refresh_digest=_digest(secret),
        generation=1,
        previous_digests=(),
        otp_at=otp_at,
        amr=amr,
        account_epoch=account_epoch,
    )
    return session, _refresh_token(session_id, secret)


def parse_refresh_token(token: str) -> tuple[str, str] | None:
    """(session id, secret), or None when the token has the wrong shape."""
    prefix, _, rest = token.strip().partition("_")
    session_id, _, secret = rest.partition("_")
    if prefix != REFRESH_TOKEN_PREFIX or not SESSION_ID_PATTERN.match(session_id) or not secret:
        return None
    return session_id, secret


def rotate_session(
    session: Session, secret: str, *, now: float
) -> tuple[Session, str | None, RefreshOutcome]:
    """Check a presented refresh secret and rotate it: (new session, new refresh token, outcome)."""
    digest = _digest(secret)
    current = hmac.compare_digest(digest, session.refresh_digest)
    earlier = any(hmac.compare_digest(digest, old) for old in session.previous_digests)
    if earlier:
        return session.revoked(now=now, reason="refresh_token_reuse"), None, RefreshOutcome.REUSED
    if not current:
        return session, None, RefreshOutcome.INVALID
    if not session.is_active(now):
        return session, None, RefreshOutcome.INACTIVE
    new_secret = secrets.token_urlsafe(REFRESH_SECRET_BYTES)
    rotated = replace(
        session,
        refresh_digest=_digest(new_secret),
        generation=session.generation + 1,
        previous_digests=(*session.previous_digests, session.refresh_digest)[
            -MAX_REMEMBERED_REFRESH_DIGESTS:
        ],
    )
    return rotated, _refresh_token(session.session_id, new_secret), RefreshOutcome.ROTATED


def issue_access_token(
    *, key: SigningKey, account: Account, session: Session, now: float, settings: TokenSettings
) -> tuple[str, int]:
    """Sign an access token for `account` in `session`; returns the JWT and its expiry (Unix s)."""
    issued_at = int(now)
    expires_at = issued_at + settings.access_ttl_seconds
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": account.subject,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": secrets.token_hex(TOKEN_ID_BYTES),
        "sid": session.session_id,
        "username": account.username,
        "role": account.role.value,
        "units": list(account.units),
        "all_units": account.all_units,
        "scopes": list(account.scopes),
        "amr": list(session.amr),
    }
    if session.otp_at is not None:
        claims["otp_at"] = int(session.otp_at)
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=ACCESS_TOKEN_ALGORITHM,
        headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE},
    )
    return token, expires_at


def verify_access_token(
    token: str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    issuer: str,
    audience: str,
    now: float,
    leeway: int,
) -> AccessClaims:
    """Verify signature (EdDSA only), type, issuer, audience and lifetime against `now`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise InvalidToken("malformed token") from error
    if header.get("alg") != ACCESS_TOKEN_ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("token algorithm or type not accepted")
    key = keys.get(str(header.get("kid", "")))
    if key is None:
        raise InvalidToken("unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ACCESS_TOKEN_ALGORITHM],
            audience=audience,
            issuer=issuer,
            # Lifetime is checked below against the injected clock, not PyJWT's own.
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as error:
        raise InvalidToken("token signature or claims invalid") from error
    return claims_from_payload(claims, now=now, leeway=leeway)


def claims_from_payload(claims: Mapping[str, Any], *, now: float, leeway: int) -> AccessClaims:
    """Check lifetime and shape of a signature-verified payload and type it."""
    try:
        issued_at, expires_at = int(claims["iat"]), int(claims["exp"])
        not_before = int(claims.get("nbf", issued_at))
        otp_at = claims.get("otp_at")
        parsed = AccessClaims(
            subject=str(claims["sub"]),
            username=str(claims.get("username", "")),
            role=str(claims["role"]),
            units=tuple(str(unit) for unit in claims.get("units", [])),
            all_units=bool(claims.get("all_units", False)),
            scopes=tuple(str(scope) for scope in claims["scopes"]),
            session_id=str(claims["sid"]),
            token_id=str(claims["jti"]),
            issued_at=issued_at,
            expires_at=expires_at,
            otp_at=float(otp_at) if otp_at is not None else None,
            amr=tuple(str(method) for method in claims.get("amr", [])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidToken("token claims malformed") from error
    if expires_at <= now - leeway:
        raise InvalidToken("token expired")
    if issued_at > now + leeway or not_before > now + leeway:
        raise InvalidToken("token not yet valid")
    return parsed


def otp_is_fresh(otp_at: float | None, *, now: float, max_age_seconds: int) -> bool:
    """Was the second factor proven within `max_age_seconds` (step-up)?"""
    return otp_at is not None and now - otp_at <= max_age_seconds


def jwk_json(key: SigningKey) -> str:
    return json.dumps(key.public_jwk(), separators=(",", ":"))
