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


class Malformed(ValueError):
    """A signed body that is not an interaction modsys can read (answered 400 with this message)."""


# Application command types and option types (developers/interactions/application-commands.mdx).
COMMAND_TYPES = {1, 2, 3}  # CHAT_INPUT, USER, MESSAGE
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
_SNOWFLAKE_OPTIONS = {6, 7, 8, 9, 11}  # USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT
_VALUE_TYPES: dict[int, tuple[type, ...]] = {3: (str,), 4: (int,), 5: (bool,), 10: (int, float)}
_MAX_DEPTH = 2  # a group holds subcommands, which hold options


def parse(body: bytes) -> dict[str, Any]:
    """The verified body as an interaction whose every field modsys reads has the
    type Discord documents (receiving-and-responding.mdx, Interaction Object);
    `Malformed` says what is wrong otherwise."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(data, dict) or type(data.get("type")) is not int:
        raise Malformed("an interaction is a JSON object with an integer type")
    kind = data["type"]
    if kind == PING:
        return data
    if kind not in (APPLICATION_COMMAND, AUTOCOMPLETE, MODAL_SUBMIT):
        raise Malformed(f"interaction type {kind} is not one modsys answers (1, 2, 4 or 5)")
    _snowflake(data.get("id"), "id")
    for key in ("guild_id", "channel_id"):
        if key in data and data[key] is not None:
            _snowflake(data[key], key)
    member = data.get("member")
    if member is not None:
        _object(member, "member")
        _user(member.get("user"), "member.user")
    elif data.get("user") is not None:
        _user(data["user"], "user")
    else:
        raise Malformed("member.user or user is required: who used the command")
    payload = _object(data.get("data"), "data")
    if kind == MODAL_SUBMIT:
        custom_id = payload.get("custom_id")
        if not (isinstance(custom_id, str) and 1 <= len(custom_id) <= 100):
            raise Malformed("data.custom_id must be a string of 1-100 characters")
        _components(payload.get("components"), "data.components")
        return data
    if not (isinstance(payload.get("name"), str) and payload["name"]):
        raise Malformed("data.name must be the command's name")
    if payload.get("type", 1) not in COMMAND_TYPES or type(payload.get("type", 1)) is not int:
        raise Malformed(f"data.type {payload.get('type')!r} is not a command type (1, 2 or 3)")
    if payload.get("type", 1) != 1:
        _snowflake(payload.get("target_id"), "data.target_id")
    _options(payload.get("options"), "data.options", kind == AUTOCOMPLETE, 0)
    resolved = payload.get("resolved")
    if resolved is not None:
        _object(resolved, "data.resolved")
        for key in ("users", "members", "messages"):
            found = _object(resolved.get(key, {}), f"data.resolved.{key}")
            for item_id, item in found.items():
                _object(item, f"data.resolved.{key}.{item_id}")
    return data


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object")
    return value


def _snowflake(value: Any, where: str) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20):
        raise Malformed(f"{where} must be a snowflake: a string of digits")
    return value


def _user(value: Any, where: str) -> None:
    _snowflake(_object(value, where).get("id"), f"{where}.id")
    for key in ("username", "global_name"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise Malformed(f"{where}.{key} must be a string")


def _options(value: Any, where: str, autocomplete: bool, depth: int) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > 25:
        raise Malformed(f"{where} must be a list of at most 25 options")
    for i, option in enumerate(value):
        here = f"{where}.{i}"
        _object(option, here)
        if not (isinstance(option.get("name"), str) and option["name"]) or type(option.get("type")) is not int:
            raise Malformed(f"{here} needs a string name and an integer type")
        kind = option["type"]
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if depth >= _MAX_DEPTH or "value" in option:
                raise Malformed(f"{here}: a subcommand holds options, not a value")
            _options(option.get("options"), f"{here}.options", autocomplete, depth + 1)
            continue
        if "value" not in option:
            raise Malformed(f"{here}.value is required")
        v = option["value"]
        if autocomplete and option.get("focused") is True and isinstance(v, str):
            continue  # what is being typed: a partial string whatever the type
        if kind in _SNOWFLAKE_OPTIONS:
            _snowflake(v, f"{here}.value")
        elif kind in _VALUE_TYPES:
            if not isinstance(v, _VALUE_TYPES[kind]) or (kind != 5 and isinstance(v, bool)):
                raise Malformed(f"{here}.value has the wrong type for option type {kind}")
            if isinstance(v, str) and len(v) > 6000:
                raise Malformed(f"{here}.value is too long")
        else:
            raise Malformed(f"{here}.type {kind} is not an option type")


def _components(value: Any, where: str, depth: int = 0) -> None:
    if not isinstance(value, list) or depth > 3:
        raise Malformed(f"{where} must be a list of components")
    for i, component in enumerate(value):
        here = f"{where}.{i}"
        _object(component, here)
        if "custom_id" in component and not isinstance(component["custom_id"], str):
            raise Malformed(f"{here}.custom_id must be a string")
        if "value" in component and not isinstance(component["value"], str):
            raise Malformed(f"{here}.value must be a string")
        if "values" in component and not (isinstance(component["values"], list)
                                          and all(isinstance(v, str) for v in component["values"])):
            raise Malformed(f"{here}.values must be a list of strings")
        if "component" in component:
            _components([component["component"]], f"{here}.component", depth + 1)
        if "components" in component:
            _components(component["components"], f"{here}.components", depth + 1)


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


def choices_reply(choices: list[dict[str, str]]) -> dict[str, Any]:
    """An autocomplete answer: type 8, never a message (receiving-and-responding.mdx,
    "APPLICATION_COMMAND_AUTOCOMPLETE_RESULT"; max of 25 choices)."""
    return {"type": AUTOCOMPLETE_RESULT, "data": {"choices": choices[:AUTOCOMPLETE_MAX]}}


def no_choices() -> dict[str, Any]:
    return choices_reply([])


def jump_link(guild_id: str, channel_id: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
