import pytest
import sqlalchemy as sa
from sqlmodel import select

from modsys import audit
from modsys.domain.models import AuditEvent
from tests.factories import appeal, ban


def _journey(session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    appeal(session, member, action)
    return member


def _tamper(session, sql: str) -> None:
    """What an attacker with database access does: get past the append-only trigger, then edit."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"))
    else:
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_update"))
        session.execute(sa.text("DROP TRIGGER IF EXISTS auditevent_no_delete"))
    session.execute(sa.text(sql))
    session.commit()


def test_every_service_call_appends_a_verified_event(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    verbs = session.exec(select(AuditEvent.verb).order_by(AuditEvent.seq)).all()
    assert verbs[-2:] == ["action.filed", "appeal.submitted"]
    assert audit.verify(session).ok


def test_append_only_at_the_database_level(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text("UPDATE auditevent SET verb = 'x' WHERE seq = 1"))
    session.rollback()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text("DELETE FROM auditevent WHERE seq = 1"))
    session.rollback()


def test_edited_row_is_detected_and_named(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    target = session.exec(select(AuditEvent).where(AuditEvent.verb == "action.filed")).one()
    _tamper(session, f"UPDATE auditevent SET actor_name = 'someone_else' WHERE seq = {target.seq}")
    result = audit.verify(session)
    assert not result.ok and result.broken_seq == target.seq and "altered" in result.reason


def test_deleted_row_is_detected(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    _tamper(session, "DELETE FROM auditevent WHERE seq = 2")
    result = audit.verify(session)
    assert not result.ok and result.broken_seq == 2 and "missing" in result.reason


def test_deleted_tail_is_detected(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    last = session.exec(sa.select(sa.func.max(AuditEvent.seq))).scalar_one()
    _tamper(session, f"DELETE FROM auditevent WHERE seq = {last}")
    result = audit.verify(session)
    assert not result.ok and "removed" in result.reason


def test_reordered_rows_are_detected(session, mod_a, make_member):
    _journey(session, mod_a, make_member)
    # Swap the sequence numbers of events 2 and 3 (through a free number).
    _tamper(session, "UPDATE auditevent SET seq = 100000 WHERE seq = 2")
    _tamper(session, "UPDATE auditevent SET seq = 2 WHERE seq = 3")
    _tamper(session, "UPDATE auditevent SET seq = 3 WHERE seq = 100000")
    result = audit.verify(session)
    assert not result.ok and result.broken_seq == 2


def test_empty_chain_verifies(session):
    assert audit.verify(session).ok and audit.verify(session).checked == 0
