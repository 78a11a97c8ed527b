"""Document registry in a NATS key-value bucket, shared by every retrieval replica.

With a Qdrant server (`QDRANT_URL`) any number of retrieval replicas serve any unit; behind a
Kubernetes Service consecutive IndexDocument / DeleteDocument calls for one document may reach
different replicas. They agree through the bucket `retrieval_registry` (JetStream KV, replicated
like every stream: `TROLYAO_JETSTREAM_REPLICAS`):

- `<unit>.<encoded document id>`: the document's record (version, content hash, chunk count,
  metadata, tombstone) as JSON. Ids are encoded as everywhere else (`trolyao.document_ids`:
  URL-safe base64, never starting with `_`, which no UTF-8 text encodes to);
- `<unit>._sequence`: the highest DOCS stream sequence the unit has applied;
- `<unit>._generation`: a counter bumped at each applied change (replicas refresh what they
  derive from the index, e.g. the unit's language model, when it moves);
- `<unit>._lease`: the unit's writer lease. The Indexer applies a unit's changes under it, so two
  replicas never interleave one document's delete-and-upsert of the shared index; it is renewed
  while held and taken over only once expired (a replica that died holding it).

Every write is a compare-and-set on the key's revision: a record is replaced only by a newer version
(or the same version's rebuild; a tombstone only by a newer version), the sequence only grows, so
two writers that race, or one whose lease lapsed, can never move a unit backwards.

nats-py is asyncio; the registry's callers are gRPC worker threads, so the adapter runs its own
event loop on one daemon thread and waits for each call's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from nats.aio.client import Client as NatsClient
from nats.js.errors import APIError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.retrieval.adapters.registry_sqlite import REGISTRY_FILE, SqliteDocumentRegistry
from services.retrieval.domain.model import DocumentMetadata, DocumentRecord
from trolyao.document_ids import document_key
from trolyao.keyvalue import live_entries
from trolyao.logs import get_logger
from trolyao.messaging import (
    RETRIEVAL_REGISTRY_BUCKET,
    JetStreamLayout,
    NatsCredential,
    connect,
    ensure_layout,
)

log = get_logger("retrieval")

SEQUENCE_KEY = "_sequence"
GENERATION_KEY = "_generation"
LEASE_KEY = "_lease"
META_PREFIX = "_"
DEFAULT_LEASE_SECONDS = 30.0
LEASE_WAIT_SECONDS = 120.0
LEASE_POLL_SECONDS = 0.01
LEASE_POLL_MAX_SECONDS = 0.2
CALL_TIMEOUT_SECONDS = 30.0
PREVIOUS_FILE = f".previous-{REGISTRY_FILE}"

Result = TypeVar("Result")


class StaleRecord(RuntimeError):
    """A newer record (or a tombstone of this version) is already in the registry: nothing written."""


class UnitBusy(RuntimeError):
    """Another replica held the unit's writer lease for longer than the wait (the call is retried)."""


class _EventLoopThread:
    """One asyncio loop on a daemon thread; `run` waits for a coroutine's result from any thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="registry-nats", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_SECONDS)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


def _record_json(record: DocumentRecord) -> bytes:
    raw = asdict(record)
    return json.dumps(raw, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _record_from_json(data: bytes) -> DocumentRecord:
    raw = json.loads(data)
    return DocumentRecord(
        document_id=str(raw["document_id"]),
        version=int(raw["version"]),
        content_hash=str(raw["content_hash"]),
        chunk_count=int(raw["chunk_count"]),
        metadata=DocumentMetadata(**raw["metadata"]),
        deleted=bool(raw["deleted"]),
    )


def replaces(new: DocumentRecord, current: DocumentRecord | None) -> bool:
    """Newest version wins: a record replaces an older version, or the same version when that is
    not a tombstone (a rebuild, or the same version's delete)."""
    if current is None or new.version > current.version:
        return True
    return new.version == current.version and not current.deleted


class NatsDocumentRegistry:
    """`DocumentRegistry` (and the stream-sequence log, the unit writer lease, the snapshot hooks of
    `SqliteDocumentRegistry`) over the `retrieval_registry` bucket."""

    def __init__(
        self,
        *,
        runner: _EventLoopThread,
        client: NatsClient,
        store: KeyValue,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self._runner = runner
        self._client = client
        self._kv = store
        self._lease_seconds = lease_seconds
        self._owner = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._local: dict[str, threading.Lock] = {}
        self._local_guard = threading.Lock()

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        credential: NatsCredential | None,
        replicas: int,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> NatsDocumentRegistry:
        """Connect, make sure the bucket exists (with the stack's replication), and open it."""
        runner = _EventLoopThread()

        async def open_bucket() -> tuple[NatsClient, KeyValue]:
            client = await connect(url, name="retrieval-registry", credential=credential)
            js = client.jetstream()
            await ensure_layout(
                js, JetStreamLayout(replicas=replicas), only={f"KV_{RETRIEVAL_REGISTRY_BUCKET}"}
            )
            return client, await js.key_value(RETRIEVAL_REGISTRY_BUCKET)

        try:
            client, store = runner.run(open_bucket())
        except BaseException:
            runner.stop()
            raise
        return cls(runner=runner, client=client, store=store, lease_seconds=lease_seconds)

    # -- raw key access (revision-aware) ---------------------------------------------------------

    def _entry(self, key: str) -> tuple[bytes | None, int]:
        """(value, revision) of the key; (None, revision or 0) when it is absent or deleted."""

        async def read() -> tuple[bytes | None, int]:
            try:
                entry = await self._kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                return None, 0  # `create` writes over a deletion marker, still compare-and-set
            return (bytes(entry.value) if entry.value is not None else b""), entry.revision or 0

        return self._runner.run(read())

    def _swap(self, key: str, value: bytes, revision: int) -> int:
        """Write `value` if the key is still at `revision` (0: absent); its new revision, or 0 if
        another writer won."""

        async def write() -> int:
            try:
                if revision == 0:
                    return await self._kv.create(key, value)
                return await self._kv.update(key, value, last=revision)
            except KeyWrongLastSequenceError:
                return 0

        return self._runner.run(write())

    # -- DocumentRegistry ------------------------------------------------------------------------

    def get(self, unit: str, document_id: str) -> DocumentRecord | None:
        value, _revision = self._entry(document_key(unit, document_id))
        return _record_from_json(value) if value else None

    def put(self, unit: str, record: DocumentRecord) -> None:
        """Store the record unless a newer one is there (StaleRecord); compare-and-set, retried."""
        key = document_key(unit, record.document_id)
        while True:
            value, revision = self._entry(key)
            current = _record_from_json(value) if value else None
            if not replaces(record, current):
                raise StaleRecord(f"{unit}: {record.document_id} is at version {current and current.version}")
            if self._swap(key, _record_json(record), revision):
                break
        self._bump_generation(unit)

    def list(self, unit: str, *, include_deleted: bool = False) -> list[DocumentRecord]:
        entries = self._runner.run(live_entries(self._kv, f"{unit}.*"))
        records = [
            _record_from_json(value)
            for key, value in entries.items()
            if not key.split(".", 1)[1].startswith(META_PREFIX) and value
        ]
        return sorted(
            (record for record in records if include_deleted or not record.deleted),
            key=lambda record: record.document_id,
        )

    def drop_unit(self, unit: str) -> None:
        """Forget every record and the sequence of the unit (its lease and generation stay: the
        generation only ever grows, so replicas see the change)."""
        keys = self._runner.run(live_entries(self._kv, f"{unit}.*"))
        for key in keys:
            if key.split(".", 1)[1] in (LEASE_KEY, GENERATION_KEY):
                continue
            self._runner.run(self._kv.purge(key))
        self._bump_generation(unit)

    # -- per-unit counters -------------------------------------------------------------------------

    def _counter(self, unit: str, name: str) -> tuple[int, int]:
        value, revision = self._entry(f"{unit}.{name}")
        return (int(value) if value else 0), revision

    def record_stream_sequence(self, unit: str, sequence: int) -> None:
        """Remember that the unit applied the DOCS event at `sequence` (the highest one is kept)."""
        if sequence <= 0:
            return
        while True:
            current, revision = self._counter(unit, SEQUENCE_KEY)
            if current >= sequence or self._swap(f"{unit}.{SEQUENCE_KEY}", str(sequence).encode(), revision):
                return

    def stream_sequence(self, unit: str) -> int:
        """Highest DOCS stream sequence the unit has applied (0 when none is recorded)."""
        return self._counter(unit, SEQUENCE_KEY)[0]

    def generation(self, unit: str) -> int:
        """A number that moves whenever the unit's index changes (0: never changed)."""
        return self._counter(unit, GENERATION_KEY)[0]

    def _bump_generation(self, unit: str) -> None:
        while True:
            current, revision = self._counter(unit, GENERATION_KEY)
            if self._swap(f"{unit}.{GENERATION_KEY}", str(current + 1).encode(), revision):
                return

    # -- the unit writer lease ---------------------------------------------------------------------

    def _local_lock(self, unit: str) -> threading.Lock:
        with self._local_guard:
            return self._local.setdefault(unit, threading.Lock())

    @contextmanager
    def hold(self, unit: str) -> Iterator[None]:
        """Hold the unit's writer lease (this process's threads queue on a local lock first)."""
        with self._local_lock(unit):
            revision = self._acquire(unit)
            stop = threading.Event()
            renewer = threading.Thread(
                target=self._renew, args=(unit, revision, stop), name=f"lease-{unit}", daemon=True
            )
            renewer.start()
            try:
                yield
            finally:
                stop.set()
                renewer.join()
                self._release(unit)

    def _lease_value(self) -> bytes:
        return json.dumps({"owner": self._owner, "expires": time.time() + self._lease_seconds}).encode()

    def _acquire(self, unit: str) -> int:
        key = f"{unit}.{LEASE_KEY}"
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        pause = LEASE_POLL_SECONDS
        while True:
            value, revision = self._entry(key)
            holder = json.loads(value) if value else None
            free = holder is None or holder["owner"] == self._owner or holder["expires"] < time.time()
            taken = self._swap(key, self._lease_value(), revision) if free else 0
            if taken:
                if holder is not None and holder["owner"] != self._owner:
                    log.warning("registry_lease_taken_over", unit=unit, previous=holder["owner"])
                return taken
            if time.monotonic() > deadline:
                raise UnitBusy(f"unit {unit}: writer lease held by {holder and holder['owner']}")
            time.sleep(pause)
            pause = min(pause * 2, LEASE_POLL_MAX_SECONDS)

    def _renew(self, unit: str, revision: int, stop: threading.Event) -> None:
        key = f"{unit}.{LEASE_KEY}"
        while not stop.wait(self._lease_seconds / 3):
            try:
                renewed = self._swap(key, self._lease_value(), revision)
                if not renewed:
                    log.warning("registry_lease_lost", unit=unit)
                    return
                revision = renewed
            except Exception:  # a NATS hiccup: the next renewal tries again before expiry
                log.warning("registry_lease_renewal_failed", unit=unit)

    def _release(self, unit: str) -> None:
        key = f"{unit}.{LEASE_KEY}"
        value, revision = self._entry(key)
        if value and json.loads(value)["owner"] == self._owner:
            with contextlib.suppress(APIError):  # taken over meanwhile: not ours to free
                self._runner.run(self._kv.delete(key, last=revision))

    # -- snapshot hooks (the archive member stays `registry.sqlite`, in both modes) ----------------

    def backup_unit(self, unit: str, destination: Path) -> None:
        """Write the unit's records, tombstones and sequence as an SQLite registry file."""
        with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
            copy = SqliteDocumentRegistry(Path(scratch))
            try:
                for record in self.list(unit, include_deleted=True):
                    copy.put(unit, record)
                copy.record_stream_sequence(unit, self.stream_sequence(unit))
                copy.backup_unit(unit, destination)
            finally:
                copy.close()

    def replace_unit(self, unit: str, source: Path) -> Path | None:
        """Load the SQLite registry file `source` as the unit's registry; returns a file of what
        was there before (beside `source`, for `restore_previous`), or None when it was empty."""
        previous: Path | None = None
        if self.list(unit, include_deleted=True) or self.stream_sequence(unit):
            previous = source.with_name(PREVIOUS_FILE)
            self.backup_unit(unit, previous)
        self._load(unit, source)
        return previous

    def restore_previous(self, unit: str, previous: Path | None) -> None:
        """Undo `replace_unit`."""
        if previous is None:
            self.drop_unit(unit)
        else:
            self._load(unit, previous)

    def _load(self, unit: str, source: Path) -> None:
        with tempfile.TemporaryDirectory(dir=source.parent) as scratch:
            (Path(scratch) / unit).mkdir()
            shutil.copyfile(source, Path(scratch) / unit / REGISTRY_FILE)
            reader = SqliteDocumentRegistry(Path(scratch))
            try:
                records, sequence = reader.list(unit, include_deleted=True), reader.stream_sequence(unit)
            finally:
                reader.close()
        self.drop_unit(unit)
        for record in records:
            self._runner.run(self._kv.put(document_key(unit, record.document_id), _record_json(record)))
        self.record_stream_sequence(unit, sequence)
        self._bump_generation(unit)

    def close_unit(self, unit: str) -> None:
        """Nothing is held per unit."""
        del unit

    def close(self) -> None:
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.stop()
