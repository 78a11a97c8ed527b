"""Time-based one-time passwords (RFC 6238) and single-use recovery codes.

Codes are six digits over 30-second steps. One step of clock drift either way is accepted; a code
is accepted at most once, because the account remembers the last step it accepted and refuses that
step and every earlier one (RFC 6238 §5.2). Recovery codes carry 80 random bits, so a salted
SHA-256 is enough to store them: nobody can search a space of 2^80 even with the bucket in hand.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from typing import TextIO

import pyotp
import segno

TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
ALLOWED_DRIFT_STEPS = 1
TOTP_CODE_PATTERN = re.compile(r"^\d{6}$")
QR_ERROR_LEVEL = "m"
QR_PNG_SCALE = 6
QR_SVG_SCALE = 4

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_SYMBOLS = 16
RECOVERY_CODE_GROUP = 4
RECOVERY_SALT_BYTES = 16
# Crockford's base32: 5 bits a symbol, and no I, L, O or U to misread.
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECOVERY_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})
RECOVERY_HASH_SCHEME = "sha256"


@dataclass(frozen=True, slots=True)
class TotpCheck:
    """The outcome of checking one code: accepted at `step`, a replay, or simply wrong."""

    accepted: bool
    step: int = 0
    replayed: bool = False


def new_totp_secret() -> str:
    """A fresh 160-bit secret in base32 (what authenticator apps expect)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI that Google and Microsoft Authenticator scan."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code."""
    buffer = io.BytesIO()
    segno.make(uri, error=QR_ERROR_LEVEL).save(buffer, kind="svg", scale=QR_SVG_SCALE, xmldecl=False)
    return buffer.getvalue().decode()


def qr_png(uri: str) -> bytes:
    """The URI as a PNG QR code."""
    buffer = io.BytesIO()
    segno.make(uri, error=QR_ERROR_LEVEL).save(buffer, kind="png", scale=QR_PNG_SCALE)
    return buffer.getvalue()


def print_qr(uri: str, out: TextIO) -> None:
    """Draw the QR code in a terminal."""
    segno.make(uri, error=QR_ERROR_LEVEL).terminal(out=out, compact=True)


def time_step(now: float) -> int:
    return int(now // TOTP_PERIOD_SECONDS)


def check_totp(secret: str, code: str, *, now: float, last_used_step: int) -> TotpCheck:
    """Check `code` against the steps around `now`; every candidate is compared, in constant time."""
    code = code.strip()
    if not TOTP_CODE_PATTERN.match(code):
        return TotpCheck(accepted=False)
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)
    current = time_step(now)
    matched: int | None = None
    for step in range(current - ALLOWED_DRIFT_STEPS, current + ALLOWED_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    if matched is None:
        return TotpCheck(accepted=False)
    if matched <= last_used_step:
        return TotpCheck(accepted=False, step=matched, replayed=True)
    return TotpCheck(accepted=True, step=matched)


def normalise_recovery_code(text: str) -> str:
    """Upper-case, without separators, with misreadable letters mapped to their digits."""
    return re.sub(r"[\s-]", "", text).upper().translate(_RECOVERY_MISREAD)


def _recovery_digest(salt: bytes, code: str) -> str:
    return hashlib.sha256(salt + normalise_recovery_code(code).encode()).hexdigest()


def new_recovery_codes() -> tuple[list[str], tuple[str, ...]]:
    """Ten codes to show once (`XXXX-XXXX-XXXX-XXXX`) and their salted hashes to store."""
    codes: list[str] = []
    hashes: list[str] = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_SYMBOLS))
        codes.append(
            "-".join(
                raw[i : i + RECOVERY_CODE_GROUP] for i in range(0, RECOVERY_CODE_SYMBOLS, RECOVERY_CODE_GROUP)
            )
        )
        salt = secrets.token_bytes(RECOVERY_SALT_BYTES)
        hashes.append(f"{RECOVERY_HASH_SCHEME}${salt.hex()}${_recovery_digest(salt, raw)}")
    return codes, tuple(hashes)


def match_recovery_code(code: str, hashes: tuple[str, ...]) -> int | None:
    """Index of the stored hash `code` matches, comparing against every hash; None when none does."""
    if len(normalise_recovery_code(code)) != RECOVERY_CODE_SYMBOLS:
        return None
    found: int | None = None
    for index, stored in enumerate(hashes):
        scheme, _, rest = stored.partition("$")
        salt_hex, _, digest = rest.partition("$")
        if scheme != RECOVERY_HASH_SCHEME:
            continue
        if hmac.compare_digest(_recovery_digest(bytes.fromhex(salt_hex), code), digest) and found is None:
            found = index
    return found
