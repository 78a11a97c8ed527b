"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The evaluation data and the demo document live in ../shared beside the checkout (CI lays a copy
# there too); TROLYAO_SHARED_DIR points elsewhere.
SHARED_DIR = Path(os.environ.get("TROLYAO_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def unique_unit(prefix: str = "t") -> str:
    """A fresh unit id: tests isolate by unique names, not by teardown."""
    return f"{prefix}-{secrets.token_hex(4)}"
