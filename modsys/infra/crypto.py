"""Encryption at rest for personal data modsys keeps (message content first).

AES-256-GCM (authenticated: a changed byte fails to open, it never decrypts to
something else) from `cryptography`, keyed from MODSYS_DATA_KEY through HKDF,
with a random 96-bit nonce per value. `context` is bound as associated data, so
a value copied onto another row (another community, another message) refuses
to open. Stored form: version byte, nonce, ciphertext with its tag.

The key: production refuses a missing or weak MODSYS_DATA_KEY; elsewhere an
unset key is generated once into instance/ (beside the audit key), 0600.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from modsys.infra.config import ConfigError, Settings, _key_problem

VERSION = b"\x01"
NONCE = 12


class DecryptionError(Exception):
    """The value was not sealed with this key and context (or was changed)."""


class Cipher:
    def __init__(self, key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"modsys data key v1").derive(key.encode())
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "Cipher(<key>)"  # never the key

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if not sealed.startswith(VERSION) or len(sealed) < 1 + NONCE + 16:
            raise DecryptionError("not a sealed value")
        try:
            return self._aead.decrypt(sealed[1:1 + NONCE], sealed[1 + NONCE:], context.encode())
        except InvalidTag:
            raise DecryptionError("the value does not open with this key and context") from None


def data_key(settings: Settings) -> str:
    if settings.is_production:
        if problem := _key_problem("MODSYS_DATA_KEY", settings.data_key):
            raise ConfigError(f"refusing to store personal data with MODSYS_ENV=production: {problem}")
        return settings.data_key  # type: ignore[return-value]
    if settings.data_key:
        return settings.data_key
    path: Path = settings.audit_checkpoints.parent / "data_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def cipher_for(settings: Settings) -> Cipher:
    return Cipher(data_key(settings))
