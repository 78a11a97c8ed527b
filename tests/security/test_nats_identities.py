"""NATS as an attacker who reaches its port: nothing without a credential, and a unit's event
credential publishes only that unit's documents and originals, reads nothing, and stops working
once revoked. Against the embedded stack exactly as `make run` starts it."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from stack import cli
from stack.event_credentials import CredentialPlace, UnknownUnit, issue_credential, revoke_credential
from stack.launcher import Stack
from tests.security.conftest import Errors
from tests.support import unique_unit
from trolyao.document_ids import original_object_name
from trolyao.messaging import API_KEYS_BUCKET, DOCS_STREAM, NatsCredential, connect
from trolyao.natsaccess import OPS_AUDIT_STREAM, unit_originals_bucket

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

INDEX_WAIT_SECONDS = 120.0
PUBLISH_TIMEOUT_SECONDS = 3.0
POLL_SECONDS = 0.2
PERMISSIONS_VIOLATION = "permissions violation"


@dataclass
class IssuedCredential:
    unit: str
    credential_id: str
    credential: NatsCredential


@pytest.fixture(scope="module")
def place(running_stack: Stack) -> CredentialPlace:
    return CredentialPlace.of_data_dir(running_stack.data_dir, running_stack.nats_server_url)


@pytest.fixture(scope="module")
def admin(running_stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {running_stack.api_key}"}
    with httpx.Client(base_url=running_stack.gateway_url, headers=headers, timeout=30.0) as client:
        yield client


def issue(place: CredentialPlace, admin: httpx.Client, unit: str) -> IssuedCredential:
    admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}).raise_for_status()
    issued = asyncio.run(issue_credential(place, unit, actor="test:security"))
    assert issued.reloaded
    credential = issued.credential
    return IssuedCredential(unit, credential.credential_id, NatsCredential(credential.user, issued.password))


@asynccontextmanager
async def unit_connection(
    stack: Stack, issued: IssuedCredential, errors: Errors
) -> AsyncIterator[NatsClient]:
    client = await nats.connect(
        stack.nats_server_url,
        user=issued.credential.user,
        password=issued.credential.password,
        inbox_prefix=issued.credential.inbox_prefix,
        allow_reconnect=False,
        error_cb=errors.callback,
    )
    try:
        yield client
    finally:
        await client.close()


def upsert_event(unit: str, document_id: str, **content: object) -> bytes:
    body = {
        "schema_version": 1,
        "event_id": secrets.token_hex(8),
        "unit": unit,
        "document_id": document_id,
        "version": 1,
        "source": "security-test",
        "metadata": {"title": f"Văn bản {document_id}"},
        **content,
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def docs_message_exists(stack: Stack, subject: str) -> bool:
    client = await connect(stack.nats_url, name="security-probe")
    try:
        await client.jetstream().get_last_msg(DOCS_STREAM, subject)
    except NotFoundError:
        return False
    finally:
        await client.close()
    return True


def wait_indexed(admin: httpx.Client, unit: str, document_id: str) -> dict[str, object]:
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        reply = admin.get(f"/v1/units/{unit}/documents/{document_id}")
        if reply.status_code == 200:
            state = reply.json()
            if state.get("status") in ("indexed", "failed"):
                return state
        time.sleep(POLL_SECONDS * 2)
    return state


def test_no_credential_is_refused_by_nats(running_stack: Stack) -> None:
    async def attempt() -> None:
        await nats.connect(running_stack.nats_server_url, allow_reconnect=False, connect_timeout=5)

    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        asyncio.run(attempt())


def test_a_wrong_password_is_refused(running_stack: Stack) -> None:
    async def attempt() -> None:
        await nats.connect(
            running_stack.nats_server_url, user="ingest", password="guess", allow_reconnect=False
        )

    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        asyncio.run(attempt())


def test_unit_credential_publishes_its_own_documents_and_they_are_indexed(
    running_stack: Stack, place: CredentialPlace, admin: httpx.Client
) -> None:
    issued = issue(place, admin, unique_unit("sec"))
    unit = issued.unit
    object_name = original_object_name(unit, "tai-lieu-goc", 1)

    async def publish() -> None:
        async with unit_connection(running_stack, issued, Errors()) as client:
            js = client.jetstream()
            await js.publish(
                f"docs.{unit}.upsert",
                upsert_event(unit, "thong-bao", text="Thời hạn nộp hồ sơ là mười lăm ngày làm việc."),
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            store = await js.object_store(unit_originals_bucket(unit))
            await store.put(object_name, "Quy chế làm việc: họp giao ban mỗi thứ Hai.".encode())
            await js.publish(
                f"docs.{unit}.upsert",
                upsert_event(unit, "tai-lieu-goc", object_name=object_name, filename="quy-che.txt"),
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )

    asyncio.run(publish())
    assert wait_indexed(admin, unit, "thong-bao").get("status") == "indexed"
    assert wait_indexed(admin, unit, "tai-lieu-goc").get("status") == "indexed"


def test_unit_credential_cannot_publish_for_another_unit(
    running_stack: Stack, place: CredentialPlace, admin: httpx.Client
) -> None:
    issued = issue(place, admin, unique_unit("sec"))
    victim = unique_unit("victim")
    errors = Errors()

    async def attack() -> tuple[bool, bool]:
        async with unit_connection(running_stack, issued, errors) as client:
            with pytest.raises(nats.errors.TimeoutError):
                await client.jetstream().publish(
                    f"docs.{victim}.upsert",
                    upsert_event(victim, "gia-mao", text="Văn bản giả mạo."),
                    timeout=PUBLISH_TIMEOUT_SECONDS,
                )
            refused = await errors.wait_for(PERMISSIONS_VIOLATION)
        return refused, await docs_message_exists(running_stack, f"docs.{victim}.upsert")

    refused, landed = asyncio.run(attack())
    assert refused
    assert not landed


def test_unit_credential_cannot_read_or_write_key_value_buckets(
    running_stack: Stack, place: CredentialPlace, admin: httpx.Client
) -> None:
    issued = issue(place, admin, unique_unit("sec"))
    forged_key = f"forged-{secrets.token_hex(4)}"
    errors = Errors()

    async def attack() -> bool:
        async with unit_connection(running_stack, issued, errors) as client:
            await client.subscribe(f"$KV.{API_KEYS_BUCKET}.>")
            await client.publish(
                f"$KV.{API_KEYS_BUCKET}.{forged_key}",
                json.dumps({"role": "ministry_admin", "units": ["*"]}).encode(),
            )
            await client.flush()
            with pytest.raises(nats.errors.TimeoutError):
                await client.jetstream().key_value(API_KEYS_BUCKET)
            with pytest.raises(nats.errors.TimeoutError):
                await client.request(f"$JS.API.DIRECT.GET.KV_{API_KEYS_BUCKET}", b"{}", timeout=1.0)
            return await errors.wait_for(PERMISSIONS_VIOLATION)

    assert asyncio.run(attack())
    assert sum(PERMISSIONS_VIOLATION in error for error in errors.seen) >= 3

    async def forged_record_exists() -> bool:
        client = await connect(running_stack.nats_url, name="security-probe")
        try:
            bucket = await client.jetstream().key_value(API_KEYS_BUCKET)
            return forged_key in await bucket.keys()
        except nats.js.errors.NoKeysError:
            return False
        finally:
            await client.close()

    assert not asyncio.run(forged_record_exists())


def test_a_revoked_credential_is_refused(
    running_stack: Stack, place: CredentialPlace, admin: httpx.Client
) -> None:
    issued = issue(place, admin, unique_unit("sec"))

    async def publish_then_revoke() -> bool:
        errors = Errors()
        async with unit_connection(running_stack, issued, errors) as client:
            await client.jetstream().publish(
                f"docs.{issued.unit}.upsert",
                upsert_event(issued.unit, "truoc-thu-hoi", text="Văn bản trước khi thu hồi."),
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            await revoke_credential(place, issued.credential_id, actor="test:security")
            dropped = await errors.wait_for("authorization")
            return dropped or client.is_closed

    assert asyncio.run(publish_then_revoke())

    async def reconnect() -> None:
        await unit_connection(running_stack, issued, Errors()).__aenter__()

    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        asyncio.run(reconnect())

    async def last_audit_record() -> dict[str, str]:
        client = await connect(running_stack.nats_url, name="security-audit-probe")
        try:
            message = await client.jetstream().get_last_msg(OPS_AUDIT_STREAM, "audit.event_credential")
        finally:
            await client.close()
        return dict(json.loads(message.data or b"{}"))

    record = asyncio.run(last_audit_record())
    assert (record["action"], record["target"], record["unit"]) == (
        "event_credential.revoked",
        issued.credential_id,
        issued.unit,
    )


def test_no_credential_for_a_unit_that_does_not_exist(place: CredentialPlace) -> None:
    with pytest.raises(UnknownUnit):
        asyncio.run(issue_credential(place, unique_unit("none"), actor="test:security"))


def test_the_operator_cli_issues_lists_and_revokes(
    running_stack: Stack, admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = unique_unit("cli")
    admin.put(f"/v1/units/{unit}", json={"name": f"Đơn vị {unit}"}).raise_for_status()
    where = ["event-credentials", "--data-dir", str(running_stack.data_dir)]
    where += ["--nats-url", running_stack.nats_server_url]
    assert cli.main([*where, "issue", "--unit", unit]) == 0
    issued = capsys.readouterr().out
    password = re.search(r"Mật khẩu:\s+(\S+)", issued)
    credential_id = re.search(r"\(mã ([0-9a-f]+)\)", issued)
    assert password and credential_id, issued
    assert cli.main([*where, "list", "--unit", unit]) == 0
    listed = capsys.readouterr().out
    assert credential_id.group(1) in listed and password.group(1) not in listed
    assert cli.main([*where, "revoke", credential_id.group(1)]) == 0
    assert "Đã thu hồi" in capsys.readouterr().out
