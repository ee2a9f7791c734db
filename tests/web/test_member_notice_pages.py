"""The case and appeal pages say whether the member heard: "member not notified:
<why>" with the link to send by hand when the DM failed or no bot is set up."""

from __future__ import annotations

import html
import re

from modsys.infra.config import load_settings
from modsys.runtime import delivery
from tests.conftest import login
from tests.factories import appeal, ban
from tests.support.discord_server import bot_settings


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def test_closed_dms_show_on_the_case_and_the_appeal_with_the_link(app, engine, session, mod_a, make_member, clock,
                                                                  discord_bot):
    member = make_member()
    discord_bot.closed_dms.add(member.platform_user_id)
    action = ban(session, mod_a, member)
    case = appeal(session, member, action)
    delivery.deliver_outbox(engine, settings=bot_settings(discord_bot))
    client = app.test_client()
    login(client, "mod_a")
    for url in (f"/actions/{action.id}", f"/appeals/{case.id}"):
        text = _page(client, url)
        assert "the sanction: member not notified: the member does not accept DMs" in text, url
        assert re.search(r'id="member-link">https?://\S+/appeal/[A-Za-z0-9._-]{20,}<', text), url


def test_without_a_bot_the_case_says_so_and_a_delivered_dm_says_notified(app, engine, session, mod_a, make_member,
                                                                         clock, discord_bot):
    unheard, heard = make_member(), make_member()
    first = ban(session, mod_a, unheard)
    delivery.deliver_outbox(engine, settings=load_settings({"SECRET_KEY": "test-secret-key-not-for-production"}))
    second = ban(session, mod_a, heard)
    delivery.deliver_outbox(engine, settings=bot_settings(discord_bot))
    client = app.test_client()
    login(client, "mod_a")
    text = _page(client, f"/actions/{first.id}")
    assert "member not notified: no Discord bot is configured" in text and 'id="member-link"' in text
    text = _page(client, f"/actions/{second.id}")
    assert "the sanction: member notified by DM" in text and 'id="member-link"' not in text
