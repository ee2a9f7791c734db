"""Domain events: what happened, recorded in the outbox in the same transaction
as the change. They hold ids and the facts of the moment, never rendered text;
`modsys.notify.messages` turns each into its Discord embed or the member's
notice when it is delivered, so what a notification says lives in one place.

`OutboxMessage.event` is the event's `name`, its payload the event's fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from sqlmodel import Session

from modsys.domain.models import Channel

MEMBER = "member"  # the member notices' channel prefix: delivered by the bot's DM, never a webhook


def member_channel(action_id: int) -> str:
    """The outbox channel of one case's member notices: in order per case (notice,
    replies, decision), and a notice backing off holds up no other member's."""
    return f"{MEMBER}:{action_id}"


def is_member_channel(channel: str) -> bool:
    """Also the old single "member" channel, so notices queued before it went are DMed too."""
    return channel == MEMBER or channel.startswith(f"{MEMBER}:")


@dataclass(frozen=True)
class Event:
    name: ClassVar[str]
    channel: ClassVar[str]

    def data(self) -> dict[str, Any]:
        return asdict(self)

    def route(self) -> str:
        """The outbox channel this event is delivered on."""
        return self.channel


@dataclass(frozen=True)
class MemberEvent(Event):
    """Something the sanctioned member is told, by the bot's DM (modsys.notify.member_dm)."""

    channel: ClassVar[str] = MEMBER
    action_id: int

    def route(self) -> str:
        return member_channel(self.action_id)


@dataclass(frozen=True)
class ActionAwaitingCosign(Event):
    name: ClassVar[str] = "action.awaiting_cosign"
    channel: ClassVar[str] = Channel.modlog
    action_id: int


@dataclass(frozen=True)
class ActionFiled(Event):
    name: ClassVar[str] = "action.filed"
    channel: ClassVar[str] = Channel.modlog
    action_id: int


@dataclass(frozen=True)
class ActionCosigned(Event):
    name: ClassVar[str] = "action.cosigned"
    channel: ClassVar[str] = Channel.modlog
    action_id: int


@dataclass(frozen=True)
class ActionRevoked(Event):
    name: ClassVar[str] = "action.revoked"
    channel: ClassVar[str] = Channel.modlog
    action_id: int
    reason: str


@dataclass(frozen=True)
class ActionExpired(Event):
    name: ClassVar[str] = "action.expired"
    channel: ClassVar[str] = Channel.modlog
    action_id: int


@dataclass(frozen=True)
class ActionRecordedFromDiscord(Event):
    """A case done in the Discord client (or by AutoMod) was recorded: a moderator
    must write its statement of reasons before the member is told."""

    name: ClassVar[str] = "action.recorded_from_discord"
    channel: ClassVar[str] = Channel.modlog
    action_id: int


@dataclass(frozen=True)
class MemberNotified(MemberEvent):
    """The sanction, before it lands in Discord, with the signed appeal link (made at delivery)."""

    name: ClassVar[str] = "member.notice"
    member_id: int


@dataclass(frozen=True)
class MemberToldDecision(MemberEvent):
    """The decision on their appeal: what it did to the measure, why, what changes in Discord."""

    name: ClassVar[str] = "member.decision"
    member_id: int
    appeal_id: int


@dataclass(frozen=True)
class MemberToldReply(MemberEvent):
    """Staff wrote in the member's appeal thread."""

    name: ClassVar[str] = "member.reply"
    member_id: int
    appeal_id: int
    message_id: int


@dataclass(frozen=True)
class ActionReasonCompleted(MemberEvent):
    """A moderator completed the statement of reasons of a case done in the Discord
    client: the member gets it with their appeal link (the appeal window starts)."""

    name: ClassVar[str] = "member.reason_completed"


@dataclass(frozen=True)
class MemberToldSanctionEnded(MemberEvent):
    """A timed sanction ran its course (sent when the policy's
    notifications.tell_member_when_sanction_ends is on)."""

    name: ClassVar[str] = "member.sanction_ended"


@dataclass(frozen=True)
class AppealMemberWrote(Event):
    """The member wrote in their appeal thread."""

    name: ClassVar[str] = "appeal.member_message"
    channel: ClassVar[str] = Channel.appeals
    appeal_id: int
    message_id: int


@dataclass(frozen=True)
class AppealSubmitted(Event):
    name: ClassVar[str] = "appeal.submitted"
    channel: ClassVar[str] = Channel.appeals
    appeal_id: int


@dataclass(frozen=True)
class AppealWithdrawn(Event):
    name: ClassVar[str] = "appeal.withdrawn"
    channel: ClassVar[str] = Channel.appeals
    appeal_id: int


@dataclass(frozen=True)
class AppealEscalated(Event):
    name: ClassVar[str] = "appeal.escalated"
    channel: ClassVar[str] = Channel.leadership
    appeal_id: int
    reason: str


@dataclass(frozen=True)
class AppealDecided(Event):
    name: ClassVar[str] = "appeal.decided"
    channel: ClassVar[str] = Channel.appeals
    appeal_id: int


@dataclass(frozen=True)
class ReviewReminderDue(Event):
    """A share (`threshold`) of the review SLA has passed."""

    name: ClassVar[str] = "appeal.reminder.review"
    channel: ClassVar[str] = Channel.appeals
    appeal_id: int
    threshold: float


@dataclass(frozen=True)
class DecisionReminderDue(Event):
    """A share of the leadership SLA has passed."""

    name: ClassVar[str] = "appeal.reminder.leadership"
    channel: ClassVar[str] = Channel.leadership
    appeal_id: int
    threshold: float


@dataclass(frozen=True)
class StatementPublished(Event):
    name: ClassVar[str] = "statement.published"
    channel: ClassVar[str] = Channel.appeals
    statement_id: int


@dataclass(frozen=True)
class FlagPrioritised(Event):
    name: ClassVar[str] = "flag.priority"
    channel: ClassVar[str] = Channel.modlog
    flag_id: int
    labels: list[str]


@dataclass(frozen=True)
class AuditChainBroken(Event):
    name: ClassVar[str] = "audit.broken"
    channel: ClassVar[str] = Channel.leadership
    broken_seq: int | None
    reason: str


@dataclass(frozen=True)
class RaidDetected(Event):
    """A join or message burst (modsys.adapters.discord.gateway.raids); pings the policy's `raids.alert_role_id`."""

    name: ClassVar[str] = "raid.detected"
    channel: ClassVar[str] = Channel.modlog
    incident_id: int


def _concrete(cls: type[Event]) -> list[type[Event]]:
    subs = cls.__subclasses__()
    return [c for sub in subs for c in ([sub] if "name" in vars(sub) else []) + _concrete(sub)]


EVENTS: dict[str, type[Event]] = {cls.name: cls for cls in _concrete(Event)}
MEMBER_EVENTS = tuple(cls for cls in EVENTS.values() if issubclass(cls, MemberEvent))


def parse(name: str, payload: dict[str, Any]) -> Event | None:
    """The event an outbox row holds; None for a plain embed queued with `outbox.enqueue`."""
    cls = EVENTS.get(name)
    if cls is None:
        return None
    wanted = {f.name for f in fields(cls)}
    if not wanted <= set(payload):
        return None  # a row written before events existed: its payload is an embed
    return cls(**{k: payload[k] for k in wanted})


def record(session: Session, community_id: int, event: Event, *, dedupe_key: str | None = None) -> None:
    from modsys import outbox

    outbox.enqueue(session, community_id, event.route(), event.name, event.data(), dedupe_key=dedupe_key)


def row(community_id: int, event: Event) -> dict[str, Any]:
    """Outbox column values for the jobs' bulk inserts."""
    return {"community_id": community_id, "channel": str(event.route()), "event": event.name,
            "payload": event.data()}
