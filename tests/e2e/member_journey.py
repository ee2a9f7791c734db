"""The sanctioned member's whole path, over HTTP against running processes, with the
bot configured against the fake Discord (issue 17, item 7, first bullet):

    reported from Discord (signed interaction) -> the flag is in the queue
    -> a moderator claims it and bans with evidence
    -> the fake Discord gets the DM with a working appeal link BEFORE the ban
    -> the member appeals through that link -> a staff reply reaches them by DM
    -> leadership decides -> the decision DM arrives
    -> the ban is lifted (overturn) or the new measure applied (modify)

`walk` is run by test_member_journey.py on the production topology and on the
embedded `modsys serve`. Each hand-over has its own assertion, named `H1`..`H10`
in the messages, so a failure says which hand-over broke.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests

from tests.support import discord_interactions as d
from tests.support.discord_server import FakeDiscord
from tests.support.wait import wait_until

GUILD = d.GUILD
MEMBER = d.user("345678901234567891", "Gus [grumpy](https://evil.example)")
REPORTER = d.user("345678901234567892", "Rea")
MESSAGE = "you are a complete idiot and everyone here knows it"
REPLY = "We are reading the thread you mention; which message did you quote?"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(https?://\S+/appeal/[A-Za-z0-9._-]{20,})")
STAFF = {"mod_alice": "moderator", "mod_bob": "moderator", "lead_carol": "leadership"}


@dataclass
class Journey:
    base: str
    fake: FakeDiscord
    signer: d.Signer
    passwords: dict[str, str]
    dump: Callable[[], str]


def login(j: Journey, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{j.base}/login", timeout=10)
    r = s.post(f"{j.base}/login", data={"username": username, "password": j.passwords[username],
                                        "csrf_token": CSRF.search(page.text).group(1)},
               allow_redirects=False, timeout=10)
    assert r.status_code == 302, (username, r.status_code, r.text[:300])
    return s


def csrf(s: requests.Session, url: str) -> str:
    return CSRF.search(s.get(url, timeout=10).text).group(1)


def interact(j: Journey, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    r = requests.post(f"{j.base}/discord/interactions", data=body, headers=j.signer.headers(body), timeout=10)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.json()


def dms(j: Journey) -> list[dict[str, Any]]:
    return list(j.fake.dms.get(MEMBER["id"], []))


def dm_containing(j: Journey, text: str, what: str) -> dict[str, Any]:
    return wait_until(lambda: next((m for m in dms(j) if text in m["content"]), None), 30, what, on_timeout=j.dump)


def link_of(message: dict[str, Any], hand_over: str) -> str:
    found = LINK.search(message["content"])
    assert found, f"{hand_over}: the DM carries no appeal link: {message['content']!r}"
    return found.group(1)


def walk(j: Journey, outcome: str) -> None:
    """The member's path; `outcome` is "overturned" or "modified"."""
    # H1: reported from Discord -> a flag in the moderators' queue.
    modal = interact(j, d.message_command("Report to moderators", REPORTER, "1300000000000000001", MEMBER, MESSAGE))
    assert modal["type"] == 9, f"H1 report: no reason form: {modal}"
    thanks = interact(j, d.modal_submit(modal["data"]["custom_id"], REPORTER, {"reason": "insulting people"}))
    assert "moderators will look at it" in thanks["data"]["content"], f"H1 report: {thanks}"
    alice = login(j, "mod_alice")
    queue = alice.get(f"{j.base}/flags", timeout=10).text
    found = re.search(r'href="/flags/(\d+)"', queue)
    assert found and "complete idiot" in queue, "H1 report -> queue: the reported message is not in the queue"
    flag_id = int(found.group(1))

    # H2: the moderator claims it.
    r = alice.post(f"{j.base}/flags/{flag_id}/claim", data={"csrf_token": csrf(alice, f"{j.base}/flags/{flag_id}")},
                   timeout=10)
    assert r.status_code == 200 and f"You hold flag #{flag_id}" in r.text, f"H2 claim: {r.status_code}"

    # H3: ...and bans with evidence, on the flag.
    page = alice.get(f"{j.base}/actions/new", params={"flag": flag_id}, timeout=10)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    r = alice.post(f"{j.base}/actions/new", params={"flag": flag_id}, allow_redirects=False, timeout=10, data={
        **hidden, "kind": "ban", "rule": "respectful", "duration": "7d",
        "public_reason": "Insulting another member in #general.",
        "facts": "You called another member an idiot in #general.",
        "ev_kind_0": "text", "ev_vis_0": "public", "ev_content_0": "Three members reported the message."})
    assert r.status_code == 302 and "/actions/" in r.headers["Location"], f"H3 ban: {r.status_code} {r.text[:500]}"
    action_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    # H4: the DM with a working link reaches the member BEFORE the ban lands.
    wait_until(lambda: [c for c in j.fake.calls_to("put_ban") if c.status == 204], 30, "H4 the ban in Discord",
               on_timeout=j.dump)
    ban_at = min(c.at for c in j.fake.calls_to("put_ban") if c.status == 204)
    notice = dm_containing(j, f"(case #{action_id})", "H4 the sanction DM")
    assert notice["at"] < ban_at, "H4 DM before the ban: the ban landed first"
    link = link_of(notice, "H4 sanction DM")
    member = requests.Session()
    case = member.get(link, timeout=10)
    assert case.status_code == 200 and "Insulting another member" in case.text, f"H4 link: {case.status_code}"

    # H5: the member appeals through that link.
    r = member.post(f"{link}/appeal", allow_redirects=False, timeout=10, data={
        "csrf_token": CSRF.search(case.text).group(1),
        "statement": "I was quoting what someone said to me, to report it; please read the thread."})
    assert r.status_code == 303, f"H5 appeal: {r.status_code} {r.text[:500]}"
    appeal_id = int(re.search(r"/appeals/(\d+)$", r.headers["Location"]).group(1))

    # H6: a staff reply in the thread reaches the member by DM, with the way back to the thread.
    bob = login(j, "mod_bob")
    appeal_page = f"{j.base}/appeals/{appeal_id}"
    for verb, data in (("review", {}), ("message", {"body": REPLY})):
        r = bob.post(f"{appeal_page}/{verb}", data={"csrf_token": csrf(bob, appeal_page), **data}, timeout=10)
        assert r.status_code == 200, f"H6 {verb}: {r.status_code}"
    reply = dm_containing(j, "which message did you quote?", "H6 the staff reply DM")
    thread = f"{link_of(reply, 'H6 reply DM')}/appeals/{appeal_id}"
    assert reply["content"].endswith(thread), f"H6: the reply DM does not lead to the thread: {reply['content']!r}"
    assert "which message did you quote?" in member.get(thread, timeout=10).text, "H6: the thread lacks the reply"

    # H7: escalated, leadership decides.
    r = bob.post(f"{appeal_page}/escalate", timeout=10, data={
        "csrf_token": csrf(bob, appeal_page), "reason": "The context is disputed; leadership should decide."})
    assert r.status_code == 200, f"H7 escalate: {r.status_code}"
    carol = login(j, "lead_carol")
    desk = f"{j.base}/leadership/appeals/{appeal_id}"
    decision = {"csrf_token": csrf(carol, desk), "outcome": outcome,
                "reasons": "The insult was real but quoted to report it; we decided so after reading it."}
    if outcome == "modified":
        decision |= {"new_kind": "ban", "new_duration": "1d"}
    r = carol.post(f"{desk}/decide", data=decision, allow_redirects=False, timeout=10)
    assert r.status_code == 302, f"H7 decide: {r.status_code} {r.text[:500]}"

    # H8: the decision DM arrives, in the member's words, with its link.
    told = dm_containing(j, f"your appeal #{appeal_id} on case #{action_id} was decided", "H8 the decision DM")
    if outcome == "overturned":
        assert "overturned. The 1 week ban is lifted: you can rejoin the server." in told["content"], told
    else:
        assert "As the result of your appeal, the 1 week ban is replaced by a 1 day ban" in told["content"], told
        assert "you received a" not in told["content"], "H8: a modified measure must not read as a new sanction"
    assert requests.get(link_of(told, "H8 decision DM"), timeout=10).status_code == 200

    # H9: Discord does what the decision says.
    if outcome == "overturned":
        wait_until(lambda: [c for c in j.fake.calls_to("delete_ban") if c.status == 204], 30, "H9 the unban",
                   on_timeout=j.dump)
        assert MEMBER["id"] not in j.fake.guilds[GUILD].bans, "H9 overturn: still banned in Discord"
    else:
        def reapplied() -> list:
            return [c for c in j.fake.calls_to("put_ban") if c.status == 204 and c.at > ban_at]
        wait_until(reapplied, 30, "H9 the new measure in Discord", on_timeout=j.dump)
        assert re.match(r"modsys case #\d+", reapplied()[0].reason or ""), "H9 modify: the new case is not applied"
        assert f"case #{action_id}:" not in (reapplied()[0].reason or ""), "H9 modify: the old case re-applied"

    # H10: one DM per member-facing event, each with its link; no DM anywhere without one.
    time.sleep(3)  # a duplicate would show up within a delivery cycle or two
    mine = dms(j)
    assert len(mine) == 3, f"H10: expected the sanction, the reply and the decision, got {len(mine)}: {mine}"
    for _, message in j.fake.dm_log():
        assert LINK.search(message["content"]), f"H10: a DM without its link: {message['content']!r}"
