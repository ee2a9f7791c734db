"""Statements of reasons (EU DSA Art. 17), as pure functions; sanction severity is the kind registry's."""

from __future__ import annotations

from datetime import datetime, timedelta

from modsys.domain.kinds import kind
from modsys.domain.models import Action, ActionSource, StatementOfReasons
from modsys.domain.policy import Policy, format_duration


def duration_of(action: Action) -> timedelta | None:
    return None if action.ends_at is None else action.ends_at - action.starts_at


def measure(name: str, duration: timedelta | None) -> str:
    """What the member reads: "24 hours timeout", "permanent ban", "warning"."""
    declared = kind(name)
    if not declared.timed:
        return declared.label
    return f"permanent {declared.label}" if duration is None else f"{format_duration(duration)} {declared.label}"


def build_statement(action: Action, policy: Policy, *, facts: str, automated_detection: bool,
                    appeal_deadline: datetime | None) -> StatementOfReasons:
    rules = [policy.rule(r) for r in action.rules]
    first = rules[0]
    assert first is not None  # the service validated every cited rule
    duration = duration_of(action)
    account = kind(action.kind).account(duration)
    ground_reference = "; ".join(
        f"Rule '{r.id}': {r.title}. {r.description}" for r in rules if r is not None
    ) + f" (policy version {policy.version}{', ' + policy.label if policy.label else ''})"
    if action.appealable and appeal_deadline is not None:
        redress = (f"You can appeal this decision until {appeal_deadline:%Y-%m-%d %H:%M} UTC through the "
                   f"appeal link you received. A moderator who was not involved reviews it; "
                   f"if nobody decides in time it goes to {policy.decisions.final_decision_maker}.")
    else:
        redress = policy.appeals.redress
    return StatementOfReasons(
        action_id=action.id,  # type: ignore[arg-type]
        decision_ground=first.ground.value,
        category=first.category,
        decision_account=account,
        decision_provision=kind(action.kind).provision(duration),
        measure=measure(action.kind, duration),
        end_date_account_restriction=action.ends_at if account else None,
        decision_facts=facts,
        ground_reference=ground_reference,
        ground_explanation=action.public_reason,
        automated_detection=automated_detection or action.source == ActionSource.automated_detection,
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",  # humans decide, always
        redress=redress,
        created_at=action.created_at,
    )
