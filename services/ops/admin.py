"""`python -m services.ops.admin create-admin --username ...`: see services/ops/entrypoints/admin_cli.py."""

from __future__ import annotations

import sys

from services.ops.entrypoints.admin_cli import main

if __name__ == "__main__":
    sys.exit(main())
