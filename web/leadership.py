"""The leadership desk: escalated appeals, final decisions, official statements."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from modsys import queries
from modsys.community import policy_for
from modsys.models import Action, Appeal, Member, Role
from modsys.services.decisions import final_decision
from web.context import actor, db, staff
from web.dashboard import decision_from_form
from web.security import roles_required

bp = Blueprint("leadership", __name__, url_prefix="/leadership")


@bp.route("")
@roles_required(Role.leadership)
def desk():
    me = staff()
    appeals = queries.escalated_appeals(db(), me.community_id)
    return render_template("leadership/desk.html", appeals=appeals, sla=queries.sla,
                           names=queries.staff_names(db(), me.community_id))


@bp.route("/appeals/<int:appeal_id>")
@roles_required(Role.leadership)
def appeal(appeal_id: int):
    ap = db().get(Appeal, appeal_id)
    if ap is None or ap.community_id != staff().community_id:
        abort(404, f"appeal {appeal_id} does not exist")
    act = db().get(Action, ap.action_id)
    return render_template("leadership/appeal.html", appeal=ap, action=act, member=db().get(Member, ap.appellant_id),
                           evidence=queries.evidence_for(db(), act.id, include_private=True),
                           sor=queries.statement_of_reasons(db(), act.id), thread=queries.thread(db(), ap.id),
                           names=queries.staff_names(db(), ap.community_id), sla=queries.sla(ap),
                           conflict=act.moderator_id == staff().id or act.cosigner_id == staff().id,
                           history=queries.case_file(db(), db().get(Member, ap.appellant_id)).actions,
                           policy=policy_for(db(), ap.community_id))


@bp.route("/appeals/<int:appeal_id>/decide", methods=["POST"])
@roles_required(Role.leadership)
def decide(appeal_id: int):
    final_decision(db(), actor(), appeal_id, decision_from_form(),
                   statement_title=request.form.get("statement_title", ""),
                   statement_body=request.form.get("statement_body", ""))
    flash("Final decision recorded.", "info")
    return redirect(url_for("leadership.appeal", appeal_id=appeal_id))
