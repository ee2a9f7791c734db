"""`modsys audit checkpoint` / `modsys audit verify` against the four rewrites
an attacker with database access could make (issue 10, item 11), on SQLite and
PostgreSQL. Each tamper also fixes `audithead` so the chain alone still
verifies: only the checkpoint, kept outside the database, tells."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlmodel import select

from modsys import audit
from modsys.adapters.discord.webhooks import set_webhook
from modsys.cli import main
from modsys.domain.actors import CLI
from modsys.domain.models import AuditEvent, AuditHead, OutboxMessage
from modsys.infra.config import DEFAULT_POLICY
from tests.conftest import fresh
from tests.factories import appeal, ban

AUDIT_KEY = "Vq8sKx2LmZp4Rt7Wy1Nb6Hc3Jd9Fg0Ue_Ai-Oo"


@pytest.fixture
def cli(db_url, tmp_path):
    env = {"DATABASE_URL": db_url, "MODSYS_POLICY": str(DEFAULT_POLICY), "MODSYS_ENV": "development",
           "MODSYS_AUDIT_KEY": AUDIT_KEY, "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log")}

    def run(*args: str, key: str = AUDIT_KEY):
        return CliRunner().invoke(main, list(args), env={**env, "MODSYS_AUDIT_KEY": key}, catch_exceptions=False)

    run.log = tmp_path / "checkpoints.log"
    return run


@pytest.fixture
def history(session, mod_a, make_member):
    """Three cases with appeals: a dozen audit events."""
    for _ in range(3):
        member = make_member()
        appeal(session, member, ban(session, mod_a, member))
    return session


def _open_up(session) -> None:
    """Get past the append-only triggers, as someone with DDL rights would."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"))
    else:
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_update"))
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_delete"))


def _set_head(session) -> None:
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    head = session.get(AuditHead, 1)
    head.seq, head.hash = (last.seq, last.hash) if last else (0, audit.GENESIS)
    session.add(head)


def delete_tail(session) -> None:
    _open_up(session)
    last = session.exec(sa.select(sa.func.max(AuditEvent.seq))).scalar_one()
    session.execute(sa.delete(AuditEvent).where(AuditEvent.seq > last - 3))
    _set_head(session)


def append_forged(session) -> None:
    """A row slipped in after the fact, dated before the checkpoint (a decision
    "approved" earlier than it was), with a correctly chained hash."""
    head = session.get(AuditHead, 1)
    last = session.exec(select(AuditEvent).where(AuditEvent.seq == head.seq)).one()
    forged = AuditEvent(seq=head.seq + 1, community_id=last.community_id, created_at=last.created_at - timedelta(hours=1),
                        actor_kind="staff", actor_id=1, actor_name="leader", verb="appeal.decided",
                        subject_type="appeal", subject_id=1, data={"outcome": "overturned"}, request_id=None,
                        prev_hash=head.hash, hash="")
    forged.hash = audit.compute_hash(forged)
    session.add(forged)
    head.seq, head.hash = forged.seq, forged.hash
    session.add(head)


def edit_and_rehash(session) -> None:
    _open_up(session)
    events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
    prev = events[2].prev_hash
    events[2].actor_name = "someone_else"
    for event in events[2:]:
        event.prev_hash = prev
        event.hash = prev = audit.compute_hash(event)
        session.add(event)
    _set_head(session)


def wipe(session) -> None:
    _open_up(session)
    session.execute(sa.delete(AuditEvent))
    _set_head(session)


@pytest.mark.parametrize("tamper, says", [
    (delete_tail, "is missing: events were removed"),
    (append_forged, "is dated before it: it was added later"),
    (edit_and_rehash, "differs from the checkpoint"),
    (wipe, "is missing: events were removed"),
])
def test_each_rewrite_passes_the_chain_but_not_the_checkpoint(history, cli, tamper, says):
    session = history
    taken = cli("audit", "checkpoint")
    assert taken.exit_code == 0, taken.output
    line = taken.output.strip()
    assert line.startswith("modsys-audit-checkpoint v1 seq=") and cli.log.read_text() == line + "\n"
    assert "audit chain ok" in cli("audit", "verify").output

    tamper(session)
    session.commit()
    fresh(session)
    assert audit.verify(session).ok  # what `verify` without checkpoints would have said

    result = cli("audit", "verify")
    assert result.exit_code == 1 and "audit chain BROKEN" in result.output and says in result.output, result.output
    one = cli("audit", "verify", "--checkpoint", line)  # the copy posted to Discord, given by hand
    assert one.exit_code == 1 and says in one.output, one.output


def test_a_checkpoint_signed_with_another_key_or_edited_is_refused(history, cli):
    line = cli("audit", "checkpoint").output.strip()
    other = cli("audit", "verify", "--checkpoint", line, key="x" + AUDIT_KEY[1:])
    assert other.exit_code == 1 and "not signed with this MODSYS_AUDIT_KEY" in other.output
    bumped = line.replace(" seq=", " seq=1", 1)  # claim a longer chain
    assert "not signed" in cli("audit", "verify", "--checkpoint", bumped).output
    cli.log.write_text(cli.log.read_text() + "junk\n")
    broken_log = cli("audit", "verify")
    assert broken_log.exit_code == 1 and "line 2: not a checkpoint line" in broken_log.output


def test_later_events_verify_and_the_checkpoint_goes_to_leadership_once(history, cli, community, mod_a, make_member,
                                                                       fake_discord):
    session = history
    set_webhook(session, CLI, community.id, "leadership", fake_discord.url("3", "tok"))
    session.commit()
    first = cli("audit", "checkpoint").output.strip()
    cli("audit", "checkpoint")  # same head: a second line, no second post
    member = make_member()
    ban(session, mod_a, member)  # appended after the checkpoints, dated after them
    last = cli("audit", "checkpoint").output.strip()
    ok = cli("audit", "verify")
    assert ok.exit_code == 0 and "against 3 checkpoint(s)" in ok.output, ok.output
    fresh(session)
    posts = session.exec(select(OutboxMessage).where(OutboxMessage.event == "audit.checkpoint")
                                .order_by(OutboxMessage.id)).all()
    assert [p.channel for p in posts] == ["leadership", "leadership"]
    assert first in posts[0].payload["description"] and last in posts[1].payload["description"]


def test_production_needs_its_own_audit_key(history, cli, db_url):
    secret = "Zr5Tq8Wn2Ls6Kp9Xm3Jv7Hb1Gd4Fc0Ya_Ue-Io"
    prod = {"MODSYS_ENV": "production", "SECRET_KEY": secret, "MODSYS_BASE_URL": "https://m.example",
            "MODSYS_ALLOW_SQLITE": "1"}
    for key, reason in ((None, "MODSYS_AUDIT_KEY is not set"), (secret, "must differ from SECRET_KEY"),
                        ("0123456789abcdefghijklmnopqrstuvwxyz", "follows a pattern")):
        env = {**prod, **({"MODSYS_AUDIT_KEY": key} if key else {})}
        result = CliRunner().invoke(main, ["audit", "checkpoint"], env={"DATABASE_URL": db_url, "MODSYS_AUDIT_KEY": None,
                                                                   "MODSYS_AUDIT_CHECKPOINTS": str(cli.log), **env})
        assert result.exit_code == 1 and reason in result.output, result.output
        assert not cli.log.exists()


def test_the_log_cannot_be_emptied_in_one_statement(history, backend):
    """PostgreSQL: TRUNCATE skips row triggers, and replica mode skips ordinary
    ones; both are refused. SQLite has no TRUNCATE (its DELETE-all shortcut is
    off while a delete trigger exists)."""
    session = history
    emptying = ["TRUNCATE auditevent"] if backend == "postgresql" else ["DELETE FROM auditevent"]
    for statement in emptying:
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            session.execute(sa.text(statement))
        session.rollback()
    if backend == "postgresql":
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            session.execute(sa.text("DELETE FROM auditevent"))
        session.rollback()
    fresh(session)
    assert audit.verify(session).ok and audit.verify(session).checked >= 7  # nothing went
