"""Issue 10's security and reliability gaps, over HTTP (Flask test client), on
SQLite and PostgreSQL: headers, the API's edges, Discord ids, renames by
reporter keys, non-Latin downloads, secrets shown once, login throttling per
account, a broken policy file, and a database outage."""

from __future__ import annotations

import json
import shutil
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlmodel import select

from modsys.community import ensure_community
from modsys.domain.actors import CLI
from modsys.domain.models import AuditEvent, Evidence, Flag, Member
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.services.api_keys import create_api_key
from modsys.services.evidence import EvidenceInput
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD, PG_URL, csrf_token, empty_pg_schema, login
from tests.factories import ban
from tests.web.test_api import call, flag_body

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GOOD_KEY = "kJ3n9Qz7Lw2Xv8Rt5Yp1Hs6Dg4Fb0Nc_Me-Ua"


@pytest.fixture
def reporter_key(session, community):
    return create_api_key(session, CLI, community.id, "chatbot", "reporter")[1]


@pytest.fixture
def moderator_key(session, community, mod_a):
    return create_api_key(session, CLI, community.id, "modbot", "moderator", acts_as="mod_a")[1]


# --- headers (item 1, 15) --------------------------------------------------------------


def test_pages_keep_the_referrer_on_this_site_only(app):
    # "no-referrer" made browsers send no Referer at all, and Flask-WTF refuses
    # an HTTPS form POST without one; "same-origin" never sends it elsewhere.
    assert app.test_client().get("/login").headers["Referrer-Policy"] == "same-origin"


def test_production_over_https_sends_hsts_and_takes_a_form_with_its_referer(engine, db_url, mod_a):
    from web import create_app

    settings = load_settings({"MODSYS_ENV": "production", "SECRET_KEY": GOOD_KEY, "DATABASE_URL": db_url,
                              "MODSYS_ALLOW_SQLITE": "1", "MODSYS_BASE_URL": "https://mod.example",
                              "MODSYS_POLICY": str(DEFAULT_POLICY)})
    app = create_app(settings, engine=engine, RATELIMIT_ENABLED=False)
    client = app.test_client()
    page = client.get("/login", base_url="https://mod.example")
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": "mod_a", "password": "correct-horse-battery", "csrf_token": token}
    same_site = client.post("/login", data=form, base_url="https://mod.example",
                            headers={"Referer": "https://mod.example/login"})
    assert same_site.status_code == 302, same_site.get_data(as_text=True)[:300]
    plain = app.test_client().get("/login", base_url="http://mod.example")
    assert "Strict-Transport-Security" not in plain.headers  # HSTS is only honoured, and only sent, over HTTPS


# --- the API's edges (item 15) -----------------------------------------------------------


def test_405_names_the_allowed_methods(client_api):
    response = client_api.put("/api/v1/flags")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) >= {"POST"}
    assert "error" in response.get_json()


@pytest.fixture
def client_api(app):
    return app.test_client()


@pytest.mark.parametrize("sent_at", [0, 1714564800, 1.5, True])
def test_sent_at_must_be_a_written_date_time(client_api, reporter_key, engine, sent_at):
    response = call(client_api, "POST", "/api/v1/flags", reporter_key, flag_body(sent_at=sent_at))
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "sent_at", response.get_json()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Flag)).scalar_one() == 0
    ok = call(client_api, "POST", "/api/v1/flags", reporter_key, flag_body(sent_at="2026-01-05T11:00:00Z"))
    assert ok.status_code == 202


@pytest.mark.parametrize("author_id", ["²³¹⁴⁵⁶⁷⁸⁹¹²³⁴⁵⁶⁷⁸", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨", "１２３４５６７８９０１２３４５６７８",
                                       "1234567890123456", "123456789012345678901", "12345678901234567x"])
def test_discord_ids_are_17_to_20_ascii_digits(client_api, reporter_key, moderator_key, engine, author_id):
    flag = call(client_api, "POST", "/api/v1/flags", reporter_key, flag_body(author_id=author_id))
    assert flag.status_code == 422 and "17-20 digits" in flag.get_json()["error"], flag.get_json()
    action = call(client_api, "POST", "/api/v1/actions", moderator_key, {
        "member": {"platform_user_id": author_id, "display_name": "x"}, "kind": "warning", "rules": ["respectful"],
        "public_reason": "Insulting another member in #general."})
    assert action.status_code == 422
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Member)).scalar_one() == 0
    for good in ("12345678901234567", "18446744073709551615"):
        assert call(client_api, "POST", "/api/v1/flags", reporter_key,
                    flag_body(author_id=good, message_id=good)).status_code == 202


def test_a_reporter_key_never_renames_a_member_and_a_moderator_rename_is_audited(client_api, reporter_key,
                                                                                  moderator_key, engine):
    first = call(client_api, "POST", "/api/v1/flags", reporter_key, flag_body(author_name="Gus"))
    assert first.status_code == 202
    second = call(client_api, "POST", "/api/v1/flags", reporter_key,
                  flag_body(message_id="1300000000000000002", author_name="Official Staff"))
    assert second.status_code == 202
    with engine.connect() as conn:
        assert conn.execute(sa.select(Member.display_name)).scalars().all() == ["Gus"]
    filed = call(client_api, "POST", "/api/v1/actions", moderator_key, {
        "member": {"platform_user_id": flag_body()["author_id"], "display_name": "Gus the Second"},
        "kind": "warning", "rules": ["respectful"], "public_reason": "Insulting another member in #general."})
    assert filed.status_code == 201, filed.get_json()
    with engine.connect() as conn:
        assert conn.execute(sa.select(Member.display_name)).scalars().all() == ["Gus the Second"]
        renamed = conn.execute(sa.select(AuditEvent.actor_name, AuditEvent.data)
                               .where(AuditEvent.verb == "member.renamed")).all()
    assert renamed == [("mod_a", {"from": "Gus", "to": "Gus the Second"})]


# --- downloads (item 6) --------------------------------------------------------------------


@pytest.mark.parametrize("filename, ascii_fallback", [
    ("доказательство.png", ".png"), ("証拠 スクリーンショット.png", ".png"), ('naïve "quote".png', "naive"),
])
def test_files_with_any_name_download_with_an_rfc5987_header(app, session, mod_a, make_member, filename,
                                                              ascii_fallback):
    action = ban(session, mod_a, make_member(), evidence=[
        EvidenceInput("file", "private", data=PNG, filename=filename)])
    evidence = session.exec(select(Evidence).where(Evidence.action_id == action.id)).one()
    client = app.test_client()
    login(client, "mod_a")
    response = client.get(f"/evidence/{evidence.id}/file")
    assert response.status_code == 200 and response.data == PNG
    header = response.headers["Content-Disposition"]
    header.encode("latin-1")  # what gunicorn puts on the wire; a raw non-Latin name made it answer 500
    assert header.startswith("attachment;") and ascii_fallback in header
    stored = evidence.filename  # as the evidence service cleaned it (quotes become _)
    assert stored.split(".")[0][:3] == filename.split(".")[0][:3]
    assert f"filename*=UTF-8''{quote(stored, safe='!#$&+^`|~')}" in header


# --- secrets shown once, never in the cookie (item 14) --------------------------------------


def _session_data(app, client) -> str:
    cookie = client.get_cookie("modsys_session").value
    return json.dumps(app.session_interface.get_signing_serializer(app).loads(cookie))


def test_new_api_keys_and_passwords_are_shown_once_and_never_travel_in_the_cookie(app, session, make_staff):
    make_staff("admin", "root")
    client = app.test_client()
    login(client, "root")
    created = client.post("/admin/apikeys", data={"csrf_token": csrf_token(client, "/admin"), "name": "chatbot",
                                                  "role": "reporter"})
    key = created.get_data(as_text=True).split('<code id="shown-once">')[1].split("</code>")[0]
    assert created.status_code == 201 and len(key) > 20 and created.headers["Cache-Control"] == "no-store"
    assert key not in _session_data(app, client)
    staff = client.post("/admin/staff", data={"csrf_token": csrf_token(client, "/admin"), "username": "newmod",
                                              "role": "moderator"})
    password = staff.get_data(as_text=True).split('<code id="shown-once">')[1].split("</code>")[0]
    assert staff.status_code == 201 and password not in _session_data(app, client)
    assert key not in client.get("/admin").get_data(as_text=True)  # shown once: not on the next page
    assert login(app.test_client(), "newmod", password).status_code == 302


# --- login throttled per account (item 12) ----------------------------------------------------


def _limited_app(engine, db_url, **env):
    from web import create_app

    settings = load_settings({"DATABASE_URL": db_url, "SECRET_KEY": "test-secret-key-not-for-production",
                              "MODSYS_POLICY": str(DEFAULT_POLICY), **env})
    return create_app(settings, engine=engine, TESTING=True)


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:6379"])
def test_rotating_x_forwarded_for_gets_no_more_guesses_at_one_account(engine, db_url, make_staff, clock, storage):
    account = f"mod_{uuid.uuid4().hex[:10]}"  # Redis is shared by every test run: counters of its own
    make_staff("moderator", account)
    client = _limited_app(engine, db_url, MODSYS_TRUSTED_PROXIES="1", MODSYS_RATELIMIT_STORAGE=storage).test_client()
    token = csrf_token(client, "/login")
    codes = []
    for i in range(12):
        r = client.post("/login", data={"username": account.upper() if i % 2 else account, "password": f"guess-{i}",
                                        "csrf_token": token},
                        headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
        codes.append(r.status_code)
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
    # Someone else's account, from the same rotating client, is not locked by it.
    other = client.post("/login", data={"username": "someone_else", "password": "x", "csrf_token": token},
                        headers={"X-Forwarded-For": "198.51.100.1"})
    assert other.status_code == 401
    if storage.startswith("redis"):  # the counters really are in Redis, where every worker sees them
        import redis

        assert redis.Redis.from_url(storage).keys(f"*login-account:{account}*")


# --- a broken policy file (item 15) ------------------------------------------------------------


def test_a_broken_policy_file_keeps_the_last_good_version_serving(engine, db_url, tmp_path, reporter_key,
                                                                  session, community, make_staff):
    import os

    from web import create_app

    policy = tmp_path / "policy.yaml"
    shutil.copy(DEFAULT_POLICY, policy)
    settings = load_settings({"DATABASE_URL": db_url, "SECRET_KEY": "test-secret-key-not-for-production",
                              "MODSYS_POLICY": str(policy)})
    ensure_community(session, policy)  # the community reads its policy from this file
    app = create_app(settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=False)
    make_staff("admin", "root")
    client = app.test_client()
    assert "degraded" not in client.get("/readyz").get_json()["checks"]["policy"]

    policy.write_text("rules: [this is: not: valid")
    os.utime(policy, (1, 1))  # a different mtime even on a coarse clock
    flag = call(client, "POST", "/api/v1/flags", reporter_key, flag_body())
    assert flag.status_code == 202, flag.get_data(as_text=True)
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200 and body["status"] == "degraded" and body["checks"]["policy"]["degraded"] is True
    assert "not valid YAML" in body["checks"]["policy"]["communities"]["default"]["file_problem"]
    login(client, "root")
    admin = client.get("/admin").get_data(as_text=True)
    assert 'id="policy-problem"' in admin and "stays in force" in admin

    shutil.copy(DEFAULT_POLICY, policy)  # fixed: the file on disk serves again
    assert "degraded" not in client.get("/readyz").get_json()["checks"]["policy"]


# --- a database outage (item 15) -----------------------------------------------------------------


def test_an_unreachable_database_answers_503_with_retry_after(tmp_path):
    """PostgreSQL behind a TCP forwarder that the test stops: connections cut,
    new ones refused, exactly as in an outage or a restart."""
    from modsys.community import default_community
    from modsys.infra.db import make_engine, new_session
    from modsys.infra.migrate import upgrade_engine
    from tests.support.tcp_proxy import TcpProxy
    from web import create_app

    url = sa.engine.make_url(PG_URL)
    proxy = TcpProxy((url.host, url.port or 5432))
    with empty_pg_schema("modsys_outage") as schema:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        engine = make_engine(proxied, connect_args={"options": f"-csearch_path={schema}"})
        try:
            upgrade_engine(engine)
            with new_session(engine) as s:
                ensure_community(s, DEFAULT_POLICY)
            settings = load_settings({"DATABASE_URL": proxied, "SECRET_KEY": "test-secret-key-not-for-production",
                                      "MODSYS_POLICY": str(DEFAULT_POLICY)})
            app = create_app(settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=False)
            with new_session(engine) as s:
                key = create_api_key(s, CLI, default_community(s).id, "chatbot", "reporter")[1]
            with new_session(engine) as s:
                create_staff(s, CLI, default_community(s).id, "mod_a", "moderator", PASSWORD)
            client, staff = app.test_client(), app.test_client()
            assert login(staff, "mod_a").status_code == 302
            assert client.get("/statements").status_code == 200
            proxy.stop()
            for who in (client, staff):  # a signed-in page looks the user up in the database, too
                page = who.get("/statements")
                assert page.status_code == 503 and page.headers["Retry-After"] == "30"
                assert "Nothing was changed" in page.get_data(as_text=True)
            api = call(client, "POST", "/api/v1/flags", key, flag_body())
            assert api.status_code == 503 and api.headers["Retry-After"] == "30" and "try again" in api.get_json()["error"]
        finally:
            engine.dispose()
