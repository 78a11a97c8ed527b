"""Recovery after retrieval lost its data: every live unit from its newest snapshot, then replay.

    python -m services.ops.recovery.entrypoints.recover_cli            # every live unit
    python -m services.ops.recovery.entrypoints.recover_cli --unit a --unit b

Run with the stack's environment (TROLYAO_DATA_DIR, TROLYAO_NATS_URL, TROLYAO_RETRIEVAL_ADDR, the
TROLYAO_OPS_SNAPSHOT_* settings) once the new retrieval process is up; the use case is
services/ops/recovery/use_cases/recover.py. Exit status 0 when every unit was restored and its
replay is complete, 1 otherwise. `hook_into_cli(subparsers)` adds the same command as
`trolyao recover`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from services.ops.recovery.bootstrap import build_snapshot_runtime
from services.ops.recovery.settings import SnapshotSettings
from services.ops.recovery.use_cases.recover import RecoveryReport
from trolyao.logs import configure_logging
from trolyao.messaging import connect, ensure_layout

EXIT_OK = 0
EXIT_INCOMPLETE = 1


async def recover(settings: SnapshotSettings, *, units: list[str] | None, actor: str) -> RecoveryReport:
    """Connect as ops does, recover, disconnect."""
    nats_client = await connect(settings.nats_url, name="ops-recover", credential=settings.nats_credential())
    try:
        js = nats_client.jetstream()
        await ensure_layout(js)
        runtime = await build_snapshot_runtime(nats_client, js, settings)
        try:
            return await runtime.handlers.recover_units(units=units, actor=actor)
        finally:
            await runtime.stop()
    finally:
        await nats_client.drain()


def recovered_completely(report: RecoveryReport) -> bool:
    """Every unit restored and every replay complete."""
    return not report.without_snapshot and all(
        item.replay_complete for restore in report.restores for item in restore.units
    )


def format_report(report: RecoveryReport) -> str:
    """The recovery's outcome for a terminal (Vietnamese)."""
    lines = [f"Khôi phục {report.units} đơn vị trong {report.seconds:.1f} s"]
    for restore in report.restores:
        for item in restore.units:
            lines.append(
                f"  {item.unit:<24} bản chụp {restore.snapshot_id}: {item.chunks} đoạn,"
                f" phát lại {item.replayed_events} sự kiện"
                f"{'' if item.replay_complete else ' (CHƯA ĐỦ: ' + item.replay_note + ')'},"
                f" {restore.seconds:.2f} s"
            )
    lines.extend(
        f"  {unit:<24} KHÔNG CÓ BẢN CHỤP: dựng lại từ bản gốc (trolyao reindex --unit {unit})"
        for unit in report.without_snapshot
    )
    lines.append("  KẾT QUẢ: ĐỦ" if recovered_completely(report) else "  KẾT QUẢ: CHƯA ĐỦ")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unit", action="append", default=None, help="a unit to recover (repeatable; default: all units)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def command_recover(args: argparse.Namespace) -> int:
    """Entry point of `python -m services.ops.recovery.entrypoints.recover_cli` and `trolyao recover`."""
    settings = SnapshotSettings()
    configure_logging(service="ops-recover", log_format=settings.log_format, level=settings.log_level)
    report = asyncio.run(recover(settings, units=args.unit, actor=f"recover:{getpass.getuser()}"))
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2, default=str))
    else:
        print(format_report(report))
    return EXIT_OK if recovered_completely(report) else EXIT_INCOMPLETE


def hook_into_cli(commands: Any) -> None:
    """Add `recover` to `trolyao`'s subcommands (the `add_subparsers()` object of stack/cli.py)."""
    recover_parser = commands.add_parser(
        "recover", help="after retrieval lost its data: every unit from its newest snapshot, then replay"
    )
    add_arguments(recover_parser)
    recover_parser.set_defaults(handler=command_recover)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.ops.recovery.entrypoints.recover_cli", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    return command_recover(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
