"""POST /discord/interactions with real Ed25519 signatures: refused when forged,
replayed or unsigned; reports reach the flag queue exactly like the API's;
staff commands file cases through the dashboard's services."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
from sqlmodel import select

from modsys.domain.actors import CLI, Actor
from modsys.domain.models import (
    Action,
    ActionStatus,
    AuditEvent,
    Community,
    DiscordDraft,
    Evidence,
    Flag,
    FlagReport,
    Member,
    OutboxMessage,
    StaffUser,
    StatementOfReasons,
)
from modsys.services.api_keys import create_api_key
from modsys.services.appeals import submit_appeal
from tests.conftest import fresh, login
from tests.support import discord_interactions as d
from tests.support.discord_interactions import GUILD, Signer

ROWAN = d.user("345678901234567890", "Rowan")  # the member whose message is reported
ALEX = d.user("111111111111111111", "Alex")  # a reporter
BEA = d.user("222222222222222222", "Bea")  # another reporter
MOD = d.user("333333333333333333", "ModA")  # linked to staff mod_a
MOD_B = d.user("444444444444444444", "ModB")  # linked to staff mod_b


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def front(app, signer, session, community, mod_a, mod_b):
    state = app.extensions["modsys"]
    state.settings = dataclasses.replace(state.settings, discord_public_key=signer.public_hex,
                                         base_url="https://modsys.example")
    c = session.get(Community, community.id)
    c.discord_guild_id = GUILD
    for actor, who in ((mod_a, MOD), (mod_b, MOD_B)):
        staff = session.get(StaffUser, actor.id)
        staff.discord_user_id = who["id"]
        session.add(staff)
    session.add(c)
    session.commit()
    return app.test_client()


def reply(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


# --- the door itself -----------------------------------------------------------------


def test_ping_gets_pong(front, signer):
    assert reply(signer.post(front, {"type": 1})) == {"type": 1}


def test_unsigned_forged_and_replayed_requests_get_401_and_change_nothing(front, signer, session):
    payload = d.message_command("Report to moderators", ALEX, "700", ROWAN, "you idiot")
    body = json.dumps(payload).encode()
    assert front.post("/discord/interactions", data=body, content_type="application/json").status_code == 401
    forged = signer.headers(body)
    assert front.post("/discord/interactions", data=body.replace(b"you idiot", b"you angel"),
                      headers=forged).status_code == 401
    other = Signer()
    assert other.post(front, payload).status_code == 401
    stale = signer.post(front, payload, ts=int(time.time()) - 301)
    assert stale.status_code == 401 and "stale" in stale.get_json()["error"]
    fresh(session)
    assert session.exec(select(DiscordDraft)).all() == []


def test_signed_garbage_is_a_400_and_an_oversized_body_a_413(front, signer):
    for body in (b"not json", b"[1, 2]", b'{"type": "1"}'):
        resp = front.post("/discord/interactions", data=body, headers=signer.headers(body))
        assert resp.status_code == 400, body
    huge = b'{"type": 1, "pad": "' + b"x" * (64 * 1024) + b'"}'
    assert front.post("/discord/interactions", data=huge, headers=signer.headers(huge)).status_code == 413


def test_without_a_public_key_the_endpoint_is_a_clear_404(app, signer):
    resp = signer.post(app.test_client(), {"type": 1})
    assert resp.status_code == 404 and "MODSYS_DISCORD_PUBLIC_KEY" in resp.get_data(as_text=True)


def test_a_guild_without_a_community_gets_an_ephemeral_answer(front, signer):
    out = reply(signer.post(front, d.message_command("Report to moderators", ALEX, "700", ROWAN, "x",
                                                     guild="123")))
    assert out["type"] == 4 and out["data"]["flags"] == 64 and "not" in out["data"]["content"]


# --- members report ------------------------------------------------------------------


def report(front, signer, reporter, message_id="700", content="you are an idiot", reason="insult",
           attachments=("https://cdn.discordapp.com/attachments/1/2/shot.png",)):
    modal = reply(signer.post(front, d.message_command("Report to moderators", reporter, message_id, ROWAN, content,
                                                       list(attachments))))
    assert modal["type"] == 9 and modal["data"]["custom_id"].startswith("report:")
    return reply(signer.post(front, d.modal_submit(modal["data"]["custom_id"], reporter, {"reason": reason})))


def test_a_report_from_the_context_menu_reaches_the_queue_like_an_api_flag(front, signer, session, community):
    thanks = report(front, signer, ALEX)
    assert thanks["data"] == {"content": "Thanks, the moderators will look at it.", "flags": 64,
                              "allowed_mentions": {"parse": []}}
    again = report(front, signer, ALEX, reason="still an insult")  # the same reporter: counted once
    assert again["data"]["content"] == thanks["data"]["content"]
    report(front, signer, BEA)
    fresh(session)
    flag = session.exec(select(Flag).where(Flag.platform_message_id == "700")).one()
    assert flag.reporter_count == 2 and flag.content == "you are an idiot" and flag.reason == "insult"
    assert flag.score_state == "pending" and flag.channel_id == d.CHANNEL  # scored later, as API flags are
    assert flag.channel_name == d.CHANNEL_NAME  # from the interaction's channel
    assert len(session.exec(select(FlagReport).where(FlagReport.flag_id == flag.id)).all()) == 2
    candidates = session.exec(select(Evidence).where(Evidence.flag_id == flag.id).order_by(Evidence.id)).all()
    assert [e.content for e in candidates] == [
        f"https://discord.com/channels/{GUILD}/{d.CHANNEL}/700",
        "https://cdn.discordapp.com/attachments/1/2/shot.png"]
    assert {e.visibility for e in candidates} == {"private"} and all(e.action_id is None for e in candidates)
    assert session.exec(select(DiscordDraft)).all() == []  # each modal's draft was used up
    login(front, "mod_a")
    page = front.get(f"/flags/{flag.id}").get_data(as_text=True)
    assert "Evidence candidates from the reports" in page and "shot.png" in page
    assert f"#{d.CHANNEL_NAME}" in page and f"#{d.CHANNEL}" not in page
    reporters = page.split('id="reporters"')[1]
    assert "Alex" in reporters and "Bea" in reporters and ALEX["id"] not in page
    assert not re.search(r"(member|api|staff)\d+", reporters)  # no internal actor keys


def test_a_modal_can_be_sent_once_and_only_by_whoever_opened_it(front, signer, session):
    modal = reply(signer.post(front, d.message_command("Report to moderators", ALEX, "701", ROWAN, "spam")))
    custom_id = modal["data"]["custom_id"]
    stolen = reply(signer.post(front, d.modal_submit(custom_id, BEA, {"reason": ""})))
    assert "expired or was already sent" in stolen["data"]["content"]
    reply(signer.post(front, d.modal_submit(custom_id, ALEX, {"reason": ""})))
    twice = reply(signer.post(front, d.modal_submit(custom_id, ALEX, {"reason": ""})))
    assert "expired or was already sent" in twice["data"]["content"]
    fresh(session)
    assert session.exec(select(Flag).where(Flag.platform_message_id == "701")).one().reporter_count == 1


# --- staff act ---------------------------------------------------------------------------


def test_members_are_refused_staff_commands(front, signer, session):
    for payload in (
        d.slash("warn", ALEX, [{"name": "member", "type": 6, "value": ROWAN["id"]},
                               {"name": "rule", "type": 3, "value": "respectful"},
                               {"name": "reason", "type": 3, "value": "Insulting another member."}], [ROWAN]),
        d.user_command("Moderation history", ALEX, ROWAN),
        d.message_command("Act on this message", ALEX, "702", ROWAN, "idiot"),
    ):
        out = reply(signer.post(front, payload))
        assert out["data"]["flags"] == 64 and "not linked to an active staff account" in out["data"]["content"]
    fresh(session)
    assert session.exec(select(Action)).all() == []


def test_ban_from_slash_command_files_the_case_with_its_statement(front, signer, session):
    out = reply(signer.post(front, d.slash("ban", MOD, [
        {"name": "member", "type": 6, "value": ROWAN["id"]}, {"name": "rule", "type": 3, "value": "respectful"},
        {"name": "duration", "type": 3, "value": "7d"},
        {"name": "reason", "type": 3, "value": "Repeated insults in #general."},
        {"name": "note", "type": 3, "value": "PRIVATE-NOTE-1"}], [ROWAN])))
    fresh(session)
    action = session.exec(select(Action)).one()
    assert action.kind == "ban" and action.status == ActionStatus.active and action.rules == ["respectful"]
    assert action.private_note == "PRIVATE-NOTE-1" and (action.ends_at - action.starts_at).days == 7
    text = out["data"]["content"]
    assert out["data"]["flags"] == 64 and f"Case #{action.id} filed: 1 week ban" in text
    assert f"https://modsys.example/actions/{action.id}" in text and "next step is now" in text
    assert session.exec(select(AuditEvent).where(AuditEvent.verb == "action.filed")).one().actor_name == "mod_a"
    sor = session.exec(select(StatementOfReasons).where(StatementOfReasons.action_id == action.id)).one()
    assert sor.measure == "1 week ban" and "respectful" in sor.ground_reference
    notices = session.exec(select(OutboxMessage).where(OutboxMessage.event == "member.notice")).all()
    assert [n.payload["action_id"] for n in notices] == [action.id]  # the DM with the appeal link follows


def test_a_permanent_ban_waits_for_a_second_signature(front, signer, session):
    out = reply(signer.post(front, d.slash("ban", MOD, [
        {"name": "member", "type": 6, "value": ROWAN["id"]}, {"name": "rule", "type": 3, "value": "illegal"},
        {"name": "duration", "type": 3, "value": "permanent"},
        {"name": "reason", "type": 3, "value": "Threats of violence against a member."}], [ROWAN])))
    fresh(session)
    assert session.exec(select(Action)).one().status == ActionStatus.pending_cosign
    assert "awaits a second signature" in out["data"]["content"]


def test_policy_limits_and_unknown_rules_are_refused_and_nothing_is_filed(front, signer, session):
    base = [{"name": "member", "type": 6, "value": ROWAN["id"]},
            {"name": "reason", "type": 3, "value": "Insulting another member."}]
    out = reply(signer.post(front, d.slash("warn", MOD, [*base, {"name": "rule", "type": 3, "value": "nope"}],
                                           [ROWAN])))
    assert out["data"]["content"].startswith("Nothing was filed: rule(s) nope are not in policy")
    out = reply(signer.post(front, d.slash("timeout", MOD, [*base, {"name": "rule", "type": 3, "value": "spam"},
                                                           {"name": "duration", "type": 3, "value": "90d"}],
                                           [ROWAN])))
    assert "Nothing was filed" in out["data"]["content"] and "4 weeks" in out["data"]["content"]
    fresh(session)
    assert session.exec(select(Action)).all() == []


def test_rule_autocomplete_comes_from_the_policy_with_the_ladder(front, signer):
    payload = d.slash("timeout", MOD, [{"name": "member", "type": 6, "value": ROWAN["id"]},
                                       {"name": "rule", "type": 3, "value": "spa", "focused": True}], kind=4)
    out = reply(signer.post(front, payload))
    assert out["type"] == 8
    assert out["data"]["choices"] == [{"name": "spam: No spam (ladder: warning)", "value": "spam"}]
    assert reply(signer.post(front, d.slash("timeout", ALEX, payload["data"]["options"], kind=4)))["data"] == {
        "choices": []}  # members learn nothing


def test_act_on_this_message_files_with_the_message_as_public_evidence(front, signer, session):
    report(front, signer, ALEX, message_id="703", content="you absolute idiot")
    modal = reply(signer.post(front, d.message_command("Act on this message", MOD, "703", ROWAN, "you absolute idiot")))
    assert modal["type"] == 9
    fields = {c["component"]["custom_id"]: c["component"] for c in modal["data"]["components"]}
    assert fields["measure"]["value"] == "warning"  # the ladder's first step for the first rule
    assert "you absolute idiot" in fields["reason"]["value"]
    assert [o["value"] for o in fields["rule"]["options"]][:2] == ["respectful", "illegal"]
    out = reply(signer.post(front, d.modal_submit(modal["data"]["custom_id"], MOD, {
        "rule": "respectful", "measure": "timeout 1h", "reason": "Insulting another member in #general.",
        "note": ""})))
    fresh(session)
    action = session.exec(select(Action)).one()
    assert action.kind == "timeout" and action.source == "flag" and f"Case #{action.id} filed" in out["data"]["content"]
    flag = session.exec(select(Flag).where(Flag.platform_message_id == "703")).one()
    assert flag.status == "actioned" and action.flag_id == flag.id
    public = session.exec(select(Evidence).where(Evidence.action_id == action.id,
                                                 Evidence.visibility == "public")).all()
    assert any("you absolute idiot" in e.content for e in public)


def test_a_message_acted_on_names_its_channel_in_the_public_evidence(front, signer, session):
    modal = reply(signer.post(front, d.message_command("Act on this message", MOD, "704", ROWAN, "you fool")))
    reply(signer.post(front, d.modal_submit(modal["data"]["custom_id"], MOD, {
        "rule": "respectful", "measure": "warning", "reason": "Insulting another member.", "note": ""})))
    fresh(session)
    [snapshot] = session.exec(select(Evidence).where(Evidence.visibility == "public")).all()
    assert snapshot.content.startswith(f"Message 704 in #{d.CHANNEL_NAME}:") and d.CHANNEL not in snapshot.content


def test_case_member_and_moderation_history_show_cases_and_open_appeals(front, signer, session):
    reply(signer.post(front, d.slash("warn", MOD, [
        {"name": "member", "type": 6, "value": ROWAN["id"]}, {"name": "rule", "type": 3, "value": "spam"},
        {"name": "reason", "type": 3, "value": "Advertising in #general."}], [ROWAN])))
    fresh(session)
    warning = session.exec(select(Action)).one()
    rowan = session.get(Member, warning.member_id)
    appeal = submit_appeal(session, Actor.member(rowan), warning.id,
                           "I posted the link once, when someone asked for it; that isn't advertising.")
    by_slash = reply(signer.post(front, d.slash("case", MOD_B, [
        {"name": "member", "type": 1, "options": [{"name": "member", "type": 6, "value": ROWAN["id"]}]}], [ROWAN])))
    by_menu = reply(signer.post(front, d.user_command("Moderation history", MOD_B, ROWAN)))
    for out in (by_slash, by_menu):
        text = out["data"]["content"]
        assert out["data"]["flags"] == 64 and "warning, active, spam" in text and "Open appeals: 1" in text
        assert f"appeal #{appeal.id} on case #{warning.id}: submitted" in text


def test_history_reply_shows_a_name_as_its_words_and_keeps_its_link(front, signer, session):
    phisher = d.user("345678901234567899", "[Official Staff](https://evil.example) **now**")
    reply(signer.post(front, d.slash("warn", MOD, [
        {"name": "member", "type": 6, "value": phisher["id"]}, {"name": "rule", "type": 3, "value": "spam"},
        {"name": "reason", "type": 3, "value": "Advertising in #general."}], [phisher])))
    text = reply(signer.post(front, d.user_command("Moderation history", MOD_B, phisher)))["data"]["content"]
    assert re.search(r"\\\[Official Staff\\\]\\\(https\\:", text), text  # escaped: not a masked link
    assert not re.search(r"(?<!\\)\]\(", text) and len(text) <= 2000
    assert re.search(r"/members/\d+$", text)


# --- the flag list API --------------------------------------------------------------------


def test_flags_list_filters_and_pages(front, signer, session, community, mod_a):
    for message_id in ("801", "802", "803"):
        report(front, signer, ALEX, message_id=message_id, attachments=())
    _, key = create_api_key(session, CLI, community.id, "bot", "moderator", "mod_a")
    auth = {"Authorization": f"Bearer {key}"}
    page = front.get("/api/v1/flags?limit=2", headers=auth).get_json()
    assert [f["message_id"] for f in page["items"]] == ["803", "802"] and page["next_offset"] == 2
    page2 = front.get("/api/v1/flags?limit=2&offset=2", headers=auth).get_json()
    assert [f["message_id"] for f in page2["items"]] == ["801"] and page2["next_offset"] is None
    one = front.get("/api/v1/flags?message_id=802", headers=auth).get_json()["items"]
    assert [f["message_id"] for f in one] == ["802"]
    by_author = front.get(f"/api/v1/flags?author_id={ROWAN['id']}&status=open&channel_id={d.CHANNEL}",
                          headers=auth).get_json()["items"]
    assert len(by_author) == 3
    assert front.get("/api/v1/flags?author_id=999", headers=auth).get_json()["items"] == []
    bad = front.get("/api/v1/flags?status=maybe", headers=auth)
    assert bad.status_code == 422 and "status" in bad.get_json()["error"]
    _, reporter = create_api_key(session, CLI, community.id, "reporter-bot", "reporter")
    assert front.get("/api/v1/flags", headers={"Authorization": f"Bearer {reporter}"}).status_code == 403


# --- communities never meet ------------------------------------------------------------------


def test_each_guild_is_its_own_community_and_links_do_not_cross(front, signer, session, policy_path, mod_a):
    from modsys.community import ensure_community
    from modsys.services.staff import set_active

    other = ensure_community(session, policy_path, slug="other")
    other.discord_guild_id = "880000000000000099"
    session.add(other)
    session.commit()
    elsewhere = d.message_command("Act on this message", MOD, "900", ROWAN, "hi", guild="880000000000000099")
    out = reply(signer.post(front, elsewhere))
    assert "not linked to an active staff account of this community" in out["data"]["content"]
    modal = reply(signer.post(front, d.message_command("Report to moderators", ALEX, "901", ROWAN, "spam",
                                                       guild="880000000000000099")))
    thanks = reply(signer.post(front, d.modal_submit(modal["data"]["custom_id"], ALEX, {"reason": ""},
                                                     guild="880000000000000099")))
    assert thanks["data"]["content"] == "Thanks, the moderators will look at it.", thanks
    fresh(session)
    assert session.exec(select(Flag).where(Flag.platform_message_id == "901")).one().community_id == other.id
    # A draft from one guild can't be completed in another.
    modal = reply(signer.post(front, d.message_command("Report to moderators", ALEX, "902", ROWAN, "spam")))
    crossed = d.modal_submit(modal["data"]["custom_id"], ALEX, {"reason": ""}, guild="880000000000000099")
    assert "expired or was already sent" in reply(signer.post(front, crossed))["data"]["content"]
    # A deactivated staff account's link stops working at once.
    set_active(session, CLI, mod_a.id, False)
    out = reply(signer.post(front, d.user_command("Moderation history", MOD, ROWAN)))
    assert "not linked to an active staff account" in out["data"]["content"]
