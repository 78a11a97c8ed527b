"""A unit's abstention threshold as the contracts carry it (ops `Unit.min_confidence`, retrieval
`AskRequest.min_confidence`): 0 means the retrieval service's default, anything else lies strictly
between 0 and 1. One rule, checked by ops when it stores a threshold and by retrieval when one
arrives with a question."""

from __future__ import annotations

SERVICE_DEFAULT_MIN_CONFIDENCE = 0.0
# The wire type is a 32-bit float: the thresholds it carries strictly between 0 and 1. Larger
# values round to 1.0 and smaller ones to 0 (the default), so callers bound their inputs by these.
LOWEST_MIN_CONFIDENCE = 2.0**-126
HIGHEST_MIN_CONFIDENCE = 1.0 - 2.0**-24


def is_valid_min_confidence(value: float) -> bool:
    """Whether `value` is 0 (the service default) or strictly between 0 and 1 (NaN is not)."""
    return value == SERVICE_DEFAULT_MIN_CONFIDENCE or 0.0 < value < 1.0


__all__ = [
    "HIGHEST_MIN_CONFIDENCE",
    "LOWEST_MIN_CONFIDENCE",
    "SERVICE_DEFAULT_MIN_CONFIDENCE",
    "is_valid_min_confidence",
]
