"""The member hears first: a DM with the measure, the rule, the public reason and
their signed appeal link, sent before the sanction lands.

Two requests (user.mdx "Create DM", message.mdx "Create Message"), bounded by
`DM_WAIT` seconds in all, rate-limit waits included: the sanction never waits
longer. The message's `nonce` with `enforce_nonce` makes Discord return the
first message instead of creating a second when a crash makes us send again
("checked for uniqueness in the past few minutes", message.mdx).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from modsys import clock
from modsys.config import Settings
from modsys.discord.client import CANNOT_DM, DiscordClient, Reply
from modsys.models import Action, Community, Member
from modsys.policy import Policy
from modsys.portal_links import make_token, portal_url
from modsys.reasons import duration_of, measure

DM_WAIT = 10.0  # seconds the sanction waits for the DM attempt, at most
CONTENT_MAX = 2000  # message.mdx: "Message contents (up to 2000 characters)"


@dataclass(frozen=True)
class DmOutcome:
    delivered: bool
    detail: str  # why not, for "not notified: ..."


def compose(action: Action, member: Member, community: Community, policy: Policy, settings: Settings) -> str:
    rules = ", ".join(f"{r.id} ({r.title})" if (r := policy.rule(rid)) else rid for rid in action.rules) or "-"
    head = (f"**{community.name}**: you received a {measure(action.kind, duration_of(action))} "
            f"(case #{action.id}).\nRule: {rules}\n")
    tail = ""
    deadline = action.appeal_deadline
    if action.appealable and deadline is not None and deadline > clock.now() and settings.secret_key:
        link = portal_url(settings.base_url, make_token(settings.secret_key, action.id, member.id, deadline))
        tail = f"\nRead the full statement of reasons and appeal until {deadline:%Y-%m-%d %H:%M} UTC: {link}"
    room = CONTENT_MAX - len(head) - len(tail) - len("Reason: ")
    reason = action.public_reason if len(action.public_reason) <= room else action.public_reason[:room - 1] + "…"
    return f"{head}Reason: {reason}{tail}"


def send(client: DiscordClient, user_id: str, content: str, nonce: str, wait: float = DM_WAIT) -> DmOutcome:
    """Open the DM channel and send `content`, within `wait` seconds in all."""
    deadline = time.monotonic() + wait
    channel = client.open_dm(user_id, within=wait)
    if not channel.ok:
        return DmOutcome(False, _why(channel, wait))
    left = deadline - time.monotonic()
    if left <= 0.05:
        return DmOutcome(False, f"Discord took longer than the {wait:g} s the sanction waits for the DM")
    sent = client.send_message(str(channel.data["id"]), {
        "content": content, "nonce": nonce[:25], "enforce_nonce": True,
        "allowed_mentions": {"parse": []}}, within=left)
    return DmOutcome(True, "") if sent.ok else DmOutcome(False, _why(sent, wait))


def _why(reply: Reply, wait: float) -> str:
    if reply.code == CANNOT_DM:
        return ("the member does not accept DMs from this server (Discord error 50007: privacy settings, "
                "or they left the server); send them the appeal link another way")
    if reply.rate_limited:
        return f"Discord's DM rate limit outlasted the {wait:g} s the sanction waits; send the appeal link by hand"
    if reply.status is None:
        return f"Discord did not answer within the {wait:g} s the sanction waits ({reply.message})"
    return reply.explain()
