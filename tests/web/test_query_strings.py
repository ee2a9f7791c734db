"""Strange query strings on every GET route (enumerated from the URL map, so a new
route can't be forgotten), as every role and both API key roles: Unicode digits,
numbers that don't fit, year-9999 and year-0 dates, NUL. Each is a 4xx with a
message or is ignored, never a 500. The parameter names come from the code
itself (every `args.get`, the listing filters and the API's query models), so
a new filter can't be forgotten either."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import pytest
from sqlmodel import select
from werkzeug.datastructures import ImmutableMultiDict

from modsys.domain.actors import CLI
from modsys.domain.models import Action, Appeal, Evidence, Flag, Member
from modsys.runtime import demo
from modsys.services.api_keys import create_api_key
from tests.conftest import login

REPO = Path(__file__).resolve().parents[2]
# Values that broke routes (issue 18 item 7): digits str.isdigit() accepts but int() may not,
# numbers past any column, dates at the ends of the calendar, NUL (PostgreSQL refuses it).
STRANGE = ["²", "١٢", "99999999999999999999", "-1", "9999-12-31", "0001-01-01", "9999-12-31T23:59:59+00:00",
           "\x00", "%"]
# URL arguments the sweep fills; a route with another argument fails the sweep until added.
ARGS = {"flag_id", "member_id", "action_id", "appeal_id", "evidence_id", "token", "slug", "filename",
        "incident_id", "thread_id", "logged_id"}
SKIP = {"static"}


def parameter_names() -> set[str]:
    """Every query parameter name the code reads (a literal in `args.get(...)`,
    the listing helpers, or a field of an API query model)."""
    names: set[str] = set()
    sources = list((REPO / "web").glob("*.py")) + [REPO / "modsys" / "reads" / "listing.py", REPO / "modsys" / "reads" / "search.py"]
    sources += list((REPO / "web" / "templates").rglob("*.html"))
    for path in sources:
        text = path.read_text()
        names |= set(re.findall(r"(?:args|values)\.get\(\s*[\"'](\w+)[\"']", text))
        # helpers called as f(args, "name") or f(session, community_id, args, "name")
        names |= set(re.findall(r"\((?:session,\s*community_id,\s*)?(?:request\.)?(?:args|values),\s*[\"'](\w+)[\"']",
                                text))
    from web import api_schemas

    for model in vars(api_schemas).values():
        if isinstance(model, type) and issubclass(model, api_schemas._Query) and model is not api_schemas._Query:
            names |= set(model.model_fields)
    return names | {"page", "from", "to"}


@pytest.fixture
def world(app, session, community):
    demo.fill(session, community)
    first = lambda model: session.exec(select(model.id).order_by(model.id)).first()
    ids = {"flag_id": first(Flag), "member_id": first(Member), "action_id": first(Action), "appeal_id": first(Appeal),
           "evidence_id": session.exec(select(Evidence.id).where(Evidence.kind == "file")).first() or 1,
           "token": "x", "slug": community.slug, "filename": "x",
           "incident_id": 1, "thread_id": 1, "logged_id": 1}  # the gateway's pages: "not found" is an answer too
    keys = {role: create_api_key(session, CLI, community.id, f"sweep-{role}", role,
                                 **({"acts_as": "alice"} if role == "moderator" else {}))[1]
            for role in ("moderator", "reporter")}
    return ids, keys


def _url(app, rule, ids) -> str:
    missing = set(rule.arguments) - ARGS
    assert not missing, f"{rule.rule}: the sweep can't fill {missing}; add them to ARGS"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{k: ids[k] for k in rule.arguments})


def test_the_sweep_knows_the_parameters_that_broke_routes():
    assert {"page", "from", "to", "actions_page", "limit", "offset", "q", "status"} <= parameter_names()


class _Recording(ImmutableMultiDict):
    """Query args that note which names a route reads, so the sweep sends strange
    values only where they are read (the app is unchanged; only the test's
    request class records)."""

    read: ClassVar[set[str]] = set()

    def get(self, key, default=None, type=None):
        _Recording.read.add(key)
        return super().get(key, default, type)

    def __getitem__(self, key):
        _Recording.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _Recording.read.add(key)
        return super().__contains__(key)

    def to_dict(self, flat=True):
        _Recording.read.update(self.keys())
        return super().to_dict(flat)


def _clients(app, keys) -> dict[str, tuple]:
    clients = {}
    for who in ("alice", "lead", "admin"):
        client = app.test_client()
        assert login(client, who, f"demo-{who}-password").status_code == 302
        clients[who] = (client, {})
    for role, key in keys.items():
        clients[f"{role}-key"] = (app.test_client(), {"Authorization": f"Bearer {key}"})
    return clients


def test_no_query_string_makes_any_get_route_fail(app, world):
    ids, keys = world
    app.request_class = type("RecordingRequest", (app.request_class,), {"parameter_storage_class": _Recording})
    names = sorted(parameter_names())
    clients = _clients(app, keys)
    failures, swept, done = [], 0, set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.split(".")[0] in SKIP:
            continue
        url = _url(app, rule, ids)
        api = rule.endpoint.startswith("api.")
        for who, (client, headers) in clients.items():
            if who.endswith("-key") != api:
                continue
            if not api and rule.endpoint in done:
                continue  # one staff role per page: the one that first may see it
            _Recording.read = set()  # a route looks up its parameters whether or not they are sent
            if client.get(url, headers=headers).status_code in (302, 403, 404):
                continue  # not this role's page: another role sweeps it
            done.add(rule.endpoint)
            for name in sorted(_Recording.read & set(names)):
                for value in STRANGE:
                    swept += 1
                    response = client.get(f"{url}?{name}={quote(value, safe='')}", headers=headers)
                    if response.status_code >= 500:
                        failures.append(f"{who} {rule.rule}?{name}={value!r}: {response.status_code}")
                    elif response.status_code == 400:
                        body = response.get_data(as_text=True)
                        assert name in body or "must" in body, (rule.rule, name, value, body[:300])
    assert swept > 200, swept  # the sweep really reached the filters
    assert not failures, "\n".join(failures)
