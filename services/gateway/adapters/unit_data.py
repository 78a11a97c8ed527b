"""A deleted unit's records in JetStream: statuses, FAQ entries, conversations, originals, and the
events and question records that name it.

Key-value entries and stream messages are purged by subject (`$KV.<bucket>.<unit>.>`,
`docs.<unit>.>`, …), so the server removes exactly that unit's messages and nothing else; originals
are named `<unit>.<encoded id>/<version>` and deleted one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError

from trolyao.logs import get_logger
from trolyao.messaging import (
    CONVERSATIONS_BUCKET,
    DEADLETTER_STREAM,
    DOC_STATUS_BUCKET,
    DOCS_STREAM,
    FAQ_ENTRIES_BUCKET,
    FEEDBACK_STREAM,
    ORIGINALS_BUCKET,
    QUESTIONS_STREAM,
    STATUS_STREAM,
    deadletter_subject,
    feedback_filters,
    question_filters,
    status_subject,
    unit_docs_filter,
)

log = get_logger("gateway")

UNIT_KEY_VALUE_BUCKETS = (DOC_STATUS_BUCKET, FAQ_ENTRIES_BUCKET, CONVERSATIONS_BUCKET)


@dataclass(frozen=True, slots=True)
class UnitDataRemoved:
    originals: int


def _unit_stream_subjects(unit: str) -> list[tuple[str, str]]:
    """(stream, subject filter) of every stream message that belongs to the unit."""
    subjects = [
        (DOCS_STREAM, unit_docs_filter(unit)),
        (STATUS_STREAM, status_subject(unit)),
        (DEADLETTER_STREAM, deadletter_subject(unit)),
    ]
    subjects += [(QUESTIONS_STREAM, subject) for subject in question_filters(unit)]
    subjects += [(FEEDBACK_STREAM, subject) for subject in feedback_filters(unit)]
    subjects += [(f"KV_{bucket}", f"$KV.{bucket}.{unit}.>") for bucket in UNIT_KEY_VALUE_BUCKETS]
    return subjects


async def remove_unit_data(js: JetStreamContext, unit: str) -> UnitDataRemoved:
    """Purge every JetStream record of `unit`; other units' records are not read or touched."""
    for stream, subject in _unit_stream_subjects(unit):
        try:
            await js.purge_stream(stream, subject=subject)
        except NotFoundError:
            log.warning("unit_purge_stream_missing", stream=stream)
    originals = 0
    try:
        store = await js.object_store(ORIGINALS_BUCKET)
        infos = await store.list(ignore_deletes=True)
    except (NotFoundError, BucketNotFoundError):  # nats-py: NotFoundError for an empty store too
        infos = []
    for info in infos:
        name = str(info.name or "")
        if not info.deleted and name.partition(".")[0] == unit:
            await store.delete(name)
            originals += 1
    return UnitDataRemoved(originals=originals)


__all__ = ["UNIT_KEY_VALUE_BUCKETS", "UnitDataRemoved", "remove_unit_data"]
