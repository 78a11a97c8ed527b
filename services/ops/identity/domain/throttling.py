"""Throttling and temporary lockout after failed passwords and codes, per account and per address.

A counter counts failures inside a sliding window that starts at the first failure; reaching the
threshold locks for `lockout_seconds`. Counters are keyed by a hash of the username (whether or not
the account exists, so lockouts reveal nothing) and of the client address. Only a complete login
resets the account's counter: a correct password alone must not buy fresh OTP guesses.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum

KEY_DIGEST_CHARS = 40


class ThrottleScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    account_threshold: int
    address_threshold: int
    window_seconds: int
    lockout_seconds: int

    def threshold(self, scope: ThrottleScope) -> int:
        return self.account_threshold if scope is ThrottleScope.ACCOUNT else self.address_threshold


@dataclass(frozen=True, slots=True)
class FailureCounter:
    failures: int = 0
    window_started: float = 0.0
    locked_until: float = 0.0

    def locked_for(self, now: float) -> int:
        """Whole seconds until the lock lifts (0: not locked)."""
        return max(0, math.ceil(self.locked_until - now))

    def after_failure(self, *, now: float, threshold: int, policy: ThrottlePolicy) -> FailureCounter:
        """The counter once one more failure is counted (locking when the threshold is reached)."""
        if self.locked_for(now):
            return self
        expired = now - self.window_started >= policy.window_seconds or self.locked_until
        failures = 1 if expired else self.failures + 1
        window_started = now if expired else self.window_started
        if failures >= threshold:
            return FailureCounter(failures=0, window_started=now, locked_until=now + policy.lockout_seconds)
        return FailureCounter(failures=failures, window_started=window_started, locked_until=0.0)


class LockedOut(Exception):
    """Too many failures: refused without looking at the credential."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"temporarily locked; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def throttle_key(scope: ThrottleScope, identifier: str) -> str:
    """A KV-safe key that does not spell out the username or address it counts."""
    digest = hashlib.sha256(f"{scope.value}:{identifier}".encode()).hexdigest()[:KEY_DIGEST_CHARS]
    return f"{scope.value}.{digest}"
