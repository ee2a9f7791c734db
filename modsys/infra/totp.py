"""Time-based one-time passwords (RFC 6238) for staff two-factor: small enough
to own, with no dependency. HOTP is RFC 4226 section 5.3 (HMAC-SHA-1, dynamic
truncation); TOTP counts 30-second steps from the Unix epoch (RFC 6238 section
4), which is what authenticator apps default to (the otpauth URI format)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
# Accept one step either side: clocks drift and people type slowly (RFC 6238 section 5.2).
WINDOW = 1


def new_secret() -> str:
    """160 random bits, base32 (RFC 4226 section 4 asks for at least 128; 160 is SHA-1's size)."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def step_at(when: datetime) -> int:
    return int(when.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, when: datetime) -> int | None:
    """The time step `code` belongs to (within the window), or None."""
    code = "".join(code.split())
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):  # "١٢٣٤٥٦" is isdigit() too
        return None
    key = base64.b32decode(secret)
    now = step_at(when)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str = "modsys") -> str:
    """The otpauth:// URI authenticator apps read (Google Authenticator's Key Uri Format)."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP_SECONDS}"
