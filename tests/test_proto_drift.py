"""The checked-in generated code must be exactly what `make proto` produces from proto/."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_generated_code_matches_proto_files(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts" / "gen_proto.sh"), str(tmp_path)],
        check=True,
        env={"PYTHON": sys.executable, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        capture_output=True,
    )
    generated = sorted(p.name for p in (tmp_path / "trolyao" / "v1").iterdir() if p.is_file())
    checked_in = sorted(
        p.name for p in (REPO / "trolyao" / "v1").iterdir() if p.is_file() and p.suffix in (".py", ".pyi")
    )
    assert generated == checked_in, "generated file set differs: run `make proto`"
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "trolyao" / "v1", REPO / "trolyao" / "v1", generated, shallow=False
    )
    assert not mismatch and not errors, f"stale generated code {mismatch or errors}: run `make proto`"


def test_every_grpc_service_is_versioned_v1() -> None:
    for proto in (REPO / "proto" / "trolyao" / "v1").glob("*.proto"):
        assert "package trolyao.v1;" in proto.read_text(), proto.name
