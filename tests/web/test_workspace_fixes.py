"""Small workspace fixes of issue 17 (item 5), over HTTP: a staff message in a
thread is confirmed, /admin prints durations as people write them, the no-model
banner is for admins (moderators get one line), and the action form offers as
many evidence rows as the policy allows."""

from __future__ import annotations

import re

import pytest

from modsys.community import ensure_community
from modsys.infra.config import DEFAULT_POLICY
from tests.conftest import csrf_token, login
from tests.factories import appeal, ban
from tests.support.workspace import flag


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_a_staff_message_in_the_thread_is_confirmed(app, session, mod_a, mod_b, make_member):
    member = make_member()
    ap = appeal(session, member, ban(session, mod_a, member))
    b = _client(app, "mod_b")
    page = f"/appeals/{ap.id}"
    sent = b.post(f"{page}/message", data={"csrf_token": csrf_token(b, page), "body": "Could you tell us more?"},
                  follow_redirects=True)
    assert sent.status_code == 200
    assert re.search(r'class="flash info"[^>]*>[^<]*Message added to the thread of appeal #' + str(ap.id),
                     sent.get_data(as_text=True))


def test_admin_prints_durations_as_people_write_them(app, make_staff):
    make_staff("admin", "root")
    html = _client(app, "root").get("/admin").get_data(as_text=True)
    # default policy: review_sla 72h, leadership_sla 7d, window 180d, lookback 90d
    assert "Review SLA 3 days, leadership SLA 1 week, appeal window 180 days." in html
    assert not re.search(r"\d+ days?, \d+:\d\d:\d\d|\b\d+:00:00\b", html)  # no timedelta reprs
    assert not re.search(r"\b\d{4,} seconds\b", html)


def test_the_no_model_banner_is_for_admins_and_moderators_get_one_line(app, community, make_staff, mod_a):
    make_staff("admin", "root")
    admin = _client(app, "root").get("/admin").get_data(as_text=True)
    assert 'id="model-banner"' in admin and "modsys model fetch" in admin
    for path in ("/", "/flags"):
        page = _client(app, "mod_a").get(path).get_data(as_text=True)
        assert 'id="model-banner"' not in page and "modsys model fetch" not in page, path
        [line] = re.findall(r'<p [^>]*id="model-note"[^>]*>(.*?)</p>', page, re.DOTALL)
        assert "\n" not in line.strip() and "reporters and age" in line


@pytest.mark.parametrize("maximum", [4, 10])
def test_evidence_rows_follow_the_policy_maximum(app, session, community, mod_a, make_member, tmp_path, maximum):
    policy = tmp_path / "evidence.yaml"
    policy.write_text(DEFAULT_POLICY.read_text().replace("max_items_per_action: 10",
                                                         f"max_items_per_action: {maximum}"))
    ensure_community(session, policy)
    f = flag(session, community.id)
    client = _client(app, "mod_a")

    def rows(path):
        html = client.get(path).get_data(as_text=True)
        return len(re.findall(r'name="ev_content_\d+"', html)) + len(re.findall(r'type="file" name="ev_file_\d+"', html))

    assert rows("/actions/new") == maximum
    assert rows(f"/actions/new?flag={f.id}") == maximum - 1  # the flagged message is one of them
    member = make_member()
    form = {"csrf_token": csrf_token(client, "/actions/new"), "member": str(member.id), "kind": "warning",
            "rule": "respectful", "public_reason": "Insulting another member in the general channel."}
    too_many = {f"ev_content_{i}": f"evidence {i}" for i in range(maximum + 1)}
    refused = client.post(f"/actions/new?member={member.id}", data={**form, **too_many})
    assert refused.status_code == 422 and f"at most {maximum} evidence items" in refused.get_data(as_text=True)
    filed = client.post(f"/actions/new?member={member.id}",
                        data={**form, **{f"ev_content_{i}": f"evidence {i}" for i in range(maximum)}})
    assert filed.status_code == 302
