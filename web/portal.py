"""The appeal portal for sanctioned members: no account, one signed link per case.

What the member can do with the link: read the statement of reasons and the
public evidence, file one appeal, follow it (status, SLA, thread), withdraw
it, and read the reasoned decision. Which case a link opens, its expiry and
grace, whether an appeal may be filed and which files may be downloaded are
decided in `modsys.reads.appeal_portal`; this module renders them. The JSON uses
the API's pydantic serializers (`web.api_schemas`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from werkzeug.datastructures import FileStorage

from modsys.domain.actors import Actor
from modsys.domain.errors import DomainError
from modsys.domain.models import (
    Appeal,
    AppealStatus,
    Evidence,
    EvidenceKind,
    Visibility,
)
from modsys.domain.policy import format_duration
from modsys.reads import appeal_portal as portal
from modsys.reads.appeal_portal import AppealView, Case
from modsys.services import appeals as appeal_svc
from modsys.services.evidence import EvidenceInput
from web import api_schemas as s
from web.context import db, state
from web.dashboard import attachment
from web.extensions import limiter

bp = Blueprint("portal", __name__, url_prefix="/appeal")

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


def _case(token: str) -> Case:
    return portal.open_case(db(), state().secret_key, token)


def _context(case: Case) -> dict[str, Any]:
    view = portal.case_view(db(), case)
    return {
        "case": case, "action": case.action, "member": case.member, "policy": case.policy,
        "sor": view.sor, "evidence": view.evidence, "appeals": view.appeals, "can_appeal": view.can_appeal,
        "why_not": view.why_not, "cooldown_until": view.cooldown_until,
        "cooldown": format_duration(case.policy.appeals.cooldown),
    }


# --- JSON (the API's serializers) ------------------------------------------------


def _evidence_json(case: Case, ev: Evidence) -> dict[str, Any]:
    assert ev.visibility == Visibility.public  # belt and braces: the read model only returns public items
    item = s.PublicEvidenceOut.model_validate(ev, from_attributes=True)
    if ev.kind == EvidenceKind.file:
        item = item.model_copy(update={"download_url": url_for("portal.evidence_file", token=case.token,
                                                                   evidence_id=ev.id), "content": None})
    else:
        item = item.model_copy(update={"filename": None, "mime_type": None, "size": None})
    return item.model_dump(mode="json", exclude_none=True)


def _sor_json(sor) -> dict[str, Any] | None:
    return None if sor is None else s.StatementOut.model_validate(sor, from_attributes=True).model_dump(mode="json")


def _action_json(action) -> dict[str, Any]:
    # Explicit fields only: never private_note, moderator ids or the flag.
    return s.PublicActionOut.model_validate(action, from_attributes=True).model_dump(mode="json")


def _appeal_json(case: Case, view: AppealView) -> dict[str, Any]:
    ap = view.appeal
    sla = view.sla
    out: dict[str, Any] = {
        "id": ap.id, "status": ap.status, "statement": ap.statement, "submitted_at": _iso(ap.submitted_at),
        "due_at": _iso(sla.due) if sla else None, "sla_state": sla.state if sla else None,
        "escalated_to_leadership": ap.escalated_at is not None,
        "attachments": [_evidence_json(case, e) for e in view.attachments],
        "thread": [{"from": "you" if m.author_member_id else "moderation team", "body": m.body,
                    "at": _iso(m.created_at)} for m in view.thread],
        "withdrawn_at": _iso(ap.withdrawn_at),
        "url": url_for("portal.appeal", token=case.token, appeal_id=ap.id),
        "decision": None,
    }
    if ap.status == AppealStatus.decided:
        statement = view.official_statement
        out["decision"] = {
            "outcome": ap.outcome, "reasons": ap.outcome_reasons, "decided_at": _iso(ap.decided_at),
            "decided_by": view.decided_by, "further_redress": case.policy.appeals.redress,
            "new_sanction": ({**_action_json(view.replacement), "statement_of_reasons": _sor_json(view.replacement_sor)}
                             if view.replacement else None),
            "official_statement": {"title": statement.title, "body": statement.body} if statement else None,
        }
    return out


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _case_json(case: Case) -> Response:
    ctx = _context(case)
    return jsonify({
        "case": _action_json(case.action),
        "member": {"display_name": case.member.display_name},
        "statement_of_reasons": _sor_json(ctx["sor"]),
        "evidence": [_evidence_json(case, e) for e in ctx["evidence"]],
        "link": {"expires_at": _iso(case.expires_at), "expired_but_following_appeal": case.grace},
        "can_appeal": ctx["can_appeal"], "why_not": ctx["why_not"] or None,
        "appeals": [_appeal_json(case, portal.appeal_view(db(), ap)) for ap in ctx["appeals"]],
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
        current = portal.current_appeal(db(), c)
        if current is not None:
            flash(f"We already have your appeal for this case (appeal #{current.id}); nothing new was filed. "
                  "Here is where it stands.", "info")
            return redirect(url_for("portal.appeal", token=token, appeal_id=current.id), 303)
        # Otherwise show the form again with the member's text kept, and what to fix.
        return render_template("portal/case.html", **_context(c), statement=statement, error=e.message), e.http_status
    flash(f"Your appeal (#{ap.id}) was received. A moderator who was not involved in your case will review it.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)


def _appeal_page(c: Case, ap: Appeal, body: str = "", error: str | None = None) -> str:
    view = portal.appeal_view(db(), ap)
    return render_template("portal/appeal.html", case=c, action=c.action, member=c.member, policy=c.policy,
                           cooldown=format_duration(c.policy.appeals.cooldown), appeal=ap, sla=view.sla,
                           thread=view.thread, attachments=view.attachments, decided_by=view.decided_by,
                           replacement=({"action": view.replacement, "sor": view.replacement_sor}
                                        if view.replacement else None),
                           official_statement=view.official_statement, is_open=view.is_open,
                           body=body, error=error)


@bp.route("/<token>/appeals/<int:appeal_id>")
@_per_ip
@_per_token
def appeal(token: str, appeal_id: int):
    c = _case(token)
    ap = portal.appeal_of(db(), c, appeal_id)
    if _wants_json():
        return jsonify(_appeal_json(c, portal.appeal_view(db(), ap)))
    return _appeal_page(c, ap)


@bp.route("/<token>/appeals/<int:appeal_id>/message", methods=["POST"])
@_per_ip
@_per_token
@_per_token_writes
def message(token: str, appeal_id: int):
    c = _case(token)
    ap = portal.appeal_of(db(), c, appeal_id)
    body = request.form.get("body", "")
    try:
        appeal_svc.add_message(db(), Actor.member(c.member), ap.id, body)
    except DomainError as e:
        return _appeal_page(c, ap, body=body, error=e.message), e.http_status
    flash("Your message was added to the thread.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id, _anchor="thread"), 303)


@bp.route("/<token>/appeals/<int:appeal_id>/withdraw", methods=["POST"])
@_per_ip
@_per_token
@_per_token_writes
def withdraw(token: str, appeal_id: int):
    c = _case(token)
    ap = portal.appeal_of(db(), c, appeal_id)
    if ap.status == AppealStatus.withdrawn:
        flash("This appeal is already withdrawn; nothing changed.", "info")  # a resent form
        return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)
    try:
        appeal_svc.withdraw_appeal(db(), Actor.member(c.member), ap.id)
    except DomainError as e:  # e.g. already decided: say so on the appeal's own page
        return _appeal_page(c, ap, error=e.message), e.http_status
    flash(f"You withdrew appeal #{ap.id}. You can appeal again after {format_duration(c.policy.appeals.cooldown)} "
          "if the appeal window is still open.", "info")
    return redirect(url_for("portal.appeal", token=token, appeal_id=ap.id), 303)


@bp.route("/<token>/evidence/<int:evidence_id>")
@_per_ip
@_per_token
def evidence_file(token: str, evidence_id: int):
    c = _case(token)
    return attachment(portal.downloadable_evidence(db(), c, evidence_id))
