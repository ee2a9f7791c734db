"""Discord HTTP interactions: the signature check, and reading payloads.

Discord POSTs every interaction to our endpoint signed with the application's
Ed25519 key over `X-Signature-Timestamp + raw body`, hex signature in
`X-Signature-Ed25519`; an endpoint must refuse a bad signature with 401
(discord-api-docs, developers/interactions/overview.mdx, "Setting Up an
Endpoint"). The body is read as bytes and verified before it is parsed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# Interaction types and callback types (developers/interactions/receiving-and-responding.mdx).
# modsys sends no components, so MESSAGE_COMPONENT (3) never arrives; nothing is
# slow enough to need DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE (5): see front_door.
PING, APPLICATION_COMMAND, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 4, 5
PONG, CHANNEL_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 1, 4, 8, 9
EPHEMERAL = 1 << 6  # message flag: only the invoking user sees the reply
AUTOCOMPLETE_MAX = 25  # "autocomplete choices (max of 25 choices)"
MAX_AGE_S = 5 * 60  # a signed request older (or newer) than this is a replay: refused
MAX_BODY = 64 * 1024  # an interaction is a few KiB; Discord messages are at most 4000 characters


class Refused(Exception):
    """The request is not a genuine, fresh interaction from Discord (answered 401)."""


def public_key(hex_key: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key.strip()))
    except ValueError:
        raise ValueError("MODSYS_DISCORD_PUBLIC_KEY must be the 64 hex characters shown on the "
                         "application's General Information page") from None


def verify(key: Ed25519PublicKey, signature: str | None, timestamp: str | None, body: bytes,
           now: float | None = None) -> None:
    """Raise Refused unless `body` carries a valid, fresh signature."""
    if not signature or not timestamp:
        raise Refused("missing X-Signature-Ed25519 or X-Signature-Timestamp")
    try:
        key.verify(bytes.fromhex(signature), timestamp.encode() + body)
    except (ValueError, InvalidSignature):
        raise Refused("invalid request signature") from None
    # Discord's timestamp is Unix seconds. The signature covers it, so a captured
    # request can't be re-dated: refusing old ones ends replays.
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        raise Refused("invalid request timestamp") from None
    if abs(age) > MAX_AGE_S:
        raise Refused("stale request timestamp")


def parse(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object (ValueError otherwise)."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("type"), int):
        raise ValueError("an interaction is a JSON object with an integer type")
    return data


@dataclass(frozen=True)
class User:
    id: str
    name: str


def invoking_user(interaction: dict[str, Any]) -> User | None:
    """`member.user` in a guild, `user` in a DM (receiving-and-responding: Interaction Structure)."""
    user = (interaction.get("member") or {}).get("user") or interaction.get("user")
    if not isinstance(user, dict) or not user.get("id"):
        return None
    return User(str(user["id"]), display_name(user))


def display_name(user: dict[str, Any]) -> str:
    return str(user.get("global_name") or user.get("username") or user.get("id"))[:100]


def options(interaction: dict[str, Any]) -> dict[str, Any]:
    """Flat {name: value} of a command's options, descending into a subcommand."""
    opts = (interaction.get("data") or {}).get("options") or []
    while len(opts) == 1 and "options" in opts[0] and "value" not in opts[0]:  # subcommand (group)
        opts = opts[0]["options"] or []
    return {o["name"]: o.get("value") for o in opts if isinstance(o, dict) and "name" in o}


def subcommand(interaction: dict[str, Any]) -> str | None:
    opts = (interaction.get("data") or {}).get("options") or []
    if len(opts) == 1 and "value" not in opts[0]:
        return opts[0].get("name")
    return None


def focused(interaction: dict[str, Any]) -> tuple[str, str]:
    """(option name, partial text) being typed in an autocomplete interaction."""
    opts = (interaction.get("data") or {}).get("options") or []
    while len(opts) == 1 and "options" in opts[0] and "value" not in opts[0]:
        opts = opts[0]["options"] or []
    for o in opts:
        if o.get("focused"):
            return o["name"], str(o.get("value") or "")
    return "", ""


def resolved_user(interaction: dict[str, Any], user_id: str) -> User:
    """A user named by an option or a user command, from `data.resolved`."""
    resolved = (interaction.get("data") or {}).get("resolved") or {}
    user = (resolved.get("users") or {}).get(user_id) or {"id": user_id}
    member = (resolved.get("members") or {}).get(user_id) or {}
    name = member.get("nick") or display_name(user)
    return User(user_id, str(name)[:100])


def modal_values(interaction: dict[str, Any]) -> dict[str, str]:
    """{custom_id: value} of a submitted modal. Text inputs sit in Labels (type 18,
    `component`) or, in older payloads, Action Rows (`components`); a string
    select answers with `values` (components/reference.mdx)."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "custom_id" in node and ("value" in node or "values" in node):
                value = node.get("value")
                if value is None:
                    value = (node.get("values") or [""])[0]
                found[str(node["custom_id"])] = str(value)
            walk(node.get("component"))
            walk(node.get("components"))

    walk((interaction.get("data") or {}).get("components"))
    return found


def message_reply(text: str) -> dict[str, Any]:
    """An ephemeral reply that pings nobody, whatever the text quotes."""
    return {"type": CHANNEL_MESSAGE, "data": {"content": text[:2000], "flags": EPHEMERAL,
                                              "allowed_mentions": {"parse": []}}}


def jump_link(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
