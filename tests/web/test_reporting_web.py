"""Misuse of reporting over HTTP: the API passes the warning on and refuses a suspended
reporter with a 403 a bot can relay; /admin shows the numbers."""

import json
import re

from sqlmodel import Session, select

from modsys.domain.actors import CLI
from modsys.domain.models import FlagReport
from modsys.services.api_keys import create_api_key
from modsys.services.staff import create_staff
from tests.conftest import PASSWORD, login


def post_flag(client, key: str, n: int, reporter: str = "5001"):
    body = {"message_id": str(1300000000000000000 + n), "channel_id": "42", "author_id": "100000000000007001",
            "author_name": "Someone", "content": "hello", "reporter": reporter}
    return client.post("/api/v1/flags", data=json.dumps(body), content_type="application/json",
                       headers={"Authorization": f"Bearer {key}"})


def test_warning_then_refusal_through_the_api_and_numbers_on_admin(app, session, community, mod_a, engine):
    from modsys.services.flags import dismiss_flag

    _, key = create_api_key(session, CLI, community.id, "chatbot", "reporter")
    client = app.test_client()
    for n in range(10):
        receipt = post_flag(client, key, n).get_json()
        assert (receipt["warning"] is not None) == (n >= 5), n  # warned once 5 were dismissed
        dismiss_flag(session, mod_a, receipt["flag_id"])
    refused = post_flag(client, key, 99)
    assert refused.status_code == 403
    assert "Reporting is suspended for you until" in refused.get_json()["error"]
    with Session(engine) as s:
        assert len(s.exec(select(FlagReport)).all()) == 10  # the refused report left nothing behind
    assert post_flag(client, key, 100, reporter="5002").status_code == 202  # another person, same bot

    create_staff(session, CLI, community.id, "root", "admin", PASSWORD)
    login(client, "root")
    html = client.get("/admin").get_data(as_text=True)
    assert "suspended now: <strong>1</strong>" in html
    misuse = html[html.index('id="reporting-misuse"'):]
    assert "5001 <small class=\"muted\">via API key “chatbot”</small>" in misuse and not re.search(r"api\d+:", misuse)
