"""The leadership desk: escalated appeals, final decisions, official statements."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from modsys import permissions
from modsys.domain.models import Action, Appeal, Member
from modsys.permissions import Cap
from modsys.reads import queries
from modsys.services.decisions import final_decision
from web.context import actor, db, scoped, staff
from web.dashboard import decision_from_form
from web.security import roles_required

bp = Blueprint("leadership", __name__, url_prefix="/leadership")
LEADERSHIP = permissions.roles_with(Cap.decide_final)


@bp.route("")
@roles_required(*LEADERSHIP)
def desk():
    me = staff()
    appeals = queries.escalated_appeals(db(), me.community_id)
    return render_template("leadership/desk.html", appeals=appeals, sla=queries.sla,
                           names=queries.staff_names(db(), me.community_id))


@bp.route("/appeals/<int:appeal_id>")
@roles_required(*LEADERSHIP)
def appeal(appeal_id: int):
    uow = scoped()
    ap = uow.get(Appeal, appeal_id, "appeal")
    act = uow.get(Action, ap.action_id, "case")
    member = uow.get(Member, ap.appellant_id, "member")
    return render_template("leadership/appeal.html", appeal=ap, action=act, member=member,
                           evidence=queries.evidence_for(db(), act.id, include_private=True),
                           attachments=queries.appeal_attachments(db(), ap.id),
                           sor=queries.statement_of_reasons(db(), act.id), thread=queries.thread(db(), ap.id),
                           names=queries.staff_names(db(), ap.community_id), sla=queries.sla(ap),
                           conflict=permissions.conflicted(act, staff().id),
                           history=queries.case_file(db(), member).actions, policy=uow.policy)


@bp.route("/appeals/<int:appeal_id>/decide", methods=["POST"])
@roles_required(*LEADERSHIP)
def decide(appeal_id: int):
    final_decision(db(), actor(), appeal_id, decision_from_form(),
                   statement_title=request.form.get("statement_title", ""),
                   statement_body=request.form.get("statement_body", ""))
    flash("Final decision recorded.", "info")
    return redirect(url_for("leadership.appeal", appeal_id=appeal_id))
