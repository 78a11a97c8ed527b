"""How the key-value and originals parts of a snapshot are written: sorted JSON, values in base64."""

from __future__ import annotations

import base64
import json

from services.ops.recovery.domain.snapshots import KeyValueShare, OriginalEntry


def kv_json(shares: list[KeyValueShare]) -> bytes:
    body = {
        share.bucket: {
            key: base64.b64encode(value).decode("ascii") for key, value in sorted(share.entries.items())
        }
        for share in shares
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def kv_from_json(data: bytes) -> list[KeyValueShare]:
    raw: dict[str, dict[str, str]] = json.loads(data)
    return [
        KeyValueShare(bucket=bucket, entries={key: base64.b64decode(value) for key, value in entries.items()})
        for bucket, entries in raw.items()
    ]


def originals_json(entries: list[OriginalEntry]) -> bytes:
    body = [
        {"name": e.name, "size": e.size, "digest": e.digest} for e in sorted(entries, key=lambda e: e.name)
    ]
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def originals_from_json(data: bytes) -> list[OriginalEntry]:
    return [
        OriginalEntry(name=str(e["name"]), size=int(e["size"]), digest=str(e["digest"]))
        for e in json.loads(data)
    ]
