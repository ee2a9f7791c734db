"""Reports of one message that disagree, over the API: refused with 409 naming the
difference, nothing changed; and new reporters after a dismissal re-open the flag
(policy: flags.reopen_after_new_reporters, 3 in the default policy)."""

from __future__ import annotations

from datetime import timedelta

from modsys.domain.models import AuditEvent, Flag, FlagReport
from modsys.services.flags import dismiss_flag
from tests.web import test_api
from tests.web.test_api import call, flag_body, fresh

client, keys = test_api.client, test_api.keys  # the API tests' fixtures


def test_a_report_with_another_author_or_content_is_refused_and_changes_nothing(client, keys, engine):
    assert call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body()).status_code == 202
    other_author = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(author_id="110000000000007002", reporter="2"))
    assert other_author.status_code == 409
    assert "author 110000000000007001, not '110000000000007002'" in other_author.get_json()["error"]
    other_text = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(content="hello", reporter="3"))
    assert other_text.status_code == 409 and "different content" in other_text.get_json()["error"]
    flag = fresh(engine, Flag)[0]
    assert flag.reporter_count == 1 and flag.content == "you are an idiot"
    assert len(fresh(engine, FlagReport)) == 1
    # A reporter who could not read the message (no content) agrees with it.
    blind = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(content="", reporter="4"))
    assert blind.status_code == 202 and blind.get_json()["reporter_count"] == 2


def test_new_reporters_after_a_dismissal_reopen_the_flag(client, keys, engine, session, mod_a, clock):
    flag_id = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body()).get_json()["flag_id"]
    clock.advance(timedelta(minutes=5))
    dismiss_flag(session, mod_a, flag_id, "banter between friends")
    clock.advance(timedelta(minutes=5))
    for n, reporter in enumerate(("5001", "6001", "6002")):  # 5001 reported before: not new, and not counted
        call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(reporter=reporter))
        assert fresh(engine, Flag)[0].status == "dismissed", n
    reopened = call(client, "POST", "/api/v1/flags", keys["reporter"], flag_body(reporter="6003"))
    assert reopened.status_code == 202
    assert fresh(engine, Flag)[0].status == "open"
    assert [e.data["new_reporters"] for e in fresh(engine, AuditEvent, AuditEvent.verb == "flag.reopened")] == [3]
