"""The fair scheduler: a share per unit, interactive before bulk, round-robin across units."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.domain.fairness import FairScheduler

pytestmark = pytest.mark.timeout(10)


async def _granted_order(scheduler: FairScheduler, requests: list[tuple[str, bool]]) -> list[str]:
    """With the scheduler's one slot held by "holder", queue every request, then hand the slot on
    one by one; the order in which the requests got it."""
    order: list[tuple[str, str, bool]] = []

    async def request(name: str, unit: str, interactive: bool) -> None:
        await scheduler.acquire(unit, interactive=interactive)
        order.append((name, unit, interactive))

    tasks = [
        asyncio.create_task(request(f"{unit}{'!' if interactive else ''}#{index}", unit, interactive))
        for index, (unit, interactive) in enumerate(requests)
    ]
    await asyncio.sleep(0)
    holder, holder_interactive = "holder", True
    while len(order) < len(requests):
        granted = len(order)
        scheduler.release(holder, interactive=holder_interactive)
        await asyncio.sleep(0)
        assert len(order) == granted + 1
        _name, holder, holder_interactive = order[-1]
    await asyncio.gather(*tasks)
    return [name for name, _unit, _interactive in order]


def test_round_robin_across_units_and_interactive_first() -> None:
    async def scenario() -> list[str]:
        scheduler = FairScheduler(capacity=1, per_unit=1)
        await scheduler.acquire("holder", interactive=True)
        requests = [("a", False)] * 4 + [("b", False)] + [("c", True)]
        return await _granted_order(scheduler, requests)

    order = asyncio.run(scenario())
    assert order[0] == "c!#5"  # a person's upload first
    assert order[1:3] == ["a#0", "b#4"]  # then one of a's backlog, and b's only change
    assert order[3:] == ["a#1", "a#2", "a#3"]


def test_a_unit_alone_borrows_idle_slots_and_a_newcomer_gets_the_next_one() -> None:
    async def scenario() -> tuple[int, int, int]:
        scheduler = FairScheduler(capacity=4, per_unit=2)
        tasks = [asyncio.create_task(scheduler.acquire("a", interactive=False)) for _ in range(10)]
        await asyncio.sleep(0)
        alone = scheduler.in_flight("a")  # every bulk slot, not only its share
        newcomer = asyncio.create_task(scheduler.acquire("b", interactive=False))
        await asyncio.sleep(0)
        scheduler.release("a", interactive=False)  # the next free slot is b's, not a's
        await newcomer
        held = (alone, scheduler.in_flight("a"), scheduler.in_flight("b"))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return held

    assert asyncio.run(scenario()) == (3, 2, 1)


def test_bulk_leaves_a_slot_for_interactive_work() -> None:
    async def scenario() -> tuple[int, bool]:
        scheduler = FairScheduler(capacity=4, per_unit=4)
        bulk = [asyncio.create_task(scheduler.acquire(unit, interactive=False)) for unit in "abcdef"]
        await asyncio.sleep(0)
        bulk_running = scheduler.in_flight()
        interactive = asyncio.create_task(scheduler.acquire("g", interactive=True))
        await asyncio.sleep(0)
        started = interactive.done()
        for task in bulk:
            task.cancel()
        await asyncio.gather(*bulk, return_exceptions=True)
        return bulk_running, started

    assert asyncio.run(scenario()) == (3, True)


def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    async def scenario() -> tuple[int, int]:
        scheduler = FairScheduler(capacity=1, per_unit=1)
        await scheduler.acquire("a", interactive=False)
        leaving = asyncio.create_task(scheduler.acquire("b", interactive=False))
        staying = asyncio.create_task(scheduler.acquire("c", interactive=False))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        scheduler.release("a", interactive=False)
        await staying
        return scheduler.in_flight("c"), scheduler.waiting()

    assert asyncio.run(scenario()) == (1, 0)
