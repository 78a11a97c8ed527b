"""Secrets never appear in clear (KV buckets, their history, logs); the audit trail records every
security event and can be queried and exported by ministry admins only; lockout per address; CLI."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime

import pytest

from services.ops.identity.adapters.secret_key import load_secret_box
from services.ops.identity.adapters.security_layout import AUDIT_STREAM, SECURITY_BUCKETS, SIGNING_KEYS_BUCKET
from services.ops.identity.adapters.security_repositories import SigningKeyRepository
from services.ops.identity.bootstrap import build_security_handlers
from services.ops.identity.domain.accounts import InvalidAccountRequest
from services.ops.identity.domain.errors import LoginFailed
from services.ops.identity.domain.throttling import LockedOut
from services.ops.identity.entrypoints.admin_cli import build_parser, create_admin
from tests.ops.conftest import AuthStack, User

pytestmark = pytest.mark.timeout(60)


def _forms(code: str) -> list[str]:
    return [code, code.replace("-", ""), code.lower(), code.replace("-", "").lower()]


def test_secrets_and_recovery_codes_are_never_stored_or_logged_in_clear(
    auth_stack: AuthStack, admin: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    unit = auth_stack.new_unit()
    user = auth_stack.create_user(admin, role="unit_admin", units=[unit])
    with auth_stack.client() as http:
        step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
        recovered = http.post(
            "/v1/auth/login/recovery",
            json={"challenge_id": step.json()["challenge_id"], "recovery_code": user.recovery_codes[0]},
        )
        assert recovered.status_code == 200
        refreshed = http.post(
            "/v1/auth/refresh", json={"refresh_token": recovered.json()["tokens"]["refresh_token"]}
        )
        assert refreshed.status_code == 200

    box = load_secret_box(
        secret_key=auth_stack.settings.secret_key.get_secret_value(),
        previous_keys="",
        data_dir=auth_stack.settings.data_dir,
    )

    async def private_keys() -> list[bytes]:
        bucket = await auth_stack.ops.nats.jetstream().key_value(SIGNING_KEYS_BUCKET)
        return [key.private_bytes() for key, _ in await SigningKeyRepository(bucket, box).list()]

    signing_keys = auth_stack.run(private_keys())
    secrets_in_clear = {
        "totp secret": [user.secret, user.secret.lower(), base64.b32decode(user.secret).hex()],
        "recovery codes": [form for code in user.recovery_codes for form in _forms(code)],
        "password": [user.password, admin.password],
        "refresh tokens": [
            user.refresh_token,
            recovered.json()["tokens"]["refresh_token"],
            refreshed.json()["refresh_token"],
        ],
        "access token": [user.access_token],
        "ops secret key": [auth_stack.settings.secret_key.get_secret_value()],
        "signing keys": [
            form
            for raw in signing_keys
            for form in (raw.hex(), base64.urlsafe_b64encode(raw).decode().rstrip("="))
        ],
    }
    stored = [
        payload for bucket in SECURITY_BUCKETS for payload in auth_stack.raw_stream_payloads(f"KV_{bucket}")
    ]
    stored += auth_stack.raw_stream_payloads(AUDIT_STREAM)
    assert any(user.username.encode() in payload for payload in stored), (
        "the scan reads the account's records"
    )
    logged = [
        record.getMessage() + json.dumps(getattr(record, "fields", {}), default=str) + (record.exc_text or "")
        for record in caplog.records
    ]
    assert any("security_event" in line for line in logged), "the scan reads the security logs"
    for what, values in secrets_in_clear.items():
        for value in values:
            assert not any(value.encode() in payload for payload in stored), f"{what} stored in clear"
            assert not any(value in line for line in logged), f"{what} logged"
    raw_secret = base64.b32decode(user.secret)
    assert not any(raw_secret in payload for payload in stored), "totp secret stored as raw bytes"


def test_audit_trail_is_queryable_and_exportable_by_ministry_admins_only(
    auth_stack: AuthStack, admin: User
) -> None:
    unit = auth_stack.new_unit()
    viewer = auth_stack.create_user(admin, role="viewer", units=[unit])
    with auth_stack.client() as http:
        http.post("/v1/auth/login", json={"username": viewer.username, "password": "mat-khau-sai-999"})
        page = http.get(
            "/v1/audit", headers=admin.headers, params={"actor": f"user:{viewer.username}", "action": "login"}
        )
        assert page.status_code == 200, page.text
        events = page.json()["events"]
        outcomes = {(event["action"], event["outcome"]) for event in events}
        assert ("login.password", "failure") in outcomes and ("login.otp", "success") in outcomes
        failure = next(event for event in events if event["outcome"] == "failure")
        assert failure["reason"] == "wrong_password" and failure["client_address"] == "127.0.0.1"
        assert all(event["actor"] == f"user:{viewer.username}" for event in events)
        created = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={"action": "account.created", "actor": f"user:{admin.username}"},
        ).json()["events"]
        assert any(
            event["target"] == f"user:{viewer.username}" and event["unit"] == unit for event in created
        )

        actor = {"actor": f"user:{viewer.username}"}
        hour_ago = datetime.fromtimestamp(time.time() - 3_600, UTC).isoformat()
        since = http.get("/v1/audit", headers=admin.headers, params={**actor, "since": hour_ago})
        assert since.status_code == 200 and len(since.json()["events"]) >= len(events)
        in_a_year = datetime.fromtimestamp(time.time() + 366 * 86_400, UTC).isoformat()
        future = http.get("/v1/audit", headers=admin.headers, params={**actor, "since": in_a_year})
        assert future.status_code == 200 and future.json()["events"] == []
        first_page = http.get("/v1/audit", headers=admin.headers, params={**actor, "limit": 1}).json()
        assert len(first_page["events"]) == 1 and first_page["more"] is True
        second_page = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={**actor, "limit": 1, "after": first_page["next_after"]},
        ).json()
        assert second_page["events"][0]["sequence"] > first_page["events"][0]["sequence"]

        exported = http.get("/v1/audit/export", headers=admin.headers, params=actor)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert len(lines) >= len(events) and all(line["actor"] == f"user:{viewer.username}" for line in lines)
        assert [line["sequence"] for line in lines] == sorted(line["sequence"] for line in lines)

        assert http.get("/v1/audit", headers=viewer.headers).status_code == 403
        assert http.get("/v1/audit/export", headers=viewer.headers).status_code == 403
        exports = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={"action": "audit.exported", "actor": f"user:{admin.username}"},
        )
        assert exports.json()["events"], "exporting the trail is itself audited"


def test_lockout_per_client_address(auth_stack: AuthStack) -> None:
    threshold = 3
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    settings = auth_stack.settings.model_copy(update={"lockout_address_threshold": threshold})
    handlers = auth_stack.run(
        build_security_handlers(auth_stack.ops.nats.jetstream(), settings, clock=auth_stack.clock)
    )

    async def attempt(client_address: str) -> type[Exception]:
        try:
            await handlers.start_login(
                username=f"ai.{secrets.token_hex(3)}",
                password="mat-khau-sai-999",
                client_address=client_address,
            )
        except (LoginFailed, LockedOut) as error:
            return type(error)
        raise AssertionError("a wrong password was accepted")

    assert [auth_stack.run(attempt(address)) for _ in range(threshold)] == [LoginFailed] * threshold
    assert auth_stack.run(attempt(address)) is LockedOut, "a new username from the same address is refused"
    assert auth_stack.run(attempt(address + "1")) is LoginFailed, "other addresses are not affected"


def test_cli_creates_the_first_admin_and_prints_the_qr_code(auth_stack: AuthStack) -> None:
    username, password = f"quantri.{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    out = io.StringIO()
    args = build_parser().parse_args(["create-admin", "--username", username, "--additional"])
    assert (
        auth_stack.run(
            create_admin(args, settings=auth_stack.settings, read_password=lambda: password, out=out)
        )
        == 0
    )
    printed = out.getvalue()
    assert "█" in printed or "\x1b[" in printed, "the QR code is drawn in the terminal"
    found = re.search(r"thủ công: ([A-Z2-7]+)", printed)
    assert found is not None
    admin = User(username=username, password=password, role="ministry_admin", units=[], secret=found.group(1))
    with auth_stack.client() as http:
        step = http.post("/v1/auth/login", json={"username": username, "password": password})
        assert step.json()["next"] == "enrol"
        confirmed = http.post(
            "/v1/auth/enrolment/confirm",
            json={"challenge_id": step.json()["challenge_id"], "code": auth_stack.next_code(admin)},
        )
        assert confirmed.status_code == 200, confirmed.text
        token = confirmed.json()["tokens"]["access_token"]
        me = http.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "ministry_admin" and me.json()["all_units"] is True
    refused = build_parser().parse_args(["create-admin", "--username", f"thu.hai.{secrets.token_hex(3)}"])
    with pytest.raises(InvalidAccountRequest):
        auth_stack.run(
            create_admin(refused, settings=auth_stack.settings, read_password=lambda: password, out=out)
        )


def test_unit_admin_sets_the_threshold_and_the_change_is_audited(auth_stack: AuthStack, admin: User) -> None:
    unit = auth_stack.new_unit()
    unit_admin = auth_stack.create_user(admin, role="unit_admin", units=[unit])
    viewer = auth_stack.create_user(admin, role="viewer", units=[unit])
    with auth_stack.client() as http:
        path = f"/v1/units/{unit}/answer-threshold"
        assert http.put(path, headers=viewer.headers, json={"min_confidence": 0.7}).status_code == 403
        reply = http.put(path, headers=unit_admin.headers, json={"min_confidence": 0.7})
        assert reply.status_code == 200, reply.text
        assert reply.json()["min_confidence"] == pytest.approx(0.7)
        assert http.put(path, headers=unit_admin.headers, json={"min_confidence": None}).status_code == 200
        page = http.get(
            "/v1/audit",
            headers=admin.headers,
            params={"action": "unit.answer_threshold_changed", "unit": unit},
        )
        assert page.status_code == 200, page.text
    events = page.json()["events"]
    assert [(e["details"]["previous"], e["details"]["min_confidence"]) for e in events] == [
        ("default", "0.7"),
        ("0.7", "default"),
    ]
    assert all(e["actor"] == f"user:{unit_admin.username}" and e["outcome"] == "success" for e in events)
    assert events[0]["target"] == f"unit:{unit}" and events[0]["client_address"] == "127.0.0.1"
