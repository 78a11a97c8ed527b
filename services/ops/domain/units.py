"""Units of the ministry: data, not code."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trolyao.messaging import UNIT_ID_PATTERN

MAX_UNIT_NAME_CHARS = 200
# A unit's min_confidence of 0 means "the retrieval service's default threshold".
SERVICE_DEFAULT_CONFIDENCE = 0.0


class InvalidUnit(ValueError):
    """A unit id or name that breaks the rules."""


@dataclass(frozen=True, slots=True)
class Unit:
    unit_id: str
    name: str
    created_at: str
    updated_at: str
    # The unit's abstention threshold (0 < x < 1), or 0 for the service default. Records written
    # before it existed read as 0.
    min_confidence: float = SERVICE_DEFAULT_CONFIDENCE


def validate_unit(unit_id: str, name: str) -> tuple[str, str]:
    """Return the id and the trimmed name, or raise InvalidUnit with the reason."""
    if not UNIT_ID_PATTERN.match(unit_id):
        raise InvalidUnit(
            "unit id must be 1-63 lower-case letters, digits or '-', starting with a letter or digit"
        )
    name = " ".join(name.split())
    if not name or len(name) > MAX_UNIT_NAME_CHARS:
        raise InvalidUnit("unit name must have 1 to 200 characters")
    return unit_id, name


def validate_min_confidence(value: float) -> float:
    """Return the threshold, or raise InvalidUnit unless it is 0 (the default) or strictly between 0 and 1."""
    if not math.isfinite(value) or not (value == SERVICE_DEFAULT_CONFIDENCE or 0.0 < value < 1.0):
        raise InvalidUnit("min_confidence must be 0 (the service default) or strictly between 0 and 1")
    return value
