"""Who goes next: ingest's fair share of its working slots among units and lanes.

Every event fetched from a unit's lane waits for a slot before it is worked on. A free slot goes,
in this order, to: an interactive event (a person uploaded it and is waiting) of a unit holding
fewer than `per_unit` slots; a bulk event of such a unit; then, when nobody below their share
waits, to any interactive and then any bulk event — idle slots are lent, so a unit importing alone
uses the whole pool. Among units of one pass it is round-robin: the unit served longest ago goes
first. So one unit's backlog of thousands keeps another unit's change waiting for at most the next
slot to free up, never for the backlog; and bulk events never take the last `reserved_interactive`
slots, so an interactive event starts at once even under a full bulk load.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


@dataclass
class _LaneWaiters:
    """Waiting events of one lane, per unit, with the units in the order they are to be served."""

    waiting: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)
    rotation: deque[str] = field(default_factory=deque)

    def add(self, unit: str, waiter: asyncio.Future[None]) -> None:
        queue = self.waiting.setdefault(unit, deque())
        if not queue and unit not in self.rotation:
            self.rotation.append(unit)
        queue.append(waiter)

    def next_unit(self, in_flight: dict[str, int], limit: int) -> str | None:
        """The first unit in line holding fewer than `limit` slots."""
        for unit in self.rotation:
            if in_flight.get(unit, 0) < limit:
                return unit
        return None

    def take(self, unit: str) -> asyncio.Future[None]:
        queue = self.waiting[unit]
        waiter = queue.popleft()
        self.rotation.remove(unit)
        if queue:
            self.rotation.append(unit)  # served: to the back of the line
        else:
            del self.waiting[unit]
        return waiter

    def discard(self, unit: str, waiter: asyncio.Future[None]) -> None:
        queue = self.waiting.get(unit)
        if queue is None or waiter not in queue:
            return
        queue.remove(waiter)
        if not queue:
            del self.waiting[unit]
            self.rotation.remove(unit)


class FairScheduler:
    """Slots for events: a fair share per unit, interactive before bulk, round-robin across units."""

    def __init__(self, *, capacity: int, per_unit: int, reserved_interactive: int = 1) -> None:
        if capacity < 1 or per_unit < 1:
            raise ValueError("capacity and per_unit must be positive")
        self.capacity = capacity
        self.per_unit = per_unit
        # With a single slot nothing can be kept aside: bulk work would never run.
        self.bulk_capacity = max(1, capacity - max(0, reserved_interactive))
        self._in_flight: dict[str, int] = {}
        self._bulk_in_flight = 0
        self._interactive = _LaneWaiters()
        self._bulk = _LaneWaiters()

    def in_flight(self, unit: str | None = None) -> int:
        """Slots in use by one unit (every unit's when None)."""
        if unit is None:
            return sum(self._in_flight.values())
        return self._in_flight.get(unit, 0)

    def waiting(self, unit: str | None = None) -> int:
        """Events fetched and waiting for a slot (one unit's, or every unit's when None)."""
        lanes = (self._interactive, self._bulk)
        if unit is None:
            return sum(len(queue) for lane in lanes for queue in lane.waiting.values())
        return sum(len(lane.waiting.get(unit, ())) for lane in lanes)

    async def acquire(self, unit: str, *, interactive: bool) -> None:
        """Wait for a slot for one event of `unit`; pair with `release(unit, interactive=...)`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._interactive if interactive else self._bulk
        lane.add(unit, waiter)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(unit, interactive=interactive)  # granted as we were cancelled
            else:
                lane.discard(unit, waiter)
            raise

    def release(self, unit: str, *, interactive: bool) -> None:
        """Give back a slot taken by `acquire`, and hand it on."""
        left = self._in_flight.get(unit, 0) - 1
        if left > 0:
            self._in_flight[unit] = left
        else:
            self._in_flight.pop(unit, None)
        if not interactive:
            self._bulk_in_flight -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self.in_flight() < self.capacity:
            granted = self._grant_one()
            if not granted:
                return

    def _grant_one(self) -> bool:
        """Give one free slot to the next in line; False when nobody may take it."""
        bulk_open = self._bulk_in_flight < self.bulk_capacity
        passes = (
            (self._interactive, True, self.per_unit),
            (self._bulk, False, self.per_unit),
            # Nobody below their share is waiting: idle slots are lent beyond it.
            (self._interactive, True, self.capacity),
            (self._bulk, False, self.capacity),
        )
        for lane, interactive, limit in passes:
            if not interactive and not bulk_open:
                continue
            unit = lane.next_unit(self._in_flight, limit)
            if unit is None:
                continue
            waiter = lane.take(unit)
            if waiter.done():  # cancelled while queued; its task discards it
                return True
            self._in_flight[unit] = self._in_flight.get(unit, 0) + 1
            if not interactive:
                self._bulk_in_flight += 1
            waiter.set_result(None)
            return True
        return False
