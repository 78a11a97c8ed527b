"""Whether nats-server accepts a user yet: a reloaded users file takes effect a moment after the
signal, and a credential is handed out only once the server lets it in."""

from __future__ import annotations

import asyncio
import time

import nats
import nats.errors

from trolyao.messaging import inbox_prefix

CONNECT_TIMEOUT_SECONDS = 1.0
WAIT_SECONDS = 10.0
RETRY_PAUSE_SECONDS = 0.05


class NatsLoginProbe:
    def __init__(self, server_url: str, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self._server_url = server_url
        self._wait_seconds = wait_seconds

    async def wait_accepted(self, user: str, password: str) -> bool:
        """True once the server accepts `user` (False if it still refuses after the wait)."""
        deadline = time.monotonic() + self._wait_seconds
        while True:
            try:
                client = await nats.connect(
                    servers=[server.strip() for server in self._server_url.split(",") if server.strip()],
                    user=user,
                    password=password,
                    inbox_prefix=inbox_prefix(user),
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
            except (nats.errors.Error, OSError):
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            await client.close()
            return True


__all__ = ["NatsLoginProbe"]
