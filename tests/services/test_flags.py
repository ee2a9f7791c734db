from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.domain.errors import Conflict, ValidationFailed
from modsys.domain.models import Evidence, Flag, FlagReport, Member, StatementOfReasons
from modsys.services.actions import NewAction
from modsys.services.flags import (
    FlagReportInput,
    act_on_flag,
    dismiss_flag,
    report_flag,
)


def report(message_id="111", reporter="5001", content="you are an idiot", **kw):
    return FlagReportInput(message_id=message_id, channel_id="42", channel_name="general", author_id="110000000000007001",
                           author_name="Rude Person", content=content, reporter=reporter, reason=kw.pop("reason", "insult"), **kw)


def test_one_flag_per_message_counting_distinct_reporters(bot, session, community):
    flag, counted = report_flag(session, bot, community.id, report(reporter="5001"))
    assert counted and flag.reporter_count == 1 and flag.score_state == "pending"
    same, counted = report_flag(session, bot, community.id, report(reporter="5001"))
    assert not counted and same.id == flag.id and same.reporter_count == 1
    report_flag(session, bot, community.id, report(reporter="5002"))
    assert session.get(Flag, flag.id).reporter_count == 2
    assert len(session.exec(select(Flag)).all()) == 1
    assert len(session.exec(select(FlagReport)).all()) == 2
    assert session.exec(select(Member)).one().display_name == "Rude Person"


def test_bad_reports_change_nothing(bot, session, community):
    with pytest.raises(ValidationFailed, match="message id is required"):
        report_flag(session, bot, community.id, report(message_id="  "))
    with pytest.raises(ValidationFailed, match="limited to 4000"):
        report_flag(session, bot, community.id, report(content="x" * 4001))
    with pytest.raises(ValidationFailed, match="snowflake"):
        report_flag(session, bot, community.id, FlagReportInput("1", "2", "not-a-number", "n", "c", "r"))
    assert session.exec(select(Flag)).all() == [] and session.exec(select(Member)).all() == []


def test_act_on_flag_files_action_with_public_snapshot(bot, session, community, mod_a):
    flag, _ = report_flag(session, bot, community.id, report())
    action = act_on_flag(session, mod_a, flag.id, NewAction(
        member_id=flag.author_id, kind="timeout", rules=["respectful"], public_reason="Insulting another member.",
        duration=timedelta(hours=1)))
    assert action.source == "flag" and action.flag_id == flag.id and flag.status == "actioned"
    snapshot = session.exec(select(Evidence).where(Evidence.action_id == action.id)).one()
    assert snapshot.kind == "message_snapshot" and snapshot.visibility == "public" and "you are an idiot" in snapshot.content
    assert session.exec(select(StatementOfReasons)).one().automated_detection is False
    with pytest.raises(Conflict, match="already actioned"):
        dismiss_flag(session, mod_a, flag.id)


def test_prioritised_flag_marks_automated_detection(bot, session, community, mod_a):
    flag, _ = report_flag(session, bot, community.id, report())
    flag.priority = True
    session.add(flag)
    session.commit()
    act_on_flag(session, mod_a, flag.id, NewAction(member_id=flag.author_id, kind="warning", rules=["respectful"],
                                                  public_reason="Insulting another member."))
    assert session.exec(select(StatementOfReasons)).one().automated_detection is True


def test_action_must_target_the_author(bot, session, community, mod_a, make_member):
    flag, _ = report_flag(session, bot, community.id, report())
    with pytest.raises(ValidationFailed, match="author"):
        act_on_flag(session, mod_a, flag.id, NewAction(member_id=make_member().id, kind="warning",
                                                      rules=["respectful"], public_reason="Insulting another member."))
    assert session.get(Flag, flag.id).status == "open"


def test_dismiss(bot, session, community, mod_a):
    flag, _ = report_flag(session, bot, community.id, report())
    dismiss_flag(session, mod_a, flag.id, "Banter between friends.")
    assert flag.status == "dismissed" and flag.resolved_by_id == mod_a.id


@pytest.mark.parametrize("content, reason", [("bad\x00byte", "NUL"), ("half \ud800 pair", "broken Unicode")])
def test_unstorable_text_is_refused_clearly(bot, session, community, content, reason):
    with pytest.raises(ValidationFailed, match=reason):
        report_flag(session, bot, community.id, report(content=content))
    assert session.exec(select(Flag)).all() == []
