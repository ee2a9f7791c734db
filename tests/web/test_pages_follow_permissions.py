"""Pages offer only what the services would allow (both read modsys.permissions)."""

from __future__ import annotations

from tests.conftest import login
from tests.factories import ban


def _page(app, username: str, path: str) -> str:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client.get(path).get_data(as_text=True)


def test_revoke_and_cosign_forms_appear_only_for_who_may_use_them(app, session, mod_a, mod_b, leader, make_member):
    action = ban(session, mod_a, make_member())
    pending = ban(session, mod_a, make_member(), days=None)  # a permanent ban waits for a second signature
    revoke = f'action="/actions/{action.id}/revoke"'
    assert revoke in _page(app, "mod_a", f"/actions/{action.id}")  # who filed it
    assert revoke in _page(app, "leader", f"/actions/{action.id}")  # leadership
    assert revoke not in _page(app, "mod_b", f"/actions/{action.id}")  # the service would answer 403
    cosign = f'action="/actions/{pending.id}/cosign"'
    assert cosign in _page(app, "mod_b", f"/actions/{pending.id}")
    assert cosign not in _page(app, "mod_a", f"/actions/{pending.id}")  # not your own


def test_the_header_names_the_community_and_links_only_to_desks_you_may_open(app, community, mod_a, leader):
    page = _page(app, "mod_a", "/")
    assert community.name in page and "/leadership" not in page and "/admin" not in page
    assert 'href="/leadership"' in _page(app, "leader", "/")
