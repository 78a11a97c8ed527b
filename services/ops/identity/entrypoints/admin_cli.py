"""Operator commands run beside the ops service, straight on NATS (no gateway, no token needed).

`create-admin` makes the first ministry admin on a fresh install and prints the authenticator
enrolment QR code in the terminal. Run it with the same TROLYAO_NATS_URL, TROLYAO_DATA_DIR and
TROLYAO_OPS_SECRET_KEY as the ops service, or the service cannot open the sealed secret.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from services.ops.identity.bootstrap import build_security_handlers
from services.ops.identity.domain.accounts import InvalidAccountRequest
from services.ops.identity.domain.totp import print_qr
from services.ops.settings import OpsSettings
from trolyao.logs import configure_logging
from trolyao.messaging import connect, ensure_layout

EXIT_OK = 0
EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.ops.identity.entrypoints.admin_cli", description="trolyao ops administration"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-admin", help="create the first ministry admin and print the authenticator QR code"
    )
    create.add_argument("--username", required=True, help="login name, e.g. quantri.bo")
    create.add_argument("--display-name", default="", help="full name shown in the console")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    create.add_argument(
        "--additional",
        action="store_true",
        help="allow creating another ministry admin when one exists (break-glass recovery)",
    )
    return parser


def read_password_interactively() -> str:
    first = getpass.getpass("Mật khẩu (ít nhất 12 ký tự): ")
    if getpass.getpass("Nhập lại mật khẩu: ") != first:
        raise InvalidAccountRequest("the two passwords differ")
    return first


async def create_admin(
    args: argparse.Namespace, *, settings: OpsSettings, read_password: Callable[[], str], out: TextIO
) -> int:
    """Create the account with a pending authenticator and print what the admin must scan."""
    password = read_password()
    nats_client = await connect(
        settings.nats_url, name="ops-admin-cli", credential=settings.nats_credential()
    )
    try:
        js = nats_client.jetstream()
        await ensure_layout(js)
        security = await build_security_handlers(js, settings)
        account, enrolment = await security.create_first_admin(
            username=args.username,
            display_name=args.display_name,
            password=password,
            allow_additional=args.additional,
        )
    finally:
        await nats_client.drain()
    out.write(f"Đã tạo tài khoản quản trị cấp Bộ '{account.username}'.\n\n")
    out.write("Quét mã QR này bằng Google Authenticator hoặc Microsoft Authenticator:\n\n")
    print_qr(enrolment.otpauth_uri, out)
    out.write(f"\nHoặc nhập khóa thủ công: {enrolment.secret}\n")
    out.write(
        "\nSau đó đăng nhập: POST /v1/auth/login (tên đăng nhập + mật khẩu), rồi xác nhận bằng mã "
        "6 chữ số: POST /v1/auth/enrolment/confirm {challenge_id, code}. Lưu 10 mã khôi phục được trả về.\n"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = OpsSettings()
    configure_logging(service="ops", log_format=settings.log_format, level=settings.log_level)
    read_password = (
        (lambda: sys.stdin.readline().rstrip("\n")) if args.password_stdin else read_password_interactively
    )
    try:
        return asyncio.run(create_admin(args, settings=settings, read_password=read_password, out=sys.stdout))
    except InvalidAccountRequest as error:
        sys.stderr.write(f"Không tạo được tài khoản: {error}\n")
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
