"""Signed links to the appeal portal: no account needed, bound to one action and
one member, expiring at a fixed time (normally the end of the appeal window)."""

from __future__ import annotations

from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

from modsys.domain import clock
from modsys.domain.errors import NotFound, PermissionDenied

_SALT = "modsys.appeal-portal.v1"


class LinkExpired(PermissionDenied):
    pass


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def make_token(secret: str, action_id: int, member_id: int, expires_at: datetime) -> str:
    return _serializer(secret).dumps({"a": action_id, "m": member_id, "e": int(expires_at.timestamp())})


def decode_token(secret: str, token: str) -> tuple[int, int, datetime]:
    """(action_id, member_id, expires_at) of an authentic token, expired or not."""
    try:
        data = _serializer(secret).loads(token)
        return int(data["a"]), int(data["m"]), datetime.fromtimestamp(int(data["e"]), UTC)
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
        raise NotFound("this appeal link is not valid; check that you copied all of it") from None


def read_token(secret: str, token: str) -> tuple[int, int, datetime]:
    """Like `decode_token`, and refuses an expired token with a message a person can read."""
    action_id, member_id, expires_at = decode_token(secret, token)
    if clock.now() > expires_at:
        raise LinkExpired(f"this appeal link expired on {expires_at:%Y-%m-%d %H:%M} UTC")
    return action_id, member_id, expires_at


def portal_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/appeal/{token}"
