"""Untrusted text reaches Discord as the words it is (issue 10, item 13): a
masked link in an appeal statement, a display name, a reason or an official
statement arrives escaped, never as a clickable link that hides its target,
and never pings anyone. Delivered for real to the fake Discord, on SQLite and
PostgreSQL."""

from __future__ import annotations

import re

from modsys.adapters.discord.webhooks import set_webhook
from modsys.domain.actors import CLI
from modsys.notify.markdown import escape_markdown
from modsys.runtime import delivery
from modsys.services.appeals import escalate_appeal
from modsys.services.decisions import Decision, final_decision
from tests.factories import appeal, ban
from tests.support.discord_server import bot_settings

PHISH = "[Official Discord Staff](https://evil.example/phish)"
ENV = {"SECRET_KEY": "test-secret-key-not-for-production", "MODSYS_BASE_URL": "https://m.example"}
# A "](" not preceded by a backslash: Discord would render the masked link.
MASKED_LINK = re.compile(r"(?<!\\)\]\s*\(")


def _texts(payload: dict) -> list[str]:
    out = [payload.get("content") or ""]
    for embed in payload.get("embeds", []):
        out += [embed.get("title", ""), embed.get("description", ""), (embed.get("footer") or {}).get("text", "")]
        out += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    return out


def test_masked_links_and_markup_in_untrusted_fields_arrive_escaped(session, community, mod_a, mod_b, leader,
                                                                   make_member, discord_bot):
    fake_discord = discord_bot
    for channel, hook in (("modlog", "1"), ("appeals", "2"), ("leadership", "3")):
        set_webhook(session, CLI, community.id, channel, fake_discord.url(hook, "tok"))
    session.commit()
    member = make_member(f"{PHISH} <@&1234>")
    action = ban(session, mod_a, member, public_reason=f"Spam. **Appeal here:** {PHISH}")
    filed = appeal(session, member, action, statement=f"# URGENT\n> quoted\n||spoiler|| {PHISH} @everyone")
    escalate_appeal(session, mod_b, filed.id, f"Escalating: {PHISH}", "")
    final_decision(session, leader, filed.id, Decision("overturned", f"Overturned. See {PHISH} for details."),
                   statement_title=f"On {PHISH}",
                   statement_body=f"We looked again at the case and {PHISH} was not the member's doing.")
    sent = delivery.deliver_outbox(session.get_bind(), settings=bot_settings(fake_discord, **ENV))
    assert sent.get("sent", 0) >= 7, sent

    payloads = fake_discord.payloads_for("1") + fake_discord.payloads_for("2") + fake_discord.payloads_for("3")
    # The member's DMs: their text is untrusted but for the community's name, shown in bold on purpose.
    dms = [{"content": m["content"].split(": ", 1)[1]} for m in fake_discord.dms[member.platform_user_id]]
    assert len(dms) == 2  # the notice and the decision
    payloads += dms
    texts = [t for p in payloads for t in _texts(p)]
    assert not [t for t in texts if MASKED_LINK.search(t)], "a masked link would render"
    assert not [t for t in texts if re.search(r"(?m)(?<!\\)\*\*|(?<!\\)\|\||^#|^>", t)], "markup would render"
    joined = "\n".join(texts)
    assert escape_markdown(PHISH) in joined  # still readable, word for word
    for where in ("appeals", "modlog", "leadership"):
        assert any(escape_markdown(PHISH) in t for p in fake_discord.payloads_for(
            {"modlog": "1", "appeals": "2", "leadership": "3"}[where]) for t in _texts(p)), where
    assert all(escape_markdown(PHISH) in dm["content"] for dm in dms)
    dm_calls = discord_bot.calls_to("create_message")
    assert all(p["allowed_mentions"] == {"parse": []} for p in payloads[:-2] + [c.json for c in dm_calls])


def test_escape_markdown_reads_the_same_once_discord_unescapes_it():
    text = "1. a_b *c* `d` ~e~ |f| [g](h) <i> # j -k +l \\m: https://x.example/y"
    escaped = escape_markdown(text)
    # Discord drops a backslash before punctuation and shows the character.
    assert re.sub(r"\\([^A-Za-z0-9\s])", r"\1", escaped) == text
    assert escape_markdown(None) == "" and escape_markdown("plain words 123") == "plain words 123"
