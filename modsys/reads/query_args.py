"""One parser for the numbers and dates people (and crawlers) type into query
strings and simple form fields. Every route reads them through here, so odd
input is a 400 that says what is allowed, never a 500 further down.

Why not `int()` and `date.fromisoformat()` directly: `str.isdigit()` accepts
"²" and "١٢" (int() refuses the first, quietly reads the second), a number of
20 digits overflows every database integer, and the calendar's last day
(9999-12-31) can't take the "+1 day" an inclusive 'to' date needs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Mapping

from modsys.domain.errors import ValidationFailed

MAX_ID = 2**31 - 1  # the integer columns' range (ids, counts)
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
_DIGITS = re.compile(r"[0-9]{1,10}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidQuery(ValidationFailed):
    """A query-string value that can't be used: a plain 400 saying what is allowed."""

    http_status = 400


def whole_number(raw: str | None, key: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """An ASCII whole number in [low, high]."""
    value = (raw or "").strip()
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidQuery(f"{key} must be a whole number from {low} to {high} "
                           f"(digits 0-9, got {value[:20]!r})", field=key)
    return int(value)


def optional_id(args: Mapping[str, str], key: str) -> int | None:
    """A row id, or None when the parameter is absent or empty."""
    raw = (args.get(key) or "").strip()
    return whole_number(raw, key, low=1) if raw else None


def page(args: Mapping[str, str], key: str = "page", *, high: int) -> int:
    raw = (args.get(key) or "").strip()
    return whole_number(raw, key, low=1, high=high) if raw else 1


def day(args: Mapping[str, str], key: str) -> datetime | None:
    """A calendar day as YYYY-MM-DD between FIRST_DAY and LAST_DAY (midnight UTC), or None."""
    value = (args.get(key) or "").strip()
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value) if _DAY.fullmatch(value) else None
    except ValueError:
        parsed = None
    if parsed is None or not FIRST_DAY <= parsed <= LAST_DAY:
        raise InvalidQuery(f"{key} must be a date as YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY} "
                           f"(got {value[:40]!r})", field=key)
    return datetime.combine(parsed, time(), tzinfo=UTC)


def text(args: Mapping[str, str], key: str, max_length: int) -> str:
    """A free-text filter, stripped and cut to `max_length`; NUL (which PostgreSQL
    refuses in text) is a 400."""
    value = (args.get(key) or "").strip()[:max_length]
    if "\x00" in value:
        raise InvalidQuery(f"{key} must not contain NUL characters", field=key)
    return value
