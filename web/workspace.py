"""The moderators' workspace: search, lists of cases and appeals, claims and
"my queue", the audit log browser, image thumbnails and two-factor settings.
Parse the request, call a read model or a service, render."""

from __future__ import annotations

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup

from modsys import permissions
from modsys.adapters import thumbnails
from modsys.community import policy_for
from modsys.domain.errors import ValidationFailed
from modsys.domain.models import ClaimSubject, Evidence
from modsys.domain.policy import format_duration
from modsys.permissions import Cap
from modsys.reads import listing, queries
from modsys.reads import search as search_mod
from modsys.services import claims as claim_svc
from modsys.services import evidence as evidence_svc
from modsys.services import two_factor as two_factor_svc
from web.context import actor, db, staff, state
from web.security import roles_required

bp = Blueprint("workspace", __name__)
STAFF = permissions.roles_with(Cap.read_cases)
MODS = permissions.roles_with(Cap.moderate)
AUDITORS = permissions.roles_with(Cap.browse_audit)
# Reachable while the policy's two-factor requirement is not met yet.
_ENROLMENT_ENDPOINTS = {"workspace.two_factor", "workspace.two_factor_start", "workspace.two_factor_confirm",
                        "auth.logout", "auth.login", "auth.login_code", "static"}


@bp.before_app_request
def _require_two_factor():
    """A role the policy makes use two-factor reaches only the enrolment page until it is on."""
    if not current_user.is_authenticated or request.endpoint in _ENROLMENT_ENDPOINTS:
        return None
    if request.blueprint not in ("dashboard", "leadership", "admin", "workspace", "gateway"):
        return None
    user = staff()
    if two_factor_svc.required(db(), user) and not two_factor_svc.enrolled(user):
        flash(f"The community's policy requires two-factor for {user.role}s: set it up to continue.", "error")
        return redirect(url_for("workspace.two_factor"))
    return None


@bp.route("/search")
@roles_required(*STAFF)
def search():
    found = search_mod.search(db(), staff().community_id, request.args.get("q"))
    return render_template("workspace/search.html", found=found,
                           names=queries.staff_names(db(), staff().community_id))


@bp.route("/cases")
@roles_required(*STAFF)
def cases():
    me = staff()
    policy = policy_for(db(), me.community_id)
    page = listing.cases(db(), me.community_id, request.args, [r.id for r in policy.rules])
    return render_template("workspace/cases.html", page=page, policy=policy,
                           names=queries.staff_names(db(), me.community_id),
                           members=queries.members_by_id(db(), {a.member_id for a in page.rows}).get)


@bp.route("/appeals")
@roles_required(*STAFF)
def appeals():
    me = staff()
    page = listing.appeals(db(), me.community_id, request.args, me)
    return render_template("workspace/appeals.html", page=page, names=queries.staff_names(db(), me.community_id),
                           holders=listing.holders(db(), ClaimSubject.appeal, [a.id for a in page.rows]))


@bp.route("/queue")
@roles_required(*MODS)
def my_queue():
    queue = listing.my_queue(db(), staff())
    return render_template("workspace/queue.html", queue=queue,
                           members=queries.members_by_id(db(), {f.author_id for f in queue.flags}).get)


@bp.route("/<any(flag, appeal):subject>s/<int:subject_id>/<any(claim, release):move>", methods=["POST"])
@roles_required(*MODS)
def claim(subject: str, subject_id: int, move: str):
    if move == "claim":
        claim_svc.claim(db(), actor(), subject, subject_id)
        flash(f"You hold {subject} #{subject_id}; it is in your queue.", "info")
    else:
        claim_svc.release(db(), actor(), subject, subject_id)
        flash(f"{subject.capitalize()} #{subject_id} is back in the queue.", "info")
    endpoint = "dashboard.flag" if subject == "flag" else "dashboard.appeal"
    return redirect(url_for(endpoint, **{f"{subject}_id": subject_id}))


@bp.route("/audit")
@roles_required(*AUDITORS)
def audit_log():
    page = listing.audit_events(db(), staff().community_id, request.args)
    return render_template("workspace/audit.html", page=page, verification=listing.last_verification(db()),
                           checkpoint=listing.last_checkpoint(state().settings.audit_checkpoints))


@bp.route("/evidence/<int:evidence_id>/thumbnail")
@roles_required(*STAFF)
def evidence_thumbnail(evidence_id: int):
    """A small PNG of an image file, under the same rule as the file itself (staff of its community)."""
    ev = db().get(Evidence, evidence_id)
    if ev is None or ev.community_id != staff().community_id or ev.blob is None:
        abort(404, f"evidence {evidence_id} has no image here")
    if not ev.mime_type.startswith("image/"):
        abort(404, "this evidence file is not an image")
    png = thumbnails.thumbnail(ev.sha256, ev.blob)
    if png is None:
        abort(422, "this image can't be previewed (damaged or too large); download the file instead")
    response = Response(png, mimetype="image/png")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    # The bytes of an evidence item never change (its sha256 is recorded): the browser
    # may keep it, but only for this signed-in person, never a shared cache.
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@bp.route("/evidence/<int:evidence_id>/sensitive", methods=["POST"])
@roles_required(*MODS)
def evidence_sensitive(evidence_id: int):
    ev = evidence_svc.set_sensitive(db(), actor(), evidence_id, request.form.get("sensitive") == "1")
    flash("Marked sensitive: blurred until clicked." if ev.sensitive else "No longer marked sensitive.", "info")
    if ev.action_id is None:
        return redirect(url_for("dashboard.home"))
    return redirect(url_for("dashboard.action", action_id=ev.action_id) + f"#evidence-{ev.id}")


@bp.route("/account/two-factor")
@roles_required(*STAFF)
def two_factor():
    user = staff()
    return render_template("workspace/two_factor.html", user=user, enrolled=two_factor_svc.enrolled(user),
                           required=two_factor_svc.required(db(), user), secret=None, uri=None, codes=None)


@bp.route("/account/two-factor/start", methods=["POST"])
@roles_required(*STAFF)
def two_factor_start():
    secret, uri = two_factor_svc.start_enrolment(db(), actor())
    return _enrolment_page(secret, uri)


def _enrolment_page(secret: str, uri: str, status: int = 200):
    # Inline SVG (paths only, no script or style attribute): fits the CSP, needs no request of its own.
    qr = Markup(segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app"))
    response = Response(render_template("workspace/two_factor.html", user=staff(), enrolled=False,
                                        required=two_factor_svc.required(db(), staff()), secret=secret, uri=uri,
                                        qr=qr, codes=None), status)
    response.headers["Cache-Control"] = "no-store"  # the secret is on this page
    return response


@bp.route("/account/two-factor/confirm", methods=["POST"])
@roles_required(*STAFF)
def two_factor_confirm():
    try:
        codes = two_factor_svc.confirm_enrolment(db(), actor(), request.form.get("code", ""))
    except ValidationFailed as e:
        pending = two_factor_svc.pending_enrolment(staff())
        if pending is None:
            raise
        # A mistyped code: the same secret again (the app already holds it), to retry.
        flash(f"{e.message[0].upper()}{e.message[1:]}. Nothing changed; try again with the code shown now.", "error")
        return _enrolment_page(*pending, status=422)
    flash("Two-factor is on. Keep the recovery codes somewhere safe: they are shown only now.", "info")
    response = Response(render_template("workspace/two_factor.html", user=staff(), enrolled=True,
                                        required=two_factor_svc.required(db(), staff()), secret=None, uri=None,
                                        codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/two-factor/disable", methods=["POST"])
@roles_required(*STAFF)
def two_factor_disable():
    two_factor_svc.disable(db(), actor(), request.form.get("code", ""))
    flash("Two-factor is off for your account.", "info")
    return redirect(url_for("workspace.two_factor"))


def subject_url(subject_type: str, subject_id: int | None) -> str | None:
    """Where an audit event's subject lives in the workspace (None: no page of its own)."""
    endpoints = {"action": ("dashboard.action", "action_id"), "appeal": ("dashboard.appeal", "appeal_id"),
                 "flag": ("dashboard.flag", "flag_id"), "member": ("dashboard.member", "member_id")}
    if subject_id is None or subject_type not in endpoints:
        return None
    endpoint, arg = endpoints[subject_type]
    return url_for(endpoint, **{arg: subject_id})


def claim_idle_release() -> str:
    return format_duration(policy_for(db(), staff().community_id).claims.idle_release)


@bp.app_template_filter("duration")
def _duration(delta) -> str:
    """`{{ policy.appeals.review_sla|duration }}`: "3 days", as people write it."""
    return format_duration(delta)


@bp.app_context_processor
def _helpers() -> dict:
    return {"subject_url": subject_url, "claim_idle_release": claim_idle_release, "sla": queries.sla}

