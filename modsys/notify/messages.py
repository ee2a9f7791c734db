"""What each staff notification says: one function per event (modsys.domain.events), run
when the outbox delivers it (the member's DMs are in modsys.notify.member_dm). Each reads the rows as they are then and returns
an embed spec; `build_message` applies Discord's limits and empty
`allowed_mentions`. Changing what a notification says is an edit here.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlmodel import Session, select

from modsys.community import policy_for
from modsys.domain import clock, events
from modsys.domain.models import (
    Action,
    Appeal,
    AppealMessage,
    Flag,
    Member,
    OfficialStatement,
    OutboxMessage,
    StaffUser,
)
from modsys.domain.policy import format_duration
from modsys.domain.reasons import duration_of, measure
from modsys.infra.config import Settings
from modsys.notify.embeds import build_message
from modsys.notify.links import (
    appeal_path,
    case_path,
    decision_path,
    flag_path,
    ping_role,
    with_url,
)
from modsys.notify.markdown import escape_markdown as md


class Skip(Exception):
    """The message can't be delivered as things are (a row is gone, a setting is
    missing); the outbox records it as skipped, with this reason."""


Spec = dict[str, Any]
RENDERERS: dict[type[events.Event], Callable[[Session, Any, Settings], Spec]] = {}


def renders(event_type: type[events.Event]) -> Callable:
    def register(fn: Callable[[Session, Any, Settings], Spec]) -> Callable:
        RENDERERS[event_type] = fn
        return fn

    return register


def render(session: Session, message: OutboxMessage, settings: Settings) -> dict[str, Any]:
    """The Discord payload for an outbox message. A message queued as a plain embed
    (`outbox.enqueue` with a title/description payload) is sent as it is."""
    event = events.parse(message.event, message.payload or {})
    spec = message.payload or {} if event is None else RENDERERS[type(event)](session, event, settings)
    rendered = build_message(with_url(spec, settings.base_url))  # every embed links back to its page
    role = policy_for(session, message.community_id).notifications.leadership_role_id
    if isinstance(event, events.AppealEscalated) and role:
        rendered = ping_role(rendered, role)  # the pings modsys makes: escalations (policy: notifications)
    raid_role = policy_for(session, message.community_id).raids.alert_role_id
    if isinstance(event, events.RaidDetected) and raid_role:
        rendered = ping_role(rendered, raid_role)  # and raid alerts (policy: raids)
    return rendered


def _row(session: Session, model: type, ident: int | None, what: str) -> Any:
    row = session.get(model, ident) if ident is not None else None
    if row is None:
        raise Skip(f"the {what} of this notification no longer exists")
    return row


def _name(session: Session, staff_id: int | None) -> str:
    user = session.get(StaffUser, staff_id) if staff_id is not None else None
    return md(user.username) if user else "the scheduler"


# --- moderation actions (mod log) -----------------------------------------------


def _action_spec(session: Session, action: Action, title: str, by: int | None) -> Spec:
    member = _row(session, Member, action.member_id, "member")
    fields = [
        {"name": "Member", "value": f"{md(member.display_name)} ({member.platform_user_id})", "inline": True},
        {"name": "Measure", "value": measure(action.kind, duration_of(action)), "inline": True},
        {"name": "Rules", "value": md(", ".join(action.rules)), "inline": True},
        {"name": "By", "value": _name(session, by), "inline": True},
    ]
    return {"title": f"{title}: case #{action.id}", "description": md(action.public_reason), "fields": fields,
            "link": case_path(action.id)}


@renders(events.ActionAwaitingCosign)
def _awaiting(session: Session, e: events.ActionAwaitingCosign, _: Settings) -> Spec:
    action = _row(session, Action, e.action_id, "action")
    return _action_spec(session, action, "Awaiting a second signature", action.moderator_id)


@renders(events.ActionFiled)
def _filed(session: Session, e: events.ActionFiled, _: Settings) -> Spec:
    action = _row(session, Action, e.action_id, "action")
    return _action_spec(session, action, "Action filed", action.moderator_id)


@renders(events.ActionCosigned)
def _cosigned(session: Session, e: events.ActionCosigned, _: Settings) -> Spec:
    action = _row(session, Action, e.action_id, "action")
    return _action_spec(session, action, "Action co-signed and in force", action.cosigner_id)


@renders(events.ActionRevoked)
def _revoked(session: Session, e: events.ActionRevoked, _: Settings) -> Spec:
    action = _row(session, Action, e.action_id, "action")
    return {"title": f"Case #{action.id} revoked", "description": md(e.reason),
            "fields": [{"name": "By", "value": _name(session, action.lifted_by_id), "inline": True}],
            "link": case_path(action.id)}


@renders(events.ActionExpired)
def _expired(session: Session, e: events.ActionExpired, _: Settings) -> Spec:
    action = _row(session, Action, e.action_id, "action")
    member = _row(session, Member, action.member_id, "member")
    return {"title": f"Case #{action.id} expired",
            "description": f"The {action.kind} of {md(member.display_name)} ({member.platform_user_id}) ended.",
            "link": case_path(action.id)}


@renders(events.ActionRecordedFromDiscord)
def _recorded(session: Session, e: events.ActionRecordedFromDiscord, _: Settings) -> Spec:
    from modsys.adapters.discord import (
        cases,  # the Discord side of the record (imports the services)
    )

    action = _row(session, Action, e.action_id, "action")
    member = _row(session, Member, action.member_id, "member")
    imported = cases.imported_of(session, action.id)  # type: ignore[arg-type]
    if imported is None:
        raise Skip("the Discord record of this case no longer exists")
    fields = [
        {"name": "Member", "value": f"{md(member.display_name)} ({member.platform_user_id})", "inline": True},
        {"name": "Measure", "value": measure(action.kind, duration_of(action)), "inline": True},
        {"name": "Done by", "value": md(cases.executor_label(session, imported)), "inline": True},
        {"name": "Discord's reason", "value": md(imported.discord_reason) or "(none given)", "inline": False},
    ]
    needed = imported.reason_completed_at is None
    return {"title": f"Done in Discord{', reason needed' if needed else ''}: case #{action.id}",
            "description": "Cite the rules and write the statement of reasons on the case page; the member is "
                           "told then, with their appeal link." if needed else "Recorded from Discord.",
            "fields": fields, "link": case_path(action.id)}


# --- appeals (appeals and leadership channels) ------------------------------------


def _appeal_spec(appeal: Appeal, title: str, text: str) -> Spec:
    # The deadline that runs now: leadership's once the appeal is escalated.
    due, at = (("Leadership decision due", appeal.leadership_due_at) if appeal.leadership_due_at is not None
               else ("Review due", appeal.review_due_at))
    return {"title": f"{title}: appeal #{appeal.id} (case #{appeal.action_id})", "description": md(text),
            "fields": [{"name": "Status", "value": appeal.status, "inline": True},
                       {"name": due, "value": f"{at:%Y-%m-%d %H:%M} UTC", "inline": True}],
            "link": appeal_path(appeal.id)}


@renders(events.AppealSubmitted)
def _submitted(session: Session, e: events.AppealSubmitted, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    return _appeal_spec(appeal, "New appeal", appeal.statement[:500])


@renders(events.AppealWithdrawn)
def _withdrawn(session: Session, e: events.AppealWithdrawn, _: Settings) -> Spec:
    return _appeal_spec(_row(session, Appeal, e.appeal_id, "appeal"), "Appeal withdrawn",
                        "The member withdrew the appeal.")


@renders(events.AppealEscalated)
def _escalated(session: Session, e: events.AppealEscalated, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    return {**_appeal_spec(appeal, "Escalated to leadership", e.reason), "link": decision_path(appeal.id)}


@renders(events.AppealMemberWrote)
def _member_wrote(session: Session, e: events.AppealMemberWrote, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    return _appeal_spec(appeal, "The member wrote", _row(session, AppealMessage, e.message_id, "message").body[:1000])


@renders(events.AppealDecided)
def _decided(session: Session, e: events.AppealDecided, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    judge = session.get(StaffUser, appeal.decided_by_id) if appeal.decided_by_id else None
    by = f"{md(judge.username)} ({judge.role})" if judge else "unknown"
    return {"title": f"Appeal #{appeal.id} {appeal.outcome} (case #{appeal.action_id})",
            "description": md(appeal.outcome_reasons), "fields": [{"name": "Decided by", "value": by, "inline": True}],
            "link": appeal_path(appeal.id)}


def _reminder(appeal: Appeal, threshold: float, began: Any, ends: Any, what: str) -> Spec:
    allowed = format_duration(ends - began)
    # Delivered late (an outage, a retry), a reminder must not understate: past is past.
    text = (f"The {allowed} allowed for its {what} ran out at {ends:%Y-%m-%d %H:%M} UTC: it is overdue."
            if clock.now() >= ends else f"{threshold:.0%} of the {allowed} allowed for its {what} has passed.")
    return {"title": f"Reminder: appeal #{appeal.id} (case #{appeal.action_id})", "description": text,
            "fields": [{"name": f"{what.capitalize()} due", "value": f"{ends:%Y-%m-%d %H:%M} UTC", "inline": True}],
            "link": appeal_path(appeal.id)}


@renders(events.ReviewReminderDue)
def _review_reminder(session: Session, e: events.ReviewReminderDue, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    return _reminder(appeal, e.threshold, appeal.submitted_at, appeal.review_due_at, "review")


@renders(events.DecisionReminderDue)
def _decision_reminder(session: Session, e: events.DecisionReminderDue, _: Settings) -> Spec:
    appeal = _row(session, Appeal, e.appeal_id, "appeal")
    return {**_reminder(appeal, e.threshold, appeal.escalated_at, appeal.leadership_due_at, "leadership decision"),
            "link": decision_path(appeal.id)}


@renders(events.StatementPublished)
def _statement(session: Session, e: events.StatementPublished, _: Settings) -> Spec:
    statement = _row(session, OfficialStatement, e.statement_id, "statement")
    return {"title": f"Official statement: {md(statement.title)}", "description": md(statement.body)}


@renders(events.FlagPrioritised)
def _priority(session: Session, e: events.FlagPrioritised, _: Settings) -> Spec:
    flag = _row(session, Flag, e.flag_id, "flag")
    score = f"{flag.max_label} {flag.max_score:.2f}" if flag.max_score is not None else "unscored"
    return {"title": f"Priority flag #{flag.id} in #{md(flag.channel_name or flag.channel_id)}",
            "description": md(flag.content[:1000]),
            "fields": [{"name": "Over threshold", "value": ", ".join(e.labels), "inline": True},
                       {"name": "Score", "value": score, "inline": True},
                       {"name": "Reporters", "value": str(flag.reporter_count), "inline": True}],
            "link": flag_path(flag.id)}


@renders(events.AuditChainBroken)
def _audit_broken(session: Session, e: events.AuditChainBroken, _: Settings) -> Spec:
    return {"title": f"Audit chain broken at event #{e.broken_seq}",
            "description": f"{e.reason}. The log may have been edited outside modsys; "
                           "run `modsys audit verify` and investigate before trusting it.",
            "color": 0xD0021B}


# --- raids (modsys.adapters.discord.gateway.raids) -----------------------------------------------------------


@renders(events.RaidDetected)
def _raid(session: Session, e: events.RaidDetected, _: Settings) -> Spec:
    from modsys.domain.models import RaidAccount, RaidIncident

    incident = _row(session, RaidIncident, e.incident_id, "raid incident")
    accounts = list(session.exec(select(RaidAccount).where(RaidAccount.incident_id == incident.id)
                                 .order_by(RaidAccount.id)))
    shown = ", ".join(f"{md(a.display_name)} ({a.platform_user_id})" for a in accounts[:20])
    more = f" and {len(accounts) - 20} more" if len(accounts) > 20 else ""
    what = "joined within seconds" if incident.trigger == "joins" else "posted the same message"
    return {"title": f"Raid alert: {len(accounts)} accounts {what}",
            "description": f"Accounts: {shown}{more}.\nLock down and ban them with one click, or dismiss the alert.",
            "link": f"/raids/{incident.id}"}
