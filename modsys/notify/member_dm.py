"""What the sanctioned member reads: one DM per member-facing event (modsys.domain.events.MemberEvent),
sent by the bot (modsys.runtime.delivery). Plain `content`, fitted by construction:

- Discord's limit is 2,000 characters of content (message.mdx, "Create Message":
  "Message contents (up to 2000 characters)").
- What the notice promises (the signed link, the outcome) is fixed text and is
  never cut; only the member-written or staff-written parts (rules, reasons,
  replies) give up characters, longest first.
- Untrusted text (display names, reasons, replies, rule titles) is escaped as
  markdown, as the embeds are (modsys.notify.markdown).
- A notice that can't carry the link it promises raises `Skip` with the reason:
  it is never sent without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlmodel import Session, select

from modsys.community import policy_for
from modsys.domain import clock, events, kinds
from modsys.domain.models import (
    Action,
    Appeal,
    AppealMessage,
    AppealOutcome,
    Community,
    Member,
    StatementOfReasons,
)
from modsys.domain.reasons import duration_of, measure
from modsys.infra.config import Settings
from modsys.infra.portal_links import make_token, portal_url
from modsys.notify.markdown import escape_markdown as md
from modsys.notify.messages import Skip
from modsys.notify.text import fit, literal


@dataclass(frozen=True)
class Dm:
    user_id: str  # the member's Discord id
    content: str


RENDERERS: dict[type[events.Event], Callable[[Session, Any, Settings], Dm]] = {}


def renders(event_type: type[events.Event]) -> Callable:
    def register(fn: Callable[[Session, Any, Settings], Dm]) -> Callable:
        RENDERERS[event_type] = fn
        return fn

    return register


def render(session: Session, event: events.MemberEvent, settings: Settings) -> Dm:
    try:
        return RENDERERS[type(event)](session, event, settings)
    except ValueError as e:  # its fixed text can't fit: a failure with the reason, never a cut link
        raise Skip(str(e)) from None


# --- the facts a notice states -------------------------------------------------------------


def _case(session: Session, action_id: int) -> tuple[Action, Member, Community]:
    action = session.get(Action, action_id)
    member = session.get(Member, action.member_id) if action is not None else None
    community = session.get(Community, action.community_id) if action is not None else None
    if action is None or member is None or community is None:
        raise Skip("the case of this notice no longer exists")
    return action, member, community


def imposed_measure(session: Session, action: Action) -> str:
    """The measure as it was imposed: its statement of reasons rendered it from the
    kind and duration at filing (lifting a sanction early moves `ends_at`)."""
    statement = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).first()
    return statement.measure if statement is not None else measure(action.kind, duration_of(action))


def _rules(session: Session, action: Action) -> str:
    policy = policy_for(session, action.community_id)
    return ", ".join(f"{rid} ({r.title})" if (r := policy.rule(rid)) else rid for rid in action.rules) or "-"


def appeal_link(action: Action, member: Member, settings: Settings) -> str | None:
    """The member's signed link to appeal (made now, never stored); None when the case
    is not appealable now. Raises Skip when it should be there and can't be made."""
    deadline = action.appeal_deadline
    if not action.appealable or deadline is None or deadline <= clock.now():
        return None
    return case_link(action, member, settings)


def case_link(action: Action, member: Member, settings: Settings) -> str:
    """The member's signed link to their case. It expires with the appeal window;
    the portal still opens it while there is an appeal to follow (modsys.reads.appeal_portal),
    which is what replies and decisions lead to. Raises Skip when it can't be made."""
    if action.appeal_deadline is None:
        raise Skip(f"case #{action.id} has no appeal window, so there is no link to its appeal")
    if not settings.secret_key:
        raise Skip("SECRET_KEY is not set, so the member's signed appeal link can't be made")
    return portal_url(settings.base_url, make_token(settings.secret_key, action.id, member.id,
                                                    action.appeal_deadline))


def _header(community: Community) -> str:
    return f"**{literal(md(community.name))}**"


# --- one renderer per member event -----------------------------------------------------------


@renders(events.MemberNotified)
def _sanction(session: Session, e: events.MemberNotified, settings: Settings) -> Dm:
    action, member, community = _case(session, e.action_id)
    return Dm(member.platform_user_id, _statement(session, action, member, community, settings,
                                                  f"you received a {imposed_measure(session, action)}"))


@renders(events.ActionReasonCompleted)
def _reason_completed(session: Session, e: events.ActionReasonCompleted, settings: Settings) -> Dm:
    action, member, community = _case(session, e.action_id)
    if appeal_link(action, member, settings) is None:
        raise Skip(f"case #{action.id} has no open appeal window, so the notice can't carry its appeal link")
    lead = f"the moderators wrote the statement of reasons for the {imposed_measure(session, action)} you received"
    return Dm(member.platform_user_id, _statement(session, action, member, community, settings, lead))


def _statement(session: Session, action: Action, member: Member, community: Community, settings: Settings,
               lead: str) -> str:
    link = appeal_link(action, member, settings)
    tail = ("" if link is None else
            f"\n\nRead the full statement of reasons and appeal until "
            f"{action.appeal_deadline:%Y-%m-%d %H:%M} UTC: {link}")
    template = f"{_header(community)}: {literal(lead)} (case #{action.id}).\nRule: {{rules}}\nReason: {{reason}}" \
               + literal(tail)
    return fit(template, rules=md(_rules(session, action)), reason=md(action.public_reason) or "-")


@renders(events.MemberToldReply)
def _reply(session: Session, e: events.MemberToldReply, settings: Settings) -> Dm:
    action, member, community = _case(session, e.action_id)
    reply = session.get(AppealMessage, e.message_id)
    if reply is None or reply.appeal_id != e.appeal_id:
        raise Skip("the reply of this notice no longer exists")
    link = f"{case_link(action, member, settings)}/appeals/{e.appeal_id}"
    template = (f"{_header(community)}: the moderators replied on your appeal #{e.appeal_id} "
                f"(case #{action.id}):\n{{body}}" + literal(f"\n\nRead it and answer: {link}"))
    return Dm(member.platform_user_id, fit(template, body=md(reply.body)))


@renders(events.MemberToldDecision)
def _decision(session: Session, e: events.MemberToldDecision, settings: Settings) -> Dm:
    action, member, community = _case(session, e.action_id)
    appeal = session.get(Appeal, e.appeal_id)
    if appeal is None or appeal.outcome is None:
        raise Skip("the appeal of this notice no longer exists or is not decided")
    imposed = imposed_measure(session, action)
    outcome = _outcome(session, appeal, action, imposed)
    link = f"{case_link(action, member, settings)}/appeals/{appeal.id}"
    template = (f"{_header(community)}: your appeal #{appeal.id} on case #{action.id} was decided: "
                f"{literal(outcome)}\nReasons: {{reasons}}" + literal(f"\n\nRead the decision: {link}"))
    return Dm(member.platform_user_id, fit(template, reasons=md(appeal.outcome_reasons) or "-"))


def _outcome(session: Session, appeal: Appeal, action: Action, imposed: str) -> str:
    """What the decision did to the measure and what changes in Discord, in the member's words."""
    if appeal.outcome == AppealOutcome.overturned:
        return f"overturned. The {imposed} is lifted{_lifted_in_discord(action.kind)}."
    if appeal.outcome == AppealOutcome.modified:
        new = session.get(Action, appeal.modified_action_id) if appeal.modified_action_id else None
        if new is None:
            raise Skip("the new measure of this modified decision no longer exists")
        what = imposed_measure(session, new)
        change = _replaced_in_discord(action, new)
        return (f"modified. As the result of your appeal, the {imposed} is replaced by a {what}"
                f"{change} (recorded as case #{new.id}).")
    return f"upheld. The {imposed} stands."


def _lifted_in_discord(kind: str) -> str:
    return {"ban": ": you can rejoin the server", "timeout": ": your timeout in the server is cleared"}.get(
        kinds.kind(kind).enforce, "")


def _replaced_in_discord(old: Action, new: Action) -> str:
    before, after = kinds.kind(old.kind).enforce, kinds.kind(new.kind).enforce
    ends = f" until {new.ends_at:%Y-%m-%d %H:%M} UTC" if new.ends_at is not None else ""
    if new.status != "active":
        return f"; it is already over{_lifted_in_discord(old.kind)}"
    if after == "timeout":
        return ("; in the server your ban is lifted and you are timed out" + ends if before == "ban"
                else "; in the server you are timed out" + ends)
    if after == "ban":
        return "; in the server you stay banned" + ends if before == "ban" else "; you are banned from the server" + ends
    return _lifted_in_discord(old.kind)


@renders(events.MemberToldSanctionEnded)
def _ended(session: Session, e: events.MemberToldSanctionEnded, settings: Settings) -> Dm:
    action, member, community = _case(session, e.action_id)
    text = f"{_header(community)}: your {literal(imposed_measure(session, action))} (case #{action.id}) has ended."
    return Dm(member.platform_user_id, fit(text))
