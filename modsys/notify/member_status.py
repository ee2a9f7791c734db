"""Did the member hear? What the case and appeal pages show of a case's member
notices (modsys.domain.events.MemberEvent, delivered as DMs by modsys.runtime.delivery):
delivered, still being tried, or "member not notified: <why>" with the link
to send by hand. A read model: no writes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from modsys.domain import events
from modsys.domain.models import Action, Member, OutboxMessage, OutboxStatus
from modsys.infra.config import Settings
from modsys.notify.member_dm import case_link
from modsys.notify.messages import Skip

WHAT = {
    events.MemberNotified.name: "the sanction",
    events.MemberToldReply.name: "a staff reply",
    events.MemberToldDecision.name: "the decision",
    events.ActionReasonCompleted.name: "the statement of reasons",
    events.MemberToldSanctionEnded.name: "the end of the sanction",
}


@dataclass(frozen=True)
class Notice:
    id: int
    what: str  # "the sanction", "a staff reply", ...
    state: str  # "delivered" | "sending" | "not notified"
    detail: str  # why not, or the last passing failure while it is retried

    @property
    def line(self) -> str:
        if self.state == "delivered":
            return f"{self.what}: member notified by DM"
        if self.state == "sending":
            return f"{self.what}: sending by DM" + (f" (retrying: {self.detail})" if self.detail else "")
        return f"{self.what}: member not notified: {self.detail}"


@dataclass(frozen=True)
class Notices:
    items: list[Notice]
    link: str | None  # the member's signed link, to send by hand when they were not notified

    @property
    def failed(self) -> list[Notice]:
        return [n for n in self.items if n.state == "not notified"]


def _state(message: OutboxMessage) -> str:
    if message.status == OutboxStatus.sent:
        return "delivered"
    return "sending" if message.status == OutboxStatus.pending else "not notified"


def for_case(session: Session, action: Action, settings: Settings) -> Notices:
    """The case's member notices (its appeals' included), oldest first."""
    rows = session.exec(select(OutboxMessage).where(OutboxMessage.community_id == action.community_id,
                                                    OutboxMessage.channel == events.member_channel(action.id))
                        .order_by(OutboxMessage.id)).all()
    items = [Notice(m.id, WHAT.get(m.event, m.event), _state(m), m.last_error) for m in rows]
    link = None
    if any(n.state == "not notified" for n in items):
        member = session.get(Member, action.member_id)
        try:
            link = case_link(action, member, settings) if member is not None else None
        except Skip:
            link = None  # the reason says why (e.g. no SECRET_KEY)
    return Notices(items, link)
