"""The security domain without I/O: TOTP, recovery codes, sealing, lockout counters, tokens, roles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ops.identity.domain.accounts import (
    Account,
    Actor,
    InvalidAccountRequest,
    PasswordHashing,
    PermissionDenied,
    Role,
    SecurityPolicy,
    ensure_may_manage,
    may_grant,
    validate_new_password,
    validate_role_binding,
    validate_username,
)
from services.ops.identity.domain.secret_box import (
    SecretBox,
    SecretBoxError,
    decode_secret_key,
    generate_secret_key,
)
from services.ops.identity.domain.throttling import FailureCounter, ThrottlePolicy
from services.ops.identity.domain.tokens import (
    InvalidToken,
    RefreshOutcome,
    TokenSettings,
    issue_access_token,
    new_session,
    new_signing_key,
    otp_is_fresh,
    parse_refresh_token,
    rotate_session,
    verify_access_token,
)
from services.ops.identity.domain.totp import (
    RECOVERY_CODE_COUNT,
    check_totp,
    match_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    time_step,
)

pytestmark = pytest.mark.timeout(30)

NOW = 1_800_000_015.0
STEP = 30
POLICY = ThrottlePolicy(account_threshold=3, address_threshold=10, window_seconds=600, lockout_seconds=300)
TOKENS = TokenSettings(
    issuer="trolyao-ops",
    audience="trolyao",
    access_ttl_seconds=600,
    refresh_ttl_seconds=3600,
    leeway_seconds=30,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _account(
    role: Role = Role.UNIT_EDITOR, units: tuple[str, ...] = ("a",), username: str = "cb.a"
) -> Account:
    return Account(
        username=username,
        display_name="",
        role=role,
        units=units,
        password_hash="",
        created_at="",
        updated_at="",
        created_by="",
    )


def test_totp_accepts_one_step_of_drift_and_never_the_same_step_twice() -> None:
    secret = new_totp_secret()
    totp = pyotp.TOTP(secret)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        check = check_totp(secret, totp.at(NOW + offset * STEP), now=NOW, last_used_step=0)
        assert check.accepted is accepted, offset
    used = check_totp(secret, totp.at(NOW), now=NOW, last_used_step=0)
    assert used.step == time_step(NOW)
    replay = check_totp(secret, totp.at(NOW), now=NOW, last_used_step=used.step)
    assert not replay.accepted and replay.replayed
    older = check_totp(secret, totp.at(NOW - STEP), now=NOW, last_used_step=used.step)
    assert not older.accepted, "a code older than the last accepted one is refused too"
    assert not check_totp(secret, "12 34 56", now=NOW, last_used_step=0).accepted
    assert not check_totp(secret, "", now=NOW, last_used_step=0).accepted


def test_recovery_codes_are_random_hashed_and_match_loosely_typed() -> None:
    codes, hashes = new_recovery_codes()
    assert len(codes) == len(hashes) == RECOVERY_CODE_COUNT == len(set(codes))
    assert all(code not in stored for code in codes for stored in hashes)
    assert match_recovery_code(codes[3], hashes) == 3
    assert match_recovery_code(codes[3].replace("-", " ").lower(), hashes) == 3
    assert match_recovery_code("0000-0000-0000-0000", hashes) is None
    assert match_recovery_code("short", hashes) is None


def test_secret_box_binds_context_detects_tampering_and_rotates() -> None:
    old_key, new_key = decode_secret_key(generate_secret_key()), decode_secret_key(generate_secret_key())
    sealed = SecretBox(old_key).seal(b"JBSWY3DPEHPK3PXP", context="totp:a")
    assert b"JBSWY3DPEHPK3PXP" not in sealed.encode()
    assert SecretBox(old_key).open(sealed, context="totp:a") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(SecretBoxError):
        SecretBox(old_key).open(sealed, context="totp:b")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SecretBoxError):
        SecretBox(old_key).open(tampered, context="totp:a")
    rotated = SecretBox(new_key, previous=[old_key])
    assert rotated.open(sealed, context="totp:a") == b"JBSWY3DPEHPK3PXP" and rotated.needs_reseal(sealed)
    assert not rotated.needs_reseal(rotated.seal(b"x", context="c"))
    with pytest.raises(SecretBoxError):
        SecretBox(new_key).open(sealed, context="totp:a")
    assert decode_secret_key("ab" * 32) == bytes.fromhex("ab" * 32)
    with pytest.raises(SecretBoxError):
        decode_secret_key("too-short")


def test_failure_counter_locks_at_threshold_and_forgets_after_the_window() -> None:
    counter = FailureCounter()
    for _ in range(POLICY.account_threshold - 1):
        counter = counter.after_failure(now=NOW, threshold=POLICY.account_threshold, policy=POLICY)
    assert counter.locked_for(NOW) == 0
    locked = counter.after_failure(now=NOW, threshold=POLICY.account_threshold, policy=POLICY)
    assert locked.locked_for(NOW) == POLICY.lockout_seconds
    assert locked.locked_for(NOW + POLICY.lockout_seconds) == 0
    again = locked.after_failure(
        now=NOW + POLICY.lockout_seconds, threshold=POLICY.account_threshold, policy=POLICY
    )
    assert again.failures == 1, "a new window starts after a lockout"
    stale = counter.after_failure(
        now=NOW + POLICY.window_seconds, threshold=POLICY.account_threshold, policy=POLICY
    )
    assert stale.failures == 1 and not stale.locked_for(NOW + POLICY.window_seconds)


def test_access_tokens_verify_only_with_eddsa_and_the_right_key() -> None:
    key = new_signing_key(NOW)
    account = _account(Role.UNIT_ADMIN, ("a", "b"))
    session, _ = new_session(
        username=account.username, account_epoch=0, otp_at=NOW, amr=("pwd", "otp"), now=NOW, ttl=3600
    )
    token, expires_at = issue_access_token(
        key=key, account=account, session=session, now=NOW, settings=TOKENS
    )
    keys = {key.kid: key.public_key}
    claims = verify_access_token(
        token, keys=keys, issuer=TOKENS.issuer, audience=TOKENS.audience, now=NOW, leeway=30
    )
    assert (claims.role, claims.units, claims.otp_at, claims.expires_at) == (
        "unit_admin",
        ("a", "b"),
        NOW,
        expires_at,
    )
    assert set(claims.scopes) == {"admin", "read", "write"} and not claims.all_units

    _, payload, _ = token.split(".")
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}).encode())
    hs_signature = hmac.new(
        key.public_key.public_bytes_raw(), f"{hs_header}.{payload}".encode(), hashlib.sha256
    )
    none_header = _b64(json.dumps({"alg": "none", "kid": key.kid, "typ": "at+jwt"}).encode())
    refused = {
        "alg none": f"{none_header}.{payload}.",
        "HS256 with the public key": f"{hs_header}.{payload}.{_b64(hs_signature.digest())}",
        "foreign key": jwt.encode(
            {"sub": "x"},
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": key.kid, "typ": "at+jwt"},
        ),
    }
    for forged in refused.values():
        with pytest.raises(InvalidToken):
            verify_access_token(
                forged, keys=keys, issuer=TOKENS.issuer, audience=TOKENS.audience, now=NOW, leeway=30
            )
    for kwargs in (
        {"now": expires_at + 31},
        {"now": NOW - 31},
        {"audience": "another-service"},
        {"issuer": "someone-else"},
    ):
        arguments = {
            "keys": keys,
            "issuer": TOKENS.issuer,
            "audience": TOKENS.audience,
            "now": NOW,
            "leeway": 30,
        } | kwargs
        with pytest.raises(InvalidToken):
            verify_access_token(token, **arguments)  # type: ignore[arg-type]


def test_refresh_rotation_and_reuse() -> None:
    session, first = new_session(username="u", account_epoch=0, otp_at=None, amr=("pwd",), now=NOW, ttl=3600)
    parsed = parse_refresh_token(first)
    assert parsed is not None and parsed[0] == session.session_id
    rotated, second, outcome = rotate_session(session, parsed[1], now=NOW + 1)
    assert outcome is RefreshOutcome.ROTATED and second and second != first
    revoked, _, reused = rotate_session(rotated, parsed[1], now=NOW + 2)
    assert reused is RefreshOutcome.REUSED and revoked.revoked_reason == "refresh_token_reuse"
    second_parsed = parse_refresh_token(second)
    assert second_parsed is not None
    assert rotate_session(revoked, second_parsed[1], now=NOW + 3)[2] is RefreshOutcome.INACTIVE
    assert rotate_session(rotated, "guess", now=NOW + 3)[2] is RefreshOutcome.INVALID
    assert rotate_session(rotated, second_parsed[1], now=NOW + 3601)[2] is RefreshOutcome.INACTIVE
    assert parse_refresh_token("tlr_nothex_secret") is None
    assert otp_is_fresh(NOW, now=NOW + 300, max_age_seconds=300) and not otp_is_fresh(
        NOW, now=NOW + 301, max_age_seconds=300
    )
    assert not otp_is_fresh(None, now=NOW, max_age_seconds=300)


def test_roles_and_who_may_manage_whom() -> None:
    assert validate_role_binding("ministry_admin", []) == (Role.MINISTRY_ADMIN, ())
    assert validate_role_binding("viewer", ["b", "a", "a"]) == (Role.VIEWER, ("a", "b"))
    for role, units in (
        ("ministry_admin", ["a"]),
        ("unit_editor", []),
        ("root", ["a"]),
        ("viewer", ["Bad Unit"]),
    ):
        with pytest.raises(InvalidAccountRequest):
            validate_role_binding(role, units)
    unit_admin = Actor(username="qt.a", role=Role.UNIT_ADMIN, units=("a",), otp_at=NOW, session_id="s")
    assert may_grant(unit_admin, Role.UNIT_EDITOR, ("a",)) and may_grant(unit_admin, Role.VIEWER, ("a",))
    assert not may_grant(unit_admin, Role.UNIT_EDITOR, ("a", "b"))
    assert not may_grant(unit_admin, Role.UNIT_ADMIN, ("a",))
    assert not may_grant(unit_admin, Role.MINISTRY_ADMIN, ())
    editor = Actor(username="bt.a", role=Role.UNIT_EDITOR, units=("a",), otp_at=NOW, session_id="s")
    assert not may_grant(editor, Role.VIEWER, ("a",))
    with pytest.raises(PermissionDenied):
        ensure_may_manage(unit_admin, _account(Role.UNIT_ADMIN, ("a",), username="qt.a"))
    ensure_may_manage(unit_admin, _account(Role.VIEWER, ("a",)))
    assert _account(Role.UNIT_ADMIN).requires_otp(SecurityPolicy())
    # Finding 11: whoever can change documents, FAQ or settings needs two factors by default.
    assert _account(Role.UNIT_EDITOR).requires_otp(SecurityPolicy())
    assert all(_account(role).requires_otp(SecurityPolicy()) for role in Role if role is not Role.VIEWER)
    assert not _account(Role.VIEWER).requires_otp(SecurityPolicy())
    assert _account(Role.VIEWER).requires_otp(SecurityPolicy(otp_required_for_all=True))


def test_usernames_and_passwords() -> None:
    assert validate_username("  Nguyen.Van.A ") == "nguyen.van.a"
    for bad in ("ab", "a..b", "-ab", "ab-", "a b c", "ä" * 4, "x" * 65):
        with pytest.raises(InvalidAccountRequest):
            validate_username(bad)
    with pytest.raises(InvalidAccountRequest):
        validate_new_password("short", username="nguyen.van.a")
    with pytest.raises(InvalidAccountRequest):
        validate_new_password("xx-nguyen.van.a-xx", username="nguyen.van.a")
    hashing = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)
    stored = hashing.hash("mật khẩu đủ dài 123")
    assert stored.startswith("$argon2id$") and "mật khẩu" not in stored
    assert hashing.verify(stored, "mật khẩu đủ dài 123")
    assert not hashing.verify(stored, "mật khẩu đủ dài 124")
    assert not hashing.verify(None, "mật khẩu đủ dài 123"), "unknown users never match"
    assert not hashing.verify(stored, "mật khẩu đủ dài 123" + "x" * 300)
    assert PasswordHashing(time_cost=2, memory_kib=1024, parallelism=1).needs_rehash(stored)
