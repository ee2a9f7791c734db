"""Notifications that lead somewhere (issue 13): every staff embed links to its case,
flag or appeal page; an escalation pings the configured leadership role and nobody
else; the appeal thread notifies both sides. Against the real fake-Discord server."""

import re

import pytest

from modsys.community import ensure_community
from modsys.domain.actors import Actor
from modsys.domain.models import Channel
from modsys.infra.config import DEFAULT_POLICY
from modsys.notify.links import NO_MENTIONS, allowed_mentions, ping_role
from modsys.services.appeals import add_message, escalate_appeal, start_review
from modsys.services.flags import FlagReportInput, announce_priority, report_flag
from tests.factories import appeal, ban, reporter
from tests.services.test_delivery import HOOK_IDS, deliver, hook_up
from tests.support.discord_server import bot_settings

BASE = "https://mod.example.org"  # test_delivery.SETTINGS
ROLE = "1234567890123456789"


def sent(fake, channel):
    return fake.payloads_for(HOOK_IDS[channel])


def with_role(session, tmp_path):
    policy = tmp_path / "pinging.yaml"
    policy.write_text(DEFAULT_POLICY.read_text() + f"\nnotifications:\n  leadership_role_id: {ROLE}\n")
    ensure_community(session, policy)


def test_every_staff_embed_links_to_its_page(engine, session, community, clock, mod_a, mod_b, make_member,
                                             fake_discord):
    hook_up(session, community, fake_discord)
    member = make_member()
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    start_review(session, mod_b, a.id)
    escalate_appeal(session, mod_b, a.id, "Needs leadership: the context is disputed.")
    flag, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        "777", "42", "100000000000007001", "Someone", "you are an idiot", "5001"))
    flag.max_label, flag.max_score = "insult", 0.97
    announce_priority(session, flag, ["insult"])
    session.commit()
    deliver(engine)
    assert sent(fake_discord, Channel.modlog)[0]["embeds"][0]["url"] == f"{BASE}/actions/{action.id}"
    assert sent(fake_discord, Channel.modlog)[1]["embeds"][0]["url"] == f"{BASE}/flags/{flag.id}"
    assert sent(fake_discord, Channel.appeals)[0]["embeds"][0]["url"] == f"{BASE}/appeals/{a.id}"
    [escalated] = sent(fake_discord, Channel.leadership)
    assert escalated["embeds"][0]["url"] == f"{BASE}/leadership/appeals/{a.id}"  # the page with the decision form
    assert escalated["allowed_mentions"] == NO_MENTIONS and "content" not in escalated  # no role configured


def test_an_escalation_pings_the_leadership_role_and_only_it(engine, session, community, clock, mod_a, mod_b,
                                                             make_member, fake_discord, tmp_path):
    with_role(session, tmp_path)
    hook_up(session, community, fake_discord)
    member = make_member()
    a = appeal(session, member, ban(session, mod_a, member, public_reason="@everyone <@&999> insulted people"))
    start_review(session, mod_b, a.id)
    escalate_appeal(session, mod_b, a.id, "Needs leadership: <@&999> @here the context is disputed.")
    deliver(engine)
    [escalated] = sent(fake_discord, Channel.leadership)
    assert escalated["content"].startswith(f"<@&{ROLE}>")
    assert escalated["allowed_mentions"] == {"roles": [ROLE]}
    for channel in (Channel.modlog, Channel.appeals):  # nothing else pings
        assert all(p["allowed_mentions"] == NO_MENTIONS for p in sent(fake_discord, channel)), channel


def test_the_scheduler_escalation_pings_too(engine, session, community, clock, mod_a, make_member, fake_discord,
                                            tmp_path):
    from modsys.runtime import jobs
    with_role(session, tmp_path)
    hook_up(session, community, fake_discord, Channel.leadership)
    member = make_member()
    a = appeal(session, member, ban(session, mod_a, member))
    clock.advance(hours=73)
    jobs.escalate_overdue_appeals(engine)
    deliver(engine)
    [escalated] = sent(fake_discord, Channel.leadership)
    assert escalated["allowed_mentions"] == {"roles": [ROLE]}
    assert escalated["embeds"][0]["url"] == f"{BASE}/leadership/appeals/{a.id}"


def test_the_thread_notifies_both_sides(engine, session, community, clock, mod_a, mod_b, make_member, discord_bot):
    fake_discord = discord_bot
    hook_up(session, community, fake_discord)
    member = make_member("Ann")
    action = ban(session, mod_a, member)
    a = appeal(session, member, action)
    add_message(session, Actor.member(member), a.id, "Here is the full conversation, please read it.")
    add_message(session, mod_b, a.id, "Thanks, we are reading it and will decide by Friday.")
    deliver(engine, settings=bot_settings(fake_discord, MODSYS_BASE_URL=BASE))
    wrote = sent(fake_discord, Channel.appeals)[-1]["embeds"][0]
    assert wrote["title"].startswith(f"The member wrote: appeal #{a.id}")
    assert wrote["description"] == "Here is the full conversation, please read it."
    assert wrote["url"] == f"{BASE}/appeals/{a.id}"
    reply = fake_discord.dms[member.platform_user_id][-1]["content"]  # the member hears by DM
    assert f"the moderators replied on your appeal #{a.id} (case #{action.id}):" in reply
    assert "Thanks, we are reading it and will decide by Friday." in reply
    assert re.search(rf"{BASE}/appeal/\S+/appeals/{a.id}$", reply), reply
    assert "mod\\_b" not in reply and "mod_b" not in reply


@pytest.mark.parametrize("message", [
    {"content": "hi", "allowed_mentions": {"roles": [ROLE]}},  # the mention is not in the content
    {"content": f"<@&{ROLE}> <@&42>", "allowed_mentions": {"roles": [ROLE, "42"]}},  # two roles
    {"content": f"<@&{ROLE}>", "allowed_mentions": {"parse": ["everyone"], "roles": [ROLE]}},
    {"content": "@everyone", "allowed_mentions": {"parse": ["everyone"]}},
])
def test_nothing_but_one_built_role_ping_may_ping(message):
    assert allowed_mentions(message) == NO_MENTIONS
    assert allowed_mentions(ping_role({"embeds": []}, ROLE)) == {"roles": [ROLE]}
    with pytest.raises(ValueError):
        ping_role({}, "<@&1>")
