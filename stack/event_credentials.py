"""Units' event credentials, for ministry admins: issue, list and revoke (`trolyao event-credentials`).

The work is ops' use case (services/ops/identity/use_cases/event_credentials.py), the same one the
gateway's `/v1/units/{unit}/event-credentials` routes reach over gRPC; this module only connects
to the stack as the operator and prints. A credential is a NATS user that can publish only
`docs.<unit>.>` and put originals only into the unit's own object-store bucket.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from services.ops.identity.adapters.audit_stream import AuditTrail
from services.ops.identity.adapters.kv_repositories import UnitRepository
from services.ops.identity.adapters.nats_login import NatsLoginProbe
from services.ops.identity.adapters.nats_users import (
    AUTH_CONFIG_NAME,
    EventCredential,
    NatsAuth,
    UnknownCredential,
)
from services.ops.identity.adapters.unit_originals import UnitOriginalsBuckets
from services.ops.identity.use_cases.event_credentials import (
    EventCredentialAdmin,
    Issued,
    UnknownUnit,
)
from stack.launcher import nats_auth, nats_config_dir
from trolyao.messaging import UNITS_BUCKET, connect
from trolyao.natsaccess import unit_originals_bucket


@dataclass(frozen=True, slots=True)
class CredentialPlace:
    """Where a stack's NATS users live and how to reach its server as the operator."""

    auth: NatsAuth
    config_dir: Path
    operator_url: str
    server_url: str
    replicas: int = 1

    @classmethod
    def of_data_dir(cls, data_dir: Path, server_url: str) -> CredentialPlace:
        auth = nats_auth(data_dir.resolve())
        return cls(
            auth=auth,
            config_dir=nats_config_dir(data_dir.resolve()),
            operator_url=auth.operator_url(server_url),
            server_url=server_url,
        )


@asynccontextmanager
async def credential_admin(place: CredentialPlace) -> AsyncIterator[EventCredentialAdmin]:
    """Ops' event-credential use case, wired to the stack through the operator's connection."""
    client = await connect(place.operator_url, name="event-credentials")
    try:
        js = client.jetstream()
        yield EventCredentialAdmin(
            users=place.auth,
            config_dir=place.config_dir,
            units=UnitRepository(await js.key_value(UNITS_BUCKET)),
            buckets=UnitOriginalsBuckets(client, replicas=place.replicas),
            audit=AuditTrail(js),
            login=NatsLoginProbe(place.server_url),
        )
    finally:
        await client.close()


RELOAD_HINT = (
    "Máy chủ NATS chưa nạp lại cấu hình: hãy triển khai {path} rồi nạp lại —\n"
    "  docker compose kill -s HUP nats\n"
    "  kubectl -n trolyao create configmap nats-auth --from-file=auth.conf={path} "
    "--dry-run=client -o yaml | kubectl apply -f -  (rồi chờ nats-config-reloader)"
)


async def issue_credential(place: CredentialPlace, unit: str, *, actor: str) -> Issued:
    """Issue a credential for `unit`, with its password (shown once, kept nowhere)."""
    async with credential_admin(place) as admin:
        return await admin.issue(unit, actor=actor)


async def revoke_credential(
    place: CredentialPlace, credential_id: str, *, actor: str
) -> tuple[EventCredential, bool]:
    """Revoke a credential; also says whether the running server reloaded its users."""
    async with credential_admin(place) as admin:
        return await admin.revoke(credential_id, actor=actor)


def _place(args: argparse.Namespace) -> CredentialPlace:
    server_url = args.nats_url or os.environ.get("TROLYAO_NATS_URL", "nats://127.0.0.1:4222")
    first_server = server_url.split(",")[0].strip()
    if args.deploy_dir:
        # compose / Kubernetes: the users file is deployed by the operator; the URL carries the
        # operator's credential (nats://operator:<TROLYAO_NATS_OPERATOR_PASSWORD>@host:4222).
        deploy_dir = Path(args.deploy_dir)
        auth = NatsAuth(deploy_dir, passwords_from_environment=True)
        return CredentialPlace(
            auth=auth,
            config_dir=deploy_dir,
            operator_url=first_server,
            server_url=first_server,  # not probed: the deployed server reloads when the operator says
            replicas=args.replicas,
        )
    data_dir = Path(args.data_dir or os.environ.get("TROLYAO_DATA_DIR", "data"))
    return CredentialPlace.of_data_dir(data_dir, first_server)


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def command_event_credentials(args: argparse.Namespace) -> int:
    place = _place(args)
    actor = f"operator:{getpass.getuser()}"
    hint = RELOAD_HINT.format(path=place.config_dir / AUTH_CONFIG_NAME)
    if args.action == "render":
        place.auth.write_config(place.config_dir)
        print(f"Đã ghi {place.config_dir / AUTH_CONFIG_NAME}.")
        return 0
    if args.action == "issue":
        try:
            issued = asyncio.run(issue_credential(place, args.unit, actor=actor))
        except UnknownUnit:
            print(f"Không có đơn vị {args.unit}: hãy tạo đơn vị trước (PUT /v1/units/{args.unit}).")
            return 1
        credential, password = issued.credential, issued.password
        print(
            f"Đã cấp thông tin xác thực sự kiện cho đơn vị {credential.unit} "
            f"(mã {credential.credential_id}).\n"
            f"  Người dùng NATS: {credential.user}\n"
            f"  Mật khẩu:        {password}\n"
            f"  Inbox prefix:    _INBOX.{credential.user}\n"
            f"  Kho bản gốc:     {unit_originals_bucket(credential.unit)}\n"
            "Mật khẩu chỉ hiển thị một lần: hãy lưu vào kho bí mật của đơn vị ngay."
        )
        if not issued.reloaded:
            print(hint)
        return 0
    if args.action == "revoke":
        try:
            credential, reloaded = asyncio.run(revoke_credential(place, args.credential_id, actor=actor))
        except UnknownCredential:
            print(f"Không có thông tin xác thực mã {args.credential_id}.")
            return 1
        revoked_at = _when(credential.revoked_at)
        print(f"Đã thu hồi {credential.credential_id} của đơn vị {credential.unit} lúc {revoked_at}.")
        if not reloaded:
            print(hint)
        return 0
    credentials = [c for c in place.auth.credentials() if not args.unit or c.unit == args.unit]
    print(f"{'mã':<14}{'đơn vị':<24}{'cấp lúc (UTC)':<22}{'thu hồi lúc (UTC)':<22}người cấp")
    for credential in credentials:
        print(
            f"{credential.credential_id:<14}{credential.unit:<24}{_when(credential.issued_at):<22}"
            f"{_when(credential.revoked_at):<22}{credential.issued_by}"
        )
    return 0


def hook_into_cli(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "event-credentials", help="issue, list or revoke a unit's NATS event credential (ministry admins)"
    )
    parser.add_argument(
        "--data-dir", default="", help="the stack's data dir (default: TROLYAO_DATA_DIR or ./data)"
    )
    parser.add_argument("--nats-url", default="", help="the NATS server (default: TROLYAO_NATS_URL)")
    parser.add_argument(
        "--deploy-dir",
        default="",
        help="compose/Kubernetes: the folder of the deployed users file (deploy/nats); "
        "--nats-url then carries the operator's credential",
    )
    parser.add_argument("--replicas", type=int, default=1, help="replicas of a new unit bucket (3 on k8s)")
    actions = parser.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="a new credential for a unit; its secret is shown once")
    issue.add_argument("--unit", required=True)
    listing = actions.add_parser("list", help="every credential, active and revoked (no secrets)")
    listing.add_argument("--unit", default="")
    revoke = actions.add_parser("revoke", help="revoke a credential: the server drops it at once")
    revoke.add_argument("credential_id")
    actions.add_parser("render", help="rewrite the users file from the registry (after an upgrade)")
    parser.set_defaults(handler=command_event_credentials)
