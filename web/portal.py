"""The appeal portal for sanctioned members: no account, one signed link per case.

The link (`modsys.portal_links`) is bound to one action and one member and
expires at the end of the appeal window. What the member can do with it:
read the statement of reasons and the public evidence, file one appeal, follow
it (status, SLA, thread), withdraw it, and read the reasoned decision.

Expiry rule (one rule, kept here): an expired link is refused, EXCEPT when the
case has an appeal to follow: an open appeal, or a decided one for as long as
the policy's appeal window (`appeals.window`) after its decision. Under that
grace the link still only reaches its own case; the services keep refusing
what the state no longer allows (a new appeal after the window closed, a
message on a decided appeal), so the grace can't reopen anything. Nothing new
to keep or re-send: the member's original link keeps working while they have
a reason to use it, and stops when they don't.

Private evidence never leaves through here: every read goes through
`queries.evidence_for(..., include_private=False)` or checks visibility itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from sqlmodel import select
from werkzeug.datastructures import FileStorage

from modsys import clock, portal_links, queries
from modsys.actors import Actor
from modsys.community import policy_for
from modsys.errors import DomainError, NotFound
from modsys.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Appeal,
    AppealStatus,
    Evidence,
    EvidenceKind,
    Member,
    OfficialStatement,
    StaffUser,
    Visibility,
)
from modsys.policy import Policy, format_duration
from modsys.services import appeals as appeal_svc
from modsys.services.appeals import APPEALABLE_STATUSES
from modsys.services.evidence import EvidenceInput
from web.context import db, state
from web.dashboard import attachment
from web.extensions import limiter

bp = Blueprint("portal", __name__, url_prefix="/appeal")

INVALID_LINK = "This appeal link is not valid. Check that you copied all of it, or ask the moderation team for your link."
FOREIGN_LINK = "This appeal link does not belong to this case. Use the link you received for your own case."
SLOW_DOWN = "Too many requests in a short time. Wait a minute, then try again."


# --- rate limits -------------------------------------------------------------
# Per IP across the whole portal (guessing tokens costs the guesser), and per
# IP + token so one case can't be hammered. The token is hashed in the key so
# the limiter's storage never holds a usable link.

def _ip_and_token() -> str:
    token = (request.view_args or {}).get("token", "")
    return f"{get_remote_address()}|{hashlib.sha256(token.encode()).hexdigest()[:32]}"


_per_ip = limiter.shared_limit("120 per minute; 2000 per day", scope="portal-ip", key_func=get_remote_address,
                               error_message=SLOW_DOWN)
_per_token = limiter.shared_limit("60 per minute", scope="portal-token", key_func=_ip_and_token,
                                  error_message=SLOW_DOWN)
_per_token_writes = limiter.shared_limit("10 per minute; 100 per day", scope="portal-token-writes",
                                         key_func=_ip_and_token, methods=["POST"], error_message=SLOW_DOWN)


# --- the case behind a link ------------------------------------------------


@dataclass
class Case:
    token: str
    action: Action
    member: Member
    policy: Policy
    expires_at: datetime
    grace: bool  # the link expired; it works only because there is an appeal to follow


class LinkProblem(DomainError):
    """A link that can't be used; carries its own status (404 invalid, 403 foreign, 410 expired)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.http_status = status


def _grace_allowed(action: Action, policy: Policy) -> bool:
    """The expiry rule above: an open appeal, or one decided within the policy's window."""
    now = clock.now()
    for ap in queries.appeals_of_action(db(), action.id):  # type: ignore[arg-type]
        if ap.status in OPEN_APPEAL_STATES:
            return True
        if ap.status == AppealStatus.decided and ap.decided_at and now <= ap.decided_at + policy.appeals.window:
            return True
    return False


def _case(token: str) -> Case:
    try:
        action_id, member_id, expires_at = portal_links.decode_token(state().secret_key, token)
    except NotFound:
        raise LinkProblem(INVALID_LINK, 404) from None
    grace = clock.now() > expires_at
    action = db().get(Action, action_id)
    if action is None or action.status == ActionStatus.pending_cosign:
        raise LinkProblem(INVALID_LINK, 404)  # not (yet) in force: nothing to show
    if action.member_id != member_id:
        raise LinkProblem(FOREIGN_LINK, 403)
    member = db().get(Member, member_id)
    if member is None:
        raise LinkProblem(INVALID_LINK, 404)
    policy = policy_for(db(), action.community_id)
    if grace and not _grace_allowed(action, policy):
        raise LinkProblem(
            f"This appeal link expired on {expires_at:%Y-%m-%d %H:%M} UTC, when the appeal window for this case "
            "closed, and there is no appeal to follow. If you think this is wrong, contact the moderation team.", 410)
    return Case(token, action, member, policy, expires_at, grace)


def _appeal_of(case: Case, appeal_id: int) -> Appeal:
    ap = db().get(Appeal, appeal_id)
    if ap is None or ap.action_id != case.action.id or ap.appellant_id != case.member.id:
        raise NotFound(f"there is no appeal #{appeal_id} for this case")
    return ap


# --- what the member may see -------------------------------------------------


def _sanction(action: Action) -> dict[str, Any]:
    sor = queries.statement_of_reasons(db(), action.id)  # type: ignore[arg-type]
    return {"action": action, "sor": sor}


def _decided_by(ap: Appeal) -> str:
    user = db().get(StaffUser, ap.decided_by_id) if ap.decided_by_id else None
    if user is not None and user.role == "leadership":
        return "leadership"
    return "a moderator who was not involved in the original decision"


def _appeal_view(case: Case, ap: Appeal) -> dict[str, Any]:
    attachments = [e for e in _appeal_files(ap) if e.visibility == Visibility.public]
    statement = db().exec(select(OfficialStatement).where(OfficialStatement.appeal_id == ap.id)).first()
    return {
        "appeal": ap,
        "sla": queries.sla(ap),
        "thread": queries.thread(db(), ap.id),  # type: ignore[arg-type]
        "attachments": attachments,
        "decided_by": _decided_by(ap) if ap.status == AppealStatus.decided else None,
        "replacement": _sanction(db().get(Action, ap.modified_action_id)) if ap.modified_action_id else None,
        "official_statement": statement,
        "is_open": ap.status in OPEN_APPEAL_STATES,
    }


def _appeal_files(ap: Appeal) -> list[Evidence]:
    return list(db().exec(select(Evidence).where(Evidence.appeal_id == ap.id).order_by(Evidence.id)))


def _can_appeal(case: Case, appeals: list[Appeal]) -> tuple[bool, str]:
    """Whether to offer the form, and if not, why (the service has the last word on POST)."""
    a = case.action
    for ap in appeals:
        if ap.status in OPEN_APPEAL_STATES:
            return False, "Your appeal is open: open it above to follow it and to answer the moderators."
        if ap.status == AppealStatus.decided:
            return False, "Your appeal was decided: open it above to read the decision and its reasons."
    if not a.appealable or a.kind not in case.policy.appeals.appealable_kinds:
        return False, f"A {a.kind} can't be appealed under this community's policy."
    if a.status not in APPEALABLE_STATUSES:
        return False, "This sanction was lifted or replaced; there is nothing left to appeal."
    if case.grace or a.appeal_deadline is None or clock.now() > a.appeal_deadline:
        return False, "The appeal window for this case has closed."
    return True, ""


def _context(case: Case) -> dict[str, Any]:
    appeals = queries.appeals_of_action(db(), case.action.id)  # type: ignore[arg-type]
    can, why_not = _can_appeal(case, appeals)
    last = appeals[0] if appeals else None
    cooldown_until = None
    if last is not None and last.status == AppealStatus.withdrawn and last.withdrawn_at:
        cooldown_until = last.withdrawn_at + case.policy.appeals.cooldown
    return {
        "case": case, "action": case.action, "member": case.member, "policy": case.policy,
        "sor": queries.statement_of_reasons(db(), case.action.id),  # type: ignore[arg-type]
        "evidence": queries.evidence_for(db(), case.action.id, include_private=False),  # type: ignore[arg-type]
        "appeals": appeals, "can_appeal": can, "why_not": why_not,
        "cooldown_until": cooldown_until if cooldown_until and cooldown_until > clock.now() else None,
        "cooldown": format_duration(case.policy.appeals.cooldown),
    }


# --- JSON ---------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _evidence_json(case: Case, ev: Evidence) -> dict[str, Any]:
    assert ev.visibility == Visibility.public  # belt and braces: callers only pass public items
    item: dict[str, Any] = {"id": ev.id, "kind": ev.kind, "created_at": _iso(ev.created_at), "sha256": ev.sha256}
    if ev.kind == EvidenceKind.file:
        item.update(filename=ev.filename, mime_type=ev.mime_type, size=ev.size,
                    download_url=url_for("portal.evidence_file", token=case.token, evidence_id=ev.id))
    else:
        item["content"] = ev.content
    return item


def _sor_json(sor) -> dict[str, Any] | None:
    if sor is None:
        return None
    return {"decision_ground": sor.decision_ground, "category": sor.category, "decision_account": sor.decision_account,
            "measure": sor.measure, "end_date_account_restriction": _iso(sor.end_date_account_restriction),
            "decision_facts": sor.decision_facts, "ground_reference": sor.ground_reference,
            "ground_explanation": sor.ground_explanation, "automated_detection": sor.automated_detection,
            "automated_decision": sor.automated_decision, "redress": sor.redress, "created_at": _iso(sor.created_at)}


def _action_json(action: Action) -> dict[str, Any]:
    # Explicit fields only: never private_note, moderator ids or the flag.
    return {"id": action.id, "kind": action.kind, "status": action.status, "rules": action.rules,
            "public_reason": action.public_reason, "starts_at": _iso(action.starts_at), "ends_at": _iso(action.ends_at),
            "appeal_deadline": _iso(action.appeal_deadline)}


def _appeal_json(case: Case, view: dict[str, Any]) -> dict[str, Any]:
    ap: Appeal = view["appeal"]
    sla = view["sla"]
    out: dict[str, Any] = {
        "id": ap.id, "status": ap.status, "statement": ap.statement, "submitted_at": _iso(ap.submitted_at),
        "due_at": _iso(sla.due) if sla else None, "sla_state": sla.state if sla else None,
        "escalated_to_leadership": ap.escalated_at is not None,
        "attachments": [_evidence_json(case, e) for e in view["attachments"]],
        "thread": [{"from": "you" if m.author_member_id else "moderation team", "body": m.body,
                    "at": _iso(m.created_at)} for m in view["thread"]],
        "withdrawn_at": _iso(ap.withdrawn_at),
        "url": url_for("portal.appeal", token=case.token, appeal_id=ap.id),
        "decision": None,
    }
    if ap.status == AppealStatus.decided:
        replacement = view["replacement"]
        out["decision"] = {
            "outcome": ap.outcome, "reasons": ap.outcome_reasons, "decided_at": _iso(ap.decided_at),
            "decided_by": view["decided_by"], "further_redress": case.policy.appeals.redress,
            "new_sanction": ({**_action_json(replacement["action"]), "statement_of_reasons": _sor_json(replacement["sor"])}
                             if replacement else None),
            "official_statement": ({"title": view["official_statement"].title, "body": view["official_statement"].body}
                                   if view["official_statement"] else None),
        }
    return out


def _case_json(case: Case) -> Response:
    ctx = _context(case)
    return jsonify({
        "case": _action_json(case.action),
        "member": {"display_name": case.member.display_name},
        "statement_of_reasons": _sor_json(ctx["sor"]),
        "evidence": [_evidence_json(case, e) for e in ctx["evidence"]],
        "link": {"expires_at": _iso(case.expires_at), "expired_but_following_appeal": case.grace},
        "can_appeal": ctx["can_appeal"], "why_not": ctx["why_not"] or None,
        "appeals": [_appeal_json(case, _appeal_view(case, ap)) for ap in ctx["appeals"]],
    })


def _wants_json() -> bool:
    if request.path.endswith(".json"):
        return True
    # Browsers and `*/*` get HTML; only a client that prefers JSON gets JSON.
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


@bp.errorhandler(DomainError)
def _problem(e: DomainError):
    if _wants_json():
        return jsonify({"error": e.message}), e.http_status
    return render_template("portal/problem.html", code=e.http_status, message=e.message), e.http_status


# --- pages --------------------------------------------------------------------


@bp.route("/<token>.json")
@_per_ip
@_per_token
def case_json(token: str):
    return _case_json(_case(token))


@bp.route("/<token>")
@_per_ip
@_per_token
def case(token: str):
    c = _case(token)
    response = make_response(_case_json(c) if _wants_json()
                             else render_template("portal/case.html", **_context(c), statement=""))
    response.vary.add("Accept")
    return response


def _uploads() -> list[EvidenceInput]:
    files: list[FileStorage] = [f for f in request.files.getlist("attachments") if f and f.filename]
    return [EvidenceInput(kind=EvidenceKind.file, visibility=Visibility.public, data=f.read(), filename=f.filename or "")
            for f in files]


@bp.route("/<token>/appeal", methods=["POST"])
@_per_ip
@_per_token
@_per_token_writes
def submit(token: str):
    c = _case(token)
    statement = request.form.get("statement", "")
    try:
        ap = appeal_svc.submit_appeal(db(), Actor.member(c.member), c.action.id, statement, _uploads())
    except DomainError as e:
        # A second click, a resent form, a race (Conflict), or a form sent again after
        # the decision: the case already has its appeal, so show it calmly.
        existing = queries.appeals_of_action(db(), c.action.id)  # type: ignore[arg-type]
        current = next((a for a in existing if a.status in (*OPEN_APPEAL_STATES, AppealStatus.decided)), None)
        if current is not None:
            flash(f"We already have your appeal for this case (appeal #{current.id}); nothing new was filed. "
                  "Here is where it stands.", "info")
            return redirect(url_for("portal.appeal", token=token, appeal_id=current.id), 303)
        # Otherwise show the form again with the member's text kept, and what to fix.
        return render_template("portal/case.html", **_context(c), statement=statement, error=e.message), e.http_status
    flash(f"Your appeal (#{ap.id}) was received. A moderator who was not involved in your case will review it.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)


def _appeal_page(c: Case, ap: Appeal, body: str = "", error: str | None = None) -> str:
    return render_template("portal/appeal.html", case=c, action=c.action, member=c.member, policy=c.policy,
                           cooldown=format_duration(c.policy.appeals.cooldown), **_appeal_view(c, ap),
                           body=body, error=error)


@bp.route("/<token>/appeals/<int:appeal_id>")
@_per_ip
@_per_token
def appeal(token: str, appeal_id: int):
    c = _case(token)
    ap = _appeal_of(c, appeal_id)
    if _wants_json():
        return jsonify(_appeal_json(c, _appeal_view(c, ap)))
    return _appeal_page(c, ap)


@bp.route("/<token>/appeals/<int:appeal_id>/message", methods=["POST"])
@_per_ip
@_per_token
@_per_token_writes
def message(token: str, appeal_id: int):
    c = _case(token)
    ap = _appeal_of(c, appeal_id)
    body = request.form.get("body", "")
    try:
        appeal_svc.add_message(db(), Actor.member(c.member), ap.id, body)
    except DomainError as e:
        db().refresh(ap)
        return _appeal_page(c, ap, body=body, error=e.message), e.http_status
    flash("Your message was added to the thread.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id, _anchor="thread"), 303)


@bp.route("/<token>/appeals/<int:appeal_id>/withdraw", methods=["POST"])
@_per_ip
@_per_token
@_per_token_writes
def withdraw(token: str, appeal_id: int):
    c = _case(token)
    ap = _appeal_of(c, appeal_id)
    if ap.status == AppealStatus.withdrawn:
        flash("This appeal is already withdrawn; nothing changed.", "info")  # a resent form
        return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)
    try:
        appeal_svc.withdraw_appeal(db(), Actor.member(c.member), ap.id)
    except DomainError as e:  # e.g. already decided: say so on the appeal's own page
        db().refresh(ap)
        return _appeal_page(c, ap, error=e.message), e.http_status
    flash(f"You withdrew appeal #{ap.id}. You can appeal again after {format_duration(c.policy.appeals.cooldown)} "
          "if the appeal window is still open.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)


@bp.route("/<token>/evidence/<int:evidence_id>")
@_per_ip
@_per_token
def evidence_file(token: str, evidence_id: int):
    c = _case(token)
    ev = db().get(Evidence, evidence_id)
    # Only public files of this case, or the member's own appeal attachments. A
    # private item reads exactly like a missing one: its existence isn't told.
    mine = False
    if ev is not None and ev.appeal_id is not None:
        owner = db().get(Appeal, ev.appeal_id)
        mine = owner is not None and owner.action_id == c.action.id and owner.appellant_id == c.member.id
    if (ev is None or ev.visibility != Visibility.public or ev.blob is None
            or not (ev.action_id == c.action.id or mine)):
        raise NotFound("there is no downloadable evidence with that number for this case")
    return attachment(ev)

