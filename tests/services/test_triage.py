"""Live triage through the fake gateway and the real scoring worker (a tiny
model): messages in the policy's channels, within its budget, are scored; those
over the thresholds enter the queue as automated detection, the rest are
deleted; nobody is sanctioned."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway.triage import Budget
from modsys.domain.models import Action, AuditEvent, Flag, ToxicityScore
from modsys.infra.config import DEFAULT_POLICY
from modsys.runtime.jobs import settle_triage
from modsys.runtime.scoring import score_batch
from modsys.toxicity import clear_scorer_cache, get_scorer, install_model
from tests.conftest import fresh
from tests.support.discord_server import GUILD
from tests.support.tiny_model import build_tiny_checkpoint
from tests.support.wait import wait_until

TRIAGED, QUIET = "610000000000000001", "610000000000000002"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), "original")


@pytest.fixture
def scorer(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    install_model(*tiny, tmp_path / "models")
    yield get_scorer(tmp_path / "models")
    clear_scorer_cache()


@pytest.fixture
def threshold(request):
    return request.param


@pytest.fixture
def policy_path(tmp_path: Path, threshold) -> Path:
    text = DEFAULT_POLICY.read_text().replace("  channels: []\n  max_per_second: 5",
                                              f"  channels: [{TRIAGED}]\n  max_per_second: 5")
    for label, value in (("toxicity", "0.80"), ("severe_toxicity", "0.50"), ("obscene", "0.80"),
                         ("threat", "0.50"), ("insult", "0.80"), ("identity_attack", "0.50")):
        text = text.replace(f"    {label}: {value}", f"    {label}: {threshold}")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def message(mid: int, channel: str) -> dict:
    return {"id": str(1300000000000000100 + mid), "type": 0, "channel_id": channel, "guild_id": GUILD,
            "content": f"message {mid} you are awful", "author": {"id": str(1100000000000000000 + mid), "username": "a"},
            "attachments": [], "timestamp": "2026-12-01T10:00:00+00:00"}


def flags(session) -> list[Flag]:
    fresh(session)
    return list(session.exec(select(Flag).order_by(Flag.id)))


@pytest.mark.parametrize("threshold", [0.0001, 0.9999], indirect=True)
def test_triaged_messages_over_the_thresholds_enter_the_queue_as_automated_detection(
        engine, session, scorer, running, threshold):
    for i in range(3):
        running.dispatch("MESSAGE_CREATE", message(i, TRIAGED), guild_id=GUILD)
    running.dispatch("MESSAGE_CREATE", message(9, QUIET), guild_id=GUILD)  # not a triaged channel
    wait_until(lambda: len(flags(session)) == 3, 10, "the triaged messages")
    assert {f.status for f in flags(session)} == {"triage"}  # not in the queue before a score
    while score_batch(engine, lambda model: scorer, "w1", 8):  # one tiny model for every route
        pass
    settled = settle_triage(engine)
    fresh(session)
    if threshold < 0.5:
        assert settled == {"flagged": 3, "deleted": 0}
        assert {(f.status, f.reason, f.reporter_count) for f in flags(session)} == {
            ("open", "automated detection (live triage)", 0)}
        assert len(session.exec(select(AuditEvent).where(AuditEvent.verb == "flag.automated_detection")).all()) == 3
    else:
        assert settled == {"flagged": 0, "deleted": 3}
        assert flags(session) == [] and session.exec(select(ToxicityScore)).all() == []
    assert session.exec(select(Action)).all() == []  # never a sanction


def test_the_budget_admits_at_most_the_policys_rate():
    budget = Budget()
    admitted = sum(budget.take(1, 5.0) for _ in range(50))
    assert admitted == 5 and budget.dropped == 45
    assert budget.take(2, 5.0)  # each community has its own
