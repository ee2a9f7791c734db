"""The message log, fed by the gateway (the fake gateway over a real websocket):
creates, edits and deletions in the channels the policy names, sealed at rest,
shown as a member's recent changes, attached to a case as evidence, and purged
after the retention period unless they became evidence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway import message_log
from modsys.domain.models import Evidence, LoggedMessage
from modsys.infra.config import DEFAULT_POLICY, ConfigError, load_settings
from modsys.infra.crypto import Cipher, DecryptionError, cipher_for
from modsys.runtime.jobs import purge_message_log
from modsys.services.message_log import attach_logged_message
from tests.conftest import fresh
from tests.factories import ban
from tests.support.discord_server import GUILD
from tests.support.wait import wait_until

LOGGED, OTHER = "600000000000000001", "600000000000000002"


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("  channels: []", f"  channels: [{LOGGED}]"))
    return path


def message(mid: str, author: str, content: str, channel: str = LOGGED, **extra) -> dict:
    return {"id": mid, "type": 0, "channel_id": channel, "guild_id": GUILD, "content": content,
            "timestamp": "2026-12-01T10:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "embeds": [], "pinned": False,
            "author": {"id": author, "username": "troll"}, "attachments": [], **extra}


def logged(session) -> list[LoggedMessage]:
    fresh(session)
    return list(session.exec(select(LoggedMessage).order_by(LoggedMessage.id)))


@pytest.fixture
def member(make_member):
    return make_member()


def test_a_deleted_message_becomes_evidence_with_its_content(session, mod_a, member, running):
    uid = member.platform_user_id
    running.dispatch("MESSAGE_CREATE", message("1300000000000000001", uid, "you are an idiot"), guild_id=GUILD)
    running.dispatch("MESSAGE_CREATE", message("1300000000000000002", uid, "not kept", channel=OTHER), guild_id=GUILD)
    running.dispatch("MESSAGE_UPDATE", message("1300000000000000001", uid, "you are a genius"), guild_id=GUILD)
    running.dispatch("MESSAGE_DELETE", {"id": "1300000000000000001", "channel_id": LOGGED, "guild_id": GUILD},
                     guild_id=GUILD)
    wait_until(lambda: [r.deleted_at is not None for r in logged(session)] == [True], 10, "the deletion")
    row = logged(session)[0]
    assert b"idiot" not in row.sealed and b"genius" not in row.sealed  # encrypted at rest

    cipher = cipher_for(running.settings)
    [seen] = message_log.recent_changes(session, cipher, row.community_id, uid)
    assert seen.edits == [{"before": "you are an idiot", "after": "you are a genius", "at": seen.edits[0]["at"]}]
    action = ban(session, mod_a, member)
    evidence = attach_logged_message(session, mod_a, action.id, row.id, cipher)
    assert "you are an idiot" in evidence.content and "you are a genius" in evidence.content
    assert "deleted" in evidence.content and evidence.kind == "message_snapshot"
    assert logged(session)[0].kept_as_evidence


def test_purge_after_retention_keeps_what_became_evidence(engine, session, community, mod_a, make_member, clock,
                                                          policy_path, tmp_path):
    cipher = Cipher("a-test-data-key-with-enough-randomness-1234")
    member = make_member()
    for mid in ("1300000000000000011", "1300000000000000012"):
        message_log.on_create(engine, cipher, community.id, message(mid, member.platform_user_id, f"text {mid}"))
    message_log.on_delete(engine, community.id, ["1300000000000000011", "1300000000000000012"])
    kept = logged(session)[0]
    attach_logged_message(session, mod_a, ban(session, mod_a, member).id, kept.id, cipher)

    clock.advance(timedelta(days=29))
    assert purge_message_log(engine) == {"purged": 0}
    clock.advance(timedelta(days=2))  # the policy keeps 30 days
    assert purge_message_log(engine) == {"purged": 1}
    assert [r.id for r in logged(session)] == [kept.id]
    assert session.exec(select(Evidence).where(Evidence.kind == "message_snapshot")).first() is not None


def test_sealed_values_open_only_with_their_key_and_context(tmp_path):
    cipher = Cipher("a-test-data-key-with-enough-randomness-1234")
    sealed = cipher.seal(b"secret words", "loggedmessage:1:42")
    assert cipher.open(sealed, "loggedmessage:1:42") == b"secret words"
    with pytest.raises(DecryptionError):
        cipher.open(sealed, "loggedmessage:2:42")  # moved onto another community's row
    with pytest.raises(DecryptionError):
        Cipher("another-key-with-enough-randomness-98765").open(sealed, "loggedmessage:1:42")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.open(tampered, "loggedmessage:1:42")
    with pytest.raises(ConfigError, match="MODSYS_DATA_KEY is not set"):
        cipher_for(load_settings({"MODSYS_ENV": "production"}))
    dev = load_settings({"MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "instance" / "checkpoints.log")})
    assert cipher_for(dev).open(cipher_for(dev).seal(b"x", "c"), "c") == b"x"  # generated once, then reused
    assert (tmp_path / "instance" / "data_key").stat().st_mode & 0o077 == 0
