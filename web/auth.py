"""Staff login and logout. Sessions carry the user's session token, so logout,
role changes and deactivation end every session of that user at once."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from modsys.models import StaffUser
from modsys.services.staff import authenticate, rotate_session, session_user
from web.context import actor, db
from web.extensions import limiter, login_manager

bp = Blueprint("auth", __name__)
LOGIN_LIMIT = "10 per minute; 50 per hour"
log = logging.getLogger("modsys.auth")


class StaffLogin(UserMixin):
    def __init__(self, user: StaffUser):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_token}"

    @property
    def role(self) -> str:
        return self.user.role


@login_manager.user_loader
def load_user(ident: str) -> StaffLogin | None:
    user_id, _, token = ident.partition(":")
    if not user_id.isdigit():
        return None
    user = session_user(db(), int(user_id), token)
    return None if user is None else StaffLogin(user)  # None: deactivated or logged out elsewhere


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.home")


def _login_account() -> str:
    # Per account, whatever address the attempt claims to come from: a client
    # that can set X-Forwarded-For (or has many addresses) gets no more guesses.
    return "login-account:" + request.form.get("username", "").strip()[:64].lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])  # per client address
@limiter.limit(LOGIN_LIMIT, methods=["POST"], key_func=_login_account)
def login():
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        user = authenticate(db(), username, request.form.get("password", ""))
        if user is None:
            log.warning("failed staff login for %r from %s", username, request.remote_addr)
            flash("Wrong username or password, or the account is deactivated.", "error")
            return render_template("login.html", username=username), 401
        session.clear()  # a fresh session at login (no fixation)
        login_user(StaffLogin(user))
        log.info("staff login: %s", user.username)
        return redirect(_safe_next(request.args.get("next")))
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    rotate_session(db(), actor())
    logout_user()
    session.clear()
    flash("Logged out.", "info")
    return redirect(url_for("auth.login"))
