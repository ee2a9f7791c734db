"""Each interaction is answered once (replays), malformed signed payloads are
400s with a message, and autocomplete is always answered with choices (type 8).

The signature window is 5 minutes (interactions.MAX_AGE_S): within it a captured
signed request verifies again, so only the interaction id
(receiving-and-responding.mdx, Interaction Object: "ID of the interaction")
tells a replay from a new command."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from sqlmodel import select

from modsys.domain.models import (
    Action,
    Community,
    DiscordDraft,
    DiscordInteraction,
    StaffUser,
)
from modsys.infra.db import make_engine
from tests.conftest import fresh
from tests.support import discord_interactions as d

# The fixtures `front` and `signer` come from the interactions tests: the tests take them as arguments.
# ruff: noqa: F811
from tests.web.test_discord_interactions import ALEX, MOD, ROWAN, front, reply, signer  # noqa: F401


def ban_payload() -> dict:
    return d.slash("ban", MOD, [
        {"name": "member", "type": 6, "value": ROWAN["id"]}, {"name": "rule", "type": 3, "value": "respectful"},
        {"name": "duration", "type": 3, "value": "7d"},
        {"name": "reason", "type": 3, "value": "Repeated insults in #general."}], [ROWAN])


def post_raw(client, signer, body: bytes):
    return client.post("/discord/interactions", data=body, headers=signer.headers(body))


def test_a_replayed_signed_ban_files_one_case_and_gets_the_first_reply(front, signer, session):
    body = json.dumps(ban_payload()).encode()
    first = reply(post_raw(front, signer, body))
    again = [post_raw(front, signer, body) for _ in range(2)]
    assert [r.status_code for r in again] == [200, 200]
    assert all(r.get_json() == first for r in again)  # the first answer, word for word
    fresh(session)
    actions = session.exec(select(Action)).all()
    assert len(actions) == 1 and actions[0].kind == "ban"  # no second case, no climb up the ladder
    assert f"Case #{actions[0].id} filed" in first["data"]["content"]


def test_a_new_interaction_id_is_a_new_command(front, signer, session):
    reply(signer.post(front, ban_payload()))
    payload = ban_payload()  # same command, another interaction: Discord gives it another id
    payload["data"]["options"][1]["value"] = "spam"
    reply(signer.post(front, payload))
    fresh(session)
    assert len(session.exec(select(Action)).all()) == 2


def test_replays_sent_at_once_to_several_processes_file_one_case(app, signer, session, community, mod_a, db_url,
                                                                    web_settings, backend):
    """Four apps with their own engines (as four web processes) get the same signed
    /ban at the same moment: the database's unique id lets one of them act."""
    from web import create_app

    c = session.get(Community, community.id)
    c.discord_guild_id = d.GUILD
    session.add(c)
    staff = session.get(StaffUser, mod_a.id)
    staff.discord_user_id = MOD["id"]
    session.add(staff)
    session.commit()
    settings = dataclasses.replace(web_settings, discord_public_key=signer.public_hex,
                                   base_url="https://modsys.example")
    engines = [make_engine(db_url) for _ in range(4)]
    clients = [create_app(settings, engine=e, TESTING=True, RATELIMIT_ENABLED=False).test_client() for e in engines]
    body = json.dumps(ban_payload()).encode()
    headers = signer.headers(body)
    start, answers = threading.Barrier(len(clients)), []

    def send(client):
        start.wait()
        r = client.post("/discord/interactions", data=body, headers=headers)
        answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert len(answers) == 4 and all(status in (200, 409) for status, _ in answers), answers
    assert sum("filed" in (a.get("data") or {}).get("content", "") for s, a in answers if s == 200) >= 1
    refused = [a["error"] for s, a in answers if s == 409]
    assert all("answered once" in e for e in refused)
    fresh(session)
    assert len(session.exec(select(Action)).all()) == 1
    assert len(session.exec(select(DiscordInteraction)).all()) == 1


# --- malformed but validly signed -----------------------------------------------------


def _without(payload: dict, key: str) -> dict:
    payload = dict(payload)
    del payload[key]
    return payload


def _opt(value, kind=6) -> dict:
    return d.slash("warn", MOD, [{"name": "member", "type": kind, "value": value},
                                 {"name": "rule", "type": 3, "value": "respectful"},
                                 {"name": "reason", "type": 3, "value": "Insulting another member."}], [ROWAN])


MALFORMED = {
    "command without data": _without(ban_payload(), "data"),
    "data is a string": {**ban_payload(), "data": "ban"},
    "member is a string": {**ban_payload(), "member": "ModA"},
    "options not a list": {**ban_payload(), "data": {**ban_payload()["data"], "options": "member=1"}},
    "option is a number": {**ban_payload(), "data": {**ban_payload()["data"], "options": [1]}},
    "unknown interaction type": {**ban_payload(), "type": 42},
    "unknown command type": {**ban_payload(), "data": {**ban_payload()["data"], "type": 9}},
    "user option not a snowflake": _opt("Rowan"),
    "user option a number": _opt(345678901234567890),
    "string option a list": _opt(["x"], kind=3),
    "focused option without a name": d.slash("timeout", MOD, [{"type": 3, "value": "sp", "focused": True}], kind=4),
    "modal components not a list": d.modal_submit("report:x", ALEX, {}) | {"data": {"custom_id": "report:x",
                                                                                  "components": {"a": 1}}},
    "guild id an object": {**ban_payload(), "guild_id": {"id": d.GUILD}},
    "interaction id missing": _without(ban_payload(), "id"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_signed_payloads_get_a_400_with_a_message_and_change_nothing(front, signer, session, name):
    resp = signer.post(front, MALFORMED[name])
    assert resp.status_code == 400, (name, resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.get_json()["error"].startswith("not an interaction modsys can read: ")
    fresh(session)
    assert session.exec(select(Action)).all() == [] and session.exec(select(DiscordDraft)).all() == []


def test_the_signature_is_still_checked_before_the_payload(front, signer):
    body = json.dumps(MALFORMED["data is a string"]).encode()
    forged = signer.headers(b"something else")
    assert front.post("/discord/interactions", data=body, headers=forged).status_code == 401


# --- autocomplete always gets choices ---------------------------------------------------


def test_autocomplete_is_answered_with_type_8_in_an_unserved_guild_and_after_an_error(front, signer, session):
    typing = [{"name": "member", "type": 6, "value": ROWAN["id"]},
              {"name": "rule", "type": 3, "value": "spa", "focused": True}]
    unserved = d.slash("timeout", MOD, typing, kind=4)
    unserved["guild_id"] = "123"
    assert reply(signer.post(front, unserved)) == {"type": 8, "data": {"choices": []}}
    in_dm = d.slash("timeout", MOD, typing, kind=4)
    del in_dm["guild_id"]
    assert reply(signer.post(front, in_dm)) == {"type": 8, "data": {"choices": []}}
    # An error inside: the community's policy file is gone (and no good version was loaded).
    c = session.get(Community, session.exec(select(Community.id).where(Community.discord_guild_id == d.GUILD)).one())
    c.policy_path = "/nonexistent/policy.yaml"
    session.add(c)
    session.commit()
    assert reply(signer.post(front, d.slash("timeout", MOD, typing, kind=4))) == {"type": 8, "data": {"choices": []}}
