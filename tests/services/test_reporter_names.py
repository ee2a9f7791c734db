"""Reporters named for staff (modsys/reads/reporter_names.py): the member, API key or
staff account behind each reporter key, and nothing from another community."""

from __future__ import annotations

from sqlmodel import select

from modsys.domain.actors import Actor
from modsys.domain.models import FlagReport
from modsys.reads.reporter_names import Reporter, name_reporters
from modsys.services.flags import FlagReportInput, report_flag
from modsys.services.members import get_or_create_member
from tests.factories import reporter
from tests.support.workspace import other_community

REPORTED = "100000000000007001"


def _report(session, actor, community_id, who: str, message: str = "900") -> str:
    report_flag(session, actor, community_id, FlagReportInput(message, "42", REPORTED, "Rude Person", "idiot", who))
    return session.exec(select(FlagReport.reporter_key).order_by(FlagReport.id.desc())).first()


def test_each_way_in_is_named(session, community, mod_a):
    alex = get_or_create_member(session, community.id, "111111111111111111", "Alex")
    known = get_or_create_member(session, community.id, "222222222222222222", "Bea")
    session.commit()
    by_discord = _report(session, Actor.member(alex), community.id, alex.platform_user_id)
    by_bot_known = _report(session, reporter(session, community.id), community.id, known.platform_user_id)
    by_bot_unknown = _report(session, reporter(session, community.id), community.id, "333333333333333333")
    by_staff = _report(session, mod_a, community.id, "mod_a")
    names = name_reporters(session, community.id, iter([by_discord, by_bot_known, by_bot_unknown, by_staff, "odd"]))
    assert names[by_discord] == Reporter("Alex", "Discord")
    assert names[by_bot_known] == Reporter("Bea", "API key “chatbot”")
    assert names[by_bot_unknown] == Reporter("333333333333333333", "API key “chatbot”")  # no name known anywhere
    assert names[by_staff] == Reporter("mod_a", "the dashboard (mod_a)")
    assert names["odd"] == Reporter("odd", "unknown")


def test_names_from_another_community_never_show(session, community):
    other = other_community(session)  # knows 123456789012345678 as "Elsewhere Person"
    key = _report(session, reporter(session, community.id), community.id, other.member.platform_user_id)
    assert name_reporters(session, community.id, [key])[key].name == other.member.platform_user_id
    theirs = f"member{other.member.id}:{other.member.platform_user_id}"
    assert name_reporters(session, community.id, [theirs])[theirs].name == other.member.platform_user_id
