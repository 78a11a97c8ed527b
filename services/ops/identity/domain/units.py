"""Units of the ministry: data, not code."""

from __future__ import annotations

from dataclasses import dataclass

from trolyao.messaging import UNIT_ID_PATTERN
from trolyao.units import SERVICE_DEFAULT_MIN_CONFIDENCE, is_valid_min_confidence

MAX_UNIT_NAME_CHARS = 200


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
    min_confidence: float = SERVICE_DEFAULT_MIN_CONFIDENCE


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
    if not is_valid_min_confidence(value):
        raise InvalidUnit("min_confidence must be 0 (the service default) or strictly between 0 and 1")
    return value
