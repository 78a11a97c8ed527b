"""Per-credential rate limits shared by every gateway replica (no I/O; the clock and the shared
counter are injected).

Two gates, in order:

1. `RateLimiter`, one token bucket per credential in this process: a bucket holds up to `burst`
   tokens and refills at `rate_per_second`; each request takes one. It costs nothing, and a
   credential this replica alone has seen past the limit is refused without a round trip.
2. `SharedRateLimiter`: a fixed-window counter every replica increments (`SharedCounter`, a
   JetStream counter in production: one round trip per request). A window lasts `burst /
   rate_per_second` seconds and lets `2 × burst` requests through: what one token bucket can pass
   in that time (`burst` at once plus the refill), so the shared gate never refuses a request a
   single replica's bucket allows — a client on one replica sees exactly the documented limit —
   while a credential spread over N replicas gets at most twice its rate, not N times it (up to
   `4 × burst` around a window's edge). A cheap approximation of one bucket shared by all. When the shared
   counter cannot be reached, the local gate alone applies (each replica protects itself) rather
   than refusing every request.

Either gate answers with the seconds to wait, which becomes `Retry-After`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

DEFAULT_MAX_TRACKED_CREDENTIALS = 10_000
# Credential subjects may hold any character; the counter's key is a digest of one (never the subject).
CREDENTIAL_DIGEST_CHARS = 24


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


class CounterUnavailable(Exception):
    """The shared counter did not answer (NATS away, a timeout)."""


class SharedCounter(Protocol):
    """A counter every replica sees: add one to `key`'s count and return the new count."""

    async def increment(self, key: str) -> int: ...


@dataclass(frozen=True, slots=True)
class RateWindow:
    """Fixed windows of `seconds`, each letting `allowance` requests through."""

    seconds: float
    allowance: int

    @classmethod
    def for_limit(cls, *, rate_per_second: float, burst: int, max_seconds: float) -> RateWindow:
        """Windows of `burst / rate` seconds, each allowing what a token bucket passes in that time
        (`burst` + the refill); a window longer than `max_seconds` (what the shared counter keeps)
        is shortened, with the allowance of that shorter time."""
        seconds = min(burst / rate_per_second, max_seconds)
        return cls(seconds=seconds, allowance=burst + math.floor(rate_per_second * seconds + 1e-9))

    def index(self, now: float) -> int:
        return math.floor(now / self.seconds)

    def wait(self, count: int, now: float) -> float:
        """0.0 when the `count`-th request of the current window may pass, else the seconds until
        the next window opens."""
        if count <= self.allowance:
            return 0.0
        return (self.index(now) + 1) * self.seconds - now


def credential_key(subject: str) -> str:
    """The counter key of a credential: a digest, so no subject leaks into NATS subjects."""
    return hashlib.sha256(subject.encode()).hexdigest()[:CREDENTIAL_DIGEST_CHARS]


class SharedRateLimiter:
    """The local token bucket first, then the window counter all replicas share."""

    def __init__(
        self,
        *,
        local: RateLimiter,
        counter: SharedCounter,
        window: RateWindow,
        wall_clock: Callable[[], float] = time.time,
        on_unavailable: Callable[[CounterUnavailable], None] = lambda _: None,
    ) -> None:
        self._local = local
        self._counter = counter
        self._window = window
        self._wall_clock = wall_clock
        self._on_unavailable = on_unavailable

    async def acquire(self, subject: str) -> float:
        """Take one request for credential `subject`: 0.0 when allowed, else the seconds to wait."""
        wait = self._local.acquire(subject)
        if wait > 0:
            return wait
        now = self._wall_clock()
        key = f"{credential_key(subject)}.{self._window.index(now)}"
        try:
            count = await self._counter.increment(key)
        except CounterUnavailable as error:
            self._on_unavailable(error)
            return 0.0
        return self._window.wait(count, now)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` takes whole seconds; never 0, or clients retry at once and fail again."""
    return str(max(1, math.ceil(seconds)))


__all__ = [
    "CounterUnavailable",
    "RateLimiter",
    "RateWindow",
    "SharedCounter",
    "SharedRateLimiter",
    "TokenBucket",
    "credential_key",
    "retry_after_header",
]
