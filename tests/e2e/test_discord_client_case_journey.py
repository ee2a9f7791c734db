"""Journey: a ban done in the Discord client, to the member's appeal.

The server is set up as docs/discord.md §3 says (the default community's guild
from MODSYS_DISCORD_GUILD_ID, no guild id stored), the app serves real HTTP,
Discord is the fake one over real sockets, and the scheduler is the real
`modsys scheduler --once` process (the audit-log sync, enforcement, the outbox).
On SQLite and PostgreSQL. Each hand-over has its assertion:

    A  Discord -> modsys     the audit-log entry becomes a case, "reason needed"
    B  modsys -> moderators  the modlog post links to it; the dashboard lists it with a count
    C  portal refuses        no link was DMed, and an appeal through a signed link is refused (422)
    D  /reason               a signed interaction from the moderator completes the statement
    E  member gets the link  exactly one DM, carrying the portal link, after /reason and not before
    F  the appeal works      the DM's link opens the form, and the appeal is submitted
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Iterator

import pytest
import requests
from sqlmodel import select

from modsys.adapters.discord.webhooks import set_webhook
from modsys.domain.actors import CLI
from modsys.domain.models import Action, Appeal, Community, Member
from modsys.infra.portal_links import make_token
from modsys.services.staff import set_discord_user_id
from tests.conftest import PASSWORD, fresh
from tests.support import discord_interactions as d
from tests.support.cli import modsys
from tests.support.discord_interactions import Signer
from tests.support.live import served

pytestmark = pytest.mark.slow

GUILD = d.GUILD  # the guild signed interactions come from
ROWAN = d.user("345678901234567890", "Rowan")
MOD = d.user("333333333333333333", "ModA")
SOMEONE_IN_DISCORD = "300000000000000099"  # a moderator with no linked staff account
SECRET = "test-secret-key-not-for-production"  # web_settings' key: the scheduler signs links with it too
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(app, engine, session, community, mod_a, discord_bot, monkeypatch, clock) -> Iterator[tuple[str, Signer]]:
    signer = Signer()
    monkeypatch.setenv("MODSYS_DISCORD_GUILD_ID", GUILD)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    guild = discord_bot.add_guild(GUILD)
    guild.add_member(ROWAN["id"], name="rowan")
    set_discord_user_id(session, CLI, mod_a.id, MOD["id"])
    set_webhook(session, CLI, community.id, "modlog", discord_bot.url("101", "tok"))
    session.commit()
    assert session.get(Community, community.id).discord_guild_id is None  # set up by the env var only
    with served(app, discord_public_key=signer.public_hex, discord_guild_id=GUILD) as url:
        monkeypatch.setenv("MODSYS_BASE_URL", url)
        yield url, signer


def now(clock) -> None:
    """This process's clock at the wall clock's time: the scheduler process runs on the real one."""
    clock.set(datetime.now(UTC))


def scheduler_once(db_url: str) -> str:
    done = modsys(db_url, "scheduler", "--once")
    assert done.returncode == 0, done.stderr
    return done.stdout


def logged_in(url: str, username: str) -> requests.Session:
    http = requests.Session()
    token = CSRF.search(http.get(f"{url}/login").text).group(1)
    assert http.post(f"{url}/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).ok
    return http


def interaction(url: str, signer: Signer, payload: dict) -> str:
    body = json.dumps(payload).encode()
    answer = requests.post(f"{url}/discord/interactions", data=body, headers=signer.headers(body))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["content"]


def test_a_ban_done_in_the_discord_client_reaches_the_members_appeal(site, db_url, session, discord_bot, clock):
    url, signer = site
    guild = discord_bot.guilds[GUILD]
    now(clock)

    # The ban, done in the Discord client: Discord bans and writes its audit log.
    guild.bans[ROWAN["id"]] = {"reason": "raid bot", "user": {"id": ROWAN["id"], "username": "rowan"}}
    guild.members.pop(ROWAN["id"])
    guild.log(22, ROWAN["id"], SOMEONE_IN_DISCORD, reason="raid bot")
    scheduler_once(db_url)

    # A: the case exists, done in Discord, waiting for its reasons.
    fresh(session)
    case = session.exec(select(Action).where(Action.source == "discord")).one()
    member = session.get(Member, case.member_id)
    assert (case.kind, member.platform_user_id, case.appeal_deadline) == ("ban", ROWAN["id"], None)

    # B: moderators see it, in the modlog (with its link) and on their dashboard (with the count).
    (post,) = discord_bot.payloads_for("101")
    embed = post["embeds"][0]
    assert embed["title"] == f"Done in Discord, reason needed: case #{case.id}"
    assert embed["url"] == f"{url}/actions/{case.id}"
    dashboard = re.sub(r"\s+", " ", logged_in(url, "mod_a").get(f"{url}/").text)
    assert 'Done in Discord, reason needed <span class="badge">1</span>' in dashboard
    assert f'href="/actions/{case.id}"' in dashboard

    # C: no DM went out, and a signed link (as "My cases" makes after sign-in) can't appeal yet.
    assert ROWAN["id"] not in discord_bot.dms
    now(clock)
    early = f"{url}/appeal/{make_token(SECRET, case.id, member.id, clock.now() + timedelta(days=1))}"
    http = requests.Session()
    page = http.get(early).text
    assert "The moderators are writing the statement of reasons" in page and "Send my appeal" not in page
    refused = http.post(f"{early}/appeal", data={"csrf_token": CSRF.search(http.get(f"{url}/login").text).group(1),
                                                 "statement": "I was never part of a raid; please look again."})
    assert refused.status_code == 422  # the service refuses, not only the page
    assert f'role="alert">the moderators have not yet written the statement of reasons for case #{case.id}' in refused.text
    fresh(session)
    assert session.exec(select(Appeal)).all() == []

    # D: the moderator completes the statement from Discord.
    now(clock)
    answer = interaction(url, signer, d.slash("reason", MOD, [
        {"name": "case", "type": 4, "value": case.id}, {"name": "rule", "type": 3, "value": "spam"},
        {"name": "text", "type": 3, "value": "Joined with a bot that posted scam links in every channel."}]))
    assert f"Case #{case.id}: statement of reasons complete" in answer

    # E: the member gets exactly one DM, with their link.
    scheduler_once(db_url)
    (dm,) = discord_bot.dms[ROWAN["id"]]
    link = re.search(rf"{re.escape(url)}/appeal/\S+", dm["content"])
    assert link, dm["content"]
    assert "scam links" in dm["content"]

    # F: the link from the DM opens the form, and the appeal goes through.
    http = requests.Session()
    form = http.get(link.group(0)).text
    assert "Send my appeal" in form
    sent = http.post(f"{link.group(0)}/appeal", data={"csrf_token": CSRF.search(form).group(1),
                                                      "statement": "I was never part of a raid; please look again."})
    assert sent.ok, sent.text
    fresh(session)
    (appeal,) = session.exec(select(Appeal)).all()
    assert (appeal.action_id, appeal.status) == (case.id, "submitted")
    assert len(discord_bot.dms[ROWAN["id"]]) == 1
