"""Login challenges: what a correct password earns before the second factor.

A challenge is single-use, short-lived, allows a few code attempts, and remembers the account's
epoch so that a role change or an OTP reset in between voids it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum

CHALLENGE_ID_BYTES = 24
CHALLENGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class ChallengePurpose(StrEnum):
    OTP = "otp"
    ENROL = "enrol"


class ChallengeFailed(PermissionError):
    """The challenge is unknown, expired, used up, or for another step."""


@dataclass(frozen=True, slots=True)
class LoginChallenge:
    challenge_id: str
    username: str
    purpose: ChallengePurpose
    created_at: float
    expires_at: float
    account_epoch: int
    attempts: int = 0

    def usable(self, *, now: float, max_attempts: int) -> bool:
        return now < self.expires_at and self.attempts < max_attempts

    def with_failed_attempt(self) -> LoginChallenge:
        return replace(self, attempts=self.attempts + 1)


def new_challenge(
    *, username: str, purpose: ChallengePurpose, account_epoch: int, now: float, ttl: int
) -> LoginChallenge:
    return LoginChallenge(
        challenge_id=secrets.token_urlsafe(CHALLENGE_ID_BYTES),
        username=username,
        purpose=purpose,
        created_at=now,
        expires_at=now + ttl,
        account_epoch=account_epoch,
    )


def valid_challenge_id(challenge_id: str) -> bool:
    return bool(CHALLENGE_ID_PATTERN.match(challenge_id))
