"""Access and refresh tokens through the gateway: rotation, reuse detection, logout, step-up, and
forged JWTs (`alg: none`, HS256 keyed with the public key, a foreign key, a tampered payload)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.gateway.adapters.access_tokens import require_fresh_otp
from services.gateway.domain.authorization import Principal
from services.gateway.domain.problems import ApiProblem
from services.ops.identity.bootstrap import build_security_handlers
from services.ops.identity.use_cases.signing_keys import rotate_keys
from tests.ops.conftest import ACCESS_TTL_SECONDS, STEP_UP_MAX_AGE_SECONDS, AuthStack, User
from tests.support import unique_unit
from trolyao.rpc import async_channel
from trolyao.v1 import ops_pb2, ops_pb2_grpc

pytestmark = pytest.mark.timeout(60)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header_b64, payload_b64, _ = token.split(".")
    return json.loads(_unb64(header_b64)), json.loads(_unb64(payload_b64))


def _hs256(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _me(stack: AuthStack, token: str) -> Any:
    with stack.client() as http:
        return http.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def _refresh(stack: AuthStack, refresh_token: str) -> Any:
    with stack.client() as http:
        return http.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def test_refresh_rotates_and_reusing_an_old_token_revokes_the_family(
    auth_stack: AuthStack, admin: User
) -> None:
    first_refresh = admin.refresh_token
    rotated = _refresh(auth_stack, first_refresh)
    assert rotated.status_code == 200, rotated.text
    second_refresh, second_access = rotated.json()["refresh_token"], rotated.json()["access_token"]
    assert second_refresh != first_refresh
    assert _me(auth_stack, second_access).status_code == 200
    assert set(_me(auth_stack, second_access).json()["amr"]) == {"pwd", "otp"}, (
        "refresh keeps the login's factors"
    )

    reused = _refresh(auth_stack, first_refresh)
    assert reused.status_code == 401 and reused.json()["code"] == "session_ended"
    assert _refresh(auth_stack, second_refresh).status_code == 401, "the whole family is revoked"
    assert _me(auth_stack, second_access).status_code == 401
    assert _me(auth_stack, admin.access_token).status_code == 401


def test_logout_revokes_access_and_refresh_tokens(auth_stack: AuthStack, admin: User) -> None:
    assert _me(auth_stack, admin.access_token).status_code == 200
    with auth_stack.client() as http:
        assert http.post("/v1/auth/logout", headers=admin.headers).status_code == 204
    assert _me(auth_stack, admin.access_token).json()["code"] == "session_ended"
    assert _refresh(auth_stack, admin.refresh_token).status_code == 401

    auth_stack.login(admin)
    with auth_stack.client() as http:
        logged_out = http.post("/v1/auth/logout", json={"refresh_token": admin.refresh_token})
    assert logged_out.status_code == 204
    assert _me(auth_stack, admin.access_token).status_code == 401


def test_changing_roles_needs_a_recent_otp(auth_stack: AuthStack, admin: User) -> None:
    unit = auth_stack.new_unit()
    editor = auth_stack.create_user(admin, role="unit_editor", units=[unit])
    auth_stack.clock.advance(STEP_UP_MAX_AGE_SECONDS + 1)
    with auth_stack.client() as http:
        stale = http.put(
            f"/v1/accounts/{editor.username}/role",
            headers=admin.headers,
            json={"role": "viewer", "units": [unit]},
        )
        assert stale.status_code == 401 and stale.json()["code"] == "step_up_required"
        assert "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
        wrong = http.post("/v1/auth/step-up", headers=admin.headers, json={"code": "12345x"})
        assert wrong.status_code in (401, 422)
    auth_stack.step_up(admin)
    with auth_stack.client() as http:
        changed = http.put(
            f"/v1/accounts/{editor.username}/role",
            headers=admin.headers,
            json={"role": "viewer", "units": [unit]},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["role"] == "viewer"
    assert _me(auth_stack, editor.access_token).status_code == 401, (
        "a role change ends the account's sessions"
    )


def test_deleting_a_document_needs_a_recent_otp_for_people_not_for_unit_systems(
    auth_stack: AuthStack, admin: User
) -> None:
    unit = auth_stack.new_unit()
    editor = auth_stack.create_user(admin, role="unit_editor", units=[unit])
    auth_stack.clock.advance(STEP_UP_MAX_AGE_SECONDS + 1)
    with auth_stack.client() as http:
        stale = http.delete(f"/v1/units/{unit}/documents/nd-13-2023", headers=editor.headers)
        assert stale.status_code == 401, stale.text
        assert stale.json()["code"] == "step_up_required"
    auth_stack.step_up(editor)
    with auth_stack.client() as http:
        fresh = http.delete(f"/v1/units/{unit}/documents/nd-13-2023", headers=editor.headers)
    # past the step-up gate: the document simply does not exist
    assert fresh.status_code == 404, fresh.text
    assert fresh.json()["code"] == "document_not_found"


def test_deleting_a_unit_needs_a_ministry_admin_with_a_recent_otp(auth_stack: AuthStack, admin: User) -> None:
    unit = auth_stack.new_unit()
    unit_admin = auth_stack.create_user(admin, role="unit_admin", units=[unit])
    auth_stack.clock.advance(STEP_UP_MAX_AGE_SECONDS + 1)
    with auth_stack.client() as http:
        assert http.delete(f"/v1/units/{unit}", headers=unit_admin.headers).status_code == 403
        stale = http.delete(f"/v1/units/{unit}", headers=admin.headers)
        assert stale.status_code == 401, stale.text
        assert stale.json()["code"] == "step_up_required"
        assert "insufficient_user_authentication" in stale.headers["WWW-Authenticate"]
    auth_stack.step_up(admin)
    with auth_stack.client() as http:
        fresh = http.delete(f"/v1/units/{unique_unit('khong-co')}", headers=admin.headers)
    # past the step-up gate: the unit simply does not exist
    assert fresh.status_code == 404, fresh.text
    assert fresh.json()["code"] == "unit_not_found"


def test_ops_enforces_step_up_even_if_the_gateway_check_is_bypassed(
    auth_stack: AuthStack, admin: User
) -> None:
    unit = auth_stack.new_unit()
    editor = auth_stack.create_user(admin, role="unit_editor", units=[unit])
    auth_stack.clock.advance(STEP_UP_MAX_AGE_SECONDS + 1)

    async def call_ops_directly() -> grpc.StatusCode:
        async with async_channel(f"127.0.0.1:{auth_stack.ops.port}") as channel:
            stub = ops_pb2_grpc.OpsServiceStub(channel)
            try:
                await stub.SetAccountRole(
                    ops_pb2.SetAccountRoleRequest(
                        caller=ops_pb2.Caller(access_token=admin.access_token, client_address="127.0.0.1"),
                        username=editor.username,
                        role="unit_admin",
                        units=[unit],
                    )
                )
            except grpc.aio.AioRpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    assert auth_stack.run(call_ops_directly()) == grpc.StatusCode.FAILED_PRECONDITION


def test_require_fresh_otp_helper() -> None:
    person = Principal(
        subject="user:a",
        kind="user",
        units=frozenset(),
        all_units=True,
        scopes=frozenset({"admin"}),
        otp_at=1_000.0,
    )
    require_fresh_otp(person, now=1_000.0 + STEP_UP_MAX_AGE_SECONDS, max_age_seconds=STEP_UP_MAX_AGE_SECONDS)
    with pytest.raises(ApiProblem) as stale:
        require_fresh_otp(
            person, now=1_001.0 + STEP_UP_MAX_AGE_SECONDS, max_age_seconds=STEP_UP_MAX_AGE_SECONDS
        )
    assert stale.value.kind.code == "step_up_required"
    key = Principal(
        subject="api_key:x", kind="api_key", units=frozenset(), all_units=True, scopes=frozenset({"admin"})
    )
    with pytest.raises(ApiProblem) as refused:
        require_fresh_otp(key)
    assert refused.value.kind.code == "forbidden"
    require_fresh_otp(key, allow_api_keys=True)


def test_forged_and_confused_tokens_are_refused(auth_stack: AuthStack, admin: User) -> None:
    header, payload = _segments(admin.access_token)
    assert header["alg"] == "EdDSA" and header["kid"]
    escalated = {**payload, "role": "ministry_admin", "all_units": True, "scopes": ["admin", "read", "write"]}
    with auth_stack.client() as http:
        jwks = http.get("/v1/auth/jwks").json()["keys"]
    public_jwk = next(key for key in jwks if key["kid"] == header["kid"])
    raw_public = _unb64(public_jwk["x"])
    public_pem = jwt.PyJWK(public_jwk).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    body = _b64(json.dumps(escalated).encode())
    forged = {
        "alg none": f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{body}.",
        "alg None": f"{_b64(json.dumps({**header, 'alg': 'None'}).encode())}.{body}.",
        "HS256 keyed with raw public key": _hs256({**header, "alg": "HS256"}, escalated, raw_public),
        "HS256 keyed with public PEM": _hs256({**header, "alg": "HS256"}, escalated, public_pem),
        "HS256 keyed with JWK JSON": _hs256(
            {**header, "alg": "HS256"}, escalated, json.dumps(public_jwk).encode()
        ),
        "foreign Ed25519 key, real kid": jwt.encode(
            escalated,
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "tampered payload": ".".join(
            [
                admin.access_token.split(".")[0],
                _b64(json.dumps(escalated).encode()),
                admin.access_token.split(".")[2],
            ]
        ),
        "missing typ": jwt.encode(
            payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
        ),
        "unknown kid": jwt.encode(
            payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "nope", "typ": "at+jwt"}
        ),
        "garbage": "a.b.c",
    }
    for name, token in forged.items():
        reply = _me(auth_stack, token)
        assert reply.status_code == 401, f"{name} was accepted"
        with auth_stack.client() as http:
            units = http.get("/v1/units", headers={"Authorization": f"Bearer {token}"})
        assert units.status_code == 401, f"{name} was accepted by the API"
    assert _me(auth_stack, admin.access_token).status_code == 200, "the genuine token still works"


def test_expired_access_token_is_refused(auth_stack: AuthStack, admin: User) -> None:
    assert _me(auth_stack, admin.access_token).status_code == 200
    auth_stack.clock.advance(ACCESS_TTL_SECONDS + auth_stack.settings.token_leeway_seconds + 1)
    assert _me(auth_stack, admin.access_token).status_code == 401
    refreshed = _refresh(auth_stack, admin.refresh_token)
    assert refreshed.status_code == 200, "the session outlives one access token"
    assert _me(auth_stack, refreshed.json()["access_token"]).status_code == 200


def test_dangerous_ops_use_cases_need_an_admin_with_a_recent_otp(auth_stack: AuthStack, admin: User) -> None:
    unit, other = auth_stack.new_unit(), auth_stack.new_unit()
    unit_admin = auth_stack.create_user(admin, role="unit_admin", units=[unit])
    viewer = auth_stack.create_user(admin, role="viewer", units=[unit])
    auth_stack.step_up(admin)
    auth_stack.step_up(unit_admin)

    def outcome(user: User, scope: str | None) -> str:
        try:
            auth_stack.run(
                auth_stack.security.authorise_dangerous(
                    access_token=user.access_token, client_address="127.0.0.1", unit=scope, action="restore"
                )
            )
        except Exception as error:
            return type(error).__name__
        return "allowed"

    assert outcome(admin, None) == "allowed" and outcome(unit_admin, unit) == "allowed"
    assert (
        outcome(unit_admin, None) == outcome(unit_admin, other) == outcome(viewer, unit) == "PermissionDenied"
    )
    auth_stack.clock.advance(STEP_UP_MAX_AGE_SECONDS + 1)
    assert outcome(admin, None) == "StepUpRequired"


def test_signing_key_rotation_keeps_earlier_tokens_valid(auth_stack: AuthStack, admin: User) -> None:
    old_kid = _segments(admin.access_token)[0]["kid"]
    auth_stack.step_up(admin)
    with auth_stack.client() as http:
        rotated = http.post("/v1/auth/signing-keys/rotate", headers=admin.headers)
        assert rotated.status_code == 200, rotated.text
        new_kid = rotated.json()["active_kid"]
        published = {key["kid"] for key in http.get("/v1/auth/jwks").json()["keys"]}
    assert new_kid != old_kid and {old_kid, new_kid} <= published
    assert _me(auth_stack, admin.access_token).status_code == 200, (
        "tokens signed before rotation still verify"
    )
    auth_stack.login(admin)
    assert _segments(admin.access_token)[0]["kid"] == new_kid
    assert _me(auth_stack, admin.access_token).status_code == 200


def test_concurrent_rotations_leave_exactly_one_active_key(auth_stack: AuthStack) -> None:
    async def rotate_twice() -> list[str]:
        js = auth_stack.ops.nats.jetstream()
        replicas = [
            await build_security_handlers(js, auth_stack.settings, clock=auth_stack.clock) for _ in range(2)
        ]
        await asyncio.gather(*(rotate_keys(replica.context) for replica in replicas))
        return [(await replica.ensure_signing_key()).kid for replica in replicas]

    active = auth_stack.run(rotate_twice())
    assert active[0] == active[1], "every replica signs with the same newest key"
