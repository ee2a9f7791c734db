"""JSON API for bots and integrations (`/api/v1`), and its OpenAPI document.

Every endpoint is declared once with `@endpoint`: that declaration registers
the route, its rate limit and its entry in `/api/openapi.json`, whose schemas
are generated from the pydantic models in `web.api_schemas`, so the document
can't drift from what is validated. Thin as the rest of web/: parse, call a
service, render. Who a key acts as is decided in `modsys.services.api_keys`.

Keys go in `Authorization: Bearer <key>`. Files can't be uploaded over the
API (evidence is text or links); attach them in the dashboard.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, Response, current_app, g, request, url_for
from flask_limiter.util import get_remote_address
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType

from modsys.adapters.discord import enforcement
from modsys.community import policy_for
from modsys.domain.errors import DomainError
from modsys.domain.models import ApiKey, Member
from modsys.services import api_keys, reporting
from modsys.services import flags as flag_svc
from modsys.services.api_keys import ActionView, AppealView, Scope
from modsys.services.evidence import EvidenceInput
from web import api_schemas as s
from web.api_policy_schema import for_policy
from web.context import db
from web.extensions import limiter

bp = Blueprint("api", __name__, url_prefix="/api")

BODY_LIMIT = 256 * 1024  # a flag is at most a few KiB; the app-wide 32 MiB is for evidence uploads
DEFAULT_RATE_LIMIT = "300 per minute"  # per key; override with the app config API_RATE_LIMIT
ID = "int(min=1, max=2147483647)"  # larger ids are a 404, not a database overflow
REF = "#/components/schemas/{model}"
BEARER = {"WWW-Authenticate": 'Bearer realm="modsys"'}


# --- plumbing ---------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    rule: str
    scope: Scope
    summary: str
    description: str
    response: type[BaseModel]
    status: int
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


ENDPOINTS: list[Endpoint] = []


def _json(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json", headers=headers)


def _error(status: int, message: str, errors: list[s.FieldError] | None = None, *, field: str | None = None,
           headers: dict | None = None) -> Response:
    return _json(s.ErrorOut(error=message, field=field, errors=errors or []), status, headers)


class _Invalid(Exception):
    def __init__(self, errors: list[s.FieldError]):
        self.errors = errors


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _Invalid([s.FieldError(field=".".join(str(p) for p in err["loc"]) or "(body)",
                                     reason=err["msg"].removeprefix("Value error, "))
                        for err in e.errors(include_url=False)]) from None


def _json_object() -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as a JSON object with the header 'Content-Type: application/json'")
    try:
        data = json.loads(request.get_data())
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the JSON body must be an object, e.g. {\"content\": \"...\"}")
    return data


def _authenticate() -> tuple[ApiKey | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header:
        return None, "missing API key: send it in the header 'Authorization: Bearer <key>'"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, "malformed Authorization header: it must read 'Bearer <key>'"
    key = api_keys.authenticate_api_key(db(), token.strip())
    if key is None:
        return None, "this API key is not valid or has been revoked"
    return key, None


def _rate_key() -> str:
    key = g.get("api_key")
    # The prefix keeps counters apart across databases that reuse ids (tests, staging).
    return f"apikey:{key.id}:{key.prefix}" if key is not None else f"ip:{get_remote_address()}"


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def endpoint(method: str, rule: str, *, scope: Scope, response: type[BaseModel], status: int = 200,
             body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             tags: tuple[str, ...] = ()) -> Callable:
    """Register an API view. The view receives the acting Actor, then `body` and
    `query` (parsed models) when declared, then the path arguments."""

    def decorate(view: Callable) -> Callable:
        doc = (view.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        ENDPOINTS.append(Endpoint(view.__name__, method, rule, scope, summary.strip(), description.strip(),
                                  response, status, body, query, tags))

        @functools.wraps(view)
        def limited(**path: Any) -> Any:
            if g.api_auth_error:  # refused inside the limit, so guessing keys is rate limited too
                return _error(401, g.api_auth_error, headers=BEARER)
            actor = api_keys.api_actor(db(), g.api_key, scope)  # 403 before the body is even read
            kwargs: dict[str, Any] = {}
            if query is not None:
                kwargs["query"] = _parse(query, request.args.to_dict())
            if body is not None:
                kwargs["body"] = _parse(body, _json_object())
            return view(actor, **kwargs, **path)

        # One counter per key across the whole API.
        limited = limiter.shared_limit(_rate_limit, scope="api", key_func=_rate_key)(limited)

        @functools.wraps(view)
        def authenticated(**path: Any) -> Any:
            g.api_key, g.api_auth_error = _authenticate()
            return limited(**path)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=authenticated, methods=[method])
        return view

    return decorate


@bp.before_request
def _body_limit() -> None:
    request.max_content_length = BODY_LIMIT


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")  # responses can hold private evidence
    return response


@bp.errorhandler(_Invalid)
def _invalid(e: _Invalid):
    shown = "; ".join(f"{err.field}: {err.reason}" for err in e.errors[:5])
    more = f" (and {len(e.errors) - 5} more)" if len(e.errors) > 5 else ""
    return _error(422, f"invalid request: {shown}{more}", e.errors)


@bp.errorhandler(DomainError)
def _domain(e: DomainError):
    errors = [s.FieldError(field=e.field, reason=e.message)] if e.field else []
    return _error(e.http_status, e.message, errors, field=e.field)


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    return _error(e.code or 500, e.description or e.name)


def _page(items: list, limit: int, offset: int) -> tuple[list, int | None]:
    """Services are asked for limit + 1 rows: the extra one says whether a next page exists."""
    return items[:limit], (offset + limit if len(items) > limit else None)


# --- rendering --------------------------------------------------------------


def _member(m: Member | None) -> s.MemberOut | None:
    return s.MemberOut.model_validate(m, from_attributes=True) if m is not None else None


def _action_fields(v: ActionView) -> dict[str, Any]:
    a = v.action
    return dict(id=a.id, kind=a.kind, status=a.status, member=_member(v.member), rules=a.rules,
                policy_version=a.policy_version, public_reason=a.public_reason,
                moderator=v.staff_names.get(a.moderator_id), cosigner=v.staff_names.get(a.cosigner_id),
                source=a.source, flag_id=a.flag_id, starts_at=a.starts_at, ends_at=a.ends_at, appealable=a.appealable,
                appeal_deadline=a.appeal_deadline, supersedes_id=a.supersedes_id, created_at=a.created_at)


def _action_out(v: ActionView) -> s.ActionOut:
    sor = v.statement
    return s.ActionOut(
        **_action_fields(v), private_note=v.action.private_note,
        statement_of_reasons=s.StatementOut.model_validate(sor, from_attributes=True) if sor else None,
        evidence=[s.EvidenceOut.model_validate(e, from_attributes=True) for e in v.evidence or []],
        discord=s.DiscordStateOut(**enforcement.view(db(), v.action).as_json()))


def _appeal_out(v: AppealView) -> s.AppealOut:
    a, names = v.appeal, v.staff_names
    decision = None
    if a.outcome:
        decision = s.DecisionOut(outcome=a.outcome, reasons=a.outcome_reasons, decided_by=names.get(a.decided_by_id),
                                 decided_at=a.decided_at, modified_action_id=a.modified_action_id)
    return s.AppealOut(
        id=a.id, action_id=a.action_id, status=a.status, statement=a.statement, submitted_at=a.submitted_at,
        review_due_at=a.review_due_at, reviewer=names.get(a.reviewer_id), review_started_at=a.review_started_at,
        escalated_at=a.escalated_at, escalation_reason=a.escalation_reason, recommendation=a.recommendation,
        leadership_due_at=a.leadership_due_at, withdrawn_at=a.withdrawn_at, decision=decision,
        attachments=None if v.attachments is None else
        [s.EvidenceOut.model_validate(e, from_attributes=True) for e in v.attachments])


# --- endpoints --------------------------------------------------------------


@endpoint("POST", "/v1/flags", scope=Scope.report, body=s.FlagReportIn, response=s.FlagReceipt, status=202,
          tags=("flags",))
def report_flag(actor, body: s.FlagReportIn):
    """Report a message.
    Stores the flag and returns at once; the toxicity model scores it later
    (`score_state` stays 'pending' until then). Reporting the same message again
    from the same reporter changes nothing (`counted` is false). Any key may report."""
    flag, counted = flag_svc.report_flag(db(), actor, g.api_key.community_id,
                                         flag_svc.FlagReportInput(**body.model_dump()))
    receipt = s.FlagReceipt(flag_id=flag.id, reporter_count=flag.reporter_count, counted=counted,
                            status=flag.status, score_state=flag.score_state,
                            warning=reporting.warning_for(db(), flag.community_id,
                                                          flag_svc.reporter_key(actor, body.reporter)))
    return _json(receipt, 202, {"Location": url_for("api.get_flag", flag_id=flag.id)})


def _flag_out(view: api_keys.FlagView) -> s.FlagOut:
    f = view.flag
    details = None
    if view.full:
        details = s.FlagDetails(
            channel_name=f.channel_name, content=f.content, author=_member(view.author), reason=f.reason,
            language=f.language, message_sent_at=f.message_sent_at, max_score=f.max_score, max_label=f.max_label,
            priority=f.priority, resolved_at=f.resolved_at, resolution_note=f.resolution_note)
    return s.FlagOut(id=f.id, message_id=f.platform_message_id, channel_id=f.channel_id, status=f.status,
                     score_state=f.score_state, reporter_count=f.reporter_count, created_at=f.created_at,
                     details=details)


@endpoint("GET", "/v1/flags", scope=Scope.staff, query=s.FlagListQuery, response=s.FlagPage, tags=("flags",))
def list_flags(actor, query: s.FlagListQuery):
    """List flags, newest first.
    Filter by `status`, `message_id`, `author_id` (platform user id) and `channel_id`; page with
    `limit` and `offset`. Moderator or leadership key."""
    rows = api_keys.list_flags(db(), actor, status=query.status, message_id=query.message_id,
                               author_id=query.author_id, channel_id=query.channel_id, limit=query.limit + 1,
                               offset=query.offset)
    items, next_offset = _page(rows, query.limit, query.offset)
    return _json(s.FlagPage(items=[_flag_out(v) for v in items], limit=query.limit, offset=query.offset,
                            next_offset=next_offset))


@endpoint("GET", f"/v1/flags/<{ID}:flag_id>", scope=Scope.any, response=s.FlagOut, tags=("flags",))
def get_flag(actor, flag_id: int):
    """Read a flag.
    Moderator and leadership keys see the whole flag; a reporter key sees only the
    status of flags it reported (`details` is null)."""
    return _json(_flag_out(api_keys.read_flag(db(), actor, flag_id)))


@endpoint("GET", "/v1/actions", scope=Scope.staff, query=s.ActionListQuery, response=s.ActionPage,
          tags=("actions",))
def list_actions(actor, query: s.ActionListQuery):
    """List actions, newest first.
    Filter by `member` (platform user id); page with `limit` and `offset`. Moderator or leadership key."""
    rows = api_keys.list_actions(db(), actor, platform_user_id=query.member, limit=query.limit + 1,
                                 offset=query.offset)
    items, next_offset = _page(rows, query.limit, query.offset)
    return _json(s.ActionPage(items=[s.ActionSummary(**_action_fields(v)) for v in items], limit=query.limit,
                              offset=query.offset, next_offset=next_offset))


@endpoint("POST", "/v1/actions", scope=Scope.staff, body=s.ActionCreate, response=s.ActionOut, status=201,
          tags=("actions",))
def file_action(actor, body: s.ActionCreate):
    """File an action (note, warning, timeout, ban, unban).
    The action is filed by the staff user the key acts as, under the same rules as the
    dashboard (policy bounds, two-person rule for a permanent ban). Evidence is text or
    links; files can't be uploaded over the API. Moderator or leadership key."""
    action = api_keys.file_action_via_api(
        db(), g.api_key, actor, body.member.platform_user_id, body.member.display_name,
        kind=body.kind, rules=body.rules, public_reason=body.public_reason, facts=body.facts,
        private_note=body.private_note, duration=body.duration,
        evidence=[EvidenceInput(kind=e.kind, visibility=e.visibility, content=e.content) for e in body.evidence])
    out = _action_out(api_keys.read_action(db(), actor, action.id))
    return _json(out, 201, {"Location": url_for("api.get_action", action_id=action.id)})


@endpoint("GET", f"/v1/actions/<{ID}:action_id>", scope=Scope.staff, response=s.ActionOut, tags=("actions",))
def get_action(actor, action_id: int):
    """Read an action with its statement of reasons and evidence.
    Includes private (staff-only) evidence and the private note, so only moderator and
    leadership keys may read actions; reporter keys get 403."""
    return _json(_action_out(api_keys.read_action(db(), actor, action_id)))


@endpoint("GET", "/v1/appeals", scope=Scope.staff, query=s.AppealListQuery, response=s.AppealPage,
          tags=("appeals",))
def list_appeals(actor, query: s.AppealListQuery):
    """List appeals, newest first.
    Filter by `status`; page with `limit` and `offset`. Moderator or leadership key."""
    rows = api_keys.list_appeals(db(), actor, status=query.status, limit=query.limit + 1, offset=query.offset)
    items, next_offset = _page(rows, query.limit, query.offset)
    return _json(s.AppealPage(items=[_appeal_out(v) for v in items], limit=query.limit, offset=query.offset,
                              next_offset=next_offset))


@endpoint("GET", f"/v1/appeals/<{ID}:appeal_id>", scope=Scope.staff, response=s.AppealOut, tags=("appeals",))
def get_appeal(actor, appeal_id: int):
    """Read an appeal and, once decided, its decision.
    Moderator or leadership key."""
    return _json(_appeal_out(api_keys.read_appeal(db(), actor, appeal_id)))


# --- the OpenAPI document ---------------------------------------------------


def schema_of(model: type[BaseModel], mode: str) -> tuple[dict, dict]:
    """(the model's JSON schema, its $defs), refs pointing into components/schemas."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    return schema, schema.pop("$defs", {})


def _openapi_path(rule: str) -> tuple[str, list[str]]:
    names = re.findall(r"<(?:[^<>:]+:)?([^<>:]+)>", rule)
    return bp.url_prefix + re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule), names


def schema_models() -> list[tuple[type[BaseModel], str]]:
    """Every (model, mode) the document is generated from."""
    seen: list[tuple[type[BaseModel], str]] = [(s.ErrorOut, "serialization")]
    for ep in ENDPOINTS:
        for model, mode in ((ep.body, "validation"), (ep.query, "validation"), (ep.response, "serialization")):
            if model is not None and (model, mode) not in seen:
                seen.append((model, mode))
    return seen


@functools.cache
def openapi_document() -> dict:
    components: dict[str, dict] = {}
    for model, mode in schema_models():
        schema, defs = schema_of(model, mode)
        for name, value in {**defs, model.__name__: schema}.items():
            if components.setdefault(name, value) != value:
                raise RuntimeError(f"schema {name} differs between request and response; give each its own model")

    def ref(model: type[BaseModel]) -> dict:
        return {"$ref": REF.format(model=model.__name__)}

    def error(description: str) -> dict:
        return {"description": description, "content": {"application/json": {"schema": ref(s.ErrorOut)}}}

    paths: dict[str, dict] = {}
    for ep in ENDPOINTS:
        path, path_params = _openapi_path(ep.rule)
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
                  for n in path_params]
        if ep.query is not None:
            q = components[ep.query.__name__]
            params += [{"name": n, "in": "query", "required": n in q.get("required", []), "schema": prop,
                        **({"description": prop["description"]} if "description" in prop else {})}
                       for n, prop in q["properties"].items()]
        responses = {str(ep.status): {"description": ep.summary,
                                      "content": {"application/json": {"schema": ref(ep.response)}}},
                     "401": error("No API key, a malformed Authorization header, or an unknown or revoked key."),
                     "403": error("The key's role does not allow this (or its staff user can no longer act)."),
                     "429": error("Too many requests for this key; wait for Retry-After seconds.")}
        if path_params:
            responses["404"] = error("No such record in this key's community.")
        if ep.body is not None:
            responses["400"] = error("The body is not JSON, or not a JSON object.")
            responses["409"] = error("The request clashes with the current state.")
            responses["413"] = error(f"The body is larger than {BODY_LIMIT // 1024} KiB.")
            responses["415"] = error("The body was not sent as application/json.")
        if ep.body is not None or ep.query is not None:
            responses["422"] = error("A field is missing or not valid: `errors` names each field and the reason.")
        operation: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary, "tags": list(ep.tags),
                                     "security": [{"bearerAuth": []}], "responses": responses}
        if ep.description:
            operation["description"] = " ".join(ep.description.split())
        if params:
            operation["parameters"] = params
        if ep.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(ep.body)}}}
        paths.setdefault(path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "modsys API", "version": "1",
                 "description": "Report flagged messages, read and file moderation actions, read appeals and "
                                "decisions. Authenticate with `Authorization: Bearer <key>` (keys come from "
                                "`modsys apikey create` or the admin page)."},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                          "description": "An API key"}}},
    }


@bp.route("/openapi.json")
def openapi():
    """Public: it describes the API and holds no data. Sent with a valid key, the
    limits that come from a community's policy (its rule ids) are that community's,
    so a request the document allows is one the API accepts."""
    document = openapi_document()
    key, _ = _authenticate() if request.headers.get("Authorization") else (None, None)
    if key is not None:
        document = for_policy(document, policy_for(db(), key.community_id))
    return Response(json.dumps(document, indent=1), mimetype="application/json")
