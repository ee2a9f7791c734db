"""Discord's front door: the interactions endpoint, Sign in with Discord for
members ("My cases") and staff (link an account; optional sign-in).

Thin like the rest of web/: verify, parse, call `modsys.adapters.discord` and the
services, render. Configuration in `modsys.infra.config` (MODSYS_DISCORD_*); with
none of it set these routes answer 404 and modsys behaves as before.
"""

from __future__ import annotations

import functools
import hmac
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from modsys.adapters.discord import front_door, interaction_log, oauth
from modsys.adapters.discord import interactions as ix
from modsys.community import DEFAULT_SLUG, default_community
from modsys.domain import clock
from modsys.domain.errors import ValidationFailed
from modsys.infra import browser_grants as grants
from modsys.reads import member_cases, query_args
from modsys.services import discord_front_door as svc
from modsys.services import staff as staff_svc
from modsys.services import two_factor
from web.auth import first_factor_passed
from web.context import actor, db, staff, state
from web.extensions import csrf, limiter
from web.security import CSP

bp = Blueprint("discord", __name__)
log = logging.getLogger("modsys.adapters.discord")

MEMBER_SESSION = "discord_member"
PENDING = "discord_oauth"
MEMBER_LINK_LIFETIME = timedelta(hours=12)  # as long as a session (web/__init__.py)
OAUTH_STATE_LIFETIME = timedelta(minutes=10)  # from the sign-in button to Discord's answer


@functools.lru_cache(maxsize=4)
def _key(hex_key: str):
    return ix.public_key(hex_key)


# --- interactions -------------------------------------------------------------------


@bp.route("/discord/interactions", methods=["POST"])
@csrf.exempt  # Discord signs each request with Ed25519 instead; checked first below
@limiter.exempt  # Discord's own traffic; forged requests end at the signature check
def interactions():
    settings = state().settings
    if not settings.discord_public_key:
        abort(404, "Discord interactions are not configured here (set MODSYS_DISCORD_PUBLIC_KEY).")
    request.max_content_length = ix.MAX_BODY
    body = request.get_data(cache=False)
    try:
        ix.verify(_key(settings.discord_public_key), request.headers.get("X-Signature-Ed25519"),
                  request.headers.get("X-Signature-Timestamp"), body)
    except ix.Refused as e:
        return jsonify({"error": str(e)}), 401
    try:
        interaction = ix.parse(body)
    except ix.Malformed as e:
        return jsonify({"error": f"not an interaction modsys can read: {e}"}), 400
    if interaction["type"] == ix.PING:
        return jsonify({"type": ix.PONG})
    earlier = interaction_log.claim(db(), interaction["id"])
    if earlier is not None:  # a replay: the first answer, never a second run
        if earlier.reply is None:
            return jsonify({"error": "this interaction is already being answered; it is answered once"}), 409
        return jsonify(earlier.reply)
    answer = front_door.handle(db(), settings, interaction)
    interaction_log.answered(db(), interaction["id"], answer)
    return jsonify(answer)


# --- OAuth2 -------------------------------------------------------------------------


def _oauth_on() -> None:
    if not state().settings.discord_oauth_enabled:
        abort(404, "Sign in with Discord is not configured here (set MODSYS_DISCORD_CLIENT_ID and "
                   "MODSYS_DISCORD_CLIENT_SECRET).")


def _redirect_uri() -> str:
    # Exactly the URL registered in the Discord application (docs/discord.md (section 7)).
    return f"{state().settings.base_url.rstrip('/')}{url_for('discord.callback')}"


def _begin(purpose: str, **extra) -> object:
    start = oauth.start(state().settings, _redirect_uri())
    # The state works once, on the server too: a copy of this cookie can't replay it.
    grants.grant(db(), grants.OAUTH_STATE, OAUTH_STATE_LIFETIME, start.state)
    session[PENDING] = {"state": start.state, "verifier": start.verifier, "purpose": purpose, **extra}
    return redirect(start.url)


@bp.route("/login/discord")
@limiter.limit("20 per minute")
def login_member():
    """A sanctioned member signs in to see their cases (no account in modsys)."""
    _oauth_on()
    community = default_community(db(), query_args.text(request.args, "community", 64) or DEFAULT_SLUG)
    return _begin("member", community_id=community.id)


@bp.route("/login/discord/staff")
@limiter.limit("20 per minute")
def login_staff():
    _oauth_on()
    if not state().settings.discord_staff_login:
        abort(404, "Staff sign-in with Discord is off here; log in with your password.")
    return _begin("staff")


@bp.route("/login/discord/callback")
@limiter.limit("20 per minute")
def callback():
    _oauth_on()
    pending = session.pop(PENDING, None)
    if request.args.get("error"):
        return _problem("The sign-in with Discord was cancelled; nothing changed.", 400)
    returned = request.args.get("state", "")
    if (not pending or not hmac.compare_digest(returned.encode(), pending["state"].encode())
            or not grants.use(db(), grants.OAUTH_STATE, pending["state"])):
        return _problem("This sign-in was not started in this browser, or it was already used. "
                        "Start again from the sign-in button.", 400)
    code = request.args.get("code", "")
    if not code or len(code) > 512:
        return _problem("Discord did not send a sign-in code; start again.", 400)
    identity = oauth.identify(state().settings, code, pending["verifier"], _redirect_uri())
    purpose = pending["purpose"]
    if purpose == "member":
        token = grants.grant(db(), grants.MEMBER, MEMBER_LINK_LIFETIME)
        session[MEMBER_SESSION] = {"id": identity.id, "name": identity.name,
                                   "community_id": pending["community_id"], "token": token}
        return redirect(url_for("discord.my_cases"))
    if purpose == "link":
        if not current_user.is_authenticated or staff().id != pending.get("staff_id"):
            return _problem("Log in to modsys with your password first, then link your Discord account.", 403)
        staff_svc.link_own_discord(db(), actor(), identity.id)
        flash(f"Your Discord account {identity.name} ({identity.id}) is linked.", "info")
        return redirect(url_for("discord.account"))
    user = svc.staff_for_discord_sign_in(db(), identity.id)
    if user is None:
        return _problem("No staff account is linked to this Discord account. Log in with your password.", 403)
    log.info("staff sign-in with Discord, first factor: %s", user.username)
    return first_factor_passed(user, None)  # the account's second factor still applies


def _problem(message: str, status: int):
    return render_template("error.html", code=status, message=message), status


# --- members: My cases --------------------------------------------------------------


@bp.route("/my-cases")
def my_cases():
    who = session.get(MEMBER_SESSION)
    if not who or not grants.live(db(), grants.MEMBER, str(who.get("token", ""))):
        session.pop(MEMBER_SESSION, None)  # signed out elsewhere, or expired
        return redirect(url_for("discord.login_member"))
    cases = member_cases.cases_of(db(), who["community_id"], who["id"], secret=state().secret_key, base_url="",
                                  link_expires_at=clock.now() + MEMBER_LINK_LIFETIME)
    response = make_response(render_template("discord/my_cases.html", who=who, cases=cases))
    response.headers["Cache-Control"] = "no-store"  # the page holds signed portal links
    return response


@bp.route("/my-cases/sign-out", methods=["POST"])
def member_sign_out():
    who = session.pop(MEMBER_SESSION, None)
    if isinstance(who, dict) and who.get("token"):
        grants.end(db(), grants.MEMBER, str(who["token"]))  # a copy of the cookie is signed out too
    flash("You are signed out.", "info")
    return redirect(url_for("public.statements"))


# --- staff: link a Discord account --------------------------------------------------


@bp.route("/discord/account")
@login_required
def account(problem: str | None = None, status: int = 200):
    settings = state().settings
    user = staff()
    response = make_response(render_template("discord/account.html", user=user, oauth=settings.discord_oauth_enabled,
                                             needs_code=two_factor.enrolled(user), problem=problem), status)
    # The link form's POST answers with a redirect to Discord, and browsers hold
    # redirects after a form submission to `form-action` too: allow that one origin here.
    oauth_origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.discord_oauth_url))
    response.headers["Content-Security-Policy"] = CSP.replace("form-action 'self'", f"form-action 'self' {oauth_origin}")
    return response


@bp.route("/discord/account/link", methods=["POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"], key_func=lambda: f"discord-link:{current_user.get_id()}")
def link():
    """A new way to sign in, so only the account holder adds it: signed in, and
    with a current code when the account has two-factor (a stolen session
    cookie alone can't add a lasting way in)."""
    _oauth_on()
    user = staff()
    if two_factor.required(db(), user) and not two_factor.enrolled(user):
        return account("The community's policy requires two-factor for your role: set it up first, then link.", 403)
    if two_factor.enrolled(user):
        try:
            passed = two_factor.verify_login_code(db(), user.id, request.form.get("code", ""))
        except ValidationFailed as e:
            return account(f"Nothing was linked: {e.message}.", 400)
        if not passed:
            return account("Nothing was linked: that code is wrong, already used, or expired. "
                           "Type the code your app shows now.", 401)
    return _begin("link", staff_id=user.id)


@bp.route("/discord/account/unlink", methods=["POST"])
@login_required
def unlink():
    staff_svc.link_own_discord(db(), actor(), None)
    flash("Your Discord account is no longer linked.", "info")
    return redirect(url_for("discord.account"))
