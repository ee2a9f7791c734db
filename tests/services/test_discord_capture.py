"""A capture of every request modsys sends to Discord and every interaction reply
it gives, over one full scenario with worst-case inputs, checked against the
limits Discord documents.

The scenario: a policy of 30 rules with the longest titles and descriptions the
policy allows, members with long Unicode display names, reasons and notes at the
longest the forms take; every kind (warning, timeout, kick, ban) from the slash
commands and the dashboard's service, and their lifts (untimeout, unban);
autocomplete, the report modal, "Act on this message", the history commands;
Discord enforcement with DMs; every notice the outbox posts to the webhooks;
Sign in with Discord (OAuth2) and the command registration.

Each limit below names the page of discord-api-docs (github.com/discord/discord-api-docs,
`developers/...`) it comes from. The fakes (tests/support/discord_server.py and
discord_oauth.py) record every exchange in one `Capture`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import yaml
from sqlmodel import select

from modsys import __version__
from modsys.adapters.discord import commands, oauth
from modsys.adapters.discord.delivery import deliver_enforcement
from modsys.adapters.discord.webhooks import set_webhook
from modsys.domain.actors import CLI
from modsys.domain.models import Action, Channel, Community, StaffUser
from modsys.domain.policy import load_policy
from modsys.notify import DiscordSender
from modsys.runtime.delivery import deliver_outbox
from modsys.services.actions import NewAction, file_action, revoke_action
from tests.conftest import DEFAULT_POLICY, fresh
from tests.factories import appeal as submit_appeal
from tests.support import discord_interactions as d
from tests.support.discord_oauth import FakeDiscordOAuth
from tests.support.discord_server import GUILD, Capture, Exchange, bot_settings

# --- the limits, each from its page ------------------------------------------------------

# developers/reference.mdx, "User Agent": `User-Agent: DiscordBot ($url, $versionNumber)`.
USER_AGENT = re.compile(r"^DiscordBot \(https?://\S+, [^)]+\)$")
# developers/resources/message.mdx, Create Message (and webhook.mdx, Execute Webhook):
# "Message contents (up to 2000 characters)"; "Up to 10 `rich` embeds".
CONTENT_MAX, EMBEDS_MAX = 2000, 10
# developers/resources/message.mdx, "Embed Limits".
EMBED_TITLE, EMBED_DESCRIPTION, EMBED_FIELDS, FIELD_NAME, FIELD_VALUE = 256, 4096, 25, 256, 1024
FOOTER_TEXT, AUTHOR_NAME, EMBEDS_TOTAL = 2048, 256, 6000
# developers/resources/audit-log.mdx: "The X-Audit-Log-Reason header supports 1-512 URL-encoded UTF-8 characters".
AUDIT_REASON_MAX = 512
# developers/resources/guild.mdx, Modify Guild Member: communication_disabled_until
# "(up to 28 days in the future)".
TIMEOUT_MAX = timedelta(days=28)
# developers/resources/guild.mdx, Create Guild Ban: delete_message_seconds "between 0 and 604800 (7 days)".
DELETE_SECONDS_MAX = 604800
# developers/interactions/receiving-and-responding.mdx, Interaction Response: Modal:
# custom_id "1-100 characters", title "max 45 characters", components "Between 1 and 5".
MODAL_CUSTOM_ID, MODAL_TITLE, MODAL_COMPONENTS = 100, 45, 5
# developers/components/reference.mdx: Label "label ... max 45 characters", "description ... max 100";
# Text Input: custom_id 1-100, min_length 0-4000, max_length 1-4000, value "max 4000", placeholder "max 100";
# String Select: "options ... max 25", option label/value/description "max 100", placeholder "max 150".
LABEL_MAX, LABEL_DESCRIPTION, INPUT_LENGTH, INPUT_PLACEHOLDER = 45, 100, 4000, 100
SELECT_OPTIONS, OPTION_TEXT, SELECT_PLACEHOLDER = 25, 100, 150
# developers/interactions/receiving-and-responding.mdx, Autocomplete: "autocomplete choices (max of 25 choices)";
# application-commands.mdx, Option Choice Structure: name "1-100 character", value "up to 100 characters".
AUTOCOMPLETE_CHOICES, CHOICE_NAME, CHOICE_VALUE = 25, 100, 100
# developers/interactions/application-commands.mdx, Application Command Object: name 1-32; description
# 1-100 for CHAT_INPUT, empty for USER and MESSAGE; "options ... max of 25"; option name 1-32 (the naming
# regex for CHAT_INPUT names, lowercase), description 1-100, "choices ... max 25", `required` "all but
# SUB_COMMAND and SUB_COMMAND_GROUP", "Required options must be listed before optional options",
# min_length 0-6000, max_length 1-6000.
COMMAND_NAME, COMMAND_DESCRIPTION, COMMAND_OPTIONS, OPTION_CHOICES, STRING_LENGTH = 32, 100, 25, 25, 6000
CHAT_INPUT_NAME = re.compile(r"^[-_'\w]{1,32}$")
# receiving-and-responding.mdx, Interaction Callback Type: PONG 1, CHANNEL_MESSAGE_WITH_SOURCE 4,
# APPLICATION_COMMAND_AUTOCOMPLETE_RESULT 8 (the answer to an autocomplete), MODAL 9.
REPLY_TYPES = {1: (1,), 2: (4, 9), 4: (8,), 5: (4,)}  # interaction type -> callback types it may get


def _too_long(problems: list[str], value: Any, limit: int, where: str, *, least: int = 0) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not least <= len(value) <= limit:
        problems.append(f"{where}: {len(value) if isinstance(value, str) else type(value).__name__} "
                        f"characters, allowed {least}-{limit}")


def message_problems(body: Any, where: str) -> list[str]:
    """A message body (Create Message, Execute Webhook, an interaction's message reply)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return [f"{where}: not a JSON object"]
    _too_long(problems, body.get("content"), CONTENT_MAX, f"{where}.content")
    if "allowed_mentions" not in body:  # receiving-and-responding.mdx and webhook.mdx: filter mentions
        problems.append(f"{where}: allowed_mentions is not set")
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_MAX:
        problems.append(f"{where}.embeds: {len(embeds)} > {EMBEDS_MAX}")
    total = 0
    for i, embed in enumerate(embeds):
        here = f"{where}.embeds.{i}"
        texts = [(embed.get("title"), EMBED_TITLE, "title"), (embed.get("description"), EMBED_DESCRIPTION, "description"),
                 ((embed.get("footer") or {}).get("text"), FOOTER_TEXT, "footer.text"),
                 ((embed.get("author") or {}).get("name"), AUTHOR_NAME, "author.name")]
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS:
            problems.append(f"{here}.fields: {len(fields)} > {EMBED_FIELDS}")
        for j, f in enumerate(fields):
            texts += [(f.get("name"), FIELD_NAME, f"fields.{j}.name"), (f.get("value"), FIELD_VALUE, f"fields.{j}.value")]
        for value, limit, name in texts:
            _too_long(problems, value, limit, f"{here}.{name}")
            total += len(value.strip()) if isinstance(value, str) else 0  # "Leading and trailing whitespace ... trimmed"
    if total > EMBEDS_TOTAL:
        problems.append(f"{where}.embeds: {total} characters in all > {EMBEDS_TOTAL}")
    return problems


def _components(components: Any, where: str, problems: list[str]) -> None:
    for i, c in enumerate(components or []):
        here = f"{where}.{i}"
        if c.get("type") == 18:  # Label
            _too_long(problems, c.get("label"), LABEL_MAX, f"{here}.label", least=1)
            _too_long(problems, c.get("description"), LABEL_DESCRIPTION, f"{here}.description")
            _components([c.get("component")], f"{here}.component", problems)
        elif c.get("type") == 1:  # Action Row
            _components(c.get("components"), f"{here}.components", problems)
        else:
            _too_long(problems, c.get("custom_id"), 100, f"{here}.custom_id", least=1)
        if c.get("type") == 4:  # Text Input
            for key, least in (("min_length", 0), ("max_length", 1)):
                if key in c and not least <= c[key] <= INPUT_LENGTH:
                    problems.append(f"{here}.{key}: {c[key]} outside {least}-{INPUT_LENGTH}")
            _too_long(problems, c.get("value"), INPUT_LENGTH, f"{here}.value")
            _too_long(problems, c.get("placeholder"), INPUT_PLACEHOLDER, f"{here}.placeholder")
        if c.get("type") == 3:  # String Select
            options = c.get("options") or []
            if not 1 <= len(options) <= SELECT_OPTIONS:
                problems.append(f"{here}.options: {len(options)}, allowed 1-{SELECT_OPTIONS}")
            for j, o in enumerate(options):
                for key in ("label", "value", "description"):
                    _too_long(problems, o.get(key), OPTION_TEXT, f"{here}.options.{j}.{key}", least=key != "description")
            _too_long(problems, c.get("placeholder"), SELECT_PLACEHOLDER, f"{here}.placeholder")


def interaction_problems(e: Exchange) -> list[str]:
    where = f"reply to interaction type {e.body.get('type')} ({(e.body.get('data') or {}).get('name', '')})"
    if e.status != 200:
        return [f"{where}: HTTP {e.status}"]
    reply, problems = e.reply, []
    if reply.get("type") not in REPLY_TYPES[e.body["type"]]:
        problems.append(f"{where}: callback type {reply.get('type')}, allowed {REPLY_TYPES[e.body['type']]}")
    data = reply.get("data") or {}
    if reply.get("type") == 4:
        problems += message_problems(data, where)
    elif reply.get("type") == 8:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) > AUTOCOMPLETE_CHOICES:
            problems.append(f"{where}: choices must be a list of at most {AUTOCOMPLETE_CHOICES}")
        for j, c in enumerate(choices or []):
            _too_long(problems, c.get("name"), CHOICE_NAME, f"{where}.choices.{j}.name", least=1)
            _too_long(problems, c.get("value"), CHOICE_VALUE, f"{where}.choices.{j}.value")
    elif reply.get("type") == 9:
        _too_long(problems, data.get("custom_id"), MODAL_CUSTOM_ID, f"{where}.custom_id", least=1)
        _too_long(problems, data.get("title"), MODAL_TITLE, f"{where}.title", least=1)
        if not 1 <= len(data.get("components") or []) <= MODAL_COMPONENTS:
            problems.append(f"{where}.components: {len(data.get('components') or [])}, allowed 1-{MODAL_COMPONENTS}")
        _components(data.get("components"), f"{where}.components", problems)
    return problems


def command_problems(command: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    name, kind = command.get("name"), command.get("type", 1)
    _too_long(problems, name, COMMAND_NAME, f"{where}.name", least=1)
    if kind == 1:
        if not CHAT_INPUT_NAME.match(name or "") or name != name.lower():
            problems.append(f"{where}.name {name!r}: not a lowercase CHAT_INPUT name")
        _too_long(problems, command.get("description"), COMMAND_DESCRIPTION, f"{where}.description", least=1)
    elif command.get("description") != "":
        problems.append(f"{where}.description: USER and MESSAGE commands have an empty description")
    problems += _option_problems(command.get("options") or [], f"{where}.options")
    return problems


def _option_problems(options: list[dict[str, Any]], where: str) -> list[str]:
    problems: list[str] = []
    if len(options) > COMMAND_OPTIONS:
        problems.append(f"{where}: {len(options)} > {COMMAND_OPTIONS}")
    required = [o.get("required", False) for o in options]
    if required != sorted(required, reverse=True):
        problems.append(f"{where}: required options must come first")
    for o in options:
        here = f"{where}.{o.get('name')}"
        if not CHAT_INPUT_NAME.match(o.get("name") or "") or o["name"] != o["name"].lower():
            problems.append(f"{here}: not a valid option name")
        _too_long(problems, o.get("description"), COMMAND_DESCRIPTION, f"{here}.description", least=1)
        if o.get("type") in (1, 2):
            if "required" in o:
                problems.append(f"{here}: `required` on a SUB_COMMAND or SUB_COMMAND_GROUP")
            problems += _option_problems(o.get("options") or [], f"{here}.options")
        choices = o.get("choices") or []
        if len(choices) > OPTION_CHOICES:
            problems.append(f"{here}.choices: {len(choices)} > {OPTION_CHOICES}")
        for c in choices:
            _too_long(problems, c.get("name"), CHOICE_NAME, f"{here}.choices.name", least=1)
            _too_long(problems, c.get("value"), CHOICE_VALUE, f"{here}.choices.value")
        for key, least in (("min_length", 0), ("max_length", 1)):
            if key in o and not least <= o[key] <= STRING_LENGTH:
                problems.append(f"{here}.{key}: {o[key]} outside {least}-{STRING_LENGTH}")
    return problems


def request_problems(e: Exchange, sent_at: datetime) -> list[str]:
    """What Discord would refuse (or asks for) in one request modsys sent."""
    where = f"{e.method} {e.path}"
    problems: list[str] = []
    if not USER_AGENT.match(e.headers.get("User-Agent", "")):
        problems.append(f"{where}: User-Agent {e.headers.get('User-Agent')!r}")
    reason = e.headers.get("X-Audit-Log-Reason")
    if reason is not None and not 1 <= len(unquote(reason)) <= AUDIT_REASON_MAX:
        problems.append(f"{where}: X-Audit-Log-Reason of {len(unquote(reason))} characters")
    body = e.body if isinstance(e.body, dict) else {}
    if e.kind == "webhook" or e.path.endswith("/messages"):
        problems += message_problems(e.body, where)
    if (until := body.get("communication_disabled_until")) and datetime.fromisoformat(until) > sent_at + TIMEOUT_MAX:
        problems.append(f"{where}: communication_disabled_until {until} is more than 28 days ahead")
    if "delete_message_seconds" in body and not 0 <= body["delete_message_seconds"] <= DELETE_SECONDS_MAX:
        problems.append(f"{where}: delete_message_seconds {body['delete_message_seconds']}")
    if e.method == "PUT" and e.path.endswith("/commands"):
        for i, command in enumerate(e.body or []):
            problems += command_problems(command, f"{where}.{i}")
        if len(e.body or []) > 100:  # application-commands.mdx: "100 global/guild CHAT_INPUT commands"
            problems.append(f"{where}: more than 100 commands")
    if e.status >= 400:
        problems.append(f"{where}: Discord (the fake) answered {e.status} {e.reply}")
    return problems


# --- the worst case ---------------------------------------------------------------------

LONG_NAME = ("Ŝ" + "ë🚀" * 49)[:100]  # 100 characters, the most a display name holds (Member.display_name)
ZALGO = "ẞ̶̢̛̖ ë́ 𝕏 ", "🏳️‍🌈 ", "نص عربي ", "*not bold* `code` @everyone <@&1> "


def _text(n: int) -> str:
    return ("".join(ZALGO) * (n // 10 + 1))[:n]


def worst_policy(path) -> str:
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    ladder = [{"kind": "warning"}, {"kind": "timeout", "duration": "28d"}, {"kind": "ban", "duration": "365d"},
              {"kind": "ban"}]
    data["rules"] = [{"id": f"r{i:02d}-" + "x" * 36, "title": f"{i:02d} " + _text(117), "description": _text(2000),
                      "ground": "incompatible", "category": "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
                      "ladder": ladder} for i in range(30)]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    load_policy(path)  # a valid policy: the worst the policy file allows
    return str(path)


@pytest.fixture
def policy_path(tmp_path):
    return worst_policy(tmp_path / "worst.yaml")


MOD = d.user("333333333333333333", LONG_NAME)


def _in_guild(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "guild_id": GUILD}


@pytest.mark.parametrize("cited", [3, 30])  # 30 long rules: the worst case for the sanction DM
def test_every_request_and_reply_of_a_full_scenario_fits_discords_limits(
        app, engine, session, community, guild, discord_bot, mod_a, mod_b, make_member, clock, policy_path, cited):
    capture: Capture = discord_bot.capture
    rules = [r.id for r in load_policy(policy_path).rules]
    settings = bot_settings(discord_bot, MODSYS_BASE_URL="https://mod.example.org")
    signer = d.Signer()
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_public_key=signer.public_hex,
                                         base_url="https://mod.example.org")
    staff = session.get(StaffUser, mod_a.id)
    staff.discord_user_id = MOD["id"]
    session.add(staff)
    session.commit()
    hooks = {channel: str(101 + i) for i, channel in enumerate(Channel)}
    for channel, hook in hooks.items():
        set_webhook(session, CLI, community.id, channel, discord_bot.url(hook, "tok"))
    session.commit()
    members = [make_member(LONG_NAME[:-1] + str(i)) for i in range(8)]
    for m in members:
        guild.add_member(m.platform_user_id, name=LONG_NAME)
    discord_users = [d.user(m.platform_user_id, LONG_NAME) for m in members]
    client = app.test_client()

    def interact(payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        resp = client.post("/discord/interactions", data=body, headers=signer.headers(body))
        capture.record("interaction", "POST", "/discord/interactions", {}, payload, resp.status_code, resp.get_json())
        return resp.get_json()

    reason, note = _text(2000), _text(2000)  # the longest the commands take (max_length 2000)

    def opts(member, rule, **more):
        return [{"name": "member", "type": 6, "value": member["id"]}, {"name": "rule", "type": 3, "value": rule},
                {"name": "reason", "type": 3, "value": reason}, {"name": "note", "type": 3, "value": note},
                *({"name": k, "type": 3, "value": v} for k, v in more.items())]

    # Interactions: autocomplete over 30 long rules, every sanction command, history, report and act modals.
    interact(_in_guild(d.slash("ban", MOD, [{"name": "member", "type": 6, "value": discord_users[0]["id"]},
                                            {"name": "rule", "type": 3, "value": "", "focused": True}], kind=4)))
    interact(_in_guild(d.slash("warn", MOD, opts(discord_users[0], rules[0]), discord_users[:1])))
    interact(_in_guild(d.slash("timeout", MOD, opts(discord_users[1], rules[1], duration="28d"), discord_users[1:2])))
    interact(_in_guild(d.slash("kick", MOD, opts(discord_users[2], rules[2]), discord_users[2:3])))
    interact(_in_guild(d.slash("ban", MOD, opts(discord_users[3], rules[3], duration="365d"), discord_users[3:4])))
    interact(_in_guild(d.user_command("Moderation history", MOD, discord_users[0])))
    interact(_in_guild(d.slash("case", MOD, [{"name": "member", "type": 1, "options": [
        {"name": "member", "type": 6, "value": discord_users[0]["id"]}]}], discord_users[:1])))
    modal = interact(d.message_command("Report to moderators", d.user("111111111111111111", LONG_NAME), "700",
                                       discord_users[4], _text(4000), guild=GUILD))
    interact(d.modal_submit(modal["data"]["custom_id"], d.user("111111111111111111", LONG_NAME),
                            {"reason": _text(500)}, guild=GUILD))
    interact(d.message_command("Act on this message", MOD, "701", discord_users[5], _text(4000), guild=GUILD))

    # The dashboard's service: the longest reasons and facts, several long rules cited at once, and lifts.
    def file(member, kind, duration=None, **kw):
        return file_action(session, mod_a, NewAction(member_id=member.id, kind=kind, rules=rules[:cited],
                                                     public_reason=_text(2000), facts=_text(2000),
                                                     private_note=_text(2000), duration=duration, **kw))

    timeout = file(members[6], "timeout", timedelta(days=28))
    ban = file(members[7], "ban", timedelta(days=365), delete_message_seconds=604800)
    assert deliver_enforcement(engine, settings=settings).get("done", 0) >= 5
    revoke_action(session, mod_a, timeout.id, _text(2000))  # untimeout
    revoke_action(session, mod_a, ban.id, _text(2000))  # unban
    fresh(session)
    slash_timeout = session.exec(select(Action).where(Action.kind == "timeout", Action.id != timeout.id)).one()
    revoke_action(session, mod_a, slash_timeout.id, _text(2000))
    assert deliver_enforcement(engine, settings=settings).get("done", 0) == 3
    kick = session.exec(select(Action).where(Action.kind == "kick")).one()
    submit_appeal(session, members[2], kick, _text(4000))  # an appeal's notices, with the longest statement
    deliver_outbox(engine, settings=settings, sender=DiscordSender(timeout=5))

    # Sign in with Discord and the command registration, against the OAuth fake recording into the same capture.
    with FakeDiscordOAuth(capture=capture) as provider:
        env = {"MODSYS_DISCORD_API_URL": provider.api_url, "MODSYS_DISCORD_OAUTH_URL": provider.authorize_url,
               "MODSYS_DISCORD_CLIENT_ID": provider.client_id, "MODSYS_DISCORD_CLIENT_SECRET": provider.client_secret,
               "MODSYS_DISCORD_APPLICATION_ID": "424242"}
        oauth_settings = bot_settings(discord_bot, **env)
        start = oauth.start(oauth_settings, "https://mod.example.org/login/discord/callback")
        back = requests.get(start.url, allow_redirects=False, timeout=5)  # the browser's part
        code = back.headers["Location"].split("code=")[1].split("&")[0]
        oauth.identify(oauth_settings, code, start.verifier, "https://mod.example.org/login/discord/callback")
        policy = load_policy(session.get(Community, community.id).policy_path)
        commands.register(oauth_settings, GUILD, commands.definitions(policy))

    # The scenario reached every kind of request and reply.
    sent = [e for e in capture.exchanges if e.kind != "interaction" and e.path != "/oauth2/authorize"]
    routes = {f"{e.method} {re.sub(r'/[0-9]{6,}', '/{id}', e.path)}" for e in sent}
    assert routes >= {
        "POST /api/v10/users/@me/channels", "POST /api/v10/channels/{id}/messages",
        "PATCH /api/v10/guilds/{id}/members/{id}", "DELETE /api/v10/guilds/{id}/members/{id}",
        "PUT /api/v10/guilds/{id}/bans/{id}", "DELETE /api/v10/guilds/{id}/bans/{id}",
        "POST /api/v10/oauth2/token", "GET /api/v10/users/@me", "PUT /api/v10/applications/{id}/guilds/{id}/commands",
    }, routes
    posted = {e.path.split("/")[3] for e in capture.of("webhook")}
    assert posted >= {hooks[Channel.modlog], hooks[Channel.appeals]}, posted  # (member notices: webhook or DM)
    untimeouts = [e for e in sent if e.method == "PATCH" and e.body == {"communication_disabled_until": None}]
    assert len(untimeouts) == 2
    replies = {(e.body["type"], e.reply.get("type")) for e in capture.of("interaction")}
    assert replies == {(4, 8), (2, 4), (2, 9), (5, 4)}, replies

    problems = [p for e in sent for p in request_problems(e, clock.now())]
    problems += [p for e in capture.of("interaction") for p in interaction_problems(e)]
    assert problems == [], "\n".join(problems)
    assert all(e.headers["User-Agent"] == f"DiscordBot (https://github.com/modsys/modsys, {__version__})" for e in sent)


def test_the_checks_catch_what_discord_refuses():
    """The checker itself: each limit, broken once, is reported."""
    now = datetime(2026, 1, 5, 12, 0)
    ua = {"User-Agent": "DiscordBot (https://x.example, 1)"}
    bad = [
        Exchange("rest", "GET", "/api/v10/users/@me", {"User-Agent": "python-requests/2"}, None, 200, {}),
        Exchange("rest", "PUT", "/api/v10/guilds/1/bans/2", {**ua, "X-Audit-Log-Reason": "x" * 513},
                 {"delete_message_seconds": 604801}, 204, None),
        Exchange("rest", "PATCH", "/api/v10/guilds/1/members/2", ua,
                 {"communication_disabled_until": (now + timedelta(days=29)).isoformat()}, 200, {}),
        Exchange("webhook", "POST", "/api/webhooks/1/t", ua, {"content": "x" * 2001, "embeds": [
            {"title": "t" * 257, "fields": [{"name": "n", "value": "v" * 1025}] * 26}] * 11}, 200, {}),
        Exchange("oauth", "PUT", "/api/v10/applications/1/guilds/2/commands", ua, [
            {"type": 1, "name": "Case", "description": "d" * 101, "options": [
                {"type": 1, "name": "member", "description": "m", "required": True, "options": [
                    {"type": 3, "name": "rule", "description": "r", "choices": [{"name": "c", "value": "c"}] * 26}]}]},
            {"type": 2, "name": "History", "description": "not empty"}], 200, []),
    ]
    found = "\n".join(p for e in bad for p in request_problems(e, now))
    for expected in ("User-Agent 'python-requests/2'", "X-Audit-Log-Reason of 513", "delete_message_seconds 604801",
                     "more than 28 days ahead", "content: 2001", "allowed_mentions is not set", "embeds: 11 > 10",
                     "title: 257", "fields: 26 > 25", "fields.0.value: 1025", "characters in all >",
                     "not a lowercase CHAT_INPUT name", "description: 101", "`required` on a SUB_COMMAND",
                     "choices: 26 > 25", "USER and MESSAGE commands have an empty description"):
        assert expected in found, expected
    replies = [
        Exchange("interaction", "POST", "/discord/interactions", {}, {"type": 4, "data": {"name": "ban"}}, 200,
                 {"type": 4, "data": {"content": "x"}}),
        Exchange("interaction", "POST", "/discord/interactions", {}, {"type": 2, "data": {"name": "r"}}, 200,
                 {"type": 9, "data": {"custom_id": "c" * 101, "title": "t" * 46, "components": [
                     {"type": 18, "label": "l" * 46, "component": {"type": 3, "custom_id": "rule",
                                                                   "options": [{"label": "a", "value": "a"}] * 26}},
                     {"type": 18, "label": "l", "component": {"type": 4, "custom_id": "x", "max_length": 4001}},
                 ] * 3}}),
        Exchange("interaction", "POST", "/discord/interactions", {}, {"type": 5, "data": {}}, 500, None),
    ]
    found = "\n".join(p for e in replies for p in interaction_problems(e))
    for expected in ("callback type 4, allowed (8,)", "custom_id: 101", "title: 46", "components: 6, allowed 1-5",
                     "label: 46", "options: 26, allowed 1-25", "max_length: 4001", "HTTP 500"):
        assert expected in found, expected
