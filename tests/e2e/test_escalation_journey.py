"""Journey: an escalation ping -> its link -> leadership decides there (issue 17,
item 7). On SQLite and PostgreSQL, against the real fake-Discord server:

    a moderator bans, the member appeals, nobody reviews
    -> the scheduler's escalation job runs once the review SLA has passed (frozen clock)
    -> the outbox posts the ping to the leadership channel of the fake Discord
    -> a leadership user follows the embed's link (no path is built by the test)
    -> the page there has the final-decision form; leadership overturns through it
    -> the appeal is decided, by them, with their reasons.

Guards the hand-over "ping -> decision form": it fails if the link leads to a
page without the form (the moderators' appeal page has none for an escalated appeal).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from modsys.community import ensure_community, policy_for
from modsys.domain.models import Appeal, Channel
from modsys.infra.config import DEFAULT_POLICY
from modsys.runtime import jobs
from tests.conftest import fresh, login
from tests.factories import appeal, ban
from tests.services.test_delivery import HOOK_IDS, deliver, hook_up

ROLE = "1234567890123456789"
REASONS = "The message was quoted out of context; the member was reporting it, not writing it."
_FORM = re.compile(r'<section class="card" id="final-decision">.*?<form method="post" action="([^"]+)">(.*?)</form>',
                   re.DOTALL)


def test_leadership_follows_the_escalation_ping_and_decides_there(engine, session, community, clock, mod_a, leader,
                                                                   make_member, fake_discord, app, tmp_path):
    policy = tmp_path / "pinging.yaml"
    policy.write_text(DEFAULT_POLICY.read_text() + f"\nnotifications:\n  leadership_role_id: {ROLE}\n")
    ensure_community(session, policy)
    hook_up(session, community, fake_discord, Channel.leadership)
    member = make_member("Pat Appellant")
    ap = appeal(session, member, ban(session, mod_a, member))

    clock.advance(policy_for(session, community.id).appeals.review_sla)
    clock.advance(minutes=1)
    assert jobs.escalate_overdue_appeals(engine) == {"escalated": 1}
    settings = app.extensions["modsys"].settings
    deliver(engine, settings=settings)

    [ping] = fake_discord.payloads_for(HOOK_IDS[Channel.leadership])
    assert ping["content"].startswith(f"<@&{ROLE}>") and ping["allowed_mentions"] == {"roles": [ROLE]}
    link = urlsplit(ping["embeds"][0]["url"])
    assert f"{link.scheme}://{link.netloc}" == settings.base_url.rstrip("/")

    desk = app.test_client()
    assert login(desk, "leader").status_code == 302
    page = desk.get(link.path)
    assert page.status_code == 200, link.path
    form = _FORM.search(page.get_data(as_text=True))
    assert form, f"the ping links to {link.path}, a page without the final-decision form"
    action, fields = form.groups()
    moderators_page = desk.get(f"/appeals/{ap.id}").get_data(as_text=True)  # reached another way: it points there
    assert f'href="{link.path}#final-decision"' in moderators_page
    assert 'name="outcome"' in fields and 'name="reasons"' in fields
    token = re.search(r'name="csrf_token" value="([^"]+)"', fields).group(1)
    decided = desk.post(action, data={"csrf_token": token, "outcome": "overturned", "reasons": REASONS})
    assert decided.status_code == 302
    assert "Final decision recorded" in desk.get(decided.headers["Location"]).get_data(as_text=True)

    fresh(session)
    row = session.get(Appeal, ap.id)
    assert (row.status, row.outcome, row.decided_by_id, row.outcome_reasons) == ("decided", "overturned", leader.id,
                                                                                 REASONS)
