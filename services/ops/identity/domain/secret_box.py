"""Authenticated encryption of secrets at rest (TOTP secrets, signing keys) with AES-256-GCM.

The key comes from configuration (`TROLYAO_OPS_SECRET_KEY`), never from the bucket it protects.
Each sealed value names the key that sealed it by a short fingerprint, so the key can be rotated:
values sealed under a previous key still open while the current key seals everything new. The
context (e.g. `totp:alice`) is bound as associated data, so a ciphertext copied onto another
account or purpose does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
FINGERPRINT_CHARS = 8
HEX_KEY_CHARS = 2 * KEY_BYTES


class SecretBoxError(ValueError):
    """A key of the wrong size, or a sealed value that does not open (tampered, wrong key or context)."""


def decode_secret_key(text: str) -> bytes:
    """Parse a configured key: 64 hex characters or URL-safe base64 of exactly 32 bytes."""
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if len(text) == HEX_KEY_CHARS
            else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
    except (ValueError, binascii.Error) as error:
        raise SecretBoxError("the secret key is neither hex nor base64") from error
    if len(raw) != KEY_BYTES:
        raise SecretBoxError(f"the secret key must be {KEY_BYTES} bytes")
    return raw


def generate_secret_key() -> str:
    """A fresh random key in the configured form (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"trolyao-secret-box:" + key).hexdigest()[:FINGERPRINT_CHARS]


class SecretBox:
    """Seals and opens small secrets; `current` seals, `current` and `previous` open."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        for key in (current, *previous):
            if len(key) != KEY_BYTES:
                raise SecretBoxError(f"the secret key must be {KEY_BYTES} bytes")
        self._current_id = _fingerprint(current)
        self._ciphers = {_fingerprint(key): AESGCM(key) for key in (*previous, current)}

    def seal(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt and authenticate `plaintext` for `context`; returns `v1.<key id>.<base64>`."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._ciphers[self._current_id].encrypt(nonce, plaintext, context.encode())
        body = base64.urlsafe_b64encode(nonce + ciphertext).decode().rstrip("=")
        return f"{SEALED_VERSION}.{self._current_id}.{body}"

    def open(self, sealed: str, *, context: str) -> bytes:
        """Decrypt a value made by `seal` with the same context, or raise SecretBoxError."""
        version, _, rest = sealed.partition(".")
        key_id, _, body = rest.partition(".")
        cipher = self._ciphers.get(key_id)
        if version != SEALED_VERSION or cipher is None or not body:
            raise SecretBoxError("sealed value has an unknown version or key")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError, binascii.Error) as error:
            raise SecretBoxError("sealed value does not open") from error

    def needs_reseal(self, sealed: str) -> bool:
        """True when the value was sealed under a previous key (re-seal it on next write)."""
        return sealed.split(".", 2)[1:2] != [self._current_id]
