"""A report whose message time no Discord message can have is refused with a reason
(issue 18, item 13): the DSA export would cite it as content_date, which the
Transparency Database refuses, batch and all."""

from __future__ import annotations

import pytest

from modsys.domain.actors import CLI
from modsys.domain.models import Flag
from modsys.services.api_keys import create_api_key
from tests.web.test_api import call, flag_body, fresh


@pytest.fixture
def reporter_key(session, community):
    return create_api_key(session, CLI, community.id, "chatbot", "reporter")[1]


@pytest.mark.parametrize("sent_at, reason", [
    ("1999-12-31T10:00:00Z", "before any Discord message"),
    ("2040-01-01T00:00:00+02:00", "in the future"),
])
def test_an_impossible_sent_at_is_refused_with_its_reason(app, engine, reporter_key, sent_at, reason):
    response = call(app.test_client(), "POST", "/api/v1/flags", reporter_key, flag_body(sent_at=sent_at))
    body = response.get_json()
    assert response.status_code == 422, body
    assert body["field"] == "sent_at" and reason in body["error"], body
    assert fresh(engine, Flag) == []
