"""What the messages delivered to Discord say, read from the fake Discord: the
member's decision DM (measure as imposed, the replacement sanction, wording
for a final decision) and the staff embeds' names and deadlines."""

from __future__ import annotations

from datetime import timedelta

from modsys.adapters.discord.webhooks import set_webhook
from modsys.domain.actors import CLI
from modsys.domain.models import Channel
from modsys.notify import DiscordSender
from modsys.runtime import delivery
from modsys.services.actions import cosign_action
from modsys.services.appeals import escalate_appeal, start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from tests.factories import appeal, ban, timeout
from tests.services.test_delivery import HOOK_IDS, SETTINGS, TOKEN
from tests.support.discord_server import bot_settings

REASONS = "Having read the appeal and the evidence again, we decided so."


def _deliver(engine, session, community, fake, settings=SETTINGS):
    for channel, hook in HOOK_IDS.items():
        set_webhook(session, CLI, community.id, channel, fake.url(hook, TOKEN))
    session.commit()
    delivery.deliver_outbox(engine, settings=settings, sender=DiscordSender(timeout=2))


def _decision_dm(engine, session, community, fake, member) -> str:
    _deliver(engine, session, community, fake, bot_settings(fake, MODSYS_BASE_URL="https://mod.example.org"))
    return fake.dms[member.platform_user_id][-1]["content"]


def _embeds(fake, channel):
    return [p["embeds"][0] for p in fake.payloads_for(HOOK_IDS[channel])]


def _fields(embed) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def _decided(session, mod_a, mod_b, leader, member, decision, clock):
    action = ban(session, mod_a, member, days=None)
    cosign_action(session, leader, action.id)  # a permanent ban needs a second signature
    case = appeal(session, member, action)
    clock.advance(timedelta(seconds=173))
    start_review(session, mod_b, case.id)
    return decide_appeal(session, mod_b, case.id, decision)


def test_overturned_permanent_ban_names_the_ban_and_offers_no_appeal(engine, session, community, clock, mod_a,
                                                                      mod_b, leader, make_member, discord_bot):
    member = make_member()
    _decided(session, mod_a, mod_b, leader, member, Decision("overturned", REASONS), clock)
    decision = _decision_dm(engine, session, community, discord_bot, member)
    assert "was decided: overturned. The permanent ban is lifted: you can rejoin the server." in decision, decision
    assert "appeal until" not in decision and "\n\nRead the decision: https://mod.example.org/appeal/" in decision


def test_modified_ban_names_the_new_sanction(engine, session, community, clock, mod_a, mod_b, leader,
                                             make_member, discord_bot):
    member = make_member()
    mod = Modification("ban", timedelta(days=30))
    _decided(session, mod_a, mod_b, leader, member, Decision("modified", REASONS, mod), clock)
    decision = _decision_dm(engine, session, community, discord_bot, member)
    assert ("modified. As the result of your appeal, the permanent ban is replaced by a 30 days ban; in the server "
            "you stay banned until") in decision, decision


def test_expiry_names_the_member_and_escalation_shows_leaderships_deadline(engine, session, community, clock,
                                                                           mod_a, mod_b, make_member, fake_discord):
    from modsys.runtime.jobs import expire_sanctions

    member = make_member()
    timeout(session, mod_a, member, hours=1)
    clock.advance(timedelta(hours=2))
    expire_sanctions(engine)
    other = make_member()
    case = appeal(session, other, ban(session, mod_a, other))
    start_review(session, mod_b, case.id)
    case = escalate_appeal(session, mod_b, case.id, "This needs leadership to look at it.")
    _deliver(engine, session, community, fake_discord)
    modlog = _embeds(fake_discord, Channel.modlog)
    expired = [e for e in modlog if e["title"].endswith("expired")][0]
    assert f"{member.display_name} ({member.platform_user_id})" in expired["description"]
    assert "member #" not in expired["description"]
    escalated = [e for e in _embeds(fake_discord, Channel.leadership) if e["title"].startswith("Escalated")][0]
    assert _fields(escalated)["Leadership decision due"] == f"{case.leadership_due_at:%Y-%m-%d %H:%M} UTC"


def test_a_reminder_delivered_after_the_deadline_says_it_passed(engine, session, community, clock, mod_a,
                                                                make_member, fake_discord):
    from modsys.runtime.jobs import send_reminders

    member = make_member()
    case = appeal(session, member, ban(session, mod_a, member))
    clock.set(case.review_due_at - timedelta(minutes=1))
    assert sum(send_reminders(engine).values()) > 0
    clock.set(case.review_due_at + timedelta(hours=1))  # Discord was down until now
    _deliver(engine, session, community, fake_discord)
    reminder = [e for e in _embeds(fake_discord, Channel.appeals) if e["title"].startswith("Reminder")][-1]
    assert "overdue" in reminder["description"] and "has passed" not in reminder["description"], reminder
