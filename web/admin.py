"""Admin: staff accounts and roles, the loaded policy and its versions."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from modsys import permissions
from modsys.adapters.discord import drift, enforcement
from modsys.adapters.discord import overview as discord_overview
from modsys.adapters.discord.webhooks import list_webhooks
from modsys.domain.models import Role
from modsys.domain.policy import policy_problem
from modsys.permissions import Cap
from modsys.reads import listing, queries
from modsys.reads.calibration import by_language, evaluation
from modsys.reads.reporter_names import name_reporters
from modsys.runtime import delivery
from modsys.services import api_keys, reporting
from modsys.services import staff as staff_svc
from web.context import actor, db, scoped, staff, state
from web.forms import int_field
from web.security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
ADMINS = permissions.roles_with(Cap.administer)


@bp.route("")
@roles_required(*ADMINS)
def index():
    me = staff()
    policy = scoped().policy
    misuse = reporting.misuse_numbers(db(), me.community_id)
    return render_template("admin/index.html", users=queries.staff_accounts(db(), me.community_id), policy=policy,
                           versions=queries.policy_versions(db(), me.community_id), roles=list(Role),
                           keys=api_keys.list_api_keys(db(), actor(), me.community_id),
                           webhooks=list_webhooks(db(), me.community_id),
                           dead=queries.dead_letters(db(), me.community_id),
                           calibrations=evaluation(db(), me.community_id, policy),
                           languages=by_language(db(), me.community_id, policy),
                           discord=discord_overview.admin_overview(db(), me.community_id, state().settings),
                           fixes=drift.FIXES, policy_problem=policy_problem(policy.source),
                           misuse=misuse,
                           reporter_names=name_reporters(db(), me.community_id,
                                                         [r.reporter_key for r in misuse.suspended]),
                           verification=listing.last_verification(db()))


@bp.route("/discord/retry", methods=["POST"])
@roles_required(*ADMINS)
def retry_discord():
    ids = [int_field(i, "enforcement id") for i in request.form.getlist("id")]
    count = enforcement.retry(db(), actor(), ids, staff().community_id)
    flash(f"{count} Discord request(s) queued again.", "info")
    return redirect(url_for("admin.index", _anchor="discord"))


@bp.route("/discord/drift/check", methods=["POST"])
@roles_required(*ADMINS)
def check_drift_now():
    drift.request_check(db(), actor(), staff().community_id)
    flash("Drift check requested: the scheduler runs it within a minute; reload this page to see its findings.",
          "info")
    return redirect(url_for("admin.index", _anchor="discord"))


@bp.route("/discord/drift/<int:drift_id>/<how>", methods=["POST"])
@roles_required(*ADMINS)
def fix_drift(drift_id: int, how: str):
    finding = drift.fix(db(), actor(), drift_id, how)
    flash(f"Drift fixed: {finding.resolution}.", "info")
    return redirect(url_for("admin.index", _anchor="discord"))


@bp.route("/staff/<int:user_id>/discord", methods=["POST"])
@roles_required(*ADMINS)
def set_discord_id(user_id: int):
    user = staff_svc.set_discord_user_id(db(), actor(), user_id, request.form.get("discord_user_id", ""))
    flash(f"{user.username}: Discord user {user.discord_user_id or '(none)'}.", "info")
    return redirect(url_for("admin.index"))


def shown_once(title: str, what: str, secret: str):
    """A new secret, in this response only: never in a flash message, which
    travels in the session cookie (signed, not encrypted: anyone holding the
    cookie can read it), and never stored. /admin responses are no-store."""
    return render_template("admin/shown_once.html", title=title, what=what, secret=secret), 201


@bp.route("/apikeys", methods=["POST"])
@roles_required(*ADMINS)
def create_api_key():
    key, plaintext = api_keys.create_api_key(db(), actor(), staff().community_id, request.form.get("name", ""),
                                             request.form.get("role", ""), request.form.get("acts_as") or None)
    return shown_once(f"API key {key.name!r} created", "The key", plaintext)


@bp.route("/apikeys/<int:key_id>/revoke", methods=["POST"])
@roles_required(*ADMINS)
def revoke_api_key(key_id: int):
    key = api_keys.revoke_api_key(db(), actor(), key_id, staff().community_id)
    flash(f"API key {key.name!r} revoked.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/outbox/retry", methods=["POST"])
@roles_required(*ADMINS)
def retry_outbox():
    ids = [int_field(i, "message id") for i in request.form.getlist("id")]
    count = delivery.retry(db(), actor(), ids or None, dead=not ids, community_id=staff().community_id)
    flash(f"{count} notification(s) queued again.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/staff", methods=["POST"])
@roles_required(*ADMINS)
def create_staff():
    password = staff_svc.generate_password()
    user = staff_svc.create_staff(db(), actor(), staff().community_id, request.form.get("username", "").strip(),
                                  request.form.get("role", ""), password)
    return shown_once(f"Created {user.role} {user.username}", "Their password", password)


@bp.route("/staff/<int:user_id>/role", methods=["POST"])
@roles_required(*ADMINS)
def set_role(user_id: int):
    user = staff_svc.set_role(db(), actor(), user_id, request.form.get("role", ""))
    flash(f"{user.username} is now {user.role}.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/staff/<int:user_id>/password", methods=["POST"])
@roles_required(*ADMINS)
def reset_password(user_id: int):
    """A generated password, shown in this response only: never stored in the
    session cookie or a flash message, and not cached."""
    user, password = staff_svc.reset_password(db(), actor(), user_id)
    response = make_response(render_template("admin/password_reset.html", user=user, password=password))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/staff/<int:user_id>/active", methods=["POST"])
@roles_required(*ADMINS)
def set_active(user_id: int):
    active = int_field(request.form.get("active", ""), "active") == 1
    user = staff_svc.set_active(db(), actor(), user_id, active)
    flash(f"{user.username} {'reactivated' if active else 'deactivated and logged out everywhere'}.", "info")
    return redirect(url_for("admin.index"))
