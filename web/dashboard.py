"""The moderator dashboard: flag queue, case files, filing actions, appeal review."""

from __future__ import annotations

import io
import json
import re

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from modsys import permissions
from modsys.adapters.discord import cases as discord_cases
from modsys.adapters.discord import enforcement
from modsys.adapters.discord import overview as discord_overview
from modsys.domain.errors import DomainError
from modsys.domain.models import (
    Action,
    Appeal,
    ClaimSubject,
    Evidence,
    Flag,
    Member,
    Role,
)
from modsys.infra import portal_links
from modsys.permissions import Cap
from modsys.reads import listing, queries, query_args
from modsys.reads.reporter_names import name_reporters
from modsys.services import actions as action_svc
from modsys.services import appeals as appeal_svc
from modsys.services import flags as flag_svc
from modsys.services.actions import NewAction
from modsys.services.decisions import Decision, Modification, decide_appeal
from web import forms
from web.context import actor, db, scoped, staff, state
from web.security import roles_required

bp = Blueprint("dashboard", __name__)
STAFF = permissions.roles_with(Cap.read_cases)
MODS = permissions.roles_with(Cap.moderate)


def _get(model, ident: int, what: str):
    return scoped().get(model, ident, what)


def appeal_link(action: Action) -> str | None:
    if not action.appealable or action.appeal_deadline is None:
        return None
    token = portal_links.make_token(state().secret_key, action.id, action.member_id, action.appeal_deadline)
    return portal_links.portal_url(state().settings.base_url, token)


@bp.route("/")
@roles_required(*STAFF)
def home():
    if staff().role == Role.admin:
        return redirect(url_for("admin.index"))
    session, me = db(), staff()
    flags = queries.flag_queue(session, me.community_id, limit=10)
    recent = queries.recent_actions(session, me.community_id)
    pending = queries.pending_cosign(session, me.community_id)
    members = queries.members_by_id(session, {f.author_id for f in flags} | {a.member_id for a in recent + pending})
    return render_template(
        "dashboard/home.html", flags=flags, appeals=queries.reviewable_appeals(session, me), recent=recent,
        pending=pending, counts=queries.counts(session, me.community_id),
        reason_needed=discord_overview.reason_needed(session, me.community_id),
        names=queries.staff_names(session, me.community_id), members=members.get, sla=queries.sla)


@bp.route("/flags")
@roles_required(*STAFF)
def flags():
    me = staff()
    status = request.args.get("status", "open")
    if status not in ("open", "dismissed", "actioned"):
        abort(400, "status must be open, dismissed or actioned")
    page = query_args.page(request.args, high=listing.MAX_PAGE)
    language = query_args.text(request.args, "language", 16) or None
    if language and not re.fullmatch(r"[a-z]{2}", language) and language != queries.UNKNOWN_LANGUAGE:
        abort(400, "language must be a two-letter code such as en or fr, or unknown")
    rows = queries.flag_queue(db(), me.community_id, status=status, channel=query_args.text(request.args, "channel", 100) or None,
                              rule=query_args.text(request.args, "rule", 64) or None, language=language,
                              offset=(page - 1) * queries.PAGE)
    members = queries.members_by_id(db(), {f.author_id for f in rows})
    return render_template("dashboard/flags.html", flags=rows, status=status, page=page,
                           holders=listing.holders(db(), ClaimSubject.flag, [f.id for f in rows]),
                           channels=queries.flag_channels(db(), me.community_id),
                           rules=scoped().policy.rules, members=members.get,
                           languages=[*sorted(scoped().policy.toxicity.detection_languages()), queries.UNKNOWN_LANGUAGE])


@bp.route("/flags/<int:flag_id>")
@roles_required(*STAFF)
def flag(flag_id: int):
    f = _get(Flag, flag_id, "flag")
    reporters = listing.reporters(db(), f.id)
    return render_template("dashboard/flag.html", flag=f, score=queries.latest_score(db(), f.id),
                           author=_get(Member, f.author_id, "member"),
                           candidates=queries.flag_evidence(db(), f.id), reporters=reporters,
                           reporter_names=name_reporters(db(), f.community_id, [r.reporter_key for r in reporters]),
                           holder=listing.holders(db(), ClaimSubject.flag, [f.id]).get(f.id))


@bp.route("/flags/<int:flag_id>/dismiss", methods=["POST"])
@roles_required(*MODS)
def dismiss_flag(flag_id: int):
    flag_svc.dismiss_flag(db(), actor(), flag_id, request.form.get("note", ""))
    flash(f"Flag #{flag_id} dismissed.", "info")
    return redirect(url_for("dashboard.flags"))


@bp.route("/members/<int:member_id>")
@roles_required(*STAFF)
def member(member_id: int):
    m = _get(Member, member_id, "member")
    policy = scoped().policy
    suggestions = action_svc.suggest_sanctions(db(), m.id, policy)
    return render_template("dashboard/member.html", file=listing.member_history(db(), m, request.args), policy=policy,
                           suggestions=suggestions, names=queries.staff_names(db(), m.community_id))


@bp.route("/members/find")
@roles_required(*STAFF)
def find_member():
    uid = query_args.text(request.args, "platform_user_id", 64)
    found = scoped().first(Member, Member.platform_user_id == uid)
    if found is None:
        flash(f"No member with id {uid!r} yet; file an action to create their case file.", "error")
        return redirect(url_for("dashboard.new_action"))
    return redirect(url_for("dashboard.member", member_id=found.id))


def _hinted(member: Member | None) -> Member | None:
    """Whose history the ladder hint counts: the member named, or (filing by Discord
    id) the member we already know under the id typed."""
    return member or _known_member(query_args.text(request.values, "platform_user_id", 64))


def _known_member(platform_user_id: str) -> Member | None:
    uid = platform_user_id.strip()
    return scoped().first(Member, Member.platform_user_id == uid) if uid else None


@bp.route("/actions/suggestions")
@roles_required(*MODS)
def suggestions():
    """The ladder's suggestions for a member named by Discord id (the action form
    asks when the id is typed, so the hint counts their earlier cases)."""
    return jsonify(_suggestions(_known_member(query_args.text(request.args, "platform_user_id", 64)), scoped().policy))


def _suggestions(member: Member | None, policy) -> dict:
    out = {}
    known = action_svc.suggest_sanctions(db(), member.id, policy) if member else {}
    for rule in policy.rules:
        if member is None:
            step, count, why = rule.ladder[0], 0, "a member not known yet: the ladder's first step"
        else:
            hint = known[rule.id]
            step, count, why = hint.step, hint.count, hint.why
        out[rule.id] = {"kind": step.kind.value, "label": step.describe(), "count": count,
                        "duration": _short(step.duration), "why": why}
    return out


def _short(delta) -> str:
    if delta is None:
        return ""
    s = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


@bp.route("/actions/new", methods=["GET", "POST"])
@roles_required(*MODS)
def new_action():
    session = db()
    policy = scoped().policy
    flag_id, member_id = query_args.optional_id(request.values, "flag"), query_args.optional_id(request.values, "member")
    flag_row = _get(Flag, flag_id, "flag") if flag_id else None
    member_row = None
    if member_id:
        member_row = _get(Member, member_id, "member")
    elif flag_row:
        member_row = _get(Member, flag_row.author_id, "member")
    preview, unkept = None, {}
    holder = listing.holders(session, ClaimSubject.flag, [flag_row.id]).get(flag_row.id) if flag_row else None
    if request.method == "POST":
        try:
            # A new member is created by the service, in the action's transaction (and audited).
            req = NewAction(
                member_id=member_row.id if member_row else None,
                platform_user_id=request.form.get("platform_user_id", ""),
                display_name=request.form.get("display_name", ""),
                kind=request.form.get("kind", ""), rules=request.form.getlist("rule"),
                public_reason=request.form.get("public_reason", ""), facts=request.form.get("facts", ""),
                private_note=request.form.get("private_note", ""), duration=forms.duration(request.form.get("duration")),
                evidence=forms.evidence(request),
                delete_message_seconds=forms.int_field(request.form.get("delete_message_seconds") or "0",
                                                       "delete_message_seconds"))
            if request.form.get("preview"):
                preview = action_svc.preview_action(session, actor(), req)
                unkept = forms.chosen_files(request)
            else:
                if flag_row:
                    created = flag_svc.act_on_flag(session, actor(), flag_row.id, req)
                else:
                    created = action_svc.file_action(session, actor(), req)
                if created.status == "pending_cosign":
                    flash(f"Case #{created.id} waits for a second signature before it takes effect.", "info")
                else:
                    flash(f"Case #{created.id} filed.", "info")
                return redirect(url_for("dashboard.action", action_id=created.id))
        except DomainError as e:
            flash(e.message, "error")
            status = e.http_status
            return render_template("dashboard/new_action.html", policy=policy, member=member_row, flag=flag_row,
                                   form=request.form, preview=None, rows=_evidence_rows(policy, flag_row),
                                   holder=holder,
                                   suggestions=json.dumps(_suggestions(_hinted(member_row), policy)),
                                   unkept_files=forms.chosen_files(request)), status
    return render_template("dashboard/new_action.html", policy=policy, member=member_row, flag=flag_row,
                           form=request.form, preview=preview, rows=_evidence_rows(policy, flag_row), holder=holder,
                           suggestions=json.dumps(_suggestions(_hinted(member_row), policy)), unkept_files=unkept)


def _evidence_rows(policy, flag_row: Flag | None) -> tuple[int, int]:
    """(text rows, file rows) within the policy's maximum; on a flag, the message is one item."""
    return forms.evidence_rows(policy.evidence.max_items_per_action - (1 if flag_row else 0))


@bp.route("/actions/<int:action_id>")
@roles_required(*STAFF)
def action(action_id: int):
    a = _get(Action, action_id, "case")
    return render_template("dashboard/action.html", action=a, member=_get(Member, a.member_id, "member"),
                           sor=queries.statement_of_reasons(db(), a.id),
                           evidence=queries.evidence_for(db(), a.id, include_private=True),
                           appeals=queries.appeals_of_action(db(), a.id), names=queries.staff_names(db(), a.community_id),
                           link=appeal_link(a) if a.status in ("active", "expired") else None,
                           discord=discord_overview.for_case(db(), a), policy=scoped().policy)


@bp.route("/actions/<int:action_id>/discord/retry", methods=["POST"])
@roles_required(*STAFF)
def retry_discord(action_id: int):
    a = _get(Action, action_id, "case")
    count = enforcement.retry(db(), actor(), enforcement.view(db(), a).retry_ids, a.community_id)
    flash(f"Case #{action_id}: {count} Discord request(s) queued again.", "info")
    return redirect(url_for("dashboard.action", action_id=action_id))


@bp.route("/actions/<int:action_id>/discord/reasons", methods=["POST"])
@roles_required(*MODS)
def complete_discord_reasons(action_id: int):
    discord_cases.complete_statement(db(), actor(), action_id, request.form.getlist("rule"),
                                     request.form.get("public_reason", ""), request.form.get("facts", ""))
    flash(f"Case #{action_id}: statement of reasons complete; the member is told by DM.", "info")
    return redirect(url_for("dashboard.action", action_id=action_id))


@bp.route("/actions/<int:action_id>/cosign", methods=["POST"])
@roles_required(*MODS)
def cosign(action_id: int):
    action_svc.cosign_action(db(), actor(), action_id)
    flash(f"Case #{action_id} co-signed; it is now in force.", "info")
    return redirect(url_for("dashboard.action", action_id=action_id))


@bp.route("/actions/<int:action_id>/revoke", methods=["POST"])
@roles_required(*MODS)
def revoke(action_id: int):
    action_svc.revoke_action(db(), actor(), action_id, request.form.get("reason", ""))
    flash(f"Case #{action_id} revoked.", "info")
    return redirect(url_for("dashboard.action", action_id=action_id))


@bp.route("/evidence/<int:evidence_id>/file")
@roles_required(*STAFF)
def evidence_file(evidence_id: int):
    ev = _get(Evidence, evidence_id, "evidence")
    if ev.blob is None:
        abort(404, "this evidence item has no file")
    return attachment(ev)


def attachment(ev: Evidence) -> Response:
    """Files are only ever served as downloads, with their sniffed type."""
    # send_file writes Content-Disposition per RFC 6266/5987: an ASCII `filename`
    # and, for any other name, `filename*=UTF-8''...`. A raw non-Latin name in the
    # header made gunicorn answer 500 (headers are Latin-1 on the wire).
    response = send_file(io.BytesIO(ev.blob), mimetype=ev.mime_type, as_attachment=True,
                         download_name=ev.filename or "evidence", etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route("/appeals/<int:appeal_id>")
@roles_required(*STAFF)
def appeal(appeal_id: int):
    ap = _get(Appeal, appeal_id, "appeal")
    act = _get(Action, ap.action_id, "case")
    me = staff()
    conflict = permissions.conflicted(act, me.id)
    return render_template("dashboard/appeal.html", appeal=ap, action=act, member=_get(Member, ap.appellant_id, "member"),
                           evidence=queries.evidence_for(db(), act.id, include_private=True),
                           attachments=queries.appeal_attachments(db(), ap.id),
                           sor=queries.statement_of_reasons(db(), act.id), thread=queries.thread(db(), ap.id),
                           names=queries.staff_names(db(), ap.community_id), conflict=conflict,
                           role_in_case="filed" if act.moderator_id == me.id else "co-signed",
                           sla=queries.sla(ap), policy=scoped().policy,
                           holder=listing.holders(db(), ClaimSubject.appeal, [ap.id]).get(ap.id))


# The verbs are listed: a catch-all `<verb>` would also take /appeals/<id>/claim and
# /release, the workspace's claim routes.
@bp.route("/appeals/<int:appeal_id>/<any(review, 'hand-back', message, escalate, decide):verb>", methods=["POST"])
@roles_required(*MODS)
def appeal_verb(appeal_id: int, verb: str):
    session, who = db(), actor()
    if verb == "review":
        appeal_svc.start_review(session, who, appeal_id)
        flash("You are now reviewing this appeal, and you hold it.", "info")
    elif verb == "hand-back":
        appeal_svc.release_review(session, who, appeal_id)
        flash("Appeal handed back to the queue.", "info")
    elif verb == "message":
        appeal_svc.add_message(session, who, appeal_id, request.form.get("body", ""))
        flash(f"Message added to the thread of appeal #{appeal_id}.", "info")
    elif verb == "escalate":
        appeal_svc.escalate_appeal(session, who, appeal_id, request.form.get("reason", ""),
                                   request.form.get("recommendation", ""))
        flash("Escalated to leadership.", "info")
    else:
        decide_appeal(session, who, appeal_id, decision_from_form())
        flash("Decision recorded; the member can read it now.", "info")
    return redirect(url_for("dashboard.appeal", appeal_id=appeal_id))


def decision_from_form() -> Decision:
    outcome = request.form.get("outcome", "")
    modification = None
    if outcome == "modified":
        modification = Modification(request.form.get("new_kind", ""), forms.duration(request.form.get("new_duration")))
    return Decision(outcome, request.form.get("reasons", ""), modification)
