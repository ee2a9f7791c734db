"""Cases done in the Discord client are the moderators' work: posted to the modlog,
not appealable until a moderator writes the statement of reasons, then the member
is DMed their link and the window starts. Drift imports keep Discord's reason as
the draft; "check drift now" runs only what was asked; the placeholder owner of
unlinked and AutoMod cases is no one's account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.adapters.discord import cases, drift
from modsys.adapters.discord.audit_log import sync_audit_log
from modsys.domain.actors import CLI, Actor
from modsys.domain.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    ValidationFailed,
)
from modsys.domain.models import (
    SYSTEM_ROLE,
    Action,
    DiscordImport,
    Member,
    OutboxMessage,
    StaffUser,
    StatementOfReasons,
)
from modsys.infra.config import DEFAULT_POLICY
from modsys.notify.messages import render
from modsys.runtime.delivery import deliver_outbox
from modsys.services import staff as staff_svc
from modsys.services.communities import create_community
from tests.conftest import PASSWORD, fresh
from tests.factories import appeal
from tests.support.discord_server import bot_settings

BANNED = "400000000000000001"
UNLINKED_MOD = "300000000000000099"


def _case(session) -> Action:
    fresh(session)
    return session.exec(select(Action).where(Action.source == "discord").order_by(Action.id.desc())).first()


def _outbox(session, event: str) -> list[OutboxMessage]:
    fresh(session)
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.event == event)))


def test_a_ban_done_in_discord_waits_for_its_reasons_before_the_member_can_appeal(
        engine, session, community, guild, discord_bot, mod_a, clock):
    settings = bot_settings(discord_bot)
    guild.log(22, BANNED, UNLINKED_MOD, reason="raid bot")
    sync_audit_log(engine, settings=settings)
    case = _case(session)
    member = session.get(Member, case.member_id)

    # Moderators see it: a modlog post linking to the case, with Discord's reason.
    (posted,) = _outbox(session, "action.recorded_from_discord")
    assert posted.channel == "modlog"
    embed = render(session, posted, settings)["embeds"][0]
    assert embed["title"] == f"Done in Discord, reason needed: case #{case.id}"
    assert embed["url"].endswith(f"/actions/{case.id}")
    assert any(f["value"] == "raid bot" for f in embed["fields"])
    assert cases.reason_needed_count(session, community.id) == 1

    # The member can't appeal a case nobody explained yet.
    assert cases.awaiting_reasons(session, case.id)
    with pytest.raises(PolicyViolation, match="not yet written the statement of reasons"):
        appeal(session, member, case)

    clock.advance(timedelta(days=3))
    cases.complete_statement(session, mod_a, case.id, ["respectful"], "Joined with a bot that spammed every channel.")
    fresh(session)
    case = session.get(Action, case.id)
    assert case.appeal_deadline == clock.now() + timedelta(days=180)  # the window starts now, not at the ban
    assert not cases.awaiting_reasons(session, case.id)
    (completed,) = _outbox(session, "member.reason_completed")
    assert completed.payload == {"action_id": case.id}

    deliver_outbox(engine, settings=settings)  # the member's notices are DMs from the outbox
    (dm,) = discord_bot.dms[BANNED]
    assert "/appeal/" in dm["content"] and "Joined with a bot" in dm["content"]
    assert appeal(session, member, case).status == "submitted"


def test_amending_a_statement_is_audited_and_refused_once_appealed(engine, session, guild, discord_bot, mod_a,
                                                                   clock):
    guild.log(22, BANNED, UNLINKED_MOD, reason="raid bot")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    case = _case(session)
    with pytest.raises(Conflict, match="no statement of reasons yet"):
        cases.amend_statement(session, mod_a, case.id, "A clearer explanation of what happened.")
    cases.complete_statement(session, mod_a, case.id, ["respectful"], "Joined with a bot taht spammed.")
    cases.amend_statement(session, mod_a, case.id, "Joined with a bot that spammed every channel.")
    fresh(session)
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == case.id)).one()
    assert sor.ground_explanation == session.get(Action, case.id).public_reason == \
        "Joined with a bot that spammed every channel."
    appeal(session, session.get(Member, case.member_id), case)
    with pytest.raises(Conflict, match="was appealed"):
        cases.amend_statement(session, mod_a, case.id, "Another rewrite after the appeal came in.")


def test_a_drift_import_keeps_discords_reason_and_name_as_the_draft(engine, session, community, guild, discord_bot,
                                                                    make_staff, clock):
    admin = make_staff("admin")
    guild.bans[BANNED] = {"reason": "crypto scam DMs", "user": {"id": BANNED, "username": "scammer"}}
    drift.check_drift(engine, settings=bot_settings(discord_bot))
    (finding,) = drift.open_findings(session, community.id)
    assert (finding.discord_reason, finding.user_name) == ("crypto scam DMs", "scammer")
    drift.fix(session, admin, finding.id, "import")
    case = _case(session)
    imported = session.exec(select(DiscordImport).where(DiscordImport.action_id == case.id)).one()
    assert imported.discord_reason == "crypto scam DMs"
    assert session.get(Member, case.member_id).display_name == "scammer"
    assert cases.awaiting_reasons(session, case.id) and case.appeal_deadline is None
    assert _outbox(session, "action.recorded_from_discord")


def test_check_drift_now_runs_only_what_was_asked(engine, session, community, guild, discord_bot, make_staff, mod_a,
                                                   clock):
    settings = bot_settings(discord_bot)
    with pytest.raises(PermissionDenied):
        drift.request_check(session, mod_a, community.id)
    assert drift.check_requested(engine, settings=settings)["checked"] == 0
    assert not discord_bot.calls_to("bans")
    drift.request_check(session, make_staff("admin"), community.id)
    guild.bans[BANNED] = {"reason": None, "user": {"id": BANNED}}
    assert drift.check_requested(engine, settings=settings) == {"open": 1, "errors": 0, "checked": 1}
    assert drift.check_requested(engine, settings=settings)["checked"] == 0  # done: not again until asked


def test_the_placeholder_owner_of_unlinked_and_automod_cases_is_no_ones_account(
        engine, session, community, guild, discord_bot, make_staff, clock):
    admin = make_staff("admin")
    guild.log(145, BANNED, "300000000000000777", options={"auto_moderation_rule_name": "slurs"})
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    case = _case(session)
    owner = session.get(StaffUser, case.moderator_id)
    assert owner.role == SYSTEM_ROLE and not owner.active
    for who in (admin, CLI):
        with pytest.raises(Conflict, match="placeholder"):
            staff_svc.set_active(session, who, owner.id, True)
        with pytest.raises(Conflict, match="placeholder"):
            staff_svc.reset_password(session, who, owner.id)
        with pytest.raises(Conflict, match="placeholder"):
            staff_svc.set_role(session, who, owner.id, "admin")
        with pytest.raises(Conflict, match="placeholder"):
            staff_svc.set_discord_user_id(session, who, owner.id, "300000000000000777")
    with pytest.raises(ValidationFailed):  # nobody can make an account with such a name
        staff_svc.create_staff(session, CLI, community.id, owner.username, "moderator", PASSWORD)
    # Even an account that was reactivated before this release can't sign in.
    session.get(StaffUser, owner.id).active = True
    session.commit()
    assert staff_svc.authenticate(session, owner.username, "!") is None
    assert staff_svc.session_user(session, owner.id, owner.session_token) is None


def test_reason_from_another_community_is_not_found_whatever_the_cases_state(engine, session, community, guild,
                                                                               discord_bot, clock):
    other = create_community(session, CLI, "other", "Other server", str(DEFAULT_POLICY))
    stranger = staff_svc.create_staff(session, CLI, other.id, "stranger", "moderator", PASSWORD)
    guild.log(22, BANNED, UNLINKED_MOD, reason="raid bot")
    sync_audit_log(engine, settings=bot_settings(discord_bot))
    case = _case(session)
    for rule in ("", "spam"):  # the same answer with or without the rule: nothing about the case leaks
        with pytest.raises(NotFound, match=f"case {case.id} does not exist"):
            cases.write_reasons(session, Actor.staff(stranger), case.id, "Joined with a raid bot.", rule)
    assert cases.awaiting_reasons(session, case.id)
