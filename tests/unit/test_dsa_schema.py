"""The shipped schema says what the Transparency Database says: its documentation's own
example passes, and what its validation rules refuse fails here too."""

import copy

import jsonschema
import pytest

from modsys.reads.export.dsa import schema

# resources/markdown/api-documentation.md, "Creating a Statement" (commit in the schema's description).
DOC_EXAMPLE = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
    "decision_monetary": "DECISION_MONETARY_TERMINATION",
    "end_date_monetary_restriction": "2023-08-08",
    "decision_provision": "DECISION_PROVISION_TOTAL_SUSPENSION",
    "decision_account": "DECISION_ACCOUNT_SUSPENDED",
    "account_type": "ACCOUNT_TYPE_BUSINESS",
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "decision_ground_reference_url": "https://www.anurl.com",
    "content_type": ["CONTENT_TYPE_VIDEO", "CONTENT_TYPE_AUDIO", "CONTENT_TYPE_SYNTHETIC_MEDIA"],
    "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "illegal_content_legal_ground": "illegal content legal grounds",
    "illegal_content_explanation": "illegal content explanation",
    "incompatible_content_ground": "incompatible content grounds",
    "incompatible_content_explanation": "incompatible content explanation",
    "incompatible_content_illegal": "Yes",
    "territorial_scope": ["PT", "ES", "DE"],
    "content_language": "EN",
    "content_date": "2023-08-08",
    "content_id": {"EAN-13": "0123456789123"},
    "application_date": "2023-08-08",
    "decision_facts": "facts about the decision",
    "source_type": "SOURCE_TRUSTED_FLAGGER",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_PARTIALLY",
    "puid": "TK421",
}


def errors(statement) -> list[str]:
    v = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    return [e.message for e in v.iter_errors({"statements": [statement]})]


def test_the_documentation_example_validates():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert errors(DOC_EXAMPLE) == []


def without(*keys, **changes):
    s = copy.deepcopy(DOC_EXAMPLE)
    for k in keys:
        s.pop(k)
    s.update(changes)
    return s


@pytest.mark.parametrize("statement", [
    without(puid="case 12"),  # 'regex:/^[a-zA-Z0-9-_]+$/D'
    without(puid="x" * 501),
    without(decision_facts="x" * 5001),  # 'max:5000'
    without(automated_detection=True),  # "Yes" or "No"
    without(content_date="08-08-2023"),  # 'date_format:Y-m-d'
    without(application_date="2023-8-8"),
    without(category="STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"),  # v1, gone since 1 July 2025
    without("incompatible_content_ground"),  # required_if decision_ground is incompatible
    without("illegal_content_explanation", decision_ground="DECISION_GROUND_ILLEGAL_CONTENT"),
    without("decision_visibility", "decision_monetary", "decision_provision", "decision_account"),
    without(content_type=["CONTENT_TYPE_OTHER"]),  # content_type_other required then
    without(content_type=[]),
    without(territorial_scope=["US"]),
    without(incompatible_content_explanation="x" * 2001),  # 'max:2000'
    without(source="a field of the v1 schema"),  # additionalProperties: false
    # 'content_date' after_or_equal:2000-01-01, before_or_equal:2038-01-01; 'application_date'
    # after_or_equal:2020-01-01; every end_date_* before_or_equal:2038-01-01.
    without(content_date="1999-12-31"),
    without(content_date="2038-01-02"),
    without(content_date="2040-06-01"),
    without(application_date="2019-12-31"),
    without(application_date="2038-01-02"),
    without(end_date_monetary_restriction="2038-01-02"),
    without(decision_account="DECISION_ACCOUNT_SUSPENDED", end_date_account_restriction="2045-01-01"),
    without(end_date_service_restriction="2038-02-01"),
    without(end_date_visibility_restriction="2100-01-01"),
])
def test_what_the_database_refuses_fails_here(statement):
    assert errors(statement) != []


@pytest.mark.parametrize("statement", [
    without(content_date="2000-01-01", application_date="2020-01-01"),
    without(content_date="2038-01-01", application_date="2038-01-01", end_date_account_restriction="2038-01-01"),
    without(content_date="2037-12-31", end_date_service_restriction="2037-02-28", end_date_monetary_restriction=None),
])
def test_the_date_ranges_keep_their_bounds(statement):
    assert errors(statement) == []


def test_a_bulk_body_holds_1_to_100():
    v = jsonschema.Draft202012Validator(schema())
    assert not v.is_valid({"statements": []})
    assert v.is_valid({"statements": [DOC_EXAMPLE] * 100})
    assert not v.is_valid({"statements": [DOC_EXAMPLE] * 101})
