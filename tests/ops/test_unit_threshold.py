"""A unit's answer threshold in ops (issue 10): stored on the unit record, kept across renames,
readable on records written before it existed. (Setting it through the gateway, audited, is tested
in test_auth_secrets_and_audit.py.)"""

from __future__ import annotations

import json

import pytest

from services.ops.identity.domain.units import InvalidUnit
from tests.ops.conftest import AuthStack
from tests.support import unique_unit
from trolyao.messaging import UNITS_BUCKET

pytestmark = pytest.mark.timeout(120)


def test_records_without_a_threshold_read_as_the_default_and_renames_keep_it(auth_stack: AuthStack) -> None:
    unit = unique_unit("cu")
    old_record = {"unit_id": unit, "name": "Đơn vị cũ", "created_at": "2026-01-01T00:00:00+00:00"}
    old_record["updated_at"] = old_record["created_at"]

    async def write_old_record() -> None:
        bucket = await auth_stack.ops.nats.jetstream().key_value(UNITS_BUCKET)
        await bucket.create(unit, json.dumps(old_record, ensure_ascii=False).encode())

    handlers = auth_stack.ops.handlers
    auth_stack.run(write_old_record())
    assert auth_stack.run(handlers.get_unit(unit)).min_confidence == 0.0

    set_ = auth_stack.run(handlers.put_unit(unit, "", min_confidence=0.62))
    assert (set_.name, set_.min_confidence) == ("Đơn vị cũ", 0.62) and set_.updated_at != set_.created_at
    renamed = auth_stack.run(handlers.put_unit(unit, "Đơn vị mới"))
    assert (renamed.name, renamed.min_confidence) == ("Đơn vị mới", 0.62)
    assert auth_stack.run(handlers.put_unit(unit, "Đơn vị mới", min_confidence=0.62)) == renamed
    assert auth_stack.run(handlers.put_unit(unit, "", min_confidence=0.0)).min_confidence == 0.0
    for bad in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(InvalidUnit):
            auth_stack.run(handlers.put_unit(unit, "", min_confidence=bad))
    with pytest.raises(InvalidUnit):  # a new unit needs a name
        auth_stack.run(handlers.put_unit(unique_unit("moi"), "", min_confidence=0.5))
