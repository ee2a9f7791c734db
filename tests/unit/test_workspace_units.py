"""Pure parts of the workspace: TOTP against RFC 6238's own test vectors, and
image thumbnails (bounded, re-encoded, refusing what isn't a sane image)."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from PIL import Image

from modsys.adapters import thumbnails
from modsys.infra import totp

# RFC 6238 Appendix B: SHA-1, the ASCII key "12345678901234567890", 8 digits.
RFC_KEY = b"12345678901234567890"
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
               (2000000000, "69279037"), (20000000000, "65353130")]


def test_totp_matches_rfc_6238_vectors():
    for seconds, expected in RFC_VECTORS:
        assert totp.hotp(RFC_KEY, seconds // totp.STEP_SECONDS, digits=8) == expected


def test_codes_match_within_one_step_either_side_only():
    secret = totp.new_secret()
    key = base64.b32decode(secret)
    now = datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC)
    step = totp.step_at(now)
    for delta in (-1, 0, 1):
        assert totp.matching_step(secret, totp.hotp(key, step + delta), now) == step + delta
    assert totp.matching_step(secret, totp.hotp(key, step + 2), now) is None
    assert totp.matching_step(secret, "12 34", now) is None and totp.matching_step(secret, "abcdef", now) is None
    spaced = totp.hotp(key, step)
    assert totp.matching_step(secret, f"{spaced[:3]} {spaced[3:]}", now) == step


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red").save(out, format=fmt)
    return out.getvalue()


def test_thumbnails_are_bounded_pngs_of_every_accepted_type():
    for fmt in ("PNG", "JPEG", "GIF", "WEBP"):
        png = thumbnails.thumbnail(f"sha-{fmt}", _image(fmt, (1600, 900)))
        with Image.open(io.BytesIO(png)) as small:
            assert small.format == "PNG" and small.size == (320, 180), fmt


def test_thumbnails_refuse_bombs_and_garbage():
    # 8,000 x 8,000 pixels (64M: over our bound, under Pillow's own guard) in a
    # few kilobytes: refused before decoding.
    bomb = _image("PNG", (8000, 8000), mode="1")
    assert len(bomb) < 100_000
    assert thumbnails.thumbnail("bomb", bomb) is None
    assert thumbnails.thumbnail("garbage", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) is None
    assert thumbnails.thumbnail("pdf", b"%PDF-1.4 not an image") is None
