"""The per-credential request counters every gateway replica shares: a JetStream counter stream.

Each request publishes an increment (`Nats-Incr: 1`, ADR-49) on its counter's subject and reads the
new total from the publish acknowledgement: one round trip, atomic across replicas, nothing to read
first and no compare-and-set retries under contention. (The publish names no expected stream: the
server refuses an increment that carries `Nats-Expected-Stream`.)
"""

from __future__ import annotations

from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import Header

from services.gateway.domain.problems import ApiProblem
from services.gateway.domain.rate_limit import CounterUnavailable
from trolyao.messaging import rate_limit_subject

# A counter that does not answer this fast is skipped (the local limit still applies).
DEFAULT_COUNTER_TIMEOUT_SECONDS = 0.5
INCREMENT = "1"


class JetStreamRateCounter:
    """SharedCounter over the `RATE_LIMITS` counter stream."""

    def __init__(
        self, js_provider: Callable[[], JetStreamContext], *, timeout: float = DEFAULT_COUNTER_TIMEOUT_SECONDS
    ) -> None:
        self._js = js_provider
        self._timeout = timeout

    async def increment(self, key: str) -> int:
        try:
            ack = await self._js().publish(
                rate_limit_subject(key),
                b"",
                timeout=self._timeout,
                headers={Header.INCR.value: INCREMENT},
            )
        except (TimeoutError, ApiProblem, NatsError) as error:  # NATS away or slow
            raise CounterUnavailable(type(error).__name__) from error
        if ack.val is None:
            raise CounterUnavailable("not a counter stream")
        return int(ack.val)


__all__ = ["JetStreamRateCounter"]
