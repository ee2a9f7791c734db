"""The scheduled audit verification against the recorded checkpoints (issue 18
item 6), on SQLite and PostgreSQL: each rewrite the CLI catches is caught by the
nightly job too, recorded where /audit and /admin show it, alerted to every
community's leadership channel through the outbox, and the hourly job refuses to
sign a checkpoint over it. `modsys audit verify` records its result the same way."""

from __future__ import annotations

import pytest
from sqlmodel import select

from modsys.domain.models import OutboxMessage
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.reads import listing
from modsys.runtime import jobs
from tests.conftest import fresh
from tests.services.test_audit_checkpoints import (  # noqa: F401
    AUDIT_KEY,
    append_forged,
    cli,
    delete_tail,
    edit_and_rehash,
    history,
    wipe,
)


@pytest.fixture
def settings(db_url, tmp_path):
    return load_settings({"DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "MODSYS_AUDIT_KEY": AUDIT_KEY,
                          "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log"),
                          "SECRET_KEY": "test-secret-key-not-for-production"})


def edit_the_log(session) -> None:
    """Not the database: the checkpoint log itself, edited to match a rewrite."""


def _alerts(session) -> list[OutboxMessage]:
    fresh(session)
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.event == "audit.broken")))


@pytest.mark.parametrize("tamper, says", [
    (delete_tail, "is missing: events were removed"),
    (append_forged, "is dated before it: it was added later"),
    (edit_and_rehash, "differs from the checkpoint"),
    (wipe, "is missing: events were removed"),
    (edit_the_log, "can't be used"),
])
def test_the_scheduled_jobs_catch_each_rewrite_alert_and_sign_nothing_over_it(
        engine, history, settings, community, clock, tamper, says):  # noqa: F811
    session = history
    assert jobs.checkpoint_audit_chain(engine, settings=settings)["checkpoint_seq"] > 0
    assert jobs.verify_audit_chain(engine, settings=settings)["ok"] is True
    tamper(session)
    session.commit()
    if tamper is edit_the_log:
        log = settings.audit_checkpoints
        log.write_text(log.read_text().replace("seq=", "seq=9", 1))
    lines = settings.audit_checkpoints.read_text()

    clock.advance(hours=21)  # the next night
    nightly = jobs.verify_audit_chain(engine, settings=settings)
    assert nightly["ok"] is False, nightly
    fresh(session)
    shown = listing.last_verification(session)
    assert shown.verb == "audit.verify_failed" and says in shown.data["reason"], shown.data
    [alert] = _alerts(session)
    assert alert.channel == "leadership" and alert.community_id == community.id

    clock.advance(hours=1)
    hourly = jobs.checkpoint_audit_chain(engine, settings=settings)
    assert hourly["checkpoint_seq"] is None and says in hourly["refused"], hourly
    assert settings.audit_checkpoints.read_text() == lines  # nothing signed over the rewrite
    assert len(_alerts(session)) == 1  # one alert per break, however often it is seen


def test_the_cli_verification_is_recorded_where_audit_shows_it(history, cli, settings):  # noqa: F811
    session = history
    assert cli("audit", "checkpoint").exit_code == 0
    ok = cli("audit", "verify")
    assert ok.exit_code == 0
    fresh(session)
    shown = listing.last_verification(session)
    assert shown.verb == "audit.verified" and shown.actor_kind == "system" and shown.data["checkpoints"] == 1
    delete_tail(session)
    session.commit()
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    fresh(session)
    assert listing.last_verification(session).verb == "audit.verify_failed"
    refused = cli("audit", "checkpoint")
    assert refused.exit_code == 1 and "no checkpoint signed" in refused.output
    assert len(cli.log.read_text().splitlines()) == 1
