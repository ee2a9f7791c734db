"""Discord's record in modsys: the audit-log sync (cases done in the Discord client
and by AutoMod, attributed, "reason needed" until completed, never twice, modsys's
own requests skipped) and the daily drift check with its one-click fixes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.adapters.discord import cases, drift
from modsys.adapters.discord.audit_log import sync_audit_log
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.domain.actors import CLI
from modsys.domain.errors import Conflict, NotFound, ValidationFailed
from modsys.domain.models import (
    Action,
    DiscordDrift,
    DiscordImport,
    DiscordSyncCursor,
    StatementOfReasons,
)
from modsys.runtime.delivery import deliver_outbox
from modsys.services.staff import set_discord_user_id
from tests.conftest import fresh
from tests.factories import ban, timeout
from tests.support.discord_server import bot_settings

MOD_DISCORD_ID = "300000000000000001"


settings = bot_settings


def discord_cases(session) -> list[Action]:
    fresh(session)
    return list(session.exec(select(Action).where(Action.source == "discord").order_by(Action.id)))


def test_bans_kicks_and_timeouts_done_in_discord_become_attributed_cases_once(
        engine, session, community, guild, discord_bot, mod_a, make_staff, clock):
    set_discord_user_id(session, CLI, mod_a.id, MOD_DISCORD_ID)  # the operator; admins may only unlink
    until = (clock.now() + timedelta(hours=6)).isoformat()
    guild.log(22, "400000000000000001", MOD_DISCORD_ID, reason="spam links in #general")
    guild.log(20, "400000000000000002", "300000000000000099")  # an unlinked moderator, no reason
    guild.log(24, "400000000000000003", MOD_DISCORD_ID, reason="cool down",
              changes=[{"key": "communication_disabled_until", "new_value": until}])
    guild.log(24, "400000000000000004", MOD_DISCORD_ID, changes=[{"key": "nick", "new_value": "x"}])  # not a sanction
    guild.log(145, "400000000000000005", "300000000000000777",
              options={"auto_moderation_rule_name": "slurs"})

    assert sync_audit_log(engine, settings=settings(discord_bot))["recorded"] == 4
    recorded = discord_cases(session)
    assert [a.kind for a in recorded] == ["ban", "kick", "timeout", "timeout"]
    banned = recorded[0]
    assert banned.moderator_id == mod_a.id and banned.public_reason == cases.PENDING_REASON
    assert banned.ends_at is None and banned.appealable and banned.rules == []
    assert banned.appeal_deadline is None  # the window starts when the reasons are written
    assert recorded[2].ends_at.isoformat() == until
    imports = {i.action_id: i for i in session.exec(select(DiscordImport))}
    assert imports[banned.id].discord_reason == "spam links in #general"  # the staff-only draft
    assert cases.executor_label(session, imports[recorded[1].id]) == "unlinked moderator 300000000000000099"
    assert cases.executor_label(session, imports[recorded[3].id]) == "Discord AutoMod"
    assert imports[recorded[1].id].discord_reason == ""
    assert len(cases.reason_needed(session, community.id)) == 4

    guild.log(22, "400000000000000006", MOD_DISCORD_ID, reason="raid")
    assert sync_audit_log(engine, settings=settings(discord_bot))["recorded"] == 1  # only the new entry
    fresh(session)
    cursor = session.exec(select(DiscordSyncCursor)).one()
    assert cursor.last_entry_id == guild.audit_log[-1]["id"]
    after = [c.query["after"] for c in discord_bot.calls_to("audit_log")]
    assert after == ["0", guild.audit_log[4]["id"]]  # it remembered where it stopped

    session.execute(DiscordSyncCursor.__table__.update().values(last_entry_id="0"))  # a lost cursor
    session.commit()
    assert sync_audit_log(engine, settings=settings(discord_bot))["recorded"] == 0  # never recorded twice


def test_modsys_own_requests_are_recognised_and_not_recorded_again(engine, session, guild, discord_bot, mod_a,
                                                                    make_member, clock):
    member = make_member()
    case = ban(session, mod_a, member)
    deliver_enforcement(engine, settings=settings(discord_bot))
    assert guild.audit_log[-1]["reason"] == f"modsys case #{case.id}: respectful"  # Discord logged our request
    assert sync_audit_log(engine, settings=settings(discord_bot))["recorded"] == 0
    assert discord_cases(session) == []


def test_unban_and_cleared_timeout_in_discord_lift_the_cases(engine, session, guild, discord_bot, mod_a, make_member,
                                                             clock):
    banned, muted = make_member(), make_member()
    ban_case = ban(session, mod_a, banned)
    mute_case = timeout(session, mod_a, muted)
    guild.log(23, banned.platform_user_id, MOD_DISCORD_ID, reason="talked it out")
    guild.log(24, muted.platform_user_id, MOD_DISCORD_ID,
              changes=[{"key": "communication_disabled_until", "old_value": "2026-01-01T00:00:00+00:00"}])
    result = sync_audit_log(engine, settings=settings(discord_bot))
    assert result["lifted"] == 1 and result["recorded"] == 1  # the unban is a case; the cleared timeout lifts one
    fresh(session)
    assert session.get(Action, ban_case.id).status == "revoked"
    assert session.get(Action, ban_case.id).lifted_reason == "unbanned in Discord: talked it out"
    assert session.get(Action, mute_case.id).status == "revoked"


def test_completing_the_statement_of_reasons_opens_the_appeal_and_dms_the_member(
        engine, session, community, guild, discord_bot, mod_a, clock):
    guild.log(22, "400000000000000001", MOD_DISCORD_ID, reason="spam")
    sync_audit_log(engine, settings=settings(discord_bot))
    (case,) = discord_cases(session)
    with pytest.raises(ValidationFailed, match="cite at least one rule"):
        cases.complete_statement(session, mod_a, case.id, [], "Posting scam links in several channels.")
    with pytest.raises(NotFound):
        cases.complete_statement(session, mod_a, case.id + 100, ["spam"], "Posting scam links in several channels.")
    cases.complete_statement(session, mod_a, case.id, ["respectful"], "Posting scam links in several channels.")
    fresh(session)
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == case.id)).one()
    assert sor.measure == "permanent ban" and "Done in Discord" in sor.decision_facts
    assert cases.reason_needed(session, community.id) == []
    with pytest.raises(Conflict):
        cases.complete_statement(session, mod_a, case.id, ["respectful"], "Posting scam links in several channels.")
    deliver_outbox(engine, settings=settings(discord_bot))
    deliver_enforcement(engine, settings=settings(discord_bot))
    [dm] = discord_bot.dms["400000000000000001"]
    assert "the moderators wrote the statement of reasons" in dm["content"] and "/appeal/" in dm["content"]
    assert not discord_bot.calls_to("put_ban")  # already banned in Discord: only the DM


def test_sync_without_view_audit_log_notes_the_error_and_keeps_the_cursor(engine, session, guild, discord_bot, clock):
    guild.roles[1]["permissions"] = "0"
    assert sync_audit_log(engine, settings=settings(discord_bot))["errors"] == 1
    fresh(session)
    cursor = session.exec(select(DiscordSyncCursor)).one()
    assert cursor.last_entry_id == "0" and "403 Missing Permissions: the bot needs View Audit Log" in cursor.last_error


def test_drift_lists_both_directions_and_each_fix_resolves_one(engine, session, community, guild, discord_bot, mod_a,
                                                               make_staff, make_member, clock):
    admin = make_staff("admin")
    kept, lifted_outside, missing = make_member(), make_member(), make_member()
    for member in (kept, lifted_outside, missing):
        ban(session, mod_a, member)
    deliver_enforcement(engine, settings=settings(discord_bot))
    del guild.bans[lifted_outside.platform_user_id]  # someone unbanned without a trace we could read
    del guild.bans[missing.platform_user_id]
    for i in range(1005):  # more than one page of bans
        guild.bans[str(600000000000000000 + i)] = {"reason": None, "user": {"id": str(600000000000000000 + i)}}

    assert drift.check_drift(engine, settings=settings(discord_bot)) == {"open": 1007, "errors": 0, "checked": 1}
    assert [c.query["after"] for c in discord_bot.calls_to("bans")] == ["0", "600000000000000999"]  # ascending by user id
    assert drift.check_drift(engine, settings=settings(discord_bot))["open"] == 1007  # same findings, not doubled
    findings = drift.open_findings(session, community.id, limit=2000)
    assert len(findings) == 1007
    by_uid = {f.platform_user_id: f for f in findings}

    with pytest.raises(ValidationFailed):
        drift.fix(session, admin, by_uid[missing.platform_user_id].id, "import")
    drift.fix(session, admin, by_uid[missing.platform_user_id].id, "reapply")
    drift.fix(session, admin, by_uid[lifted_outside.platform_user_id].id, "close")
    imported = drift.fix(session, admin, by_uid["600000000000000000"].id, "import")
    assert "imported as case #" in imported.resolution
    deliver_enforcement(engine, settings=settings(discord_bot))
    assert missing.platform_user_id in guild.bans
    fresh(session)
    closed = session.exec(select(Action).where(Action.member_id == lifted_outside.id)).one()
    assert closed.status == "revoked"
    assert drift.check_drift(engine, settings=settings(discord_bot))["open"] == 1004  # the other imports remain
    assert session.exec(select(DiscordDrift).where(DiscordDrift.resolved_at.is_(None))).all().__len__() == 1004


def test_a_timeout_cleared_outside_modsys_is_drift_and_reapply_restores_it(engine, session, community, guild,
                                                                          discord_bot, mod_a, make_staff, make_member,
                                                                          clock):
    admin = make_staff("admin")
    member, left = make_member(), make_member()
    guild.add_member(member.platform_user_id)
    guild.add_member(left.platform_user_id)
    timeout(session, mod_a, member, hours=24)
    timeout(session, mod_a, left, hours=24)
    deliver_enforcement(engine, settings=settings(discord_bot))
    assert drift.check_drift(engine, settings=settings(discord_bot))["open"] == 0
    guild.members[member.platform_user_id]["communication_disabled_until"] = None  # cleared without a log we read
    del guild.members[left.platform_user_id]  # left the server: no timeout to compare, not drift
    assert drift.check_drift(engine, settings=settings(discord_bot))["open"] == 1
    (finding,) = drift.open_findings(session, community.id)
    assert (finding.kind, finding.problem, finding.platform_user_id) == ("timeout", "missing_in_discord",
                                                                         member.platform_user_id)
    drift.fix(session, admin, finding.id, "reapply")
    deliver_enforcement(engine, settings=settings(discord_bot))
    assert guild.timed_out_until(member.platform_user_id) is not None
    assert len(discord_bot.dms[member.platform_user_id]) == 1  # a re-apply does not DM the member again
    assert drift.check_drift(engine, settings=settings(discord_bot))["open"] == 0
