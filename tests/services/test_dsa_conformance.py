"""Both DSA exports (bulk JSON and CSV) against the Transparency Database's own Laravel
rules (tests/support/dsa_laravel.py cites the files and the commit), and the date cases
the database refuses: issue 18, items 12-14."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Action, Flag, StatementOfReasons
from modsys.reads.export.dsa import export_statements
from modsys.runtime import jobs
from modsys.services.actions import NewAction, file_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from modsys.services.discord_front_door import (
    DiscordMessage,
    DiscordUser,
    act_on_message,
    save_draft,
)
from modsys.services.flags import FlagReportInput, act_on_flag, report_flag
from tests.factories import appeal, ban, reporter, timeout
from tests.support import dsa_laravel

REASONS = "The context shows the member was quoting the insult to report it."


def at(clock, *ymdhm):
    clock.set(datetime(*ymdhm, tzinfo=UTC))


def flag(session, community, n, sent_at=None):
    f, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id=str(7770000 + n), channel_id="42", channel_name="general", author_id=f"1000000000000{n:05d}",
        author_name="Someone", content="you are an idiot", reporter="5001", sent_at=sent_at))
    return f


def kick(session, mod, member):
    return file_action(session, mod, NewAction(member_id=member.id, kind="kick", rules=["respectful"],
                                               public_reason="Kicked for insulting another member."))


def rows_of(export) -> list[dict]:
    """The CSV export read back as statements: lists decoded, empty cells absent."""
    out = []
    for row in csv.DictReader(io.StringIO(export.csv())):
        s = {}
        for name, cell in row.items():
            if cell == "":
                continue
            s[name] = json.loads(cell) if cell.startswith("[") else cell
        out.append(s)
    return out


def assert_database_accepts(export) -> None:
    for body in export.batches():
        assert dsa_laravel.bulk_errors(body) == {}
    for statement in [*export.statements, *rows_of(export)]:
        assert dsa_laravel.single_errors(statement) == {}, statement["puid"]


@pytest.fixture
def history(session, engine, community, mod_a, mod_b, make_member, clock):
    """Every kind of statement modsys writes, with the dates that went wrong before."""
    at(clock, 2026, 3, 2, 10, 0)
    f1 = flag(session, community, 1, sent_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    flagged = act_on_flag(session, mod_a, f1.id, NewAction(member_id=f1.author_id, kind="timeout", rules=["respectful"],
                                                           public_reason="Insulting another member.",
                                                           duration=timedelta(hours=24)))
    illegal = ban(session, mod_a, make_member("Doxxer"), days=30, rules=["illegal"])
    kicked_member = make_member("Kicked")
    kicked = kick(session, mod_a, kicked_member)
    expired_member = make_member("Short Timeout")
    short = timeout(session, mod_a, expired_member, hours=1)
    modified_member = make_member("Modified")
    modified = timeout(session, mod_a, modified_member, hours=72)
    cosigned = ban(session, mod_a, make_member("Permanent"), days=None)
    from modsys.services.actions import cosign_action
    cosign_action(session, mod_b, cosigned.id)
    at(clock, 2026, 3, 5, 12, 0)
    assert jobs.expire_sanctions(engine)["expired"] >= 1  # the hour-long timeout ended on 2 March
    session.expire_all()
    for member, action, decision in (
        (expired_member, short, Decision("overturned", REASONS)),
        (kicked_member, kicked, Decision("overturned", REASONS)),
        (modified_member, modified, Decision("modified", REASONS, Modification("timeout", timedelta(hours=1)))),
    ):
        a = appeal(session, member, action)
        start_review(session, mod_b, a.id)
        decide_appeal(session, mod_b, a.id, decision)
    return {"flagged": flagged, "illegal": illegal, "kicked": kicked, "short": short, "modified": modified,
            "cosigned": cosigned}


def by_puid(export) -> dict:
    return {s["puid"]: s for s in export.statements}


def test_both_exports_pass_the_databases_own_rules(session, community, history):
    export = export_statements(session, community.id)
    assert len(export.statements) >= 9
    assert_database_accepts(export)


def test_the_transcribed_rules_refuse_what_the_database_refuses(session, community, history):
    """The check above can fail: the same statements, broken the ways issue 18 saw."""
    good = export_statements(session, community.id).statements[0]
    for change in ({"content_date": "1999-12-31"}, {"content_date": "2040-01-01"},
                   {"end_date_account_restriction": "2041-05-01"}, {"application_date": "2019-12-31"},
                   {"decision_account": None, "decision_provision": None}, {"puid": "case 1"},
                   {"decision_facts": "x" * 5001}):
        broken = {**good, **change}
        assert dsa_laravel.single_errors(broken) != {}, change
        assert dsa_laravel.bulk_errors({"statements": [good, broken]}) != {}, change


def test_kicks_are_exported_as_a_service_restriction(session, community, history):
    got = by_puid(export_statements(session, community.id))
    kicked = got[f"default-case-{history['kicked'].id}"]
    assert kicked["decision_provision"] == "DECISION_PROVISION_PARTIAL_TERMINATION"
    assert kicked["decision_account"] is None and kicked["end_date_service_restriction"] is None
    assert dsa_laravel.single_errors(kicked) == {}


def test_a_reversal_ends_when_the_sanction_really_ended(session, community, history):
    got = by_puid(export_statements(session, community.id))
    (short,) = [s for p, s in got.items() if p.startswith(f"default-case-{history['short'].id}-appeal-")]
    # The hour-long timeout of 2 March had expired on 2 March; the appeal was decided on 5 March.
    assert short["end_date_account_restriction"] == "2026-03-02"
    assert short["end_date_service_restriction"] == "2026-03-02"
    (kicked,) = [s for p, s in got.items() if p.startswith(f"default-case-{history['kicked'].id}-appeal-")]
    assert kicked["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"  # a kick lasts a moment
    assert kicked["end_date_service_restriction"] == "2026-03-02"
    (modified,) = [s for p, s in got.items() if p.startswith(f"default-case-{history['modified'].id}-appeal-")]
    assert modified["end_date_account_restriction"] == "2026-03-05"  # still in force when it was modified


def test_an_end_after_2038_is_left_empty_and_the_facts_say_when(session, community, history):
    long_ban = history["illegal"]
    session.execute(sa.update(StatementOfReasons).where(StatementOfReasons.action_id == long_ban.id)
                    .values(end_date_account_restriction=datetime(2040, 6, 1, tzinfo=UTC)))
    session.execute(sa.update(Action).where(Action.id == long_ban.id).values(ends_at=datetime(2040, 6, 1, tzinfo=UTC)))
    session.commit()
    export = export_statements(session, community.id)
    statement = by_puid(export)[f"default-case-{long_ban.id}"]
    assert statement["end_date_account_restriction"] is None
    assert "ends on 2040-06-01" in statement["decision_facts"]
    assert_database_accepts(export)


def test_a_message_time_from_before_the_rules_never_leaves(session, community, history, mod_a, clock):
    """A row written before intake refused such times (1999) falls back to the report's day."""
    at(clock, 2026, 3, 6, 9, 0)
    old = flag(session, community, 2)
    session.execute(sa.update(Flag).where(Flag.id == old.id).values(message_sent_at=datetime(1999, 5, 1, tzinfo=UTC)))
    session.commit()
    action = act_on_flag(session, mod_a, old.id, NewAction(member_id=old.author_id, kind="timeout", rules=["respectful"],
                                                           public_reason="Insulting another member.",
                                                           duration=timedelta(hours=2)))
    export = export_statements(session, community.id)
    assert by_puid(export)[f"default-case-{action.id}"]["content_date"] == "2026-03-06"
    assert_database_accepts(export)


def test_a_statement_the_database_would_refuse_is_held_back_not_sent(session, community, history):
    """A wrong server clock once (application_date 2019): that statement is listed with the
    reason and left out, so the rest of its batch of 100 still goes in."""
    session.execute(sa.update(Action).where(Action.id == history["illegal"].id)
                    .values(starts_at=datetime(2019, 12, 31, tzinfo=UTC)))
    session.commit()
    export = export_statements(session, community.id)
    puid = f"default-case-{history['illegal'].id}"
    assert puid not in by_puid(export)
    assert export.refused == [(puid, "application_date 2019-12-31 is outside 2020-01-01..2038-01-01, "
                                     "which the database refuses")]
    assert_database_accepts(export)


@pytest.mark.parametrize("sent_at, reason", [
    (datetime(1999, 12, 31, 23, 0, tzinfo=UTC), "before any Discord message"),
    (datetime(2014, 12, 31, tzinfo=UTC), "before any Discord message"),
    (datetime(2040, 1, 1, tzinfo=UTC), "in the future"),
    (datetime(2026, 3, 2, 11, 0, tzinfo=UTC), "in the future"),  # an hour ahead of the clock
])
def test_intake_refuses_an_impossible_message_time(session, community, clock, sent_at, reason):
    at(clock, 2026, 3, 2, 10, 0)
    with pytest.raises(ValidationFailed, match=reason) as refused:
        flag(session, community, 3, sent_at=sent_at)
    assert refused.value.field == "sent_at"
    assert session.exec(select(Flag)).all() == []
    assert flag(session, community, 3, sent_at=datetime(2026, 3, 2, 10, 3, tzinfo=UTC)).message_sent_at is not None


def test_act_on_this_message_dates_the_content_by_the_message(session, community, mod_a, clock):
    at(clock, 2026, 3, 9, 15, 0)
    message = DiscordMessage(id="1170000000000000001", channel_id="42",
                             author=DiscordUser("100000000000009001", "Someone"), content="you are an idiot",
                             jump_link="https://discord.com/channels/1/42/1170000000000000001",
                             sent_at="2026-03-07T22:15:00+00:00")
    draft = save_draft(session, community.id, "300000000000000001", "act", message)
    action = act_on_message(session, mod_a, community.id, draft, "300000000000000001", "timeout", ["respectful"],
                            "Insulting another member.", duration=timedelta(hours=1))
    statement = by_puid(export_statements(session, community.id))[f"default-case-{action.id}"]
    assert statement["content_date"] == "2026-03-07" and statement["application_date"] == "2026-03-09"
