"""The member's appeal portal over HTTP (Flask test client), on SQLite and PostgreSQL.

The member has no account: a signed link is their only key. These tests hold
the portal to what it promises: the statement of reasons and the public
evidence, never the private evidence (HTML, JSON or download); clear 4xx pages
for bad links; one appeal per case however often the form is sent; CSRF on
every form; and a decision the member can read, with what comes next.
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from modsys.domain.models import Appeal, AppealMessage, AppealStatus, Evidence
from modsys.infra import portal_links
from modsys.services import appeals as appeal_svc
from modsys.services.actions import NewAction, file_action
from modsys.services.decisions import Decision, Modification, final_decision
from modsys.services.evidence import EvidenceInput
from tests.conftest import DAY

PUBLIC_TEXT = "You called another member an idiot in #general, twice."
PRIVATE_TEXT = "Reported by member 4242; TOP-SECRET-REPORTER-NOTE (staff only)."
PRIVATE_NOTE = "internal: watch this account, PRIVATE-NOTE-XYZ"
PUBLIC_FILE = "public-screenshot.png"
PRIVATE_FILE = "secret-report.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PRIVATE_PNG = b"\x89PNG\r\n\x1a\n" + b"PRIVATE-FILE-BYTES" + b"\x00" * 32
STATEMENT = "I was quoting the other member to report them; please read the whole conversation."


@pytest.fixture
def make_app(engine, web_settings, clock, community):
    """create_app with the real rate limits on (the limiter is shared between apps,
    so say it explicitly) and CSRF on unless a test says otherwise."""
    from web import create_app

    def make(csrf: bool = False, **overrides):
        return create_app(web_settings, engine=engine, TESTING=True, WTF_CSRF_ENABLED=csrf,
                          RATELIMIT_ENABLED=True, **overrides)

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def case(session, mod_a, make_member):
    """A 7-day ban with public and private evidence, both as text and as files."""
    member = make_member("Offender")
    action = file_action(session, mod_a, NewAction(
        member_id=member.id, kind="ban", rules=["respectful"], duration=timedelta(days=7),
        public_reason="Repeated insults towards another member.", facts="Two insults on 2026-01-05 in #general.",
        private_note=PRIVATE_NOTE,
        evidence=[EvidenceInput("text", "public", PUBLIC_TEXT),
                  EvidenceInput("text", "private", PRIVATE_TEXT),
                  EvidenceInput("file", "public", data=PNG, filename=PUBLIC_FILE),
                  EvidenceInput("file", "private", data=PRIVATE_PNG, filename=PRIVATE_FILE)]))
    evidence = {(e.visibility, e.kind): e for e in session.exec(select(Evidence).where(Evidence.action_id == action.id))}
    session.commit()
    return {"member": member, "action": action, "evidence": evidence}


def token_for(app, action, member_id=None, expires_at=None, secret=None) -> str:
    secret = secret or app.extensions["modsys"].secret_key
    return portal_links.make_token(secret, action.id, member_id or action.member_id,
                                   expires_at or action.appeal_deadline)


def fresh(session):
    """End the test session's read snapshot (SQLite WAL) and forget cached rows."""
    session.commit()
    session.expire_all()
    return session


def appeals_of(session, action) -> list[Appeal]:
    fresh(session)
    return list(session.exec(select(Appeal).where(Appeal.action_id == action.id)))


def submit(client, token, statement=STATEMENT, **data):
    return client.post(f"/appeal/{token}/appeal", data={"statement": statement, **data},
                       content_type="multipart/form-data")


def assert_no_private(text: str, case) -> None:
    private_text, private_file = case["evidence"][("private", "text")], case["evidence"][("private", "file")]
    for secret in (PRIVATE_TEXT, "TOP-SECRET-REPORTER-NOTE", PRIVATE_NOTE, "PRIVATE-NOTE-XYZ", PRIVATE_FILE,
                   "PRIVATE-FILE-BYTES", f"/evidence/{private_text.id}", f"/evidence/{private_file.id}"):
        assert secret not in text, f"private content leaked to the member: {secret!r}"


def evidence_ids(obj) -> set[int]:
    """Every id found in any 'evidence'/'attachments' list of the JSON view."""
    found: set[int] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("evidence", "attachments") and isinstance(value, list):
                found |= {item["id"] for item in value}
            found |= evidence_ids(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= evidence_ids(value)
    return found


def decide(session, mod_b, leader, appeal_id, outcome="overturned", modification=None, statement=("", "")):
    appeal_svc.start_review(session, mod_b, appeal_id)
    appeal_svc.escalate_appeal(session, mod_b, appeal_id, "Context suggests quoting; leadership should decide.",
                               "Overturn: the insult was a quote.")
    return final_decision(session, leader, appeal_id, Decision(
        outcome, "The messages were quotes reported to staff, not insults by the member.", modification),
        statement_title=statement[0], statement_body=statement[1])


# --- what the member sees ------------------------------------------------------


def test_link_shows_reasons_and_only_public_evidence(app, client, case):
    token = token_for(app, case["action"])
    page = client.get(f"/appeal/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    for expected in ("1 week ban", "Repeated insults towards another member.", "Two insults on 2026-01-05",
                     "Be respectful", "No automated detection was involved", PUBLIC_FILE,
                     f"/appeal/{token}/evidence/{case['evidence'][('public', 'file')].id}"):
        assert expected in html, expected
    assert "idiot in #general" in html  # the public text evidence (HTML-escaped '#': none)
    assert_no_private(html, case)

    public_ids = {case["evidence"][("public", "text")].id, case["evidence"][("public", "file")].id}
    private_ids = {case["evidence"][("private", "text")].id, case["evidence"][("private", "file")].id}
    for response in (client.get(f"/appeal/{token}.json"),
                     client.get(f"/appeal/{token}", headers={"Accept": "application/json"})):
        assert response.status_code == 200 and response.is_json
        raw = response.get_data(as_text=True)
        assert_no_private(raw, case)
        data = json.loads(raw)
        assert data["statement_of_reasons"]["measure"] == "1 week ban"
        assert data["statement_of_reasons"]["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
        assert evidence_ids(data) == public_ids and not evidence_ids(data) & private_ids
        assert "private_note" not in data["case"] and data["can_appeal"] is True


def test_public_file_downloads_as_attachment_and_private_is_refused(app, client, case, make_member, session, mod_a):
    token = token_for(app, case["action"])
    public, private = case["evidence"][("public", "file")], case["evidence"][("private", "file")]
    ok = client.get(f"/appeal/{token}/evidence/{public.id}")
    assert ok.status_code == 200 and ok.data == PNG
    assert ok.headers["Content-Disposition"].startswith("attachment;")
    assert ok.headers["X-Content-Type-Options"] == "nosniff" and ok.mimetype == "image/png"

    refused = client.get(f"/appeal/{token}/evidence/{private.id}")
    assert refused.status_code == 404 and b"PRIVATE-FILE-BYTES" not in refused.data
    assert "no downloadable evidence" in refused.get_data(as_text=True)
    # Private text evidence (no file) and another case's public file: refused the same way.
    assert client.get(f"/appeal/{token}/evidence/{case['evidence'][('private', 'text')].id}").status_code == 404
    other = file_action(session, mod_a, NewAction(
        member_id=make_member("Someone else").id, kind="warning", rules=["spam"], public_reason="Spam in #general.",
        evidence=[EvidenceInput("file", "public", data=PNG + b"other", filename="other.png")]))
    other_file = session.exec(select(Evidence).where(Evidence.action_id == other.id)).one()
    session.commit()
    assert client.get(f"/appeal/{token}/evidence/{other_file.id}").status_code == 404


# --- bad links ----------------------------------------------------------------------


def test_tampered_token_gets_a_clear_page(app, client, case):
    token = token_for(app, case["action"])
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for bad in (tampered, "not-a-token", token.split(".")[0] + ".x"):
        page = client.get(f"/appeal/{bad}")
        text = page.get_data(as_text=True)
        assert page.status_code == 404 and "This link doesn't work" in text and "not valid" in text
        assert "Traceback" not in text
    forged = token_for(app, case["action"], secret="someone-elses-secret")
    assert client.get(f"/appeal/{forged}").status_code == 404
    as_json = client.get(f"/appeal/{tampered}.json")
    assert as_json.status_code == 404 and "not valid" in as_json.get_json()["error"]
    assert submit(client, tampered).status_code == 404


def test_foreign_token_is_refused(app, client, case, make_member):
    stranger = make_member("Stranger")
    token = token_for(app, case["action"], member_id=stranger.id)
    page = client.get(f"/appeal/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 403 and "does not belong to this case" in text
    assert PUBLIC_TEXT not in text and "Traceback" not in text
    assert submit(client, token).status_code == 403


def test_expired_token_without_an_appeal_is_refused(app, client, case, clock, session):
    token = token_for(app, case["action"])
    clock.set(case["action"].appeal_deadline + timedelta(seconds=1))
    page = client.get(f"/appeal/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 410 and "This link has expired" in text and "no appeal to follow" in text
    assert PUBLIC_TEXT not in text and "Traceback" not in text
    assert submit(client, token).status_code == 410
    assert appeals_of(session, case["action"]) == []


def test_expired_link_keeps_working_while_there_is_an_appeal_to_follow(app, client, case, clock, session, mod_b,
                                                                       leader):
    token = token_for(app, case["action"])
    deadline = case["action"].appeal_deadline
    clock.set(deadline - DAY)  # appealed on the last day of the window
    assert submit(client, token).status_code == 303
    (ap,) = appeals_of(session, case["action"])
    clock.set(deadline + DAY)
    # Open appeal: the member can still follow it and answer in its thread...
    case_page = client.get(f"/appeal/{token}").get_data(as_text=True)
    assert "keeps working so you can follow your appeal" in case_page and "Send my appeal" not in case_page
    assert client.post(f"/appeal/{token}/appeals/{ap.id}/message", data={"body": "Any news?"}).status_code == 303
    # ...but the grace reopens nothing the policy closed.
    resent = submit(client, token)
    assert resent.status_code == 303 and resent.headers["Location"].endswith(f"/appeals/{ap.id}")
    assert len(appeals_of(session, case["action"])) == 1

    clock.set(deadline + 2 * DAY)
    decide(session, mod_b, leader, ap.id)
    clock.set(deadline + 30 * DAY)
    page = client.get(f"/appeal/{token}/appeals/{ap.id}")
    assert page.status_code == 200 and "the sanction is lifted" in page.get_data(as_text=True)
    # The grace ends the policy's window (180 days) after the decision.
    fresh(session)
    clock.set(session.get(Appeal, ap.id).decided_at + timedelta(days=181))
    gone = client.get(f"/appeal/{token}/appeals/{ap.id}")
    assert gone.status_code == 410 and "expired" in gone.get_data(as_text=True)


# --- filing an appeal ----------------------------------------------------------------


def test_appeal_submission_and_double_submission_yield_one_appeal(app, client, case, session):
    token = token_for(app, case["action"])
    first = submit(client, token, attachments=[(io.BytesIO(PNG + b"mine"), "my-proof.png")])
    assert first.status_code == 303
    (ap,) = appeals_of(session, case["action"])
    assert first.headers["Location"].endswith(f"/appeal/{token}/appeals/{ap.id}")
    status = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "was received" in status and "Received" in status and "Target for a decision" in status
    assert "my-proof.png" in status and STATEMENT in status
    attachment = session.exec(select(Evidence).where(Evidence.appeal_id == ap.id)).one()
    assert client.get(f"/appeal/{token}/evidence/{attachment.id}").data == PNG + b"mine"

    second = submit(client, token, statement=STATEMENT + " (sent again)")
    assert second.status_code == 303 and second.headers["Location"].endswith(f"/appeals/{ap.id}")
    calm = client.get(second.headers["Location"])
    assert calm.status_code == 200 and "We already have your appeal" in calm.get_data(as_text=True)
    assert len(appeals_of(session, case["action"])) == 1
    case_page = client.get(f"/appeal/{token}").get_data(as_text=True)
    assert "Send my appeal" not in case_page and f"Appeal #{ap.id}" in case_page


@pytest.mark.parametrize("problem", ["short", "long", "too_many_files", "bad_file"])
def test_bad_appeal_input_is_refused_with_a_message_and_changes_nothing(app, client, case, session, problem):
    token = token_for(app, case["action"])
    files = {"too_many_files": [(io.BytesIO(PNG + bytes([i])), f"f{i}.png") for i in range(4)],
             "bad_file": [(io.BytesIO(b"MZ\x90\x00\x03\x00binary"), "tool.exe")]}.get(problem, [])
    statement = {"short": "unfair", "long": "x" * 4001}.get(problem, STATEMENT)
    response = submit(client, token, statement=statement, attachments=files)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    expected = {"short": "needs at least 20 characters", "long": "limited to 4000 characters",
                "too_many_files": "attach at most 3 files", "bad_file": "file type not allowed"}[problem]
    assert expected in text and "Send my appeal" in text  # the form is back, with what to fix
    if problem == "short":
        assert ">unfair</textarea>" in text  # the member's text is kept
    assert appeals_of(session, case["action"]) == []
    assert session.exec(select(Evidence).where(Evidence.appeal_id.is_not(None))).all() == []


def test_forms_need_the_csrf_token(make_app, case, session):
    app = make_app(csrf=True)
    client = app.test_client()
    token = token_for(app, case["action"])
    refused = submit(client, token)
    assert refused.status_code == 400 and "form expired" in refused.get_data(as_text=True)
    assert appeals_of(session, case["action"]) == []

    page = client.get(f"/appeal/{token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert submit(client, token, csrf_token=csrf).status_code == 303
    (ap,) = appeals_of(session, case["action"])
    for verb, data in (("message", {"body": "hello"}), ("withdraw", {})):
        assert client.post(f"/appeal/{token}/appeals/{ap.id}/{verb}", data=data).status_code == 400
    fresh(session)
    assert session.get(Appeal, ap.id).status == AppealStatus.submitted
    assert session.exec(select(AppealMessage)).all() == []


def test_get_never_changes_state(app, client, case, session):
    token = token_for(app, case["action"])
    assert client.get(f"/appeal/{token}/appeal").status_code == 405
    assert submit(client, token).status_code == 303
    (ap,) = appeals_of(session, case["action"])
    for verb in ("withdraw", "message"):
        assert client.get(f"/appeal/{token}/appeals/{ap.id}/{verb}").status_code == 405
    fresh(session)
    assert session.get(Appeal, ap.id).status == AppealStatus.submitted


# --- following the appeal --------------------------------------------------------------


def test_thread_between_member_and_staff(app, client, case, session, mod_b):
    token = token_for(app, case["action"])
    submit(client, token)
    (ap,) = appeals_of(session, case["action"])
    appeal_svc.add_message(session, mod_b, ap.id, "Can you tell us who you were quoting?")
    sent = client.post(f"/appeal/{token}/appeals/{ap.id}/message", data={"body": "Member 77, in #general."})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("#thread")
    page = client.get(f"/appeal/{token}/appeals/{ap.id}").get_data(as_text=True)
    assert page.index("Can you tell us who you were quoting?") < page.index("Member 77, in #general.")
    assert "Moderation team" in page and "mod_b" not in page  # staff speak as the team

    empty = client.post(f"/appeal/{token}/appeals/{ap.id}/message", data={"body": "   "})
    assert empty.status_code == 422 and "message is required" in empty.get_data(as_text=True)
    fresh(session)
    assert len(session.exec(select(AppealMessage).where(AppealMessage.appeal_id == ap.id)).all()) == 2
    data = client.get(f"/appeal/{token}/appeals/{ap.id}", headers={"Accept": "application/json"}).get_json()
    assert [m["from"] for m in data["thread"]] == ["moderation team", "you"]


def test_another_cases_appeal_is_not_reachable_with_this_link(app, client, case, session, mod_a, make_member):
    other_member = make_member("Other")
    other = file_action(session, mod_a, NewAction(member_id=other_member.id, kind="warning", rules=["spam"],
                                                  public_reason="Spam in #general."))
    session.commit()
    submit(client, token_for(app, other))
    (other_appeal,) = appeals_of(session, other)
    token = token_for(app, case["action"])
    assert client.get(f"/appeal/{token}/appeals/{other_appeal.id}").status_code == 404
    assert client.post(f"/appeal/{token}/appeals/{other_appeal.id}/withdraw").status_code == 404
    fresh(session)
    assert session.get(Appeal, other_appeal.id).status == AppealStatus.submitted


def test_withdraw_closes_the_thread_and_starts_the_cooldown(app, client, case, session, clock):
    token = token_for(app, case["action"])
    submit(client, token)
    (ap,) = appeals_of(session, case["action"])
    done = client.post(f"/appeal/{token}/appeals/{ap.id}/withdraw")
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "You withdrew appeal" in page and "Withdrawn" in page and "Send message" not in page
    again = client.post(f"/appeal/{token}/appeals/{ap.id}/withdraw")
    assert again.status_code == 303 and "already withdrawn" in client.get(again.headers["Location"]).get_data(as_text=True)
    closed = client.post(f"/appeal/{token}/appeals/{ap.id}/message", data={"body": "one more thing"})
    assert closed.status_code == 409 and "thread is closed" in closed.get_data(as_text=True)

    assert "After a 1 day pause" in client.get(f"/appeal/{token}").get_data(as_text=True)
    early = submit(client, token)
    assert early.status_code == 422 and "cooldown" in early.get_data(as_text=True)
    assert len(appeals_of(session, case["action"])) == 1
    clock.advance(hours=25)
    assert submit(client, token).status_code == 303
    assert len(appeals_of(session, case["action"])) == 2


def test_decided_appeal_shows_reasons_redress_and_the_new_sanction(app, client, case, session, mod_b, leader):
    token = token_for(app, case["action"])
    submit(client, token)
    (ap,) = appeals_of(session, case["action"])
    decide(session, mod_b, leader, ap.id, "modified", Modification("timeout", timedelta(hours=24)),
           statement=("On quoting reported messages", "Quoting a message to report it is not an insult."))
    page = client.get(f"/appeal/{token}/appeals/{ap.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for expected in ("the sanction is reduced", "The messages were quotes reported to staff", "by leadership",
                     "Your new sanction", "1 day timeout", "out-of-court dispute settlement body",
                     "On quoting reported messages", "The thread is closed"):
        assert expected in text, expected
    assert "Withdraw my appeal" not in text and "Send message" not in text
    # Staff-only parts of the file never reach the member.
    assert "leadership should decide" not in text and "Overturn: the insult was a quote." not in text
    assert_no_private(text, case)

    data = client.get(f"/appeal/{token}.json").get_json()
    decision = data["appeals"][0]["decision"]
    assert decision["outcome"] == "modified" and decision["new_sanction"]["kind"] == "timeout"
    assert decision["new_sanction"]["statement_of_reasons"]["measure"] == "1 day timeout"
    assert "out-of-court" in decision["further_redress"]
    assert "recommendation" not in json.dumps(data) and "Overturn: the insult" not in json.dumps(data)
    assert data["case"]["status"] == "modified" and data["can_appeal"] is False


def test_overturned_appeal_says_the_ban_is_lifted(app, client, case, session, mod_b, leader):
    token = token_for(app, case["action"])
    submit(client, token)
    (ap,) = appeals_of(session, case["action"])
    decide(session, mod_b, leader, ap.id)
    text = client.get(f"/appeal/{token}/appeals/{ap.id}").get_data(as_text=True)
    assert "the sanction is lifted" in text and "no longer counts against you" in text
    assert "lifted on appeal" in client.get(f"/appeal/{token}").get_data(as_text=True)
    # A decided appeal is final: sending the form again lands calmly on the decision.
    again = submit(client, token)
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/appeals/{ap.id}")
    assert len(appeals_of(session, case["action"])) == 1


# --- rate limits ------------------------------------------------------------------------


def test_writes_are_rate_limited_per_link(app, client, case, session, mod_a, make_member):
    token = token_for(app, case["action"])
    codes = [submit(client, token, statement="short").status_code for _ in range(11)]
    assert codes[:10] == [422] * 10 and codes[10] == 429
    assert "Wait a minute" in submit(client, token).get_data(as_text=True)
    # Another member's link from the same address is not held back by this one.
    other = file_action(session, mod_a, NewAction(member_id=make_member("Other").id, kind="warning",
                                                  rules=["spam"], public_reason="Spam in #general."))
    session.commit()
    assert submit(client, token_for(app, other)).status_code == 303


def test_guessing_links_is_rate_limited_per_address(app, client, case):
    codes = [client.get(f"/appeal/guess-{i}").status_code for i in range(120)]
    assert set(codes) == {404}
    assert client.get(f"/appeal/{token_for(app, case['action'])}").status_code == 429
