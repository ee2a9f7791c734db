"""Admin: staff accounts and roles, the loaded policy and its versions."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlmodel import select

from modsys import delivery
from modsys.calibration import evaluation
from modsys.community import policy_for
from modsys.models import OutboxMessage, OutboxStatus, PolicyVersion, Role, StaffUser
from modsys.services import api_keys
from modsys.services import staff as staff_svc
from modsys.webhooks import list_webhooks
from web.context import actor, db, staff
from web.forms import int_field
from web.security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("")
@roles_required(Role.admin)
def index():
    me = staff()
    users = db().exec(select(StaffUser).where(StaffUser.community_id == me.community_id).order_by(StaffUser.username)).all()
    versions = db().exec(select(PolicyVersion).where(PolicyVersion.community_id == me.community_id)
                         .order_by(PolicyVersion.loaded_at.desc())).all()
    policy = policy_for(db(), me.community_id)
    dead = db().exec(select(OutboxMessage).where(OutboxMessage.community_id == me.community_id,
                                                 OutboxMessage.status == OutboxStatus.dead)
                     .order_by(OutboxMessage.id.desc()).limit(50)).all()
    return render_template("admin/index.html", users=users, policy=policy, versions=versions, roles=list(Role),
                           keys=api_keys.list_api_keys(db(), actor(), me.community_id),
                           webhooks=list_webhooks(db(), me.community_id),
                           dead=dead, calibrations=evaluation(db(), me.community_id, policy))


@bp.route("/apikeys", methods=["POST"])
@roles_required(Role.admin)
def create_api_key():
    key, plaintext = api_keys.create_api_key(db(), actor(), staff().community_id, request.form.get("name", ""),
                                             request.form.get("role", ""), request.form.get("acts_as") or None)
    flash(f"API key {key.name!r} created. Copy it now, it is shown only once: {plaintext}", "info")
    return redirect(url_for("admin.index"))


@bp.route("/apikeys/<int:key_id>/revoke", methods=["POST"])
@roles_required(Role.admin)
def revoke_api_key(key_id: int):
    key = api_keys.revoke_api_key(db(), actor(), key_id, staff().community_id)
    flash(f"API key {key.name!r} revoked.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/outbox/retry", methods=["POST"])
@roles_required(Role.admin)
def retry_outbox():
    ids = [int_field(i, "message id") for i in request.form.getlist("id")]
    count = delivery.retry(db(), actor(), ids or None, dead=not ids, community_id=staff().community_id)
    flash(f"{count} notification(s) queued again.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/staff", methods=["POST"])
@roles_required(Role.admin)
def create_staff():
    password = staff_svc.generate_password()
    user = staff_svc.create_staff(db(), actor(), staff().community_id, request.form.get("username", "").strip(),
                                  request.form.get("role", ""), password)
    flash(f"Created {user.role} {user.username}. Their password (shown once): {password}", "info")
    return redirect(url_for("admin.index"))


@bp.route("/staff/<int:user_id>/role", methods=["POST"])
@roles_required(Role.admin)
def set_role(user_id: int):
    user = staff_svc.set_role(db(), actor(), user_id, request.form.get("role", ""))
    flash(f"{user.username} is now {user.role}.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/staff/<int:user_id>/active", methods=["POST"])
@roles_required(Role.admin)
def set_active(user_id: int):
    active = int_field(request.form.get("active", ""), "active") == 1
    user = staff_svc.set_active(db(), actor(), user_id, active)
    flash(f"{user.username} {'reactivated' if active else 'deactivated and logged out everywhere'}.", "info")
    return redirect(url_for("admin.index"))
