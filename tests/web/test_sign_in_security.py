"""Issue 18's sign-in findings, over HTTP on SQLite and PostgreSQL: Discord
sign-in keeps the second factor and only the account holder links Discord; the
login's `next` stays on this site; the code step is throttled per account, a
code works once even sent at once, odd digits are a clear 4xx, a wrong
enrolment code can be retried; member sign-out and the OAuth state end on the
server; OAuth codes never reach a log line."""

from __future__ import annotations

import dataclasses
import threading
from urllib.parse import quote

import pytest
from sqlmodel import select

from modsys.domain.actors import Actor
from modsys.domain.models import StaffUser
from modsys.infra.logging_setup import Redactor
from modsys.services import two_factor
from tests.conftest import csrf_token, fresh, login
from tests.support.workspace import current_code, wrong_code
from tests.web.test_discord_oauth import (  # noqa: F401
    ROWAN_ID,
    cases,
    client,
    provider,
    through_discord,
)
from tests.web.test_hardening import _limited_app

LEADER_DISCORD = "333333333333333333"


def enrol(session, clock, username: str) -> StaffUser:
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).one()
    two_factor.start_enrolment(session, Actor.staff(user))
    two_factor.confirm_enrolment(session, Actor.staff(user), current_code(session, user.id))
    clock.advance(seconds=30)  # the enrolment used this step
    return user


# --- item 1: Discord sign-in and linking ------------------------------------------------------


def test_discord_staff_sign_in_still_asks_for_the_second_factor(app, client, provider, session, clock, leader):  # noqa: F811
    user = enrol(session, clock, "leader")
    assert login(client, "leader").status_code == 302
    token = csrf_token(client, "/login/code")
    client.post("/login/code", data={"csrf_token": token, "code": current_code(session, user.id)})
    provider.sign_in_as(LEADER_DISCORD, "Leader")
    clock.advance(seconds=30)
    linked, _ = through_discord(client, "/discord/account/link", data={
        "csrf_token": csrf_token(client, "/discord/account"), "code": current_code(session, user.id)})
    assert linked.status_code == 302 and linked.location.endswith("/discord/account")

    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_staff_login=True)
    other = app.test_client()
    landed, _ = through_discord(other, "/login/discord/staff")
    assert landed.status_code == 302 and landed.location.endswith("/login/code"), landed.location
    assert other.get("/leadership").status_code == 302  # not signed in on Discord's word alone
    clock.advance(seconds=30)
    done = other.post("/login/code", data={"csrf_token": csrf_token(other, "/login/code"),
                                           "code": current_code(session, user.id)})
    assert done.status_code == 302 and other.get("/leadership").status_code == 200


def test_linking_discord_needs_the_account_holders_current_code(app, client, provider, session, clock, mod_a):  # noqa: F811
    user = enrol(session, clock, "mod_a")
    login(client, "mod_a")
    client.post("/login/code", data={"csrf_token": csrf_token(client, "/login/code"),
                                     "code": current_code(session, user.id)})
    clock.advance(seconds=30)
    token = csrf_token(client, "/discord/account")
    assert 'name="code"' in client.get("/discord/account").get_data(as_text=True)
    missing = client.post("/discord/account/link", data={"csrf_token": token})
    wrong = client.post("/discord/account/link", data={"csrf_token": token, "code": wrong_code(session, user.id)})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "Nothing was linked" in wrong.get_data(as_text=True)
    provider.sign_in_as(LEADER_DISCORD, "ModA")
    ok, _ = through_discord(client, "/discord/account/link",
                            data={"csrf_token": token, "code": current_code(session, user.id)})
    assert ok.status_code == 302
    fresh(session)
    assert session.get(StaffUser, user.id).discord_user_id == LEADER_DISCORD


def test_an_admin_cannot_link_someone_elses_account_to_a_discord_id_but_may_unlink(app, session, make_staff,
                                                                                  leader):
    make_staff("admin", "root")
    session.exec(select(StaffUser).where(StaffUser.username == "leader")).one().discord_user_id = LEADER_DISCORD
    session.commit()
    admin = app.test_client()
    login(admin, "root")
    token = csrf_token(admin, "/admin")
    taken = admin.post(f"/admin/staff/{leader.id}/discord",
                       data={"csrf_token": token, "discord_user_id": "300000000000000001"})
    assert taken.status_code == 403 and "only the account holder" in taken.get_data(as_text=True)
    fresh(session)
    assert session.get(StaffUser, leader.id).discord_user_id == LEADER_DISCORD
    unlinked = admin.post(f"/admin/staff/{leader.id}/discord", data={"csrf_token": token, "discord_user_id": ""})
    assert unlinked.status_code == 302
    fresh(session)
    assert session.get(StaffUser, leader.id).discord_user_id is None


# --- item 2: the login's next ------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["/%09/evil.example", "/%0A/evil.example", "/%0D%0A/evil.example", "//evil.example",
                                 "/%5Cevil.example", "%5C%5Cevil.example", "https://evil.example/", "http:/evil.example",
                                 "javascript:alert(1)", "%20//evil.example", "/%E2%80%A8/x", "%F0%9F"])
def test_login_next_never_leaves_the_site_and_never_fails(app, mod_a, raw):
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    # The query string as an attacker's link has it (the server decodes it).
    response = browser.post(f"/login?next={raw}",
                           data={"username": "mod_a", "password": "correct-horse-battery", "csrf_token": token})
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] in ("/", "/%E2%80%A8/x"), response.headers["Location"]


def test_login_next_keeps_a_same_site_path_and_query(app, mod_a):
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    response = browser.post(f"/login?next={quote('/flags?status=open#top', safe='')}",
                           data={"username": "mod_a", "password": "correct-horse-battery", "csrf_token": token})
    assert response.headers["Location"] == "/flags?status=open#top"


# --- item 3: the code step ---------------------------------------------------------------------


def test_code_guesses_at_one_account_from_many_addresses_are_throttled(engine, db_url, session, clock, leader):
    user = enrol(session, clock, "leader")
    app = _limited_app(engine, db_url, MODSYS_TRUSTED_PROXIES="1")
    clients = []
    for i in range(6):  # six addresses, each with the right password
        c = app.test_client()
        token = csrf_token(c, "/login")
        step = c.post("/login", data={"username": "leader", "password": "correct-horse-battery", "csrf_token": token},
                      headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
        assert step.status_code == 302
        clients.append((c, csrf_token(c, "/login/code"), f"203.0.113.{i + 1}"))
    wrong = wrong_code(session, user.id)
    statuses = [c.post("/login/code", data={"csrf_token": t, "code": wrong}, headers={"X-Forwarded-For": ip}).status_code
                for _ in range(10) for c, t, ip in clients]
    # One budget per account (10 a minute) for both steps: six passwords, then four codes.
    assert statuses.count(401) == 4 and set(statuses[4:]) == {429}, statuses


def test_a_code_sent_several_times_at_once_is_accepted_once(app, session, clock, leader):
    user = enrol(session, clock, "leader")
    clients = []
    for _ in range(6):
        c = app.test_client()
        login(c, "leader")
        clients.append((c, csrf_token(c, "/login/code")))
    code = current_code(session, user.id)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(c, token):
        barrier.wait()
        statuses.append(c.post("/login/code", data={"csrf_token": token, "code": code}).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [302] + [401] * 5, statuses


@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６", "12345\u0663", "123\x00456"])
def test_a_code_in_other_digits_is_a_clear_400(app, session, clock, leader, code):
    enrol(session, clock, "leader")
    browser = app.test_client()
    login(browser, "leader")
    response = browser.post("/login/code", data={"csrf_token": csrf_token(browser, "/login/code"), "code": code})
    assert response.status_code == 400 and "digits 0-9" in response.get_data(as_text=True)
    assert browser.get("/leadership").status_code == 302


def test_a_wrong_enrolment_code_can_be_retried_with_the_same_secret(app, session, leader):
    browser = app.test_client()
    login(browser, "leader")
    start = browser.post("/account/two-factor/start", data={"csrf_token": csrf_token(browser, "/account/two-factor")})
    secret = start.get_data(as_text=True).split('id="totp-secret">', 1)[1].split("<", 1)[0]
    user = session.exec(select(StaffUser).where(StaffUser.username == "leader")).one()
    token = csrf_token(browser, "/account/two-factor")
    retry = browser.post("/account/two-factor/confirm", data={"csrf_token": token, "code": wrong_code(session, user.id)})
    page = retry.get_data(as_text=True)
    assert retry.status_code == 422 and "does not match" in page and f'id="totp-secret">{secret}<' in page
    assert retry.headers["Cache-Control"] == "no-store" and 'name="code"' in page
    done = browser.post("/account/two-factor/confirm", data={"csrf_token": token, "code": current_code(session, user.id)})
    assert done.status_code == 200 and done.get_data(as_text=True).count("<li><code>") == 10


# --- item 7: server-side invalidation and redaction ---------------------------------------------


def test_member_sign_out_ends_the_sign_in_on_the_server(client, provider, cases):  # noqa: F811
    provider.sign_in_as(ROWAN_ID, "Rowan")
    through_discord(client, "/login/discord")
    copied = client.get_cookie("modsys_session").value
    assert client.get("/my-cases").status_code == 200
    token = csrf_token(client, "/my-cases")
    assert client.post("/my-cases/sign-out", data={"csrf_token": token}).status_code == 302
    client.set_cookie("modsys_session", copied)  # someone kept a copy of the signed-in cookie
    assert client.get("/my-cases").status_code == 302


def test_an_oauth_state_works_once_even_with_a_copy_of_the_cookie(client, provider, cases):  # noqa: F811
    from urllib.parse import urlsplit

    import requests

    provider.sign_in_as(ROWAN_ID, "Rowan")
    first = client.get("/login/discord")
    copied = client.get_cookie("modsys_session").value
    back = urlsplit(requests.get(first.headers["Location"], allow_redirects=False, timeout=5).headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    client.set_cookie("modsys_session", copied)
    again = client.get(f"{back.path}?{back.query}")
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)


def test_oauth_codes_and_states_never_reach_a_log_line():
    line = ('127.0.0.1 - - [03/Dec/2026 17:00:00] "GET /login/discord/callback?code=NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee'
            '&state=K3y-Zq_abc123 HTTP/1.1" 302 -')
    redacted = Redactor()(line)
    assert "NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee" not in redacted and "K3y-Zq_abc123" not in redacted
    assert "/login/discord/callback?code=[redacted]&state=[redacted]" in redacted
