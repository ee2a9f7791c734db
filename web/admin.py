"""Admin: staff accounts and roles, the loaded policy and its versions."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlmodel import select

from modsys.community import policy_for
from modsys.models import PolicyVersion, Role, StaffUser
from modsys.services import staff as staff_svc
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
    return render_template("admin/index.html", users=users, policy=policy_for(db(), me.community_id),
                           versions=versions, roles=list(Role))


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
