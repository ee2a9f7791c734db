"""Answers to Discord interactions: which command, which community, who may.

`handle` takes a verified interaction and returns the interaction response
(developers/interactions/receiving-and-responding.mdx). Every answer is
immediate: the work behind each is a local database transaction of a few
milliseconds (enforcement, DMs and webhooks go through the outbox), well
within Discord's 3 seconds, so nothing here is deferred or calls Discord.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, select

from modsys.adapters.discord import cases as discord_cases
from modsys.adapters.discord import commands as cmd
from modsys.adapters.discord import community_for_guild
from modsys.adapters.discord import interactions as ix
from modsys.community import policy_for
from modsys.domain import kinds
from modsys.domain.actors import Actor
from modsys.domain.errors import DomainError, NotFound, PolicyError, ValidationFailed
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Community,
    Member,
)
from modsys.domain.reasons import duration_of, measure
from modsys.infra.config import Settings
from modsys.notify.markdown import escape_markdown as md
from modsys.notify.text import fit, literal
from modsys.reads import queries
from modsys.services import discord_front_door as svc

NOT_STAFF = ("This command is for the moderation team: your Discord account is not linked to an active "
             "staff account of this community. Staff link it once from their modsys profile.")
THANKS = "Thanks, the moderators will look at it."
KIND_ALIASES = {"warn": "warning"}
log = logging.getLogger(__name__)


def handle(session: Session, settings: Settings, interaction: dict[str, Any]) -> dict[str, Any]:
    community = community_for_guild(session, interaction.get("guild_id"), settings)
    user = ix.invoking_user(interaction)
    kind = interaction["type"]
    data = interaction.get("data") or {}
    if kind == ix.AUTOCOMPLETE:  # answered with choices (type 8), whatever happens: never a message
        try:
            return _autocomplete(session, community, user, interaction) if community and user else ix.no_choices()
        except (DomainError, PolicyError) as e:  # Discord shows "loading options failed" for anything else
            session.rollback()
            log.warning("autocomplete answered with no choices: %s", e)
            return ix.no_choices()
    if community is None or user is None:
        return ix.message_reply("modsys works inside a server that is set up with it; this one is not.")
    try:
        if kind == ix.APPLICATION_COMMAND:
            return _command(session, settings, community, user, interaction, data)
        if kind == ix.MODAL_SUBMIT:
            return _modal(session, settings, community, user, interaction, str(data.get("custom_id", "")))
    except DomainError as e:
        session.rollback()
        return ix.message_reply(f"Nothing was filed: {e.message}")
    return ix.message_reply("modsys does not know this interaction.")


def _staff_actor(session: Session, community: Community, user: ix.User) -> Actor | None:
    staff = svc.linked_staff(session, community.id, user.id)  # type: ignore[arg-type]
    return Actor.staff(staff) if staff is not None else None


def _command(session: Session, settings: Settings, community: Community, user: ix.User,
             interaction: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    name, ctype = data.get("name"), data.get("type")
    if ctype == cmd.MESSAGE_COMMAND and name == cmd.REPORT:
        message = _target_message(interaction, data)
        draft = svc.save_draft(session, community.id, user.id, "report", message)  # type: ignore[arg-type]
        return _report_modal(draft)
    actor = _staff_actor(session, community, user)
    if actor is None:
        return ix.message_reply(NOT_STAFF)
    if ctype == cmd.MESSAGE_COMMAND and name == cmd.ACT_ON_MESSAGE:
        message = _target_message(interaction, data)
        draft = svc.save_draft(session, community.id, user.id, "act", message)  # type: ignore[arg-type]
        return _act_modal(session, community, draft, message)
    if ctype == cmd.USER_COMMAND and name == cmd.HISTORY:
        return _history(session, settings, community, ix.resolved_user(interaction, str(data.get("target_id"))))
    opts = ix.options(interaction)
    if name == "case" and ix.subcommand(interaction) == "member":
        return _history(session, settings, community, ix.resolved_user(interaction, str(opts.get("member"))))
    if name == cmd.NOTE:
        return _note(session, settings, community, actor, interaction, opts)
    if name in cmd.LIFT_COMMANDS:
        return _lift(session, settings, community, actor, interaction, opts, cmd.LIFT_COMMANDS[str(name)])
    if name == cmd.REASON:
        return _reason(session, settings, actor, opts)
    sanction = cmd.available_sanction_commands().get(str(name))
    if sanction is not None:
        target = ix.resolved_user(interaction, str(opts.get("member")))
        rule = str(opts.get("rule") or "")
        action = svc.file_from_discord(session, actor, community.id, _user(target), sanction, [rule],  # type: ignore[arg-type]
                                       str(opts.get("reason") or ""), str(opts.get("note") or ""),
                                       _duration(opts.get("duration")))
        return ix.message_reply(_filed(session, settings, community, action, rule, target.id))
    return ix.message_reply("modsys does not know this command; an admin may need to run "
                            "`modsys discord register-commands`.")


# --- the quick commands: the dashboard's services, the same permissions ------------------


def _note(session: Session, settings: Settings, community: Community, actor: Actor, interaction: dict[str, Any],
          opts: dict[str, Any]) -> dict[str, Any]:
    target = ix.resolved_user(interaction, str(opts.get("member")))
    action = svc.file_from_discord(session, actor, community.id, _user(target), "note",  # type: ignore[arg-type]
                                   [str(opts.get("rule") or "")], "", str(opts.get("text") or ""))
    return ix.message_reply(f"Note #{action.id} added to {target.name}'s case file (staff only).\n"
                            f"{case_url(settings, action.id)}")  # type: ignore[arg-type]


def _lift(session: Session, settings: Settings, community: Community, actor: Actor, interaction: dict[str, Any],
          opts: dict[str, Any], kind: str) -> dict[str, Any]:
    target = ix.resolved_user(interaction, str(opts.get("member")))
    action = svc.lift_from_discord(session, actor, community.id, _user(target), kind,  # type: ignore[arg-type]
                                   str(opts.get("reason") or ""), str(opts.get("rule") or ""))
    return ix.message_reply(f"Case #{action.id}: {target.name}'s {kinds.kind(kind).lifts} is lifted in modsys; "
                            f"Discord follows within seconds.\n{case_url(settings, action.id)}")  # type: ignore[arg-type]


def _reason(session: Session, settings: Settings, actor: Actor, opts: dict[str, Any]) -> dict[str, Any]:
    try:
        action_id = int(opts.get("case"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationFailed("say which case: /reason case:12 text:...", field="case") from None
    if not 0 < action_id < 2**31:
        raise NotFound(f"there is no case #{action_id}")
    action, completed = discord_cases.write_reasons(session, actor, action_id, str(opts.get("text") or ""),
                                                    str(opts.get("rule") or ""))
    if not completed:
        head = f"Case #{action_id}: statement of reasons amended (audited)."
    else:
        head = (f"Case #{action_id}: statement of reasons complete. The member is told by DM with their appeal "
                "link" + (f"; they can appeal until {action.appeal_deadline:%Y-%m-%d %H:%M} UTC."
                          if action.appeal_deadline else "."))
    return ix.message_reply(f"{head}\n{case_url(settings, action_id)}")


def _user(u: ix.User) -> svc.DiscordUser:
    return svc.DiscordUser(u.id, u.name)


def _duration(value: Any):
    try:
        return cmd.parse_choice(str(value) if value is not None else None)
    except ValueError as e:
        raise _invalid(str(e)) from None


def _invalid(message: str) -> DomainError:
    return ValidationFailed(message, field="duration")


def _target_message(interaction: dict[str, Any], data: dict[str, Any]) -> svc.DiscordMessage:
    target = str(data.get("target_id") or "")
    msg = ((data.get("resolved") or {}).get("messages") or {}).get(target)
    if not isinstance(msg, dict) or not isinstance(msg.get("author"), dict):
        raise ValidationFailed("Discord did not send the message this command was used on")
    author = msg["author"]
    channel_id = str(msg.get("channel_id") or interaction.get("channel_id") or "")
    channel = interaction.get("channel") if isinstance(interaction.get("channel"), dict) else {}
    return svc.DiscordMessage(
        id=target, channel_id=channel_id, author=svc.DiscordUser(str(author.get("id")), ix.display_name(author)),
        content=str(msg.get("content") or ""),
        jump_link=ix.jump_link(str(interaction.get("guild_id")), channel_id, target),
        attachment_urls=tuple(str(a["url"]) for a in msg.get("attachments") or [] if isinstance(a, dict) and a.get("url")),
        sent_at=msg.get("timestamp"),
        channel_name=str(channel.get("name") or "")[:100] if str(channel.get("id")) == channel_id else "")


# --- modals (components/reference.mdx: Label 18 wrapping Text Input 4 or String Select 3) ---


def _text(custom_id: str, label: str, *, style: int = 2, required: bool = False, value: str = "",
          min_length: int = 0, max_length: int = 2000, placeholder: str = "") -> dict[str, Any]:
    field: dict[str, Any] = {"type": 4, "custom_id": custom_id, "style": style, "required": required,
                             "min_length": min_length, "max_length": max_length}
    if value:
        field["value"] = value[:4000]
    if placeholder:
        field["placeholder"] = placeholder[:100]
    return {"type": 18, "label": label[:45], "component": field}


def _report_modal(draft: str) -> dict[str, Any]:
    return {"type": ix.MODAL, "data": {"custom_id": f"report:{draft}", "title": "Report to moderators",
                                       "components": [_text("reason", "Why are you reporting it? (optional)",
                                                            max_length=500)]}}


def _act_modal(session: Session, community: Community, draft: str, message: svc.DiscordMessage) -> dict[str, Any]:
    policy = policy_for(session, community.id)  # type: ignore[arg-type]
    rules = [{"label": f"{r.id}: {r.title}"[:100], "value": r.id} for r in policy.rules[:cmd.MAX_CHOICES]]
    first = policy.rules[0]
    hint = svc.ladder_hint(session, community.id, message.author.id, first.id)  # type: ignore[arg-type]
    suggested = _measure_text(hint.step.kind, hint.step.duration) if hint else "warning"
    rule_select = {"type": 18, "label": "Rule broken",
                   "component": {"type": 3, "custom_id": "rule", "options": rules, "required": True}}
    quoted = (message.content or "(empty message)")[:300]
    return {"type": ix.MODAL, "data": {"custom_id": f"act:{draft}", "title": f"Act on {message.author.name}'s message"[:45],
                                       "components": [
        rule_select,
        _text("measure", "Measure", style=1, required=True, value=suggested, max_length=40,
              placeholder="warning, timeout 1h, ban 7d, ban permanent"),
        _text("reason", "Public reason (the member reads it)", required=True, min_length=10,
              value=f"Your message in this server broke the rule cited: \"{quoted}\""),
        _text("note", "Private note for staff (optional)", max_length=2000),
    ]}}


def _measure_text(kind: str, duration) -> str:
    if duration is None:
        return "ban permanent" if kind == "ban" else str(kind)
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{kind} {seconds // size}{unit}"
    return f"{kind} {seconds}s"


def parse_measure(text: str):
    """'warning' | 'timeout 1h' | 'ban 7d' | 'ban permanent' -> (kind, duration)."""
    parts = text.strip().lower().split()
    if not parts:
        raise _invalid("say which measure: warning, timeout 1h, ban 7d or ban permanent")
    kind = KIND_ALIASES.get(parts[0], parts[0])
    if len(parts) > 2:
        raise _invalid(f"{text!r} is not a measure; write e.g. 'timeout 1h' or 'ban permanent'")
    return kind, _duration(parts[1] if len(parts) == 2 else None)


def _modal(session: Session, settings: Settings, community: Community, user: ix.User,
           interaction: dict[str, Any], custom_id: str) -> dict[str, Any]:
    purpose, _, draft = custom_id.partition(":")
    values = ix.modal_values(interaction)
    if purpose == "report":
        svc.report_message(session, community.id, draft, _user(user), values.get("reason", ""))  # type: ignore[arg-type]
        return ix.message_reply(THANKS)
    if purpose == "act":
        actor = _staff_actor(session, community, user)
        if actor is None:
            return ix.message_reply(NOT_STAFF)
        kind, duration = parse_measure(values.get("measure", ""))
        rule = values.get("rule", "")
        action = svc.act_on_message(session, actor, community.id, draft, user.id, kind, [rule],  # type: ignore[arg-type]
                                    values.get("reason", ""), values.get("note", ""), duration)
        member = session.get(Member, action.member_id)
        return ix.message_reply(_filed(session, settings, community, action, rule, member.platform_user_id))  # type: ignore[union-attr]
    return ix.message_reply("This form is not one modsys knows; use the command again.")


# --- replies ----------------------------------------------------------------------


def case_url(settings: Settings, action_id: int) -> str:
    return f"{settings.base_url.rstrip('/')}/actions/{action_id}"


def _filed(session: Session, settings: Settings, community: Community, action: Action, rule: str,
           discord_user_id: str) -> str:
    what = measure(action.kind, duration_of(action))
    if action.status == ActionStatus.pending_cosign:
        head = (f"Case #{action.id} ({what}) awaits a second signature (two-person rule): another "
                f"moderator co-signs it in modsys before it takes effect.")
    else:
        head = f"Case #{action.id} filed: {what} under {', '.join(action.rules)}."
    lines = [head]
    hint = svc.ladder_hint(session, community.id, discord_user_id, rule)  # type: ignore[arg-type]
    if hint is not None:
        lines.append(f"Ladder for {rule}: the next step is now {hint.step.describe()} ({hint.why}).")
    lines.append(case_url(settings, action.id))  # type: ignore[arg-type]
    return "\n".join(lines)


def _history(session: Session, settings: Settings, community: Community, target: ix.User) -> dict[str, Any]:
    member = session.exec(select(Member).where(Member.community_id == community.id,
                                               Member.platform_user_id == target.id)).first()
    if member is None:
        return ix.message_reply(f"{md(target.name)} has no moderation history in modsys.")
    file = queries.case_file(session, member, limit=10)
    head = f"**{md(member.display_name)}** ({member.platform_user_id}): {len(file.actions)} recent case(s)"
    lines = []
    for a in file.actions:
        lines.append(f"- #{a.id} {measure(a.kind, duration_of(a))}, {a.status}, {md(', '.join(a.rules))}, "
                     f"{a.created_at:%Y-%m-%d}")
    open_appeals = [ap for ap in file.appeals if ap.status in OPEN_APPEAL_STATES]
    lines.append(f"Open appeals: {len(open_appeals)}")
    for ap in open_appeals:
        lines.append(f"- appeal #{ap.id} on case #{ap.action_id}: {ap.status}, due {ap.review_due_at:%Y-%m-%d %H:%M} UTC")
    link = f"{settings.base_url.rstrip('/')}/members/{member.id}"
    # Fitted to the 2,000 characters of a message: the cases give way, the head and the link stay whole.
    return ix.message_reply(fit(f"{literal(head)}\n{{cases}}\n{literal(link)}", cases="\n".join(lines)))


def _autocomplete(session: Session, community: Community, user: ix.User, interaction: dict[str, Any]) -> dict[str, Any]:
    name, typed = ix.focused(interaction)
    choices: list[dict[str, str]] = []
    if name == "rule" and _staff_actor(session, community, user) is not None:
        policy = policy_for(session, community.id)  # type: ignore[arg-type]
        member_id = ix.options(interaction).get("member")
        for r in policy.rules:
            if typed.lower() not in f"{r.id} {r.title}".lower():
                continue
            label = f"{r.id}: {r.title}"
            if member_id and str((interaction.get("data") or {}).get("name")) in cmd.available_sanction_commands():
                hint = svc.ladder_hint(session, community.id, str(member_id), r.id)  # type: ignore[arg-type]
                if hint is not None:
                    label += f" (ladder: {hint.step.describe()})"
            choices.append({"name": label[:100], "value": r.id})
    return ix.choices_reply(choices)
