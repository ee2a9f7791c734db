"""A light page reads the community row once, not once per helper that needs it
(issue 23: 3-4 times per page, among 8-14 round trips)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import login
from tests.factories import timeout


def test_each_page_reads_the_community_row_once(app, session, mod_a, make_member):
    member = make_member()
    action = timeout(session, mod_a, member, hours=1)
    client = app.test_client()
    login(client, mod_a.name)
    engine = app.extensions["modsys"].engine
    for path in ("/", "/flags", f"/members/{member.id}", f"/actions/{action.id}"):
        sent: list[str] = []

        def hook(conn, cursor, statement, parameters, context, executemany, sent=sent):
            sent.append(" ".join(statement.split()))

        sa.event.listen(engine, "before_cursor_execute", hook)
        try:
            assert client.get(path).status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", hook)
        reads = [s for s in sent if s.startswith("SELECT community.id")]
        assert len(reads) == 1, (path, len(reads))
