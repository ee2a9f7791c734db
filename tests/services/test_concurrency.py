"""Races through real connections: one appeal per action, no lost reporter counts,
an unbroken audit chain."""

from __future__ import annotations

import threading

from sqlmodel import select

from modsys import audit
from modsys.domain.actors import Actor
from modsys.domain.errors import Conflict
from modsys.domain.models import Appeal, Flag
from modsys.infra.db import new_session
from modsys.services.appeals import submit_appeal
from modsys.services.flags import FlagReportInput, report_flag
from tests.factories import STATEMENT, ban

THREADS = 8


def _race(engine, work):
    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def run(i):
        session = new_session(engine)
        try:
            barrier.wait()
            results.append(work(session, i))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_simultaneous_appeals_yield_exactly_one(engine, session, mod_a, make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    results, errors = _race(engine, lambda s, i: submit_appeal(s, Actor.member(member), action.id, STATEMENT))
    assert len(results) == 1, errors
    assert len(errors) == THREADS - 1 and all(isinstance(e, Conflict) for e in errors), errors
    assert len(session.exec(select(Appeal)).all()) == 1
    assert audit.verify(session).ok


def test_simultaneous_reports_count_every_reporter_once(bot, engine, session, community):

    def work(s, i):
        return report_flag(s, bot, community.id, FlagReportInput(
            message_id="555", channel_id="1", author_id="110000000000000077", author_name="x", content="hi", reporter=str(i % 4)))

    results, errors = _race(engine, work)
    assert not errors, errors
    flag = session.exec(select(Flag)).one()
    assert flag.reporter_count == 4 and sum(1 for _, counted in results if counted) == 4
    assert audit.verify(session).ok
