"""The two-factor login through the gateway with real TOTP codes: enrolment, login, wrong and
replayed codes, clock drift, lockout and its release, recovery codes."""

from __future__ import annotations

import base64
import secrets

import pytest

from tests.ops.conftest import LOCKOUT_SECONDS, LOCKOUT_THRESHOLD, AuthStack, User

pytestmark = pytest.mark.timeout(60)

TOTP_STEP = 30


def _login_password(stack: AuthStack, user: User) -> str:
    with stack.client() as http:
        step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
    assert step.status_code == 200, step.text
    assert step.json()["next"] == "otp"
    return str(step.json()["challenge_id"])


def _send_code(stack: AuthStack, challenge_id: str, code: str) -> tuple[int, dict[str, object]]:
    with stack.client() as http:
        reply = http.post("/v1/auth/login/otp", json={"challenge_id": challenge_id, "code": code})
    return reply.status_code, reply.json()


def _wrong_code(stack: AuthStack, user: User) -> str:
    """A code matching none of the three steps the server accepts now."""
    valid = {stack.code_at(user, offset) for offset in (-TOTP_STEP, 0, TOTP_STEP)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def test_enrolment_shows_scannable_qr_and_first_code_completes_login(
    auth_stack: AuthStack, admin: User
) -> None:
    unit = auth_stack.new_unit()
    user = auth_stack.create_user(admin, role="unit_admin", units=[unit], enrol=False)
    with auth_stack.client() as http:
        step = http.post("/v1/auth/login", json={"username": user.username, "password": user.password})
        assert step.status_code == 200
        assert step.json()["next"] == "enrol", "unit admins must have OTP"
        assert step.json()["tokens"] is None
        started = http.post("/v1/auth/enrolment/start", json={"challenge_id": step.json()["challenge_id"]})
        assert started.status_code == 200, started.text
        enrolment = started.json()
        assert started.headers["Cache-Control"] == "no-store", "secrets must not be cached"
        assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
        assert f"secret={enrolment['secret']}" in enrolment["otpauth_uri"]
        assert "<svg" in enrolment["qr_svg"]
        assert base64.b64decode(enrolment["qr_png_base64"]).startswith(b"\x89PNG")
        user.secret = enrolment["secret"]
        confirmed = http.post(
            "/v1/auth/enrolment/confirm",
            json={"challenge_id": step.json()["challenge_id"], "code": auth_stack.next_code(user)},
        )
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert len(body["recovery_codes"]) == 10 and len(set(body["recovery_codes"])) == 10
        user.access_token = body["tokens"]["access_token"]
        me = http.get("/v1/auth/me", headers=user.headers)
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "unit_admin" and me.json()["units"] == [unit]
        assert set(me.json()["amr"]) == {"pwd", "otp"}
        assert me.json()["otp_at"] == pytest.approx(auth_stack.clock(), abs=1)
    auth_stack.login(user)  # and from now on every login asks for a code


def test_wrong_password_unknown_user_and_wrong_code_fail_alike(auth_stack: AuthStack, admin: User) -> None:
    with auth_stack.client() as http:
        wrong_password = http.post(
            "/v1/auth/login", json={"username": admin.username, "password": "sai-mat-khau-1"}
        )
        unknown_user = http.post(
            "/v1/auth/login",
            json={"username": f"khong.co.{secrets.token_hex(3)}", "password": "sai-mat-khau-1"},
        )
    challenge = _login_password(auth_stack, admin)
    auth_stack.clock.advance(TOTP_STEP)
    status, wrong_code = _send_code(auth_stack, challenge, _wrong_code(auth_stack, admin))
    assert wrong_password.status_code == unknown_user.status_code == status == 401
    bodies = [wrong_password.json(), unknown_user.json(), wrong_code]
    assert {(b["code"], b["title"], b["detail"]) for b in bodies} == {
        ("login_failed", bodies[0]["title"], bodies[0]["detail"])
    }


def test_a_code_is_accepted_once(auth_stack: AuthStack, admin: User) -> None:
    challenge = _login_password(auth_stack, admin)
    code = auth_stack.next_code(admin)
    status, _ = _send_code(auth_stack, challenge, code)
    assert status == 200
    replay_challenge = _login_password(auth_stack, admin)
    status, body = _send_code(auth_stack, replay_challenge, code)  # same step, same code
    assert status == 401 and body["code"] == "login_failed"
    status, _ = _send_code(auth_stack, replay_challenge, auth_stack.next_code(admin))
    assert status == 200, "the challenge survives one wrong attempt"


def test_one_step_of_drift_is_accepted_and_two_are_not(auth_stack: AuthStack, admin: User) -> None:
    auth_stack.clock.advance(10 * TOTP_STEP)
    for offset in (-2 * TOTP_STEP, 2 * TOTP_STEP):
        challenge = _login_password(auth_stack, admin)
        status, _ = _send_code(auth_stack, challenge, auth_stack.code_at(admin, offset))
        assert status == 401, f"a code {offset:+d} s away must be refused"
    challenge = _login_password(auth_stack, admin)
    assert _send_code(auth_stack, challenge, auth_stack.code_at(admin, -TOTP_STEP))[0] == 200
    auth_stack.clock.advance(3 * TOTP_STEP)
    challenge = _login_password(auth_stack, admin)
    assert _send_code(auth_stack, challenge, auth_stack.code_at(admin, TOTP_STEP))[0] == 200


def test_lockout_after_repeated_failures_and_release_after_the_wait(
    auth_stack: AuthStack, admin: User
) -> None:
    nobody = f"khong.ton.tai.{secrets.token_hex(3)}"
    with auth_stack.client() as http:
        for username in (admin.username, nobody):
            for _ in range(LOCKOUT_THRESHOLD):
                failed = http.post(
                    "/v1/auth/login", json={"username": username, "password": "mat-khau-sai-123"}
                )
                assert failed.status_code == 401
        locked = http.post("/v1/auth/login", json={"username": admin.username, "password": admin.password})
        locked_nobody = http.post("/v1/auth/login", json={"username": nobody, "password": "mat-khau-sai-123"})
        assert locked.status_code == locked_nobody.status_code == 429, "the right password does not help"
        assert locked.json()["code"] == locked_nobody.json()["code"] == "locked_out"
        assert locked.json()["detail"] == locked_nobody.json()["detail"], "a lockout reveals nothing"
        assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT_SECONDS
        auth_stack.clock.advance(LOCKOUT_SECONDS + 1)
        released = http.post("/v1/auth/login", json={"username": admin.username, "password": admin.password})
        assert released.status_code == 200, released.text


def test_failed_codes_count_towards_lockout_too(auth_stack: AuthStack, admin: User) -> None:
    challenge = _login_password(auth_stack, admin)
    for _ in range(LOCKOUT_THRESHOLD):
        auth_stack.clock.advance(TOTP_STEP)
        status, _ = _send_code(auth_stack, challenge, _wrong_code(auth_stack, admin))
        assert status == 401
    with auth_stack.client() as http:
        locked = http.post("/v1/auth/login", json={"username": admin.username, "password": admin.password})
    assert locked.status_code == 429
    auth_stack.clock.advance(LOCKOUT_SECONDS + 1)
    auth_stack.login(admin)


def test_recovery_code_works_once(auth_stack: AuthStack, admin: User) -> None:
    first, second = admin.recovery_codes[0], admin.recovery_codes[1]
    with auth_stack.client() as http:
        challenge = _login_password(auth_stack, admin)
        used = http.post("/v1/auth/login/recovery", json={"challenge_id": challenge, "recovery_code": first})
        assert used.status_code == 200, used.text
        assert used.json()["recovery_codes_left"] == 9
        assert used.json()["tokens"]["access_token"]
        challenge = _login_password(auth_stack, admin)
        reused = http.post(
            "/v1/auth/login/recovery", json={"challenge_id": challenge, "recovery_code": first}
        )
        assert reused.status_code == 401 and reused.json()["code"] == "login_failed"
        typed_loosely = second.replace("-", "").lower()
        other = http.post(
            "/v1/auth/login/recovery", json={"challenge_id": challenge, "recovery_code": typed_loosely}
        )
        assert other.status_code == 200, other.text
        assert other.json()["recovery_codes_left"] == 8
        account = http.get(
            f"/v1/accounts/{admin.username}",
            headers={"Authorization": "Bearer " + other.json()["tokens"]["access_token"]},
        )
    assert account.status_code == 200 and account.json()["recovery_codes_left"] == 8
