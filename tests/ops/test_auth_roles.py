"""Roles through the gateway: a unit editor of unit A cannot act on unit B, a viewer cannot change
anything, a unit admin manages only editors and viewers of its own units."""

from __future__ import annotations

import pytest

from tests.ops.conftest import AuthStack, User

pytestmark = pytest.mark.timeout(60)

DOCUMENT = {"title": "Quy chế thử", "text": "Điều 1. Phạm vi điều chỉnh.", "version": 1}


def test_unit_editor_of_a_cannot_act_on_b(auth_stack: AuthStack, admin: User) -> None:
    unit_a, unit_b = auth_stack.new_unit(), auth_stack.new_unit()
    editor = auth_stack.create_user(admin, role="unit_editor", units=[unit_a])
    with auth_stack.client() as http:
        own = http.put(f"/v1/units/{unit_a}/documents/qc-1", headers=editor.headers, json=DOCUMENT)
        assert own.status_code == 202, own.text
        refused = [
            http.put(f"/v1/units/{unit_b}/documents/qc-1", headers=editor.headers, json=DOCUMENT),
            http.delete(f"/v1/units/{unit_b}/documents/qc-1", headers=editor.headers),
            http.get(f"/v1/units/{unit_b}/documents", headers=editor.headers),
            http.get(f"/v1/units/{unit_b}", headers=editor.headers),
            http.put(f"/v1/units/{unit_b}", headers=editor.headers, json={"name": "Đổi tên"}),
            http.put(f"/v1/units/{unit_a}", headers=editor.headers, json={"name": "Đổi tên"}),
        ]
        assert [reply.status_code for reply in refused] == [403] * len(refused)
        listed = http.get("/v1/units", headers=editor.headers)
        assert [unit["unit_id"] for unit in listed.json()["units"]] == [unit_a]
        accounts = http.post(
            "/v1/accounts",
            headers=editor.headers,
            json={"username": "ai.do.khac", "role": "unit_editor", "units": [unit_b]},
        )
        assert accounts.status_code == 403


def test_viewer_cannot_change_anything(auth_stack: AuthStack, admin: User) -> None:
    unit = auth_stack.new_unit()
    viewer = auth_stack.create_user(admin, role="viewer", units=[unit])
    other = auth_stack.create_user(admin, role="unit_editor", units=[unit], enrol=False)
    auth_stack.step_up(viewer)  # a fresh OTP does not turn a viewer into an editor
    with auth_stack.client() as http:
        assert http.get(f"/v1/units/{unit}", headers=viewer.headers).status_code == 200
        assert http.get(f"/v1/units/{unit}/documents", headers=viewer.headers).status_code == 200
        changes = [
            http.put(f"/v1/units/{unit}/documents/qc-1", headers=viewer.headers, json=DOCUMENT),
            http.delete(f"/v1/units/{unit}/documents/qc-1", headers=viewer.headers),
            http.put(f"/v1/units/{unit}", headers=viewer.headers, json={"name": "Đổi tên"}),
            http.post(
                "/v1/accounts",
                headers=viewer.headers,
                json={"username": "ai.do", "role": "viewer", "units": [unit]},
            ),
            http.put(
                f"/v1/accounts/{other.username}/role",
                headers=viewer.headers,
                json={"role": "unit_admin", "units": [unit]},
            ),
            http.put(
                f"/v1/accounts/{other.username}/status", headers=viewer.headers, json={"disabled": True}
            ),
            http.post(f"/v1/accounts/{other.username}/otp-reset", headers=viewer.headers),
            http.put("/v1/auth/policy", headers=viewer.headers, json={"otp_required_for_all": True}),
            http.get("/v1/audit", headers=viewer.headers),
            http.get("/v1/accounts", headers=viewer.headers),
        ]
        assert [reply.status_code for reply in changes] == [403] * len(changes)
        own = http.get(f"/v1/accounts/{viewer.username}", headers=viewer.headers)
        assert own.status_code == 200 and own.json()["role"] == "viewer"


def test_unit_admin_manages_only_editors_and_viewers_of_its_units(auth_stack: AuthStack, admin: User) -> None:
    unit_a, unit_b = auth_stack.new_unit(), auth_stack.new_unit()
    unit_admin = auth_stack.create_user(admin, role="unit_admin", units=[unit_a])
    editor_b = auth_stack.create_user(admin, role="unit_editor", units=[unit_b], enrol=False)
    editor_a = auth_stack.create_user(unit_admin, role="unit_editor", units=[unit_a], enrol=False)
    auth_stack.step_up(unit_admin)
    with auth_stack.client() as http:
        refused = [
            http.post(
                "/v1/accounts",
                headers=unit_admin.headers,
                json={"username": "x.b1", "role": "viewer", "units": [unit_b]},
            ),
            http.post(
                "/v1/accounts",
                headers=unit_admin.headers,
                json={"username": "x.b2", "role": "unit_admin", "units": [unit_a]},
            ),
            http.post(
                "/v1/accounts",
                headers=unit_admin.headers,
                json={"username": "x.b3", "role": "ministry_admin"},
            ),
            http.put(
                f"/v1/accounts/{editor_a.username}/role",
                headers=unit_admin.headers,
                json={"role": "unit_editor", "units": [unit_b]},
            ),
            http.put(
                f"/v1/accounts/{unit_admin.username}/role",
                headers=unit_admin.headers,
                json={"role": "viewer", "units": [unit_a]},
            ),
        ]
        assert [reply.status_code for reply in refused] == [403] * len(refused)
        hidden = http.put(
            f"/v1/accounts/{editor_b.username}/status", headers=unit_admin.headers, json={"disabled": True}
        )
        assert hidden.status_code == 404, "accounts of other units are not even visible"
        demoted = http.put(
            f"/v1/accounts/{editor_a.username}/role",
            headers=unit_admin.headers,
            json={"role": "viewer", "units": [unit_a]},
        )
        assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
        listed = {
            account["username"]
            for account in http.get("/v1/accounts", headers=unit_admin.headers).json()["accounts"]
        }
        assert editor_a.username in listed and editor_b.username not in listed


def test_api_keys_cannot_manage_accounts(auth_stack: AuthStack) -> None:
    bootstrap = {"Authorization": f"Bearer {auth_stack.bootstrap_key}"}
    with auth_stack.client() as http:
        assert http.get("/v1/units", headers=bootstrap).status_code == 200
        refused = http.post(
            "/v1/accounts", headers=bootstrap, json={"username": "qua.khoa", "role": "ministry_admin"}
        )
        assert refused.status_code == 401
        assert http.get("/v1/audit", headers=bootstrap).status_code == 401


def test_an_editor_never_logs_in_with_a_password_alone(auth_stack: AuthStack, admin: User) -> None:
    """Finding 11: every role that can change documents, FAQ or settings needs two factors by default."""
    unit = auth_stack.new_unit()
    editor = auth_stack.create_user(admin, role="unit_editor", units=[unit], enrol=False)
    viewer = auth_stack.create_user(admin, role="viewer", units=[unit], enrol=False)
    with auth_stack.client() as http:
        policy = http.get("/v1/auth/policy", headers=admin.headers)
        assert policy.status_code == 200 and policy.json()["otp_required_for_all"] is False
        step = http.post("/v1/auth/login", json={"username": editor.username, "password": editor.password})
        assert step.status_code == 200, step.text
        assert step.json()["next"] == "enrol" and not step.json().get("tokens")
        # Read-only viewers are the only ones the policy leaves to a password (unless it says otherwise).
        seen = http.post("/v1/auth/login", json={"username": viewer.username, "password": viewer.password})
        assert seen.status_code == 200 and seen.json()["next"] == "done", seen.text
