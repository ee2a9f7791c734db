"""Notifications that were skipped (a key or webhook missing) are as visible as
dead ones, in /admin and /metrics, and an admin's "retry" queues them again."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modsys.domain.events import member_channel
from modsys.domain.models import OutboxMessage
from tests.conftest import csrf_token, fresh, login


def test_skipped_notices_are_shown_counted_and_retried(app, session, community, clock, make_staff):
    admin = make_staff("admin", "root")
    skipped = OutboxMessage(community_id=community.id, channel=member_channel(7), event="member.notice", payload={},
                            status="skipped", last_error="SECRET_KEY is not set", next_attempt_at=clock.now(),
                            created_at=clock.now())
    session.add(skipped)
    session.commit()
    client = app.test_client()
    metrics = {(s.name, tuple(s.labels.items())): s.value
               for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
               for s in f.samples}
    assert metrics[("modsys_outbox_skipped", (("channel", "member"),))] == 1

    login(client, admin.name)
    page = client.get("/admin").get_data(as_text=True)
    assert "SECRET_KEY is not set" in page and "skipped" in page
    r = client.post("/admin/outbox/retry", data={"csrf_token": csrf_token(client, "/admin")})
    assert r.status_code == 302
    fresh(session)
    again = session.get(OutboxMessage, skipped.id)
    assert again.status == "pending" and again.attempts == 0
