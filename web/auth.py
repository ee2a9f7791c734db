"""Staff login and logout. Sessions carry the user's session token, so logout,
role changes and deactivation end every session of that user at once."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from modsys.domain import clock
from modsys.domain.errors import DomainError, ValidationFailed
from modsys.domain.models import StaffUser
from modsys.services import two_factor
from modsys.services.staff import (
    MIN_PASSWORD,
    authenticate,
    change_own_password,
    rotate_session,
    session_user,
)
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
    """`next` as a path on this site, or the dashboard. Parsed, not prefix-checked:
    browsers drop tabs and newlines and read a backslash as a slash, so
    `/%09/evil.example` would leave the site; any control character, space or
    backslash refuses the whole value."""
    fallback = url_for("dashboard.home")
    if not target or any(c <= " " or c in "\\\x7f" for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return fallback
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment))


def _login_account() -> str:
    """The account a login step is aimed at: the username typed at the password
    step, the pending account at the code step. Per account, whatever address the
    attempt claims to come from: a client that can set X-Forwarded-For (or has
    many addresses) gets no more guesses at a password or a code."""
    pending = session.get(PENDING) if request.endpoint == "auth.login_code" else None
    name = pending.get("username", "") if isinstance(pending, dict) else request.form.get("username", "")
    return "login-account:" + str(name).strip()[:64].lower()


# One budget per client address and one per account, each shared by both login
# steps: guessing a password and guessing a code cost alike.
LOGIN_STEPS = limiter.shared_limit(LOGIN_LIMIT, scope="staff-login", methods=["POST"])
LOGIN_ACCOUNT = limiter.shared_limit(LOGIN_LIMIT, scope="staff-login-account", methods=["POST"],
                                     key_func=_login_account)
PENDING = "pending_second_factor"  # the session key between the first step and the code
CODE_STEP_SECONDS = 300  # the password counts this long before the code must come


@bp.route("/login", methods=["GET", "POST"])
@LOGIN_STEPS
@LOGIN_ACCOUNT
def login():
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        user = authenticate(db(), username, request.form.get("password", ""))
        if user is None:
            log.warning("failed staff login for %r from %s", username, request.remote_addr)
            flash("Wrong username or password, or the account is deactivated.", "error")
            return render_template("login.html", username=username), 401
        return first_factor_passed(user, request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    return render_template("login.html", username="")


def first_factor_passed(user: StaffUser, next_url: str | None):
    """The password (or Discord) proved who this is: sign in, or ask for the code
    first when the account has two-factor on."""
    session.clear()  # a fresh session at login (no fixation)
    if two_factor.enrolled(user):
        # Not signed in until the code. The token ties this to the account's
        # current sessions (a logout-everywhere also ends this step).
        session[PENDING] = {"id": user.id, "username": user.username, "token": user.session_token,
                            "next": next_url, "at": clock.now().timestamp()}
        return redirect(url_for("auth.login_code"))
    return _sign_in(user, next_url)


def _sign_in(user: StaffUser, next_url: str | None):
    session.clear()
    login_user(StaffLogin(user))
    log.info("staff login: %s", user.username)
    return redirect(_safe_next(next_url))


@bp.route("/login/code", methods=["GET", "POST"])
@LOGIN_STEPS
@LOGIN_ACCOUNT
def login_code():
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or clock.now().timestamp() - pending.get("at", 0) > CODE_STEP_SECONDS:
        session.pop(PENDING, None)
        flash("Sign in with your username and password first.", "error")
        return redirect(url_for("auth.login"))
    if request.method == "POST":
        user = db().get(StaffUser, pending.get("id"))
        if user is None or user.session_token != pending.get("token"):
            session.pop(PENDING, None)
            return redirect(url_for("auth.login"))
        try:
            passed = two_factor.verify_login_code(db(), user.id, request.form.get("code", ""))
        except ValidationFailed as e:
            flash(f"{e.message[0].upper()}{e.message[1:]}.", "error")
            return render_template("login_code.html"), 400
        if passed:
            return _sign_in(user, pending.get("next"))
        log.warning("failed two-factor code for %r from %s", user.username, request.remote_addr)
        flash("That code is wrong, already used, or expired. Type the code your app shows now.", "error")
        return render_template("login_code.html"), 401
    return render_template("login_code.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    rotate_session(db(), actor())
    logout_user()
    session.clear()
    flash("Logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"])  # the current password is guessed here too
def change_password():
    """Change your own password: the current one is required; every other session
    of the account ends, this one continues under the new session token."""
    if request.method == "POST":
        if request.form.get("password", "") != request.form.get("confirm", ""):
            flash("The new password and its confirmation differ; nothing was changed.", "error")
            return render_template("password.html", min_length=MIN_PASSWORD), 422
        try:
            user = change_own_password(db(), actor(), request.form.get("current_password", ""),
                                       request.form.get("password", ""))
        except DomainError as e:
            flash(e.message, "error")
            return render_template("password.html", min_length=MIN_PASSWORD), e.http_status
        session.clear()
        login_user(StaffLogin(user))  # this session, under the new token; the others are gone
        flash("Password changed. Your other sessions were logged out.", "info")
        return redirect(url_for("dashboard.home"))
    return render_template("password.html", min_length=MIN_PASSWORD)
