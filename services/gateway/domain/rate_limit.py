"""Per-credential rate limits: one token bucket per credential (no I/O; the clock is injected).

A bucket holds up to `burst` tokens and refills at `rate_per_second`; each request takes one. An
empty bucket answers with the seconds until the next token, which becomes `Retry-After`. Buckets
live in the gateway process, so with N replicas a credential gets N times the rate: the limit
protects each replica, and a shared limit (NATS KV counters) can replace this behind the same port.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_TRACKED_CREDENTIALS = 10_000


@dataclass(slots=True)
class TokenBucket:
    """Tokens left and when they were last counted."""

    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by credential subject, oldest forgotten first past `max_tracked`."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = DEFAULT_MAX_TRACKED_CREDENTIALS,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._max_tracked = max_tracked
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds to wait before retrying."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(tokens=self._burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_tracked:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


def retry_after_header(seconds: float) -> str:
    """`Retry-After` takes whole seconds; never 0, or clients retry at once and fail again."""
    return str(max(1, math.ceil(seconds)))


__all__ = ["RateLimiter", "TokenBucket", "retry_after_header"]
