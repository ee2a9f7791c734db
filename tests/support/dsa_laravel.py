"""The EU DSA Transparency Database's own validation rules, transcribed from its Laravel
code and run the way Laravel's validator runs them, so the exports are checked against
what the database does, not only against modsys's JSON schema.

Source: https://github.com/digital-services-act/transparency-database at commit
69e80a0bc8eb3cbfbe8246e898194c3bdf490a4b (the commit modsys's schema cites):
- app/Http/Requests/StatementStoreRequest.php, `rules()`: one statement (POST /api/v1/statement);
- app/Services/GroupedSubmissionsService.php, `multi_rules()`: each statement of a bulk body
  (POST /api/v1/statements), `'statements' => 'required|array|between:1,100'` in
  app/Http/Controllers/Api/v1/StatementMultipleAPIController.php;
- app/Models/Statement.php: the enumerations (`array_keys(...)` of each, or the values where
  the rule uses the array itself: AUTOMATED_DETECTIONS, INCOMPATIBLE_CONTENT_ILLEGALS).

Laravel's semantics kept here: a rule other than required* is skipped when the field is
absent; `nullable` lets null through; `exclude_unless`/`excludeIf` drop the field before
any other rule; "required" fails on null, "" and []; `in` checks each element of an array;
`max` counts characters of a string and items of an array.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

# app/Models/Statement.php (keys, or values where noted)
DECISION_VISIBILITIES = ["DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED",
                         "DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
                         "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED",
                         "DECISION_VISIBILITY_OTHER"]
DECISION_MONETARIES = ["DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"]
DECISION_PROVISIONS = ["DECISION_PROVISION_PARTIAL_SUSPENSION", "DECISION_PROVISION_TOTAL_SUSPENSION",
                       "DECISION_PROVISION_PARTIAL_TERMINATION", "DECISION_PROVISION_TOTAL_TERMINATION"]
DECISION_ACCOUNTS = ["DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"]
ACCOUNT_TYPES = ["ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"]
DECISION_GROUNDS = ["DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"]
CONTENT_TYPES = ["CONTENT_TYPE_APP", "CONTENT_TYPE_AUDIO", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_PRODUCT",
                 "CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_TEXT", "CONTENT_TYPE_VIDEO", "CONTENT_TYPE_OTHER"]
STATEMENT_CATEGORIES = [
    "STATEMENT_CATEGORY_ANIMAL_WELFARE", "STATEMENT_CATEGORY_CONSUMER_INFORMATION", "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN", "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS", "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS", "STATEMENT_CATEGORY_VIOLENCE"]
SOURCE_TYPES = ["SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION", "SOURCE_VOLUNTARY"]
AUTOMATED_DETECTIONS = ["Yes", "No"]  # values: self::AUTOMATED_DETECTION_YES, _NO
AUTOMATED_DECISIONS = ["AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"]
INCOMPATIBLE_CONTENT_ILLEGALS = ["Yes", "No"]  # values
NOT_TRANSCRIBED = object()  # KEYWORDS, EUROPEAN_COUNTRY_CODES, ALL_LANGUAGES: modsys never sends these fields


def _in(values: Any, nullable: bool = False) -> tuple:
    # `in:null,...`: the text "null" is one of the allowed values when nullable
    return ("in", (["null"] if nullable else []) + (values if isinstance(values, list) else []), values)


_DATE = "date_format:Y-m-d"


def _common(other_visibility: bool, other_content_type: bool) -> dict[str, list]:
    """The rules both requests share, in the order of StatementStoreRequest::rules()."""
    return {
        "decision_visibility": ["array", _in(DECISION_VISIBILITIES, True),
                                "required_without_all:decision_monetary,decision_provision,decision_account", "nullable"],
        "decision_visibility_other": ["max:500", ("required_if_true", other_visibility), ("exclude_if_true", not other_visibility)],
        "decision_monetary": [_in(DECISION_MONETARIES, True),
                              "required_without_all:decision_visibility,decision_provision,decision_account", "nullable"],
        "decision_monetary_other": ["required_if:decision_monetary,DECISION_MONETARY_OTHER",
                                    "exclude_unless:decision_monetary,DECISION_MONETARY_OTHER", "max:500"],
        "decision_provision": [_in(DECISION_PROVISIONS, True),
                               "required_without_all:decision_visibility,decision_monetary,decision_account", "nullable"],
        "decision_account": [_in(DECISION_ACCOUNTS, True),
                             "required_without_all:decision_visibility,decision_monetary,decision_provision", "nullable"],
        "account_type": [_in(ACCOUNT_TYPES, True), "nullable"],
        "category_specification": ["array", _in(NOT_TRANSCRIBED, True), "nullable"],
        "category_specification_other": ["max:500"],
        "decision_ground": ["required", _in(DECISION_GROUNDS)],
        "decision_ground_reference_url": ["url", "nullable", "max:500"],
        "illegal_content_legal_ground": ["required_if:decision_ground,DECISION_GROUND_ILLEGAL_CONTENT",
                                         "exclude_unless:decision_ground,DECISION_GROUND_ILLEGAL_CONTENT", "max:500"],
        "illegal_content_explanation": ["required_if:decision_ground,DECISION_GROUND_ILLEGAL_CONTENT",
                                        "exclude_unless:decision_ground,DECISION_GROUND_ILLEGAL_CONTENT", "max:2000"],
        "incompatible_content_ground": ["required_if:decision_ground,DECISION_GROUND_INCOMPATIBLE_CONTENT",
                                        "exclude_unless:decision_ground,DECISION_GROUND_INCOMPATIBLE_CONTENT", "max:500"],
        "incompatible_content_explanation": ["required_if:decision_ground,DECISION_GROUND_INCOMPATIBLE_CONTENT",
                                             "exclude_unless:decision_ground,DECISION_GROUND_INCOMPATIBLE_CONTENT", "max:2000"],
        "incompatible_content_illegal": [_in(INCOMPATIBLE_CONTENT_ILLEGALS),
                                         "exclude_unless:decision_ground,DECISION_GROUND_INCOMPATIBLE_CONTENT"],
        "content_type": ["array", "required", _in(CONTENT_TYPES)],
        "content_type_other": ["max:500", ("required_if_true", other_content_type), ("exclude_if_true", not other_content_type)],
        "category": ["required", _in(STATEMENT_CATEGORIES)],
        "category_addition": ["array", _in(STATEMENT_CATEGORIES)],
        "territorial_scope": ["array", "nullable", _in(NOT_TRANSCRIBED)],
        "content_language": [_in(NOT_TRANSCRIBED), "nullable"],
        "content_date": ["required", _DATE, "after_or_equal:2000-01-01", "before_or_equal:2038-01-01"],
        "application_date": ["required", _DATE, "after_or_equal:2020-01-01", "before_or_equal:2038-01-01"],
        "end_date_account_restriction": [_DATE, "nullable", "before_or_equal:2038-01-01"],
        "end_date_monetary_restriction": [_DATE, "nullable", "before_or_equal:2038-01-01"],
        "end_date_service_restriction": [_DATE, "nullable", "before_or_equal:2038-01-01"],
        "end_date_visibility_restriction": [_DATE, "nullable", "before_or_equal:2038-01-01"],
        "decision_facts": ["required", "max:5000"],
        "source_type": ["required", _in(SOURCE_TYPES)],
        "automated_detection": ["required", _in(AUTOMATED_DETECTIONS)],
        "automated_decision": ["required", _in(AUTOMATED_DECISIONS)],
        "puid": ["required", "max:500", ("regex", r"^[a-zA-Z0-9-_]+$")],
        "content_id": ["array", "nullable"],
    }


def store_request_rules(statement: dict[str, Any]) -> dict[str, list]:
    """StatementStoreRequest::rules() for this statement."""
    rules = _common("DECISION_VISIBILITY_OTHER" in (statement.get("decision_visibility") or []),
                    "CONTENT_TYPE_OTHER" in (statement.get("content_type") or []))
    # 'source_identity' => ['max:500', Rule::excludeIf($this->checkForSourceVoluntary())]
    rules["source_identity"] = ["max:500", ("exclude_if_true", "SOURCE_VOLUNTARY" in [statement.get("source_type")])]
    return rules


def multi_rules(statement: dict[str, Any]) -> dict[str, list]:
    """GroupedSubmissionsService::multi_rules() as sanitizePayload() calls it for each statement."""
    visibility = statement.get("decision_visibility")
    content_type = statement.get("content_type")
    rules = _common("DECISION_VISIBILITY_OTHER" in (visibility if isinstance(visibility, list) else []),
                    "CONTENT_TYPE_OTHER" in (content_type if isinstance(content_type, list) else []))
    rules["source_identity"] = ["max:500", "nullable"]
    return rules


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == [] or value == {}


def _ymd(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


def validate(statement: dict[str, Any], rules: dict[str, list]) -> dict[str, list[str]]:
    """{field: [failed rule, ...]}; empty when Laravel would accept the statement."""
    errors: dict[str, list[str]] = {}
    for name, field_rules in rules.items():
        present = name in statement
        value = statement.get(name)
        excluded = False
        for rule in field_rules:
            if isinstance(rule, str) and rule.startswith("exclude_unless:"):
                other, wanted = rule.split(":", 1)[1].split(",", 1)
                excluded |= statement.get(other) != wanted
            if isinstance(rule, tuple) and rule[0] == "exclude_if_true":
                excluded |= bool(rule[1])
        if excluded:
            continue
        failed: list[str] = []
        for rule in field_rules:
            if isinstance(rule, str) and rule.startswith("required_without_all:"):
                others = rule.split(":", 1)[1].split(",")
                if all(_empty(statement.get(o)) for o in others) and _empty(value):
                    failed.append(rule)
            elif rule == "required" and _empty(value):
                failed.append(rule)
            elif isinstance(rule, str) and rule.startswith("required_if:"):
                other, wanted = rule.split(":", 1)[1].split(",", 1)
                if statement.get(other) == wanted and _empty(value):
                    failed.append(rule)
            elif isinstance(rule, tuple) and rule[0] == "required_if_true" and rule[1] and _empty(value):
                failed.append("required")
        nullable = "nullable" in field_rules
        if failed or not present or (value is None and nullable):
            if failed:
                errors[name] = failed
            continue
        for rule in field_rules:
            problem = _check(rule, value)
            if problem:
                failed.append(problem)
        if failed:
            errors[name] = failed
    return errors


def _check(rule: Any, value: Any) -> str | None:
    if isinstance(rule, tuple):
        if rule[0] == "in":
            if rule[2] is NOT_TRANSCRIBED:
                return "in (enumeration not transcribed: modsys must not send this field)"
            allowed = rule[1]
            items = value if isinstance(value, list) else [value]
            return None if all(isinstance(v, str) and v in allowed for v in items) else f"in:{','.join(allowed)}"
        if rule[0] == "regex":
            return None if isinstance(value, str) and re.fullmatch(rule[1], value) else "regex"
        return None
    if rule == "array":
        return None if isinstance(value, (list, dict)) else "array"
    if rule.startswith("max:"):
        limit = int(rule[4:])
        size = len(value) if isinstance(value, (str, list, dict)) else value
        return None if size <= limit else rule
    if rule == _DATE:
        return None if _ymd(value) else rule
    if rule.startswith(("after_or_equal:", "before_or_equal:")):
        kind, bound = rule.split(":", 1)
        day = _ymd(value)
        if day is None:
            return rule
        limit = date.fromisoformat(bound)
        return None if (day >= limit if kind == "after_or_equal" else day <= limit) else rule
    if rule == "url":
        parsed = urlparse(value) if isinstance(value, str) else None
        return None if parsed and parsed.scheme in ("http", "https") and parsed.netloc else rule
    return None


def bulk_errors(body: dict[str, Any]) -> dict[str, Any]:
    """What POST /api/v1/statements would answer for this body: {} when accepted. Any
    statement's error refuses the whole body (sanitizePayload collects, the controller
    answers 422 with every error)."""
    statements = body.get("statements")
    if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
        return {"statements": ["required|array|between:1,100"]}
    errors = {}
    for index, statement in enumerate(statements):
        found = validate(statement, multi_rules(statement))
        if found:
            errors[f"statement_{index}"] = found
    return errors


def single_errors(statement: dict[str, Any]) -> dict[str, list[str]]:
    """What POST /api/v1/statement (StatementStoreRequest) would answer: {} when accepted."""
    return validate(statement, store_request_rules(statement))
