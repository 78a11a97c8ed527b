"""Time as a dependency: security code takes a clock so tests move time instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns the current time in Unix seconds."""


def system_clock() -> float:
    """The real wall clock (Unix seconds)."""
    return time.time()
