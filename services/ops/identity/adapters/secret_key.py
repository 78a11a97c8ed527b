"""Where the at-rest encryption key comes from: configuration, or (embedded installs) a key file.

The key file lives under the data dir, outside every NATS bucket and snapshot, readable by the
owner only. Production sets TROLYAO_OPS_SECRET_KEY from its secret store instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from services.ops.identity.domain.secret_box import SecretBox, decode_secret_key, generate_secret_key
from trolyao.logs import get_logger

log = get_logger("ops")

SECRET_KEY_FILE = "ops-secret-key"
OWNER_ONLY = 0o600


def read_or_create_key_file(data_dir: Path) -> str:
    """The key kept in `<data_dir>/ops-secret-key`, made once (atomically, owner-only) if missing."""
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(generate_secret_key() + "\n")
        log.warning(
            "ops_secret_key_generated", path=str(path), hint="set TROLYAO_OPS_SECRET_KEY in production"
        )
    return path.read_text().strip()


def load_secret_box(*, secret_key: str, previous_keys: str, data_dir: Path) -> SecretBox:
    """A SecretBox from the configured key (or the key file) and any previous keys."""
    current = decode_secret_key(secret_key or read_or_create_key_file(data_dir))
    previous = [decode_secret_key(text) for text in previous_keys.split(",") if text.strip()]
    return SecretBox(current, previous)
