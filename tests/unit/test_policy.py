from datetime import timedelta
from pathlib import Path

import pytest

from modsys.domain.errors import PolicyError
from modsys.domain.policy import (
    format_duration,
    load_policy,
    parse_duration,
    parse_policy,
)

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


def test_default_policy_loads_with_the_seed_rules():
    policy = load_policy(DEFAULT)
    assert {r.id for r in policy.rules} >= {"respectful", "illegal", "leaks", "spam", "instructions"}
    assert policy.appeals.window == timedelta(days=180)
    assert policy.appeals.review_sla == timedelta(hours=72)
    assert policy.requires_cosign("ban", None) and not policy.requires_cosign("ban", timedelta(days=7))
    assert len(policy.version) == 16
    assert policy.claims.idle_release == timedelta(hours=2) and policy.accounts.require_two_factor == []


def test_version_is_the_content_hash():
    text = DEFAULT.read_text()
    assert parse_policy(text).version == load_policy(DEFAULT).version
    assert parse_policy(text + "\n# edited\n").version != load_policy(DEFAULT).version


@pytest.mark.parametrize("edit, field, reason", [
    (("duration: 24h", "duration: 24 parsecs"), "rules.0.ladder.2.duration", "invalid duration"),
    (("category: STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", "category: NOPE"), "rules.0.category", "unknown DSA category"),
    (("insult: 0.80", "insultt: 0.80"), "toxicity.thresholds", "unknown label"),
    (("review_sla: 72h", "review_sla: 72h\n  surprise: 1"), "appeals.surprise", "Extra inputs"),
    (("- id: spam", "- id: respectful"), "rules", "duplicate rule id"),
    (("timeout: {min: 1m, max: 28d}", "timeout: {min: 1m, max: 12h}"), "rules", "outside sanctions.timeout"),
    # Discord caps a timeout at 28 days (guild.mdx, Modify Guild Member): a longer maximum is refused.
    (("timeout: {min: 1m, max: 28d}", "timeout: {min: 1m, max: 60d}"), "sanctions.timeout.max",
     "longer than Discord allows"),
    (("idle_release: 2h", "idle_release: soon"), "claims.idle_release", "invalid duration"),
    (("require_two_factor: []", "require_two_factor: [owner]"), "accounts.require_two_factor.0", "should match"),
])
def test_bad_policy_names_file_field_and_reason(edit, field, reason):
    old, new = edit
    text = DEFAULT.read_text()
    assert old in text
    with pytest.raises(PolicyError) as err:
        parse_policy(text.replace(old, new, 1), source="policies/bad.yaml")
    message = str(err.value)
    assert "policies/bad.yaml" in message and reason in message
    assert field.split(".")[0] in message


def test_not_yaml_and_missing_file():
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("rules: [", source="x.yaml")
    with pytest.raises(PolicyError, match="file not found"):
        load_policy("/nonexistent/policy.yaml")


@pytest.mark.parametrize("text, expected", [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
                                            ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), (90, timedelta(seconds=90))])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "0h", "-1d", "7 days", "d7", True, None, 1.5])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration():
    assert format_duration(timedelta(days=7)) == "1 week"
    assert format_duration(timedelta(hours=24)) == "1 day"
    assert format_duration(timedelta(hours=1)) == "1 hour"
    assert format_duration(timedelta(minutes=90)) == "90 minutes"
    assert format_duration(None) == "permanent"


def test_timeout_maximum_over_discords_28_days_is_refused_by_check_and_load(tmp_path):
    """Discord takes a timeout "up to 28 days in the future" (discord-api-docs,
    developers/resources/guild.mdx, Modify Guild Member): a 60-day policy maximum
    would file cases, DMs and DSA statements saying 60 while Discord applies 28."""
    from click.testing import CliRunner

    from modsys.cli import main

    bad = tmp_path / "long-timeouts.yaml"
    bad.write_text(DEFAULT.read_text().replace("timeout: {min: 1m, max: 28d}", "timeout: {min: 1m, max: 60d}", 1))
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert f"{bad}: sanctions.timeout.max: 60 days is longer than Discord allows" in str(err.value)
    result = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code != 0
    assert str(bad) in result.output and "sanctions.timeout.max" in result.output
    exact = tmp_path / "exactly-28.yaml"
    exact.write_text(DEFAULT.read_text())
    assert load_policy(exact).sanctions.timeout.max == timedelta(days=28)
