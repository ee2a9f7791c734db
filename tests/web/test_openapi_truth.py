"""schemathesis against the served OpenAPI document (issue 18 item 7): requests
it generates from the document, with a moderator key and a reporter key, meet
no server error and no "schema-valid request rejected". The document is asked
with each key, so it carries that community's policy limits (rule ids,
durations per kind, lengths: web/api_policy_schema.py). Bounded: a fixed seed
and a fixed number of examples per operation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modsys.domain.actors import CLI
from modsys.runtime import demo
from modsys.services.api_keys import create_api_key
from tests.support.live import served

MAX_EXAMPLES = 10
pytestmark = pytest.mark.slow  # minutes on a busy machine: about a thousand generated requests per key


@pytest.mark.parametrize("role", ["moderator", "reporter"])
def test_schemathesis_finds_no_server_error_and_no_valid_request_rejected(app, session, community, role, tmp_path):
    demo.fill(session, community)
    key = create_api_key(session, CLI, community.id, f"schemathesis-{role}", role,
                         **({"acts_as": "alice"} if role == "moderator" else {}))[1]
    st = Path(sys.executable).parent / "st"
    with served(app) as url:
        run = subprocess.run(
            [str(st), "run", f"{url}/api/openapi.json", "-H", f"Authorization: Bearer {key}",
             "--checks", "not_a_server_error,positive_data_acceptance", "--phases", "examples,coverage,fuzzing",
             "--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--continue-on-failure", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "POST /api/v1/flags" not in run.stdout  # failures name their operation; none did


def test_the_document_with_a_key_names_the_communitys_rules(app, session, community):
    from tests.web.test_api import call

    key = create_api_key(session, CLI, community.id, "doc-reader", "reporter")[1]
    client = app.test_client()
    generic = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    mine = call(client, "GET", "/api/openapi.json", key).get_json()["components"]["schemas"]
    assert "enum" not in generic["ActionCreate"]["properties"]["rules"]["items"]
    kinds = {v["properties"]["kind"]["const"]: v for v in mine["ActionCreate"]["oneOf"]}
    assert kinds["ban"]["properties"]["rules"]["items"]["enum"] == ["respectful", "illegal", "leaks", "spam",
                                                                    "instructions"]
    assert kinds["warning"]["properties"]["duration"] == {"type": "null", "description": "A warning has no duration."}
    assert "duration" in kinds["timeout"]["required"] and "private_note" in kinds["note"]["required"]
