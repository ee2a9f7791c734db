"""Search and the workspace's lists (modsys/reads/search.py, modsys/reads/listing.py), on
SQLite (LIKE) and PostgreSQL (full text, GIN indexes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from modsys.domain.errors import ValidationFailed
from modsys.domain.models import SEARCH_INDEXES, AppealStatus
from modsys.reads import listing, search
from modsys.services.appeals import escalate_appeal
from modsys.services.claims import claim
from modsys.services.evidence import EvidenceInput
from tests.factories import appeal, ban, timeout
from tests.support.workspace import flag, other_community


@pytest.fixture
def cases_(session, community, mod_a, mod_b, make_member):
    """Two members, three cases with distinct words, one appeal."""
    zed, amy = make_member("Zed Quokka"), make_member("Amy Wombat")
    spam = ban(session, mod_a, zed, public_reason="Posted crypto giveaway links in every channel.",
               rules=["spam"], evidence=[EvidenceInput("text", "private", "Screenshot shows seventeen invite links")])
    rude = timeout(session, mod_b, amy)
    old = ban(session, mod_b, zed, public_reason="Shared leaked weights of a private model.", rules=["leaks"])
    ap = appeal(session, zed, spam, "The giveaway was real and approved by the server owner, honestly.")
    return {"zed": zed, "amy": amy, "spam": spam, "rude": rude, "old": old, "appeal": ap}


def test_members_by_discord_id_and_name(session, community, cases_):
    zed = cases_["zed"]
    assert search.search(session, community.id, zed.platform_user_id).members == [zed]
    assert search.search(session, community.id, "zed qu").members == [zed]  # prefix, any case
    assert search.search(session, community.id, "AMY").members == [cases_["amy"]]


def test_cases_and_appeals_by_number(session, community, cases_):
    spam, ap = cases_["spam"], cases_["appeal"]
    found = search.search(session, community.id, f"#{spam.id}")
    assert found.cases == [spam] and found.members == [] and found.evidence == []
    found = search.search(session, community.id, str(ap.id))
    assert ap in found.appeals


def test_words_in_reasons_evidence_and_statements(session, community, cases_):
    found = search.search(session, community.id, "giveaway")
    assert found.cases == [cases_["spam"]] and found.appeals == [cases_["appeal"]]
    assert [e.content for e in search.search(session, community.id, "invite links").evidence] == [
        "Screenshot shows seventeen invite links"]
    assert search.search(session, community.id, "leaked").cases == [cases_["old"]]


def test_words_of_reported_messages_and_of_report_reasons(session, community, cases_):
    rude = flag(session, community.id, "301", "nobody wants your opinion, go away forever",
                reporters=(("5001", "harassment"), ("5002", "told me to disappear")))
    other = flag(session, community.id, "302", "buy cheap followers at my shop", reporters=(("5003", "advert"),))
    assert search.search(session, community.id, "opinion").flags == [rude]  # the message's words
    assert search.search(session, community.id, "DISAPPEAR").flags == [rude]  # a later reporter's reason
    assert search.search(session, community.id, "advert").flags == [other]  # the first reporter's reason
    assert search.search(session, community.id, "cheap followers").flags == [other]
    assert search.search(session, community.id, f"#{rude.id}").flags == [rude]  # by number, as before
    theirs = other_community(session)
    flag(session, theirs.community.id, "303", "your opinion is worthless", reporters=(("5009", "disappear"),))
    assert search.search(session, community.id, "opinion").flags == [rude]
    assert len(search.search(session, theirs.community.id, "disappear").flags) == 1


def test_older_reported_words_are_found_past_the_newest_rows(session, community, monkeypatch):
    # PostgreSQL looks at the newest RECENT rows first, then every match through the
    # indexes: with RECENT = 1 the second way finds these (on SQLite both are one query).
    old = flag(session, community.id, "401", "a rare sentence about turnips", reporters=(("5001", "quokka spam"),))
    theirs = other_community(session)
    flag(session, theirs.community.id, "402", "more turnips", reporters=(("5002", "quokka"),))  # newer, elsewhere
    flag(session, community.id, "403", "something else entirely", reporters=(("5003", "noise"),))  # the newest
    monkeypatch.setattr(search, "RECENT", 1)
    assert search.search(session, community.id, "quokka").flags == [old]
    assert search.search(session, community.id, "turnips").flags == [old]
    assert len(search.search(session, theirs.community.id, "quokka").flags) == 1


def test_search_is_scoped_to_the_community(session, community, cases_):
    other = other_community(session)
    ban(session, other.mod, other.member, public_reason="Posted crypto giveaway links elsewhere.")
    found = search.search(session, community.id, "giveaway")
    assert all(a.community_id == community.id for a in found.cases) and len(found.cases) == 1
    assert search.search(session, community.id, other.member.platform_user_id).members == []
    elsewhere = search.search(session, other.community.id, "giveaway")
    assert len(elsewhere.cases) == 1 and elsewhere.cases[0].member_id == other.member.id
    assert search.search(session, other.community.id, f"#{cases_['spam'].id}").cases == []


def test_search_is_bounded_and_wildcards_are_literal(session, community, mod_a, make_member):
    member = make_member("Many Cases")
    for _ in range(4):
        ban(session, mod_a, member, public_reason="Repeated flooding of the general channel.", days=1)
    found = search.search(session, community.id, "flooding", limit=3)
    assert len(found.cases) == 3 and found.cases[0].id > found.cases[-1].id  # newest first
    assert search.search(session, community.id, "%").empty and search.search(session, community.id, "_").empty
    assert search.search(session, community.id, "   ").empty
    with pytest.raises(ValidationFailed, match="limited to 200"):
        search.search(session, community.id, "x" * 201)


def test_postgresql_has_the_search_indexes(session, backend):
    names = {index["name"] for index in sa.inspect(session.get_bind()).get_indexes("action")}
    assert ("ix_action_public_reason_fts" in names) == (backend == "postgresql")
    if backend == "postgresql":
        present = set(session.exec(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
                      .scalars())
        assert set(SEARCH_INDEXES) <= present


# --- lists ------------------------------------------------------------------------------------------

RULES = ["respectful", "illegal", "leaks", "spam", "instructions"]


def test_case_list_filters_and_sorts(session, community, cases_, clock):
    ids = lambda args: [a.id for a in listing.cases(session, community.id, args, RULES).rows]  # noqa: E731
    spam, rude, old = cases_["spam"], cases_["rude"], cases_["old"]
    assert ids({}) == [old.id, rude.id, spam.id]
    assert ids({"sort": "oldest"}) == [spam.id, rude.id, old.id]
    assert ids({"kind": "timeout"}) == [rude.id]
    assert ids({"rule": "leaks"}) == [old.id]
    assert ids({"moderator": "mod_a"}) == [spam.id]
    assert ids({"source": "flag"}) == []
    today = clock.now().date().isoformat()
    assert ids({"from": today, "to": today}) == [old.id, rude.id, spam.id]
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    assert ids({"from": tomorrow}) == []


@pytest.mark.parametrize("args, message", [
    ({"kind": "nuke"}, "kind must be one of"),
    ({"rule": "nope"}, "rule must be one of"),
    ({"moderator": "ghost"}, "no staff member called 'ghost'"),
    ({"from": "2026-13-01"}, "YYYY-MM-DD"),
    ({"from": "2026-02-02", "to": "2026-02-01"}, "after the 'to' date"),
    ({"page": "0"}, "page must be a whole number"),
    ({"page": "9999"}, "page must be a whole number"),
    ({"sort": "random"}, "sort must be one of"),
])
def test_bad_case_filters_are_400s_naming_the_fix(session, community, cases_, args, message):
    with pytest.raises(listing.InvalidFilter, match=message) as e:
        listing.cases(session, community.id, args, RULES)
    assert e.value.http_status == 400


def test_case_list_pages(session, community, mod_a, make_member):
    member = make_member()
    for _ in range(listing.PAGE + 1):
        timeout(session, mod_a, member, hours=1)
    first = listing.cases(session, community.id, {}, RULES)
    second = listing.cases(session, community.id, {"page": "2"}, RULES)
    assert len(first.rows) == listing.PAGE and first.has_next
    assert len(second.rows) == 1 and not second.has_next
    assert not {a.id for a in first.rows} & {a.id for a in second.rows}


def test_appeal_list_filters(session, community, cases_, mod_b, make_member, mod_a, clock):
    ap = cases_["appeal"]
    second = appeal(session, cases_["amy"], cases_["rude"])
    me = lambda actor: session.get(listing.StaffUser, actor.id)  # noqa: E731
    ids = lambda args, who=mod_b: [a.id for a in listing.appeals(session, community.id, args, me(who)).rows]  # noqa: E731
    assert set(ids({})) == {ap.id, second.id}
    claim(session, mod_b, "appeal", ap.id)
    assert ids({"claimed": "me"}) == [ap.id] and ids({"claimed": "nobody"}) == [second.id]
    assert ids({"claimed": "mod_b"}, mod_a) == [ap.id] and ids({"claimed": "me"}, mod_a) == []
    escalate_appeal(session, mod_b, ap.id, "Needs leadership: the owner's approval is claimed.")
    assert ids({"escalated": "yes"}) == [ap.id] and ids({"escalated": "no"}) == [second.id]
    assert ids({"status": AppealStatus.escalated}) == [ap.id]
    assert ids({"overdue": "yes"}) == []
    clock.advance(days=4)  # past the 72 h review SLA, not the leadership one
    assert ids({"overdue": "yes"}) == [second.id]
    with pytest.raises(listing.InvalidFilter, match="overdue must be one of yes"):
        ids({"overdue": "maybe"})
    with pytest.raises(listing.InvalidFilter, match="no staff member called"):
        ids({"claimed": "ghost"})


def test_member_history_pages_each_part(session, community, mod_a, make_member):
    member = make_member()
    actions = [timeout(session, mod_a, member, hours=1) for _ in range(listing.PAGE + 2)]
    history = listing.member_history(session, member, {"actions_page": "2"})
    assert [a.id for a in history.actions.rows] == [a.id for a in actions[:2]][::-1]
    assert history.actions.page == 2 and not history.actions.has_next
    assert history.appeals.rows == [] and history.flags.rows == []
    with pytest.raises(listing.InvalidFilter, match="flags_page"):
        listing.member_history(session, member, {"flags_page": "x"})


def test_words_older_than_the_recent_window_are_found_newest_first(session, community, mod_a, make_member,
                                                                     monkeypatch):
    monkeypatch.setattr(search, "RECENT", 2)  # the first, bounded look covers two rows only
    member = make_member()
    old = [ban(session, mod_a, member, public_reason=f"Posted an ancient meme, part {i}.", days=1) for i in range(3)]
    for _ in range(3):
        ban(session, mod_a, member, public_reason="Spammed the general channel.", days=1)
    assert [a.id for a in search.search(session, community.id, "ancient", limit=2).cases] == [old[2].id, old[1].id]
    assert len(search.search(session, community.id, "spammed", limit=2).cases) == 2
