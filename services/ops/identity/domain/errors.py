"""Errors of the identity use cases that are not tied to one domain object.

The gRPC edge maps each of them to a status in its one table.
"""

from __future__ import annotations


class NotFound(LookupError):
    """The unit or key does not exist."""


class Unauthenticated(PermissionError):
    """The credential is unknown, malformed or revoked."""


class LoginFailed(PermissionError):
    """Username, password or code wrong (deliberately one error, whatever the cause)."""


class StepUpRequired(PermissionError):
    """The operation needs a second factor proven within the last few minutes."""
