"""Signed Discord interactions for tests: a key pair generated here, and the
payload shapes of developers/interactions/receiving-and-responding.mdx."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GUILD = "880000000000000001"
_interaction_ids = itertools.count(990_000_000_000_000_001)  # Discord's ids are unique: each payload its own
CHANNEL = "880000000000000002"
CHANNEL_NAME = "general"


class Signer:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.public_hex = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def headers(self, body: bytes, ts: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if ts is None else ts)
        return {"X-Signature-Ed25519": self.private.sign(stamp.encode() + body).hex(),
                "X-Signature-Timestamp": stamp, "Content-Type": "application/json"}

    def post(self, client, payload: dict[str, Any], ts: int | None = None):
        body = json.dumps(payload).encode()
        return client.post("/discord/interactions", data=body, headers=self.headers(body, ts))


def user(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "username": name.lower(), "global_name": name, "discriminator": "0"}


def _base(kind: int, invoker: dict[str, Any], data: dict[str, Any] | None, guild: str = GUILD) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(next(_interaction_ids)), "application_id": "424242", "type": kind, "token": "tok",
                           "version": 1, "guild_id": guild, "channel_id": CHANNEL,
                           # the partial channel the interaction came from ("channel?" in the interaction object)
                           "channel": {"id": CHANNEL, "name": CHANNEL_NAME, "type": 0},
                           "member": {"user": invoker, "roles": [], "permissions": "0"}}
    if data is not None:
        out["data"] = data
    return out


def message_command(name: str, invoker: dict[str, Any], message_id: str, author: dict[str, Any], content: str,
                    attachments: list[str] = (), guild: str = GUILD) -> dict[str, Any]:
    message = {"id": message_id, "channel_id": CHANNEL, "author": author, "content": content,
               "timestamp": "2026-11-30T08:00:00.000000+00:00",
               "attachments": [{"id": str(i), "filename": f"f{i}.png", "url": u} for i, u in enumerate(attachments)]}
    return _base(2, invoker, {"id": "1", "name": name, "type": 3, "target_id": message_id,
                              "resolved": {"messages": {message_id: message}}}, guild)


def user_command(name: str, invoker: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    return _base(2, invoker, {"id": "2", "name": name, "type": 2, "target_id": target["id"],
                              "resolved": {"users": {target["id"]: target}}})


def slash(name: str, invoker: dict[str, Any], options: list[dict[str, Any]],
          users: list[dict[str, Any]] = (), kind: int = 2) -> dict[str, Any]:
    return _base(kind, invoker, {"id": "3", "name": name, "type": 1, "options": options,
                                 "resolved": {"users": {u["id"]: u for u in users}}})


def modal_submit(custom_id: str, invoker: dict[str, Any], values: dict[str, str], guild: str = GUILD) -> dict[str, Any]:
    components = [{"type": 18, "id": i, "component": {"type": 4, "id": i + 10, "custom_id": k, "value": v}}
                  for i, (k, v) in enumerate(values.items())]
    return _base(5, invoker, {"custom_id": custom_id, "components": components}, guild)
