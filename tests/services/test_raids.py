"""Raids against the fake gateway and the fake Discord: 300 joins raise one alert;
one click locks down and bans them (a case, a DM and an appeal each, two bulk
bans of at most 200); one click undoes it all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.adapters.discord.gateway.raids import raise_alert, respond, undo
from modsys.domain.models import Action, OutboxMessage, RaidAccount, RaidIncident
from modsys.infra.config import DEFAULT_POLICY, load_settings
from modsys.notify.messages import render
from modsys.runtime.jobs import deliver_raid_responses
from tests.conftest import fresh
from tests.support.discord_server import GUILD
from tests.support.wait import wait_until

RAIDERS = [str(1400000000000000000 + i) for i in range(300)]


def accounts(session) -> int:
    fresh(session)
    return len(session.exec(select(RaidAccount.id)).all())


def test_a_raid_of_300_joins_one_alert_one_click_bans_and_one_click_undoes(engine, session, mod_a, running,
                                                                          discord_bot, guild):
    for uid in RAIDERS:
        running.dispatch("GUILD_MEMBER_ADD", {"guild_id": GUILD, "user": {"id": uid, "username": f"raider{uid[-3:]}"},
                                              "roles": [], "joined_at": "2026-12-01T10:00:00+00:00"}, guild_id=GUILD)
    wait_until(lambda: accounts(session) == 300, 60, "the 300 raiders in the alert",
               on_timeout=lambda: f"{accounts(session)} accounts")
    [incident] = session.exec(select(RaidIncident)).all()
    alerts = session.exec(select(OutboxMessage).where(OutboxMessage.event == "raid.detected")).all()
    assert len(alerts) == 1 and alerts[0].channel == "modlog"

    respond(session, mod_a, incident.id)
    settings = running.settings
    assert deliver_raid_responses(engine, settings=settings)["banned"] == 300
    fresh(session)
    cases = session.exec(select(Action).where(Action.kind == "ban", Action.status == "active")).all()
    assert len(cases) == 300 and all(c.appealable and c.appeal_deadline for c in cases)
    assert sorted(guild.bans) == sorted(RAIDERS)
    assert sorted(discord_bot.dms) == sorted(RAIDERS)
    assert all(len(m) == 1 and "/appeal" in m[0]["content"] for m in discord_bot.dms.values())
    assert [len(c.json["user_ids"]) for c in discord_bot.calls_to("bulk_ban")] == [200, 100]
    assert guild.incident_actions["invites_disabled_until"] == guild.incident_actions["dms_disabled_until"] is not None
    deliver_enforcement(engine, settings=settings)
    assert not discord_bot.calls_to("put_ban")  # the bulk ban did it; nothing banned twice

    undo(session, mod_a, incident.id, "these were a school club joining together")
    deliver_raid_responses(engine, settings=settings)
    while deliver_enforcement(engine, settings=settings).get("done"):
        pass
    fresh(session)
    assert guild.bans == {} and len(discord_bot.calls_to("delete_ban")) == 300
    assert guild.incident_actions == {"invites_disabled_until": None, "dms_disabled_until": None}
    assert {c.status for c in session.exec(select(Action).where(Action.kind == "ban"))} == {"revoked"}
    assert session.get(RaidIncident, incident.id).status == "undone"


@pytest.mark.parametrize("role", [None, "700000000000000001"])
def test_the_alert_names_the_accounts_and_pings_the_policys_role(engine, session, community, tmp_path, clock, role):
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("alert_role_id: null", f"alert_role_id: {role or 'null'}"))
    community.policy_path = str(path)
    session.add(community)
    session.commit()
    now = clock.now()
    raise_alert(engine, community.id, "joins", [(now, RAIDERS[i], f"raider{i}") for i in range(25)],
                timedelta(seconds=60))
    message = session.exec(select(OutboxMessage).where(OutboxMessage.event == "raid.detected")).one()
    rendered = render(session, message, load_settings({"SECRET_KEY": "test-secret-key-not-for-production"}))
    embed = rendered["embeds"][0]
    assert embed["title"] == "Raid alert: 25 accounts joined within seconds"
    assert "raider0 (1400000000000000000)" in embed["description"] and "and 5 more" in embed["description"]
    if role:
        assert rendered["content"].startswith(f"<@&{role}>") and rendered["allowed_mentions"] == {"roles": [role]}
    else:
        assert "<@&" not in (rendered.get("content") or "")
