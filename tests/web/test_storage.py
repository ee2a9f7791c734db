"""A database that can't store anything (issue 18 item 7): a read-only database
(SQLite opened read-only; PostgreSQL in read-only mode, as a standby is) and a
full disk (SQLite at its page limit; PostgreSQL's own disk-full error, SQLSTATE
53100, raised where a row would be written) answer 503 saying what is wrong, never a
generic 500, and /readyz turns red. The chain-failure banner on /admin is here
too: what an operator must see on the page they open."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from modsys import audit
from modsys.domain.actors import CLI
from modsys.infra.db import make_engine
from modsys.runtime import jobs
from modsys.services.api_keys import create_api_key
from tests.conftest import csrf_token, login
from tests.web.test_api import call, flag_body


@pytest.fixture
def reporter_key(session, community):
    return create_api_key(session, CLI, community.id, "chatbot", "reporter")[1]


def _app(web_settings, engine):
    from web import create_app

    return create_app(web_settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=False)


@pytest.fixture
def read_only_engine(backend, engine, tmp_path, request):
    if backend == "sqlite":
        ro = make_engine(f"sqlite:///file:{tmp_path / 'modsys.infra.db'}?mode=ro&uri=true")
    else:
        options = request.getfixturevalue("pg_schema_url")[1]["options"]
        ro = sa.create_engine(engine.url, connect_args={"options": f"{options} -cdefault_transaction_read_only=on"})
    yield ro
    ro.dispose()


def test_a_read_only_database_is_a_503_that_says_so_and_readyz_is_red(web_settings, read_only_engine, reporter_key):
    client = _app(web_settings, read_only_engine).test_client()
    refused = call(client, "POST", "/api/v1/flags", reporter_key, flag_body())
    assert refused.status_code == 503 and "read-only" in refused.get_json()["error"], refused.get_data(as_text=True)
    assert refused.headers["Retry-After"]
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 503 and body["status"] == "not_ready", body
    assert body["checks"]["database"]["ok"] and "read-only" in body["checks"]["storage"]["error"]


@contextmanager
def _full_disk(backend, engine, tmp_path):
    """An engine whose database can't store more, as each backend reports it."""
    if backend == "sqlite":
        full = make_engine(f"sqlite:///{tmp_path / 'modsys.infra.db'}")

        @event.listens_for(full, "connect")
        def _no_room(dbapi_conn, _record):  # the file may not grow: what a full disk does to SQLite
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        yield full
        full.dispose()
        return
    with engine.begin() as conn:  # PostgreSQL's own error for a full disk (SQLSTATE 53100), on every new flag
        conn.exec_driver_sql("CREATE FUNCTION no_space() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                             "RAISE EXCEPTION 'could not extend file: No space left on device' "
                             "USING ERRCODE = '53100'; END $$")
        conn.exec_driver_sql("CREATE TRIGGER no_space BEFORE INSERT ON flag FOR EACH ROW EXECUTE FUNCTION no_space()")
    try:
        yield engine
    finally:  # the schema outlives this test: the disk is "freed" for the next ones
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER no_space ON flag")
            conn.exec_driver_sql("DROP FUNCTION no_space()")


def test_a_full_disk_is_a_503_that_says_so_and_readyz_turns_red(backend, web_settings, engine, tmp_path, reporter_key):
    with _full_disk(backend, engine, tmp_path) as full:
        client = _app(web_settings, full).test_client()
        assert client.get("/readyz").status_code == 200
        body = flag_body()
        body["content"] = "x" * 3900
        statuses = []
        for i in range(40):  # until the pages are used up
            body["message_id"] = str(800000000000000000 + i)
            response = call(client, "POST", "/api/v1/flags", reporter_key, body)
            statuses.append(response.status_code)
            if response.status_code != 202:
                break
        assert response.status_code == 503 and "disk is full" in response.get_json()["error"], statuses
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "disk is full" in ready.get_json()["checks"]["storage"]["error"]


def test_admin_shows_a_failed_chain_verification(app, engine, session, make_staff, web_settings):
    make_staff("admin", "root")
    jobs.record_verification(engine, CLI, audit.VerifyResult(False, 3, 4, "event #4 was altered (hash mismatch)"), 0)
    client = app.test_client()
    login(client, "root")
    page = client.get("/admin").get_data(as_text=True)
    assert 'id="audit-broken"' in page and "event #4 was altered" in page
    assert csrf_token(client, "/admin")
