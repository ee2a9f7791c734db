"""Several communities in one database, kept apart by the unit of work: every
service call of one community's actors finds nothing of the other's (NotFound,
never PermissionDenied, which would confirm the row exists), and every
scheduled job keeps each community's events and notifications to itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys import audit
from modsys.domain.actors import CLI, SCHEDULER
from modsys.domain.errors import NotFound, ValidationFailed
from modsys.domain.models import (
    Action,
    Appeal,
    AuditEvent,
    Community,
    Evidence,
    Flag,
    Member,
    OfficialStatement,
    OutboxMessage,
    StaffUser,
)
from modsys.infra.config import DEFAULT_POLICY, settings_of
from modsys.reads import queries
from modsys.runtime import jobs
from modsys.services import (
    actions,
    api_keys,
    appeals,
    decisions,
    evidence,
    flags,
    staff,
    statements,
)
from modsys.services.actions import NewAction
from modsys.services.communities import create_community, set_guild
from modsys.services.evidence import EvidenceInput
from modsys.uow import open_unit
from tests.conftest import fresh
from tests.support.communities import two_communities

SECRET = "test-secret-key-not-for-production"


@pytest.fixture
def worlds(session, community):
    return two_communities(session, community, SECRET)


def _snapshot(session, community_id: int) -> tuple:
    """Everything of a community a change could touch."""
    fresh(session)
    rows = []
    for model in (Action, Appeal, Flag, Member, Evidence, StaffUser, OfficialStatement):
        rows.append(sorted(str(r.model_dump()) for r in session.exec(select(model).where(
            model.community_id == community_id))))
    rows.append(len(session.exec(select(AuditEvent.seq).where(AuditEvent.community_id == community_id)).all()))
    return tuple(rows)


def test_an_admin_of_one_community_finds_nothing_of_the_other(session, worlds):
    a, b = worlds
    before = _snapshot(session, b.community.id)
    admin = a.actor("admin")
    target = b.staff["admin"].id
    for call in (lambda: staff.set_role(session, admin, target, "moderator"),
                 lambda: staff.set_active(session, admin, target, False),
                 lambda: staff.reset_password(session, admin, target),
                 lambda: staff.create_staff(session, admin, b.community.id, "intruder", "admin", "long-enough-pass"),
                 lambda: api_keys.create_api_key(session, admin, b.community.id, "intruder", "reporter"),
                 lambda: api_keys.revoke_api_key(session, admin, b.ids["key_id"]),
                 lambda: api_keys.list_api_keys(session, admin, b.community.id),
                 lambda: evidence.delete_evidence(session, admin, b.ids["evidence_id"], "cleaning up")):
        with pytest.raises(NotFound):
            call()
    assert _snapshot(session, b.community.id) == before


def test_staff_of_one_community_find_nothing_of_the_other(session, worlds, clock):
    a, b = worlds
    before = _snapshot(session, b.community.id)
    mod, lead = a.actor("moderator2"), a.actor("leadership")
    ids = b.ids
    ban = NewAction(member_id=ids["member_id"], kind="warning", rules=["respectful"], public_reason="Not your member.")
    for call in (
        lambda: actions.file_action(session, mod, ban),
        lambda: actions.cosign_action(session, mod, ids["pending_id"]),
        lambda: actions.revoke_action(session, lead, ids["pending_id"], "Not your community's case."),
        lambda: flags.dismiss_flag(session, mod, ids["flag_id"]),
        lambda: flags.act_on_flag(session, mod, ids["flag_id"], ban),
        lambda: evidence.add_evidence(session, mod, ids["action_id"], EvidenceInput("text", "public", "x" * 20)),
        lambda: appeals.start_review(session, mod, ids["decided_appeal_id"]),
        lambda: appeals.add_message(session, mod, ids["appeal_id"], "hello from elsewhere"),
        lambda: appeals.escalate_appeal(session, mod, ids["appeal_id"], "Escalating someone else's appeal."),
        lambda: decisions.final_decision(session, lead, ids["appeal_id"],
                                         decisions.Decision("overturned", "Overturned from the wrong community.")),
        lambda: statements.publish_statement(session, lead, ids["decided_appeal_id"], "Title", "A statement " * 3),
        lambda: api_keys.read_action(session, mod, ids["action_id"]),
        lambda: api_keys.read_appeal(session, mod, ids["appeal_id"]),
        lambda: api_keys.read_flag(session, mod, ids["flag_id"]),
    ):
        with pytest.raises(NotFound):
            call()
    # Reporting a message names the community: a key reports into its own only.
    from tests.factories import reporter

    with pytest.raises(NotFound):
        flags.report_flag(session, reporter(session, a.community.id, "alpha-bot"), b.community.id,
                          flags.FlagReportInput("9", "1", "99", "x", "text", "1"))
    # A member's appeal link acts for their own community only.
    member_a = session.exec(select(Member).where(Member.community_id == a.community.id)).first()
    from modsys.domain.actors import Actor

    with pytest.raises(NotFound):
        appeals.submit_appeal(session, Actor.member(member_a), ids["action_id"], "A long enough statement here.")
    assert _snapshot(session, b.community.id) == before


def test_lists_and_counts_are_of_one_community(session, worlds):
    a, b = worlds
    mod = a.actor("moderator")
    listed = api_keys.list_actions(session, mod, limit=100)
    assert listed and {v.action.community_id for v in listed} == {a.community.id}
    assert {v.appeal.community_id for v in api_keys.list_appeals(session, mod, limit=100)} == {a.community.id}
    assert {k.name for k in api_keys.list_api_keys(session, a.actor("admin"), a.community.id)} == {"alpha-bot",
                                                                                                  "alpha-modkey"}
    for community_id, world in ((a.community.id, a), (b.community.id, b)):
        counts = queries.counts(session, community_id)
        assert counts.open_flags == 1 and sum(counts.appeals_by_state.values()) == 2, world.prefix
        assert {f.community_id for f in queries.flag_queue(session, community_id)} == {community_id}
        assert set(queries.staff_names(session, community_id).values()) == {
            u.username for u in world.staff.values()}
        assert [s.title for s in queries.statements(session, community_id)] == [f"{world.prefix} statement"]


def test_every_job_keeps_each_communitys_events_and_notices_to_itself(engine, session, worlds, clock):
    a, b = worlds
    clock.advance(timedelta(days=9))  # sanctions expire, SLAs pass, reminders fall due
    results = jobs.run_jobs(engine, [name for name in jobs.JOBS if name != "deliver_outbox"],
                            settings=settings_of(engine))  # this test's settings, as an entry point passes them
    assert results["expire_sanctions"]["expired"] >= 2 and results["escalate_overdue_appeals"]["escalated"] == 0
    fresh(session)
    models = {"action": Action, "appeal": Appeal, "flag": Flag, "member": Member, "evidence": Evidence,
              "staffuser": StaffUser, "officialstatement": OfficialStatement, "community": Community}
    for event in session.exec(select(AuditEvent).where(AuditEvent.subject_id.is_not(None))):
        model = models.get(event.subject_type)
        if model is None:
            continue
        row = session.get(model, event.subject_id)
        owner = row.id if model is Community else getattr(row, "community_id", None)
        assert owner == event.community_id, (event.seq, event.verb)
    for message in session.exec(select(OutboxMessage)):
        for key, model in (("action_id", Action), ("appeal_id", Appeal), ("flag_id", Flag)):
            if key in (message.payload or {}):
                assert session.get(model, message.payload[key]).community_id == message.community_id, message.event
    assert audit.verify(session).ok


def test_a_system_actor_acts_on_the_community_it_names(session, worlds, clock):
    a, b = worlds
    clock.advance(timedelta(days=8))
    expired = actions.expire_due_actions(session, SCHEDULER.within(a.community.id))
    assert expired and {session.get(Action, i).community_id for i in expired} == {a.community.id}
    # The operator may reach any community, but one unit of work stays in one.
    uow = open_unit(session, CLI)
    uow.get(Action, a.ids["action_id"])
    with pytest.raises(NotFound):
        uow.get(Action, b.ids["action_id"])


def test_communities_are_created_and_bound_to_one_discord_server_each(session, worlds):
    a, b = worlds
    assert b.community.discord_guild_id == "123456789012345678"
    from modsys.domain.errors import Conflict, PermissionDenied

    with pytest.raises(Conflict):
        set_guild(session, CLI, a.community.id, "123456789012345678")
    with pytest.raises(Conflict):
        create_community(session, CLI, "partner", "Again", DEFAULT_POLICY)
    with pytest.raises(ValidationFailed):
        create_community(session, CLI, "Bad Slug", "Bad", DEFAULT_POLICY)
    with pytest.raises(ValidationFailed):
        set_guild(session, CLI, a.community.id, "not-a-snowflake")
    with pytest.raises(PermissionDenied):
        create_community(session, a.actor("admin"), "mine", "Mine", DEFAULT_POLICY)
    set_guild(session, CLI, a.community.id, "223456789012345678")
    fresh(session)
    assert session.get(Community, a.community.id).discord_guild_id == "223456789012345678"
