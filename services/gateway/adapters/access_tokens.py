"""Access tokens at the gateway: verified locally with ops' public keys; ops is asked only whether
the session behind a token has been revoked.

Keys come from ops (`GetPublicKeys`), are cached, and are fetched again when a token names an
unknown `kid` (at most every few seconds, so a flood of made-up kids cannot hammer ops). Only
EdDSA with `typ: at+jwt` is accepted: `alg: none`, HS256 signed with the public key, or any other
algorithm is refused before a key is even chosen. Also here: the translation of ops' security
statuses into problems, and `require_fresh_otp` for dangerous operations (step-up).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.gateway.adapters.backends import Backends, call_backend
from services.gateway.domain.authorization import Principal
from services.gateway.domain.problems import (
    ACCOUNT_EXISTS,
    CONFLICT,
    FORBIDDEN,
    LOCKED_OUT,
    NOT_FOUND,
    SESSION_ENDED,
    STEP_UP_REQUIRED,
    UNAUTHENTICATED,
    ApiProblem,
    ProblemKind,
)
from trolyao.logs import get_logger
from trolyao.v1 import ops_pb2

log = get_logger("gateway")

ACCESS_TOKEN_ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "at+jwt"
USER_KIND = "user"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "sid", "role", "scopes")
DEFAULT_LEEWAY_SECONDS = 30
KEYS_MAX_AGE_SECONDS = 300.0
UNKNOWN_KID_REFETCH_SECONDS = 5.0
DEFAULT_STEP_UP_MAX_AGE_SECONDS = 300
RETRY_AFTER_METADATA = "retry-after"
DEFAULT_RETRY_AFTER_SECONDS = 60
SECONDS_PER_MINUTE = 60

Reply = TypeVar("Reply")

_INVALID_TOKEN = "Token truy cập không hợp lệ hoặc đã hết hạn."


def _unauthenticated(detail: str = _INVALID_TOKEN) -> NoReturn:
    raise ApiProblem(UNAUTHENTICATED, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


@dataclass(frozen=True, slots=True)
class PublicKeySet:
    """Ops' published verification keys and the issuer/audience tokens must carry."""

    keys: dict[str, Ed25519PublicKey]
    jwks: list[dict[str, Any]]
    issuer: str
    audience: str
    fetched_at: float = field(default=0.0)


def _public_key(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 key")
    x = str(jwk["x"])
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


class AccessTokenVerifier:
    """Turns a bearer access token into a `Principal`, or raises `ApiProblem` (401/503)."""

    def __init__(
        self,
        backends: Backends,
        *,
        clock: Callable[[], float] = time.time,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        keys_max_age_seconds: float = KEYS_MAX_AGE_SECONDS,
    ) -> None:
        self.backends = backends
        # Public so tests (and only tests) can move time for the gateway and ops together.
        self.clock = clock
        self._leeway = leeway_seconds
        self._keys_max_age = keys_max_age_seconds
        self._key_set: PublicKeySet | None = None
        self._last_forced_fetch = float("-inf")
        self._fetching = asyncio.Lock()

    async def key_set(self, *, unknown_kid: str | None = None) -> PublicKeySet:
        """The cached key set; fetched when stale, or (rate-limited) when `unknown_kid` is not in it."""
        current = self._key_set
        now = time.monotonic()
        if current is None or now - current.fetched_at >= self._keys_max_age:
            return await self.refresh(seen=current)
        if (
            unknown_kid is not None
            and unknown_kid not in current.keys
            and now - self._last_forced_fetch >= UNKNOWN_KID_REFETCH_SECONDS
        ):
            self._last_forced_fetch = now
            return await self.refresh(seen=current)
        return current

    async def refresh(self, *, seen: PublicKeySet | None = None) -> PublicKeySet:
        """Fetch the key set from ops now (once, when several requests ask at the same moment)."""
        async with self._fetching:
            if seen is not None and self._key_set is not None and self._key_set is not seen:
                return self._key_set  # another request fetched it meanwhile
            reply = await call_backend(
                "ops",
                self.backends.ops.GetPublicKeys(
                    ops_pb2.GetPublicKeysRequest(), timeout=self.backends.timeout
                ),
            )
            keys: dict[str, Ed25519PublicKey] = {}
            jwks: list[dict[str, Any]] = []
            for published in reply.keys:
                if published.alg != ACCESS_TOKEN_ALGORITHM:
                    continue
                jwk = json.loads(published.jwk_json)
                keys[published.kid] = _public_key(jwk)
                jwks.append(jwk)
            self._key_set = PublicKeySet(
                keys=keys,
                jwks=jwks,
                issuer=reply.issuer,
                audience=reply.audience,
                fetched_at=time.monotonic(),
            )
            return self._key_set

    async def verify(self, token: str) -> Principal:
        """Verify signature, type, issuer, audience and lifetime locally; then ask ops if revoked."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            _unauthenticated()
        if header.get("alg") != ACCESS_TOKEN_ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE:
            log.warning("access_token_refused", reason="algorithm_or_type", alg=str(header.get("alg"))[:16])
            _unauthenticated()
        kid = str(header.get("kid", ""))
        key_set = await self.key_set(unknown_kid=kid)
        key = key_set.keys.get(kid)
        if key is None:
            log.warning("access_token_refused", reason="unknown_kid")
            _unauthenticated()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ACCESS_TOKEN_ALGORITHM],
                audience=key_set.audience,
                issuer=key_set.issuer,
                # Lifetime is checked below against self.clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            log.warning("access_token_refused", reason="signature_or_claims")
            _unauthenticated()
        principal = self._principal(claims)
        await self._ensure_session_active(principal)
        return principal

    def _principal(self, claims: dict[str, Any]) -> Principal:
        now = self.clock()
        try:
            expires_at, issued_at = int(claims["exp"]), int(claims["iat"])
            not_before = int(claims.get("nbf", issued_at))
            otp_at = claims.get("otp_at")
            principal = Principal(
                subject=str(claims["sub"]),
                kind=USER_KIND,
                units=frozenset(str(unit) for unit in claims.get("units", [])),
                all_units=bool(claims.get("all_units", False)),
                scopes=frozenset(str(scope) for scope in claims["scopes"]),
                otp_at=float(otp_at) if otp_at is not None else None,
                amr=frozenset(str(method) for method in claims.get("amr", [])),
                session_id=str(claims["sid"]),
                role=str(claims["role"]),
            )
        except (KeyError, TypeError, ValueError):
            _unauthenticated()
        if (
            expires_at <= now - self._leeway
            or issued_at > now + self._leeway
            or not_before > now + self._leeway
        ):
            _unauthenticated()
        return principal

    async def _ensure_session_active(self, principal: Principal) -> None:
        reply = await call_backend(
            "ops",
            self.backends.ops.CheckSession(
                ops_pb2.CheckSessionRequest(session_id=principal.session_id or "", subject=principal.subject),
                timeout=self.backends.timeout,
            ),
        )
        if not reply.active:
            raise ApiProblem(SESSION_ENDED, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require_fresh_otp(
    principal: Principal,
    *,
    max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS,
    now: float | None = None,
    allow_api_keys: bool = False,
) -> None:
    """Demand an OTP within `max_age_seconds` for a dangerous operation (restore, role changes, ...).

    People must step up (`POST /v1/auth/step-up`); API keys carry no second factor, so they are
    refused unless the route passes `allow_api_keys=True` for machine integrations.
    """
    if principal.kind != USER_KIND:
        if allow_api_keys:
            return
        raise ApiProblem(
            FORBIDDEN,
            "Thao tác này chỉ dành cho người dùng đăng nhập bằng mật khẩu và mã OTP, không dùng khóa API.",
        )
    current = time.time() if now is None else now
    if principal.otp_at is None or current - principal.otp_at > max_age_seconds:
        raise step_up_problem(max_age_seconds)


def step_up_problem(max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS) -> ApiProblem:
    """401 with RFC 9470's `insufficient_user_authentication` challenge."""
    minutes = max(1, max_age_seconds // SECONDS_PER_MINUTE)
    return ApiProblem(
        STEP_UP_REQUIRED,
        f"Thao tác này cần mã OTP nhập trong {minutes} phút gần nhất; "
        "hãy xác nhận qua POST /v1/auth/step-up.",
        headers={
            "WWW-Authenticate": (
                f'Bearer error="insufficient_user_authentication", max_age={max_age_seconds}'
            )
        },
    )


def _retry_after_seconds(error: grpc.aio.AioRpcError) -> int:
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA:
            try:
                return max(1, int(str(value)))
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER_SECONDS


async def call_ops_security(
    call: Awaitable[Reply],
    *,
    unauthenticated: ProblemKind = UNAUTHENTICATED,
    not_found: ProblemKind = NOT_FOUND,
    step_up_max_age_seconds: int = DEFAULT_STEP_UP_MAX_AGE_SECONDS,
) -> Reply:
    """Await an ops security call; lockout, step-up, permission and conflict statuses become problems."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            seconds = _retry_after_seconds(error)
            minutes = math.ceil(seconds / SECONDS_PER_MINUTE)
            raise ApiProblem(
                LOCKED_OUT,
                f"Tạm khóa đăng nhập do nhập sai nhiều lần; vui lòng thử lại sau khoảng {minutes} phút.",
                headers={"Retry-After": str(seconds)},
            ) from error
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiProblem(unauthenticated) from error
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            raise step_up_problem(step_up_max_age_seconds) from error
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise ApiProblem(FORBIDDEN) from error
        if code == grpc.StatusCode.ALREADY_EXISTS:
            raise ApiProblem(ACCOUNT_EXISTS) from error
        if code == grpc.StatusCode.ABORTED:
            raise ApiProblem(CONFLICT) from error
        return await call_backend("ops", _reraise(error), not_found=not_found)


async def _reraise(error: grpc.aio.AioRpcError) -> NoReturn:
    raise error
