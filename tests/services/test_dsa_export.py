"""The DSA export: every statement validates against the schema transcribed from the
Transparency Database's own rules, reversals are exported, and no personal data leaves."""

import json
from datetime import date, datetime, timedelta

import jsonschema
import pytest
from sqlmodel import select

from modsys.domain.models import Action, Member, StaffUser
from modsys.reads.export.dsa import BATCH_MAX, export_statements, schema
from modsys.services.actions import NewAction, cosign_action, file_action
from modsys.services.appeals import start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from modsys.services.evidence import EvidenceInput
from modsys.services.flags import FlagReportInput, act_on_flag, report_flag
from tests.factories import appeal, ban, reporter, timeout

REASONS = "The context shows the member was quoting the insult to report it."
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema())
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def assert_valid(export) -> None:
    v = validator()
    bodies = list(export.batches())
    assert sum(len(b["statements"]) for b in bodies) == len(export.statements)
    for body in bodies:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(body)]
        assert errors == []
    for s in export.statements:  # the date order rules the schema can't express
        for end in ("end_date_account_restriction",):
            assert s.get(end) is None or s[end] >= s["application_date"]


@pytest.fixture
def cases(session, community, mod_a, mod_b, make_member, clock):
    """A month of moderation: a flag acted on, an illegal-content ban, a warning, a
    permanent ban awaiting its second signature, one overturned and one modified appeal."""
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=clock.now().tzinfo))
    flag, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id="5550001", channel_id="42", channel_name="general", author_id="123456789012345678",
        author_name="Rude Person", content="you are an idiot", reporter="8888", reason="insult",
        sent_at=datetime(2026, 3, 1, 23, 30, tzinfo=clock.now().tzinfo)))
    flagged = act_on_flag(session, mod_a, flag.id, NewAction(
        member_id=flag.author_id, kind="timeout", rules=["respectful"], public_reason="Insulting Alice Example.",
        duration=timedelta(hours=24), evidence=[EvidenceInput("file", "private", data=PNG, filename="s.png")]))
    illegal_member = make_member("Doxxer McDox")
    illegal = ban(session, mod_a, illegal_member, days=30, rules=["illegal"],
                  public_reason="Posted Bob Example's home address.")
    warned = make_member("Warned Person")
    warning = file_action(
        session, mod_a, NewAction(member_id=warned.id, kind="warning", rules=["spam"],
                                  public_reason="Please stop posting links."))
    pending = ban(session, mod_a, make_member("Pending Person"), days=None)
    overturned_member = make_member("Overturned Person")
    overturned = ban(session, mod_a, overturned_member, days=7)
    modified_member = make_member("Modified Person")
    modified = timeout(session, mod_a, modified_member, hours=72)
    clock.advance(days=1)
    for member, action, decision in (
        (overturned_member, overturned, Decision("overturned", REASONS)),
        (modified_member, modified, Decision("modified", REASONS, Modification("timeout", timedelta(hours=1)))),
    ):
        a = appeal(session, member, action)
        start_review(session, mod_b, a.id)
        decide_appeal(session, mod_b, a.id, decision)
    return {"flagged": flagged, "illegal": illegal, "warning": warning, "pending": pending,
            "overturned": overturned, "modified": modified}


def by_puid(export) -> dict:
    return {s["puid"]: s for s in export.statements}


def test_every_statement_validates_and_maps_the_case(session, community, cases):
    export = export_statements(session, community.id)
    assert_valid(export)
    got = by_puid(export)
    c = {k: a.id for k, a in cases.items()}
    replacement = session.get(Action, c["modified"] + 1)
    assert replacement.supersedes_id == c["modified"]
    appeal_ids = sorted(int(p.rsplit("-", 1)[1]) for p in got if "-appeal-" in p)
    assert sorted(got) == sorted([f"default-case-{c['flagged']}", f"default-case-{c['illegal']}",
                                  f"default-case-{c['overturned']}", f"default-case-{c['modified']}",
                                  f"default-case-{replacement.id}",
                                  f"default-case-{c['overturned']}-appeal-{appeal_ids[0]}",
                                  f"default-case-{c['modified']}-appeal-{appeal_ids[1]}"])
    assert export.skipped == 2  # the warning restricts nothing; the permanent ban is not in force yet

    flagged = got[f"default-case-{c['flagged']}"]
    assert flagged["content_date"] == "2026-03-01" and flagged["application_date"] == "2026-03-02"
    assert flagged["end_date_account_restriction"] == "2026-03-03"
    assert flagged["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert flagged["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"  # a report, not alleging illegal content
    assert flagged["content_type"] == ["CONTENT_TYPE_TEXT", "CONTENT_TYPE_IMAGE"]
    assert flagged["automated_detection"] == "No" and flagged["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert flagged["incompatible_content_ground"].startswith("Rule 'respectful': Be respectful.")
    assert "illegal_content_legal_ground" not in flagged

    illegal = got[f"default-case-{c['illegal']}"]
    assert illegal["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert illegal["illegal_content_legal_ground"].startswith("Rule 'illegal'")
    assert illegal["source_type"] == "SOURCE_VOLUNTARY"
    assert illegal["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"

    reversal = got[f"default-case-{c['overturned']}-appeal-{appeal_ids[0]}"]
    assert reversal["decision_facts"].startswith(f"Reversal on appeal {appeal_ids[0]}. Case {c['overturned']}")
    assert "overturned" in reversal["decision_facts"]
    assert reversal["end_date_account_restriction"] == "2026-03-03"  # lifted on the decision day, not after 7 days
    assert got[f"default-case-{c['overturned']}"]["end_date_account_restriction"] == "2026-03-09"
    assert f"case {replacement.id}" in got[f"default-case-{c['modified']}-appeal-{appeal_ids[1]}"]["decision_facts"]


def test_v1_categories_of_older_policies_go_out_under_their_v2_names(session, community, mod_a, make_member):
    # The default policy's "spam" rule still names STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE (v1).
    file_action(session, mod_a, NewAction(member_id=make_member().id, kind="timeout", rules=["spam"],
                                          public_reason="Posting the same link again.", duration=timedelta(hours=1)))
    (statement,) = export_statements(session, community.id).statements
    assert statement["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert_valid(export_statements(session, community.id))


def test_no_personal_data_leaves(session, community, cases):
    text = json.dumps(export_statements(session, community.id).statements) + export_statements(session, community.id).csv()
    members = session.exec(select(Member)).all()
    staff = session.exec(select(StaffUser)).all()
    assert members and staff
    for m in members:
        assert m.display_name not in text and m.platform_user_id not in text
    for s in staff:
        assert s.username not in text
    for secret in ("Alice Example", "Bob Example", "8888", "5550001", "you are an idiot", REASONS):
        assert secret not in text


def test_since_counts_days_in_utc_and_includes_later_reversals(session, community, cases):
    export = export_statements(session, community.id, since=date(2026, 3, 3))
    assert [s["puid"].split("-appeal-")[0] for s in export.statements] == [
        f"default-case-{cases['modified'].id + 1}", f"default-case-{cases['overturned'].id}",
        f"default-case-{cases['modified'].id}"]
    assert export_statements(session, community.id, since=date(2026, 3, 4)).statements == []


def test_batches_hold_at_most_100(session, community, cases):
    export = export_statements(session, community.id)
    export.statements = export.statements * 30  # 210: three request bodies
    bodies = list(export.batches())
    assert [len(b["statements"]) for b in bodies] == [BATCH_MAX, BATCH_MAX, 10]
    with pytest.raises(jsonschema.ValidationError, match="is too long"):
        validator().validate({"statements": export.statements[:BATCH_MAX + 1]})


def test_the_cosigned_ban_is_exported_as_a_termination(session, community, cases, make_staff):
    cosign_action(session, make_staff("moderator"), cases["pending"].id)
    export = export_statements(session, community.id)
    assert_valid(export)
    statement = by_puid(export)[f"default-case-{cases['pending'].id}"]
    assert statement["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert statement["end_date_account_restriction"] is None
    assert "co-signed" in statement["decision_facts"]


def test_other_communities_never_appear(session, community, cases):
    from modsys.community import ensure_community
    from modsys.infra.config import DEFAULT_POLICY
    other = ensure_community(session, DEFAULT_POLICY, slug="other")
    assert export_statements(session, other.id).statements == []
