"""What the gateway saw, for moderators: raid alerts with their one-click
response and undo, a member's deleted and edited messages, each of which can
be attached to a case, and modmail threads with their replies. Parse, call a read model or a service, render."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for

from modsys import permissions
from modsys.adapters.discord.gateway import message_log, modmail, raids
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import LoggedMessage, Member, ModmailThread, RaidIncident
from modsys.infra.crypto import cipher_for
from modsys.permissions import Cap
from modsys.services.message_log import attach_logged_message
from web.context import actor, db, scoped, staff, state
from web.security import roles_required

bp = Blueprint("gateway", __name__)
STAFF = permissions.roles_with(Cap.read_cases)
MODS = permissions.roles_with(Cap.moderate)


@bp.app_context_processor
def _open_raids() -> dict:
    """`open_raids()`: the dashboard's raid alert banner."""
    def open_raids() -> list[RaidIncident]:
        return raids.open_incidents(db(), staff().community_id)

    return {"open_raids": open_raids}


@bp.route("/raids")
@roles_required(*STAFF)
def raid_list():
    incidents = raids.recent(db(), staff().community_id)
    return render_template("gateway/raids.html", incidents=incidents)


@bp.route("/raids/<int:incident_id>")
@roles_required(*STAFF)
def raid(incident_id: int):
    incident = scoped().get(RaidIncident, incident_id, "raid incident")
    return render_template("gateway/raid.html", incident=incident, accounts=raids.accounts_of(db(), incident.id),
                           policy=scoped().policy.raids)


@bp.route("/raids/<int:incident_id>/respond", methods=["POST"])
@roles_required(*MODS)
def raid_respond(incident_id: int):
    scoped().get(RaidIncident, incident_id, "raid incident")
    hours = request.form.get("lockdown_hours", "").strip()
    if hours and not (hours.isdigit() and int(hours) <= 24):
        raise ValidationFailed("lockdown: a whole number of hours from 0 to 24", field="lockdown_hours")
    incident = raids.respond(db(), actor(), incident_id, timedelta(hours=int(hours)) if hours else None)
    flash(f"Raid incident #{incident.id}: lockdown and bans are on their way to Discord.", "info")
    return redirect(url_for("gateway.raid", incident_id=incident_id))


@bp.route("/raids/<int:incident_id>/dismiss", methods=["POST"])
@roles_required(*MODS)
def raid_dismiss(incident_id: int):
    raids.dismiss(db(), actor(), incident_id)
    flash(f"Raid incident #{incident_id} dismissed.", "info")
    return redirect(url_for("gateway.raid", incident_id=incident_id))


@bp.route("/raids/<int:incident_id>/undo", methods=["POST"])
@roles_required(*MODS)
def raid_undo(incident_id: int):
    raids.undo(db(), actor(), incident_id, request.form.get("reason", ""))
    flash(f"Raid incident #{incident_id} undone: every case revoked, unbans and the lockdown lift on their way.", "info")
    return redirect(url_for("gateway.raid", incident_id=incident_id))


@bp.route("/members/<int:member_id>/messages")
@roles_required(*STAFF)
def member_messages(member_id: int):
    member = scoped().get(Member, member_id, "member")
    changes = message_log.recent_changes(db(), cipher_for(state().settings), member.community_id,
                                         member.platform_user_id)
    cases = modmail.cases_of(db(), member.id)  # type: ignore[arg-type]
    return render_template("gateway/member_messages.html", member=member, changes=changes, cases=cases)


@bp.route("/logged-messages/<int:logged_id>/attach", methods=["POST"])
@roles_required(*MODS)
def attach(logged_id: int):
    scoped().get(LoggedMessage, logged_id, "logged message")  # another community's: 404 before anything else
    case = request.form.get("action_id", "").strip()
    if not case.isdigit():
        raise ValidationFailed("choose the case to attach the message to", field="action_id")
    visibility = request.form.get("visibility", "private")
    attach_logged_message(db(), actor(), int(case), logged_id, cipher_for(state().settings), visibility)
    flash(f"The message is now evidence on case #{case}.", "info")
    return redirect(url_for("dashboard.action", action_id=int(case)))


@bp.route("/modmail")
@roles_required(*STAFF)
def modmail_list():
    found = modmail.threads(db(), staff().community_id)
    members = modmail.members_of(db(), found)
    return render_template("gateway/modmail.html", threads=found, members=members)


@bp.route("/modmail/<int:thread_id>")
@roles_required(*STAFF)
def modmail_thread(thread_id: int):
    thread = scoped().get(ModmailThread, thread_id, "modmail thread")
    member = scoped().get(Member, thread.member_id, "member")
    cases = modmail.cases_of(db(), member.id)  # type: ignore[arg-type]
    return render_template("gateway/modmail_thread.html", thread=thread, member=member, cases=cases,
                           messages=modmail.messages(db(), thread.id))


@bp.route("/modmail/<int:thread_id>/reply", methods=["POST"])
@roles_required(*MODS)
def modmail_reply(thread_id: int):
    modmail.reply(db(), actor(), thread_id, request.form.get("body", ""))
    flash("Reply queued: it reaches the member as a DM.", "info")
    return redirect(url_for("gateway.modmail_thread", thread_id=thread_id))


@bp.route("/modmail/<int:thread_id>/close", methods=["POST"])
@roles_required(*MODS)
def modmail_close(thread_id: int):
    modmail.close(db(), actor(), thread_id)
    flash(f"Modmail thread #{thread_id} closed.", "info")
    return redirect(url_for("gateway.modmail_thread", thread_id=thread_id))
