"""Losing the retrieval process's data, on the whole stack: `trolyao recover` brings each unit back
from its newest snapshot and replays what came after, and the restore moves every file into place
(retrieval logs `unit_model=moved`: nothing is recounted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import httpx
import pytest

from stack.launcher import REPO_ROOT, Stack
from tests.snapshots.conftest import put_document, wait_for_status
from tests.snapshots.test_snapshot_stack import (
    ADDED,
    answers,
    create_unit_with_documents,
    index_state,
    take_snapshot,
)
from tests.support import unique_unit

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

RECOVER_TIMEOUT_SECONDS = 240


def lose_retrieval_data(stack: Stack) -> None:
    """A lost disk: every retrieval worker is killed (they share the data directory, each owning
    its units' files), the whole directory deleted, new workers started."""
    for worker in stack.retrieval_keys:
        stack.kill(worker)
    shutil.rmtree(stack.data_dir / "retrieval")
    for worker in stack.retrieval_keys:
        stack.restart(worker)
    stack.wait_ready()


def test_recover_brings_every_unit_back_from_its_newest_snapshot(
    snapshot_stack: Stack, admin: httpx.Client
) -> None:
    units = [unique_unit("matdulieu"), unique_unit("matdulieu")]
    for unit in units:
        create_unit_with_documents(admin, unit)
    older = take_snapshot(admin, units[0])
    newest = {unit: take_snapshot(admin, unit) for unit in units}
    assert older != newest[units[0]]  # often within one second: newest is by creation time, not id
    put_document(admin, units[1], "hop-tac", *ADDED, 1)  # after the snapshot: comes back by replay
    wait_for_status(admin, units[1], "hop-tac", "indexed")
    expected = {unit: (index_state(snapshot_stack, unit), answers(admin, unit)) for unit in units}
    workers = snapshot_stack.retrieval_keys
    log_offsets = {worker: snapshot_stack.log_path(worker).stat().st_size for worker in workers}

    lose_retrieval_data(snapshot_stack)
    assert all(index_state(snapshot_stack, unit) == ({}, 0) for unit in units)
    recovered = subprocess.run(
        [sys.executable, "-m", "stack.cli", "recover", "--unit", units[0], "--unit", units[1], "--json"],
        capture_output=True,
        text=True,
        env=snapshot_stack.environment() | {"TROLYAO_SERVICE_TOKEN": snapshot_stack.service_token},
        cwd=REPO_ROOT,
        timeout=RECOVER_TIMEOUT_SECONDS,
        check=False,
    )

    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    report = json.loads(recovered.stdout)
    assert report["without_snapshot"] == []
    assert {r["units"][0]["unit"]: r["snapshot_id"] for r in report["restores"]} == newest
    assert report["restores"][1]["units"][0]["replayed_events"] >= 1
    for unit in units:
        assert (index_state(snapshot_stack, unit), answers(admin, unit)) == expected[unit]
    imported = []
    for worker, offset in log_offsets.items():  # each unit is imported by the worker that owns it
        with snapshot_stack.log_path(worker).open(encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            imported += [line for line in log if "unit_imported" in line and any(u in line for u in units)]
    assert len(imported) == len(units)
    assert all("unit_model=moved" in line for line in imported), imported
