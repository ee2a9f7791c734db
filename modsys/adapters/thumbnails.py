"""Thumbnails of image evidence, made on the server with Pillow: bounded in
input pixels and output size, always re-encoded as PNG (what the browser gets
is pixels we produced, never the uploaded bytes)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from PIL import Image, ImageOps

SIZE = (320, 320)
# Refuse to decode more than this (a 5 MiB upload can still declare a 50,000^2
# image: a decompression bomb). Pillow's own guard warns at 89M and raises at 2x.
MAX_PIXELS = 40_000_000
FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]  # the image types evidence accepts (services/evidence._MAGIC)
_CACHE_ITEMS = 256
_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def thumbnail(sha256: str, data: bytes) -> bytes | None:
    """A PNG at most SIZE, or None when the file is not a decodable image within bounds.
    Cached by the evidence's SHA-256 (its bytes never change)."""
    with _lock:
        if sha256 in _cache:
            _cache.move_to_end(sha256)
            return _cache[sha256]
    png = _render(data)
    if png is not None:
        with _lock:
            _cache[sha256] = png
            while len(_cache) > _CACHE_ITEMS:
                _cache.popitem(last=False)
    return png


def _render(data: bytes) -> bytes | None:
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return None
            image.draft("RGB", SIZE)  # JPEG: decode at a reduced scale, much faster
            image.seek(0)  # GIF/WebP animations: the first frame
            small = ImageOps.exif_transpose(image)
            small.thumbnail(SIZE)
            if small.mode not in ("RGB", "RGBA", "L", "LA"):
                small = small.convert("RGBA")
            out = io.BytesIO()
            small.save(out, format="PNG")
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
