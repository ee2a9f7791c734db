"""The action-kind registry: every kind declared once, and what follows from it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modsys.domain import kinds
from modsys.domain.policy import SanctionKind
from modsys.domain.reasons import measure


def test_every_kind_is_declared_once_and_is_the_enum():
    assert set(SanctionKind) == set(kinds.KINDS) == {"note", "warning", "timeout", "kick", "ban", "unban", "untimeout"}


def test_severity_orders_kinds_then_length():
    assert (kinds.severity("warning", None) < kinds.severity("timeout", timedelta(days=28)) < kinds.severity("kick", None)
            < kinds.severity("ban", timedelta(days=1)) < kinds.severity("ban", None))
    assert kinds.severity("timeout", timedelta(hours=1)) < kinds.severity("timeout", timedelta(hours=2))


@pytest.mark.parametrize(("kind", "duration", "text", "account", "provision"), [
    ("warning", None, "warning", None, None),
    ("timeout", timedelta(hours=24), "1 day timeout", kinds.SUSPENDED, kinds.PARTIAL_SUSPENSION),
    ("kick", None, "kick", None, kinds.PARTIAL_TERMINATION),
    ("ban", timedelta(days=7), "1 week ban", kinds.SUSPENDED, kinds.TOTAL_SUSPENSION),
    ("ban", None, "permanent ban", kinds.TERMINATED, kinds.TOTAL_TERMINATION),
])
def test_measure_and_dsa_mapping(kind, duration, text, account, provision):
    assert measure(kind, duration) == text
    assert (kinds.kind(kind).account(duration), kinds.kind(kind).provision(duration)) == (account, provision)


def test_every_platform_request_is_one_discord_enforcement_can_send():
    from modsys.adapters.discord.enforcement import ENFORCEMENT, PERMISSION

    requests = {r for k in kinds.KINDS.values() for r in (k.enforce, k.reverse) if r}
    assert requests and requests <= set(PERMISSION)  # each with the bot permission it needs
    assert {name for name, e in ENFORCEMENT.items() if e.reverse} == {"timeout", "ban"}  # a kick can't be undone
    assert "note" not in ENFORCEMENT  # internal: nothing happens in Discord
