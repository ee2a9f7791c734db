"""Sending one DM: the bot opens the member's DM channel and posts the notice
(user.mdx "Create DM", message.mdx "Create Message"), within `wait` seconds in
all, rate-limit waits included. What the notice says is modsys.notify.member_dm;
when and how often it is tried is the outbox's (modsys.runtime.delivery).

The message's `nonce` with `enforce_nonce` makes Discord return the first
message instead of creating a second when we send again after a lost answer
("checked for uniqueness in the past few minutes", message.mdx), so a retry
never DMs the member twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from modsys.adapters.discord.client import CANNOT_DM, DiscordClient, Reply

DM_WAIT = 10.0  # seconds the sanction waits for the DM attempt, at most
NONCE_MAX = 25  # message.mdx: "nonce ... (up to 25 characters)"


@dataclass(frozen=True)
class DmOutcome:
    delivered: bool
    detail: str = ""  # why not, for "member not notified: ..."
    permanent: bool = False  # sending it again can't help (50007, a refused payload)
    retry_after: float | None = None  # Discord said when to try again (429)


def send(client: DiscordClient, user_id: str, content: str, nonce: str, wait: float = DM_WAIT) -> DmOutcome:
    """Open the DM channel and send `content`, within `wait` seconds in all."""
    if len(nonce) > NONCE_MAX:
        raise ValueError(f"nonce {nonce!r} is over {NONCE_MAX} characters")
    deadline = time.monotonic() + wait
    channel = client.open_dm(user_id, within=wait)
    if not channel.ok:
        return _failed(channel, wait)
    left = deadline - time.monotonic()
    if left <= 0.05:
        return DmOutcome(False, f"Discord took longer than the {wait:.1f} s a DM attempt may take; retrying")
    sent = client.send_message(str(channel.data["id"]), {
        "content": content, "nonce": nonce, "enforce_nonce": True,
        "allowed_mentions": {"parse": []}}, within=left)
    return DmOutcome(True) if sent.ok else _failed(sent, wait)


def _failed(reply: Reply, wait: float) -> DmOutcome:
    if reply.code == CANNOT_DM:
        return DmOutcome(False, "the member does not accept DMs from this server (Discord error 50007: privacy "
                                "settings, or they left the server); send them the link another way", permanent=True)
    if reply.rate_limited:
        return DmOutcome(False, f"rate limited by Discord's DM limit; retrying after {reply.retry_after:.1f} s",
                         retry_after=reply.retry_after)
    if reply.status is None:
        return DmOutcome(False, f"Discord did not answer within {wait:.1f} s ({reply.message}); retrying")
    if reply.retryable:
        return DmOutcome(False, reply.explain())
    return DmOutcome(False, reply.explain(), permanent=True)
