"""Every message modsys builds fits Discord's limits by construction, and what it
promises (the appeal link) is never cut away: the worst case, 30 rules with the
longest titles a policy allows, reasons and replies at their maximum and full of
markup (escaping makes them longer), delivered to the fake Discord, which
refuses what Discord would refuse.

Limits (discord/discord-api-docs, docs/resources/Message.md, "Create Message":
content up to 2000 characters; "Embed Limits": title 256, description 4096, 25
fields of name 256 / value 1024, footer 2048, author 256, 6000 in all)."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml

from modsys.adapters.discord.webhooks import set_webhook
from modsys.community import ensure_community
from modsys.domain.actors import CLI
from modsys.infra.config import DEFAULT_POLICY
from modsys.notify.embeds import CONTENT_MAX
from modsys.notify.text import fit
from modsys.runtime import delivery
from modsys.services.appeals import add_message, start_review
from modsys.services.decisions import Decision, Modification, decide_appeal
from tests.factories import appeal, ban
from tests.support.discord_server import bot_settings, discord_problems

MARKUP = "*_[x](https://evil.example)~|> "  # every character is escaped: the text doubles
LINK = re.compile(r"https://mod\.example\.org/appeal/[A-Za-z0-9._-]{20,}(/appeals/\d+)?$")


def worst_policy(tmp_path):
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    template = policy["rules"][0]
    policy["rules"] = [{**template, "id": f"rule-{i:02d}", "title": (f"Rule {i} " + MARKUP * 10)[:120]}
                       for i in range(30)]
    path = tmp_path / "worst.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def longest(n: int) -> str:
    return (MARKUP * (n // len(MARKUP) + 1))[:n]


def test_the_worst_case_fits_every_limit_and_keeps_its_link(engine, session, community, tmp_path, clock, mod_a,
                                                            mod_b, make_member, discord_bot):
    ensure_community(session, worst_policy(tmp_path))
    session.commit()
    for channel, hook in (("modlog", "1"), ("appeals", "2"), ("leadership", "3")):
        set_webhook(session, CLI, community.id, channel, discord_bot.url(hook, "tok"))
    session.commit()
    member = make_member(longest(32))
    action = ban(session, mod_a, member, rules=[f"rule-{i:02d}" for i in range(30)], public_reason=longest(2000))
    case = appeal(session, member, action, statement=longest(2000))
    clock.advance(timedelta(minutes=3))
    start_review(session, mod_b, case.id)
    add_message(session, mod_b, case.id, longest(2000))
    decide_appeal(session, mod_b, case.id, Decision("modified", longest(5000),
                                                     Modification("timeout", timedelta(hours=1))))
    settings = bot_settings(discord_bot, MODSYS_BASE_URL="https://mod.example.org")
    counts = delivery.deliver_outbox(engine, settings=settings)
    assert counts == {"sent": counts["sent"]}, counts  # nothing refused (the fake answers 400 like Discord)

    dms = [c.json for c in discord_bot.calls_to("create_message")]
    assert len(dms) == 3  # the notice, the reply, the decision
    for dm in dms:
        assert len(dm["content"]) <= CONTENT_MAX and not discord_problems(dm), len(dm["content"])
        assert LINK.search(dm["content"]), dm["content"][-200:]  # the promised link, whole, at the end
    assert "…" in dms[0]["content"]  # the rules and the reason gave up characters, not the link
    staff = [r.payload for r in discord_bot.accepted]
    assert staff and all(not discord_problems(p) for p in staff)


def test_fit_cuts_only_the_parts_and_never_leaves_half_an_escape():
    text = fit("Head {a} / {b} LINK", limit=40, a="x" * 100, b="\\*" * 50)
    assert len(text) <= 40 and text.startswith("Head ") and text.endswith(" LINK")
    cut_b = text.split(" / ")[1].removesuffix(" LINK")
    kept = cut_b.removesuffix("…")
    assert cut_b.endswith("…") and (len(kept) - len(kept.rstrip("\\"))) % 2 == 0  # no escape left dangling
    assert fit("short {a}", a="fits") == "short fits"
