"""Test questions, test runs and pending knowledge changes in JetStream key-value buckets.

- `test_questions`: one record per unit (key `<unit>.set`), the whole question set, so an import of
  500 rows is one compare-and-set write: all its good rows land, or none.
- `test_runs`: one record per run, key `<unit>.<run_id>`; run ids sort by time.
- `test_run_triggers`: one record per unit with knowledge changes waiting for their run (key
  `<unit>.pending`), claimed by compare-and-set so that one gateway replica runs it.

Every key starts with the unit, so per-unit snapshots and unit deletion find them under `<unit>.>`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.gateway.domain.quality import (
    CitedSource,
    KnowledgeChange,
    PendingChanges,
    QuestionResult,
    Regression,
    RunStatus,
    RunTrigger,
    TestQuestion,
    TestRun,
    Verdict,
)
from trolyao.keyvalue import live_keys as keys_matching
from trolyao.messaging import TEST_QUESTIONS_BUCKET, TEST_RUN_TRIGGERS_BUCKET, TEST_RUNS_BUCKET

CAS_ATTEMPTS = 20
RUN_ID_HEX_BYTES = 3
MILLIS_DIGITS = 13
QUESTION_SET_KEY = "{unit}.set"
PENDING_KEY = "{unit}.pending"


class ConcurrentChange(RuntimeError):
    """A compare-and-set write kept losing to other writers."""


async def _read(bucket: KeyValue, key: str) -> tuple[Any, int]:
    """(decoded JSON or None, revision; 0 when the key never held a value or was deleted)."""
    try:
        entry = await bucket.get(key)
    except KeyNotFoundError:
        return None, 0
    if not entry.value:
        return None, 0
    return json.loads(entry.value), entry.revision or 0


async def _write(bucket: KeyValue, key: str, value: Any, revision: int) -> None:
    """Write `value` if the key is still at `revision` (0: absent), else KeyWrongLastSequenceError."""
    payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    if revision:
        await bucket.update(key, payload, last=revision)
    else:
        await bucket.create(key, payload)


def _lost_race(error: Exception) -> bool:
    return isinstance(error, KeyWrongLastSequenceError) or "wrong last sequence" in str(error).lower()


class NatsTestQuestionStore:
    """TestQuestionStore over the `test_questions` bucket (one compare-and-set record per unit)."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def _bucket(self) -> KeyValue:
        return await self._js().key_value(TEST_QUESTIONS_BUCKET)

    async def _load(self, unit: str) -> tuple[dict[str, TestQuestion], int]:
        raw, revision = await _read(await self._bucket(), QUESTION_SET_KEY.format(unit=unit))
        items = [TestQuestion(**item) for item in (raw or {}).get("questions", [])]
        return {item.question_id: item for item in items}, revision

    async def _change(self, unit: str, change: Callable[[dict[str, TestQuestion]], None]) -> None:
        bucket = await self._bucket()
        for _ in range(CAS_ATTEMPTS):
            questions, revision = await self._load(unit)
            change(questions)
            ordered = [asdict(questions[key]) for key in sorted(questions)]
            try:
                if ordered or revision:
                    await _write(
                        bucket,
                        QUESTION_SET_KEY.format(unit=unit),
                        {"unit": unit, "questions": ordered},
                        revision,
                    )
                return
            except Exception as error:
                if not _lost_race(error):
                    raise
        raise ConcurrentChange(unit)

    async def in_unit(self, unit: str) -> list[TestQuestion]:
        questions, _ = await self._load(unit)
        return [questions[key] for key in sorted(questions)]

    async def get(self, unit: str, question_id: str) -> TestQuestion | None:
        questions, _ = await self._load(unit)
        return questions.get(question_id)

    async def put_many(self, unit: str, items: Sequence[TestQuestion]) -> list[bool]:
        created: list[bool] = []

        def change(questions: dict[str, TestQuestion]) -> None:
            created.clear()
            for item in items:
                existing = questions.get(item.question_id)
                created.append(existing is None)
                if existing is not None:
                    item = replace(item, created_at=existing.created_at)
                questions[item.question_id] = item

        await self._change(unit, change)
        return created

    async def delete(self, unit: str, question_id: str) -> bool:
        found: list[bool] = []

        def change(questions: dict[str, TestQuestion]) -> None:
            found[:] = [questions.pop(question_id, None) is not None]

        await self._change(unit, change)
        return bool(found and found[0])

    async def delete_unit(self, unit: str) -> None:
        bucket = await self._bucket()
        try:
            await bucket.purge(QUESTION_SET_KEY.format(unit=unit))
        except KeyNotFoundError:
            return

    async def counts(self) -> dict[str, int]:
        """How many test questions each unit has (units without any are absent)."""
        bucket = await self._bucket()
        counts: dict[str, int] = {}
        for key in await keys_matching(bucket, QUESTION_SET_KEY.format(unit="*")):
            raw, _ = await _read(bucket, key)
            if raw and raw.get("questions"):
                counts[key.partition(".")[0]] = len(raw["questions"])
        return counts


def new_run_id(now: float | None = None) -> str:
    """A run id that sorts by start time: milliseconds since the epoch and a random suffix."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:0{MILLIS_DIGITS}d}-{secrets.token_hex(RUN_ID_HEX_BYTES)}"


def _cited(raw: dict[str, Any]) -> CitedSource:
    return CitedSource(**raw)


def _result(raw: dict[str, Any]) -> QuestionResult:
    return QuestionResult(
        **{
            **raw,
            "verdict": Verdict(raw["verdict"]),
            "citations": tuple(_cited(c) for c in raw.get("citations", [])),
        }
    )


def _regression(raw: dict[str, Any]) -> Regression:
    return Regression(
        **{
            **raw,
            "previous_verdict": Verdict(raw["previous_verdict"]),
            "verdict": Verdict(raw["verdict"]),
            "changes": tuple(KnowledgeChange(**c) for c in raw.get("changes", [])),
        }
    )


def encode_run(run: TestRun) -> dict[str, Any]:
    """The JSON record of a run."""
    return asdict(run)


def decode_run(raw: dict[str, Any]) -> TestRun:
    """A run from its JSON record."""
    return TestRun(
        **{
            **raw,
            "trigger": RunTrigger(raw["trigger"]),
            "status": RunStatus(raw["status"]),
            "results": tuple(_result(r) for r in raw.get("results", [])),
            "regressions": tuple(_regression(r) for r in raw.get("regressions", [])),
            "changes": tuple(KnowledgeChange(**c) for c in raw.get("changes", [])),
        }
    )


class NatsTestRunStore:
    """Runs over the `test_runs` bucket, key `<unit>.<run_id>`."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def _bucket(self) -> KeyValue:
        return await self._js().key_value(TEST_RUNS_BUCKET)

    async def put(self, run: TestRun) -> None:
        """Create or replace the run's record."""
        bucket = await self._bucket()
        payload = json.dumps(encode_run(run), ensure_ascii=False, separators=(",", ":")).encode()
        await bucket.put(f"{run.unit}.{run.run_id}", payload)

    async def get(self, unit: str, run_id: str) -> TestRun | None:
        raw, _ = await _read(await self._bucket(), f"{unit}.{run_id}")
        return None if raw is None else decode_run(raw)

    async def run_ids(self, unit: str) -> list[str]:
        """The unit's run ids, newest first."""
        keys = await keys_matching(await self._bucket(), f"{unit}.*")
        return sorted((key.partition(".")[2] for key in keys if key.partition(".")[0] == unit), reverse=True)

    async def latest_ids(self) -> dict[str, list[str]]:
        """Every unit's run ids, newest first, read in one pass over the keys."""
        by_unit: dict[str, list[str]] = {}
        for key in await keys_matching(await self._bucket(), "*.*"):
            unit, _, run_id = key.partition(".")
            by_unit.setdefault(unit, []).append(run_id)
        return {unit: sorted(ids, reverse=True) for unit, ids in by_unit.items()}

    async def latest_done(self, unit: str, run_ids: Sequence[str] | None = None) -> TestRun | None:
        """The newest finished run of the unit, or None."""
        for run_id in await self.run_ids(unit) if run_ids is None else run_ids:
            run = await self.get(unit, run_id)
            if run is not None and run.status is RunStatus.DONE:
                return run
        return None

    async def delete(self, unit: str, run_id: str) -> None:
        bucket = await self._bucket()
        try:
            await bucket.purge(f"{unit}.{run_id}")
        except KeyNotFoundError:
            return

    async def delete_unit(self, unit: str) -> None:
        """Forget every run of the unit."""
        for run_id in await self.run_ids(unit):
            await self.delete(unit, run_id)


class NatsRunTriggers:
    """Pending knowledge changes per unit in `test_run_triggers`, and the claim on their run."""

    def __init__(self, js_provider: Callable[[], JetStreamContext]) -> None:
        self._js = js_provider

    async def _bucket(self) -> KeyValue:
        return await self._js().key_value(TEST_RUN_TRIGGERS_BUCKET)

    async def record_change(
        self, unit: str, now: float, trigger: RunTrigger = RunTrigger.CHANGE
    ) -> PendingChanges:
        """Note one more knowledge change (or a scheduled run) of the unit, debounced into one run."""
        bucket = await self._bucket()
        for _ in range(CAS_ATTEMPTS):
            key = PENDING_KEY.format(unit=unit)
            raw, revision = await _read(bucket, key)
            pending = (
                PendingChanges(**raw).with_change(now, trigger)
                if raw
                else PendingChanges(unit=unit, first_at=now, last_at=now, count=1, trigger=trigger.value)
            )
            try:
                await _write(bucket, key, asdict(pending), revision)
                return pending
            except Exception as error:
                if not _lost_race(error):
                    raise
        raise ConcurrentChange(unit)

    async def pending_units(self) -> list[str]:
        keys = await keys_matching(await self._bucket(), PENDING_KEY.format(unit="*"))
        return [key.partition(".")[0] for key in keys]

    async def claim(
        self,
        unit: str,
        *,
        claimant: str,
        now: float,
        lease_seconds: float,
        quiet_seconds: float,
        max_wait_seconds: float,
    ) -> PendingChanges | None:
        """Claim the unit's due changes for `claimant`; None when not due or another replica won."""
        bucket = await self._bucket()
        key = PENDING_KEY.format(unit=unit)
        raw, revision = await _read(bucket, key)
        if not raw:
            return None
        pending = PendingChanges(**raw)
        if not pending.is_due(now, quiet_seconds=quiet_seconds, max_wait_seconds=max_wait_seconds):
            return None
        claimed = replace(pending, claimed_by=claimant, claimed_until=now + lease_seconds)
        try:
            await _write(bucket, key, asdict(claimed), revision)
        except Exception as error:
            if _lost_race(error):
                return None
            raise
        return claimed

    async def release(self, claimed: PendingChanges) -> None:
        """The claimed changes are tested: forget them, keeping any that arrived meanwhile."""
        bucket = await self._bucket()
        key = PENDING_KEY.format(unit=claimed.unit)
        for _ in range(CAS_ATTEMPTS):
            raw, revision = await _read(bucket, key)
            if not raw:
                return
            current = PendingChanges(**raw)
            try:
                if current.count <= claimed.count:
                    await bucket.delete(key, last=revision)
                else:
                    later = PendingChanges(
                        unit=claimed.unit,
                        first_at=claimed.last_at,
                        last_at=current.last_at,
                        count=current.count - claimed.count,
                        trigger=current.trigger,
                    )
                    await _write(bucket, key, asdict(later), revision)
                return
            except Exception as error:
                if not _lost_race(error):
                    raise
        raise ConcurrentChange(claimed.unit)

    async def delete_unit(self, unit: str) -> None:
        bucket = await self._bucket()
        try:
            await bucket.purge(PENDING_KEY.format(unit=unit))
        except KeyNotFoundError:
            return


__all__ = [
    "ConcurrentChange",
    "NatsRunTriggers",
    "NatsTestQuestionStore",
    "NatsTestRunStore",
    "decode_run",
    "encode_run",
    "new_run_id",
]
