"""Every audit action the services record has a Vietnamese name on the console's audit page (no
stack needed): the actions are read from where each service defines them."""

from __future__ import annotations

import re

import pytest

from services.gateway import service as gateway_service
from services.gateway.entrypoints import change_audit
from services.gateway.entrypoints.console import ASSETS_DIR
from services.gateway.use_cases import quality_checks
from services.ops.identity.domain.audit import AuditAction
from services.ops.recovery.entrypoints import snapshot_grpc
from services.ops.recovery.use_cases import context as recovery_context
from stack import event_credentials

pytestmark = pytest.mark.timeout(30)

AUDIT_VIEW = ASSETS_DIR / "js" / "views" / "audit.js"
LABELS_BLOCK = re.compile(r"export const ACTION_LABELS = \{(?P<body>.*?)\n\};", re.DOTALL)
LABEL_ENTRY = re.compile(r'^\s*"(?P<action>[a-z_]+\.[a-z_]+)": "(?P<label>[^"]+)",$', re.MULTILINE)
ACTION_CONSTANT = re.compile(r"^(ACTION_|AUDIT_)|_ACTION$")


def recorded_actions() -> set[str]:
    """Every action name ops, the gateway, recovery and the operator's tools write to the trail."""
    actions = {action.value for action in AuditAction}
    for table in (
        change_audit.AUDITED_ROUTES,
        change_audit.SELF_AUDITED_ROUTES,
        change_audit.AUDITED_BY_OPS_ROUTES,
    ):
        actions |= set(table.values())
    for module in (gateway_service, quality_checks, snapshot_grpc, recovery_context, event_credentials):
        actions |= {
            value
            for name, value in vars(module).items()
            if ACTION_CONSTANT.search(name) and isinstance(value, str) and "." in value
        }
    return actions


def console_labels() -> dict[str, str]:
    block = LABELS_BLOCK.search(AUDIT_VIEW.read_text(encoding="utf-8"))
    assert block, "audit.js must define ACTION_LABELS"
    return {m["action"]: m["label"] for m in LABEL_ENTRY.finditer(block["body"])}


def test_every_recorded_action_has_a_vietnamese_label() -> None:
    actions = recorded_actions()
    assert {"snapshot.taken", "unit.deleted", "event_credential.issued", "unit.test_run_started"} <= actions
    missing = sorted(actions - set(console_labels()))
    assert not missing, f"audit.js ACTION_LABELS lacks {missing}"


def test_labels_are_words_not_codes() -> None:
    for action, label in console_labels().items():
        assert "." not in label and "_" not in label, (action, label)
