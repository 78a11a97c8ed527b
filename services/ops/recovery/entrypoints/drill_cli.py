"""Recovery drill: snapshot, damage, restore, replay, and compare answers, timing each phase.

    python -m services.ops.recovery.entrypoints.drill_cli --unit cuc-bao-chi --questions drill-questions.txt

The questions file has one question per line (blank lines and `#` comments skipped); the phases
are described in services/ops/recovery/use_cases/drill.py. `--damage none` damages nothing.
Exit status 0 when every answer matches, 1 otherwise. `hook_into_cli(subparsers)` adds the same
command as `trolyao drill`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from services.ops.recovery.settings import SnapshotSettings
from services.ops.recovery.use_cases.drill import DAMAGE_FILES, DAMAGE_NONE, DrillReport, run_drill
from trolyao.logs import configure_logging

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2


def read_questions(path: Path) -> list[str]:
    """One question per line; blank lines and lines starting with '#' are skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def format_report(report: DrillReport) -> str:
    """The drill's outcome for a terminal (Vietnamese, with each phase's time)."""
    lines = [f"Diễn tập khôi phục đơn vị {report.unit} (bản chụp {report.snapshot_id})"]
    lines.extend(f"  {phase.name:<22} {phase.seconds:9.3f} s" for phase in report.phases)
    lines.append(
        f"  Đoạn văn trước/sau: {report.chunks_before}/{report.chunks_after};"
        f" sự kiện phát lại: {report.replayed_events}"
    )
    lines.append(
        f"  Câu trả lời khớp: {report.matched}/{report.questions}"
        f" (trả lời được trước sự cố: {report.answered_before},"
        f" trong lúc hỏng: {report.answered_while_damaged})"
    )
    lines.extend(f"  KHÁC: {question}" for question in report.mismatches)
    lines.append("  KẾT QUẢ: ĐẠT" if report.passed else "  KẾT QUẢ: KHÔNG ĐẠT")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", required=True, help="the unit to drill, e.g. cuc-bao-chi")
    parser.add_argument("--questions", required=True, type=Path, help="file with one question per line")
    parser.add_argument(
        "--damage",
        choices=(DAMAGE_FILES, DAMAGE_NONE),
        default=DAMAGE_FILES,
        help="delete the unit's index files (default) or damage nothing",
    )
    parser.add_argument("--keep-snapshot", action="store_true", help="keep the drill's snapshot afterwards")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def command_drill(args: argparse.Namespace) -> int:
    """Entry point of `python -m services.ops.recovery.entrypoints.drill_cli` and `trolyao drill`."""
    settings = SnapshotSettings()
    configure_logging(service="ops-drill", log_format=settings.log_format, level=settings.log_level)
    questions = read_questions(args.questions)
    if not questions:
        sys.stderr.write("Tệp câu hỏi trống.\n")
        return EXIT_USAGE
    report = asyncio.run(
        run_drill(
            unit=args.unit,
            questions=questions,
            settings=settings,
            damage=args.damage,
            keep_snapshot=args.keep_snapshot,
        )
    )
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK if report.passed else EXIT_MISMATCH


def hook_into_cli(commands: Any) -> None:
    """Add `drill` to `trolyao`'s subcommands (the `add_subparsers()` object of stack/cli.py)."""
    drill = commands.add_parser("drill", help="run a recovery drill on one unit and time each phase")
    add_arguments(drill)
    drill.set_defaults(handler=command_drill)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.ops.recovery.entrypoints.drill_cli", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    return command_drill(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
