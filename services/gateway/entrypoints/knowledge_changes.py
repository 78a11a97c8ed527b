"""The gateway's background work for test runs: ingest outcomes in, due runs out.

One durable pull consumer (`gateway-test-runs`), shared by every gateway replica, reads the
outcome events ingest publishes on `status.docs.<unit>`; each event reaches one replica, which marks
the unit's knowledge as changed. A scheduler in every replica then claims due units (see
`QualityChecks.run_due_changes`) and runs their test questions. Payloads are checked here, at the
port: the unit in the body must be the one in the subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.gateway.use_cases.quality_checks import QualityChecks
from trolyao.logs import get_logger
from trolyao.messaging import STATUS_STREAM, TEST_RUN_TRIGGER_DURABLE, UNIT_ID_PATTERN, status_filter

log = get_logger("gateway")

FETCH_BATCH = 64
FETCH_TIMEOUT_SECONDS = 1.0
ACK_WAIT_SECONDS = 30.0
RETRY_DELAY_SECONDS = 2.0
CONNECT_POLL_SECONDS = 0.1
SCHEDULE_EVERY_POLLS = 30
STATUS_UNIT_SEGMENT = 2


def _outcome(message: Msg) -> tuple[str, str] | None:
    """(unit, outcome) of a DocumentIndexed event; None for anything else (failures, junk)."""
    parts = message.subject.split(".")
    if len(parts) != STATUS_UNIT_SEGMENT + 1 or not UNIT_ID_PATTERN.match(parts[STATUS_UNIT_SEGMENT]):
        return None
    unit = parts[STATUS_UNIT_SEGMENT]
    try:
        raw: Any = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("unit") != unit or not isinstance(raw.get("outcome"), str):
        return None
    return unit, raw["outcome"]


class QualityWorkers:
    """The consumer and the scheduler, started with the app and stopped with it."""

    def __init__(self, quality: QualityChecks) -> None:
        self._quality = quality
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._consume(), name="test-run-triggers"),
            asyncio.create_task(self._schedule(), name="test-run-scheduler"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._quality.stop()

    async def _jetstream(self) -> JetStreamContext:
        while True:
            with contextlib.suppress(Exception):
                return self._quality.backends.js
            await asyncio.sleep(CONNECT_POLL_SECONDS)

    async def _consume(self) -> None:
        while True:
            try:
                js = await self._jetstream()
                subscription = await js.pull_subscribe(
                    status_filter(),
                    durable=TEST_RUN_TRIGGER_DURABLE,
                    stream=STATUS_STREAM,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.NEW,
                        ack_wait=ACK_WAIT_SECONDS,
                    ),
                )
                while True:
                    try:
                        messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_SECONDS)
                    except TimeoutError:  # nats' own, or asyncio's when a pull outlives its deadline
                        continue
                    for message in messages:
                        await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # NATS away or consumer gone: start over
                log.warning("test_run_consumer_retry", error=type(error).__name__)
                await asyncio.sleep(RETRY_DELAY_SECONDS)

    async def _handle(self, message: Msg) -> None:
        outcome = _outcome(message)
        if outcome is None:
            await message.ack()
            return
        try:
            changed = await self._quality.knowledge_changed(*outcome)
        except Exception as error:
            log.warning("knowledge_change_not_recorded", unit=outcome[0], error=type(error).__name__)
            await message.nak(delay=RETRY_DELAY_SECONDS)
            return
        if changed:
            log.info("knowledge_change_noted", unit=outcome[0], outcome=outcome[1])
        await message.ack()

    async def _schedule(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self._quality.settings.test_run_poll_seconds)
            await self._jetstream()
            if polls % SCHEDULE_EVERY_POLLS == 0:
                await self._tick("schedule", self._quality.schedule_due_units())
            polls += 1
            await self._tick("run_due", self._quality.run_due_changes())

    async def _tick(self, step: str, work: Awaitable[object]) -> None:
        """One step of the scheduler; a failing step is logged and tried again next time."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning(
                "test_run_scheduler_error", step=step, error=type(error).__name__, detail=str(error)[:200]
            )


__all__ = ["QualityWorkers"]
