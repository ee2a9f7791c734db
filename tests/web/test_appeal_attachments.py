"""Reviewers see the files a member attached to their appeal: on the moderators'
and leadership's appeal pages (downloadable like other evidence) and in
GET /api/v1/appeals/<id>."""

from __future__ import annotations

import re

from modsys.domain.actors import CLI, Actor
from modsys.services.api_keys import create_api_key
from modsys.services.appeals import escalate_appeal, start_review, submit_appeal
from modsys.services.evidence import EvidenceInput
from tests.conftest import login
from tests.factories import STATEMENT, ban
from tests.web.test_portal import PNG

PROOF = PNG + b"the member's proof"


def test_reviewers_see_and_download_the_members_attachments(app, session, community, mod_a, mod_b, leader,
                                                             make_member):
    member = make_member()
    action = ban(session, mod_a, member)
    appeal = submit_appeal(session, Actor.member(member), action.id, STATEMENT,
                           attachments=[EvidenceInput("file", "public", data=PROOF, filename="screenshot.png")])
    client = app.test_client()
    login(client, mod_b.name)
    page = client.get(f"/appeals/{appeal.id}").get_data(as_text=True)
    section = page[page.index('id="appeal-attachments"'):]
    link = re.search(r'href="(/evidence/\d+/file)">screenshot.png<', section)
    assert link, section[:1000]
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.data == PROOF

    start_review(session, mod_b, appeal.id)
    escalate_appeal(session, mod_b, appeal.id, "Leadership should see the member's proof.")
    lead = app.test_client()
    login(lead, leader.name)
    page = lead.get(f"/leadership/appeals/{appeal.id}").get_data(as_text=True)
    assert "screenshot.png" in page[page.index('id="appeal-attachments"'):]

    _, key = create_api_key(session, CLI, community.id, "modbot", "moderator", acts_as=mod_b.name)
    r = app.test_client().get(f"/api/v1/appeals/{appeal.id}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.get_json()
    files = r.get_json()["attachments"]
    assert [(f["filename"], f["size"], f["mime_type"]) for f in files] == [("screenshot.png", len(PROOF), "image/png")]
