"""A report and an action on a Discord message keep the messages around it from
the message log as private evidence, and a report's attachment candidates are
downloaded into the vault (the `keep_report_context` job; the request never waits)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway import message_log
from modsys.domain.models import Evidence
from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.crypto import cipher_for
from modsys.runtime.jobs import fetch_evidence_files, keep_report_context
from modsys.services.evidence import EvidenceInput
from modsys.services.flags import FlagReportInput, report_flag
from tests.conftest import fresh
from tests.factories import ban, reporter
from tests.support.discord_server import GUILD, bot_settings

CHANNEL = "600000000000000001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("  channels: []", f"  channels: [{CHANNEL}]", 1)
                    .replace("context_messages: 5", "context_messages: 2"))
    return path


def mid(i: int) -> str:
    return str(1300000000000000200 + (i << 22))  # one snowflake per ~ms: in order


def test_a_reported_message_keeps_its_context_and_its_candidates(engine, session, community, mod_a, make_member,
                                                                 discord_bot, tmp_path):
    settings = bot_settings(discord_bot, MODSYS_DISCORD_CDN_URL=discord_bot.base_url,
                            MODSYS_AUDIT_CHECKPOINTS=str(tmp_path / "instance" / "c.log"))
    cipher = cipher_for(settings)
    author = make_member("talker")
    for i in range(7):
        message_log.on_create(engine, cipher, community.id, {
            "id": mid(i), "channel_id": CHANNEL, "content": f"line {i}",
            "author": {"id": author.platform_user_id, "username": "talker"}})
    flag, _ = report_flag(session, reporter(session, community.id), community.id, FlagReportInput(
        message_id=mid(3), channel_id=CHANNEL, author_id=author.platform_user_id, author_name="talker",
        content="line 3", reporter="42"))
    url = discord_bot.attach("shot.png", PNG)
    session.add(Evidence(community_id=community.id, flag_id=flag.id, kind="link", visibility="private", content=url,
                         sha256="0" * 64, created_at=flag.created_at))
    session.commit()
    action = ban(session, mod_a, author, evidence=[
        EvidenceInput("link", "private", f"https://discord.com/channels/{GUILD}/{CHANNEL}/{mid(5)}")])

    assert keep_report_context(engine, settings=settings) == {"context": 2, "downloads": 1}
    assert keep_report_context(engine, settings=settings) == {"context": 0, "downloads": 0}  # once
    fresh(session)
    [on_flag] = session.exec(select(Evidence).where(Evidence.flag_id == flag.id, Evidence.kind == "message_snapshot"))
    assert [line.split(": ")[-1] for line in on_flag.content.splitlines()[1:]] == ["line 1", "line 2", "line 4", "line 5"]
    assert on_flag.visibility == "private"
    [on_case] = session.exec(select(Evidence).where(Evidence.action_id == action.id,
                                                   Evidence.kind == "message_snapshot"))
    assert "line 3" in on_case.content and "line 6" in on_case.content
    assert fetch_evidence_files(engine, settings=settings)["stored"] == 1
    fresh(session)
    stored = session.exec(select(Evidence).where(Evidence.flag_id == flag.id, Evidence.kind == "file")).one()
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
