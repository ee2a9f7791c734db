"""The evidence vault against the fake Discord's CDN over real HTTP: a Discord
attachment that becomes evidence is downloaded by the job (never in a request),
hashed, blurred, and stays downloadable from the case after the CDN stops
serving it; other hosts, redirects, private addresses and oversized or
unknown files are refused with a reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from modsys.adapters.discord.gateway import message_log
from modsys.domain.models import Evidence, LoggedMessage, VaultFile
from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.crypto import Cipher
from modsys.runtime.jobs import fetch_evidence_files
from modsys.services.evidence import EvidenceInput, add_evidence
from modsys.services.message_log import attach_logged_message
from tests.conftest import fresh, login
from tests.factories import ban
from tests.support.discord_server import bot_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
CHANNEL = "600000000000000001"


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_POLICY.read_text().replace("  channels: []", f"  channels: [{CHANNEL}]"))
    return path


def cdn(fake, origin: str | None = None):
    return bot_settings(fake, MODSYS_DISCORD_CDN_URL=origin or fake.base_url)


def link(session, mod, action, url: str) -> VaultFile:
    add_evidence(session, mod, action.id, EvidenceInput("link", "private", url))
    fresh(session)
    return session.exec(select(VaultFile).where(VaultFile.url == url)).one()


def test_an_attachment_stays_downloadable_from_the_case_after_the_cdn_stops_serving_it(
        app, engine, session, community, mod_a, make_member, discord_bot):
    action = ban(session, mod_a, make_member())
    url = discord_bot.attach("screenshot.png", PNG)
    queued = link(session, mod_a, action, url)
    assert queued.status == "pending" and not discord_bot.cdn_requests  # nothing fetched inside the request

    assert fetch_evidence_files(engine, settings=cdn(discord_bot)) == {"stored": 1, "refused": 0, "retry": 0}
    discord_bot.cdn_down = True  # Discord's signed link has expired
    fresh(session)
    stored = session.get(VaultFile, queued.id)
    evidence = session.get(Evidence, stored.evidence_id)
    assert stored.status == "stored" and evidence.action_id == action.id
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest() and evidence.mime_type == "image/png"
    assert evidence.sensitive  # images are blurred until a reviewer clicks them
    client = app.test_client()
    login(client, "mod_a")
    response = client.get(f"/evidence/{evidence.id}/file")
    assert response.status_code == 200 and response.data == PNG


@pytest.mark.parametrize("case", ["outside", "redirect", "oversized", "private", "unknown type", "dead link"])
def test_what_is_not_discords_cdn_or_not_within_bounds_is_refused_with_a_reason(
        engine, session, community, mod_a, make_member, discord_bot, case):
    action = ban(session, mod_a, make_member())
    settings = cdn(discord_bot)
    url = discord_bot.attach("x.png", PNG)
    if case == "outside":
        url = "https://evil.example/attachments/1/2/x.png"
    elif case == "redirect":
        discord_bot.cdn_redirects[url.split("?")[0].split(discord_bot.base_url)[1]] = "http://127.0.0.1:1/secret"
    elif case == "oversized":
        url = discord_bot.attach("big.png", PNG + b"\x00" * (5 * 1024 * 1024))
    elif case == "private":  # a CDN name that resolves to a private address
        origin = discord_bot.base_url.replace("127.0.0.1", "localhost")
        settings, url = cdn(discord_bot, origin), url.replace("127.0.0.1", "localhost")
    elif case == "unknown type":
        url = discord_bot.attach("run.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00", "application/octet-stream")
    elif case == "dead link":
        discord_bot.cdn_down = True
    queued = link(session, mod_a, action, url)
    assert fetch_evidence_files(engine, settings=settings)["refused"] == 1
    fresh(session)
    refused = session.get(VaultFile, queued.id)
    expected = {"outside": "evil.example is not Discord's CDN", "redirect": "redirect (to http://127.0.0.1:1/secret)",
                "oversized": "the limit is 5242880 bytes", "private": "resolves to the private address",
                "unknown type": "file type not allowed", "dead link": "the link no longer works (HTTP 404)"}[case]
    assert refused.status == "refused" and expected in refused.reason, refused.reason
    assert session.exec(select(Evidence).where(Evidence.kind == "file")).first() is None
    if case == "redirect":
        assert len(discord_bot.cdn_requests) == 1  # the redirect was not followed


def test_a_logged_messages_attachments_are_kept_with_it(engine, session, community, mod_a, make_member,
                                                       discord_bot):
    member = make_member()
    cipher = Cipher("a-test-data-key-with-enough-randomness-1234")
    url = discord_bot.attach("proof.png", PNG)
    message_log.on_create(engine, cipher, community.id, {
        "id": "1300000000000000021", "channel_id": CHANNEL, "content": "look at this",
        "author": {"id": member.platform_user_id, "username": "m"},
        "attachments": [{"id": "1", "filename": "proof.png", "url": url, "size": len(PNG), "content_type": "image/png"}]})
    row = session.exec(select(LoggedMessage)).one()
    action = ban(session, mod_a, member)
    attach_logged_message(session, mod_a, action.id, row.id, cipher)
    assert fetch_evidence_files(engine, settings=cdn(discord_bot))["stored"] == 1
    fresh(session)
    files = {e.kind: e for e in session.exec(select(Evidence).where(Evidence.action_id == action.id))}
    assert files["file"].filename == "proof.png" and "look at this" in files["message_snapshot"].content


def test_a_link_to_a_discord_message_keeps_its_attachments(engine, session, community, mod_a, make_member,
                                                           discord_bot):
    action = ban(session, mod_a, make_member())
    url = discord_bot.attach("in-message.png", PNG)
    discord_bot.channel_messages[(CHANNEL, "1300000000000000061")] = {
        "id": "1300000000000000061", "channel_id": CHANNEL, "content": "see",
        "attachments": [{"id": "9", "filename": "in-message.png", "url": url, "size": len(PNG)}]}
    jump = f"https://discord.com/channels/500000000000000001/{CHANNEL}/1300000000000000061"
    gone = f"https://discord.com/channels/500000000000000001/{CHANNEL}/1300000000000000062"
    link(session, mod_a, action, jump)
    link(session, mod_a, action, gone)
    settings = cdn(discord_bot)
    assert fetch_evidence_files(engine, settings=settings) == {"stored": 1, "refused": 1, "retry": 0}
    assert fetch_evidence_files(engine, settings=settings)["stored"] == 1  # the attachment it found
    fresh(session)
    rows = {r.url: r for r in session.exec(select(VaultFile))}
    assert rows[jump].reason == "the message's 1 attachment(s) queued"
    assert rows[gone].status == "refused" and "the message is gone" in rows[gone].reason
    stored = session.get(Evidence, rows[url].evidence_id)
    assert stored.action_id == action.id and stored.sha256 == hashlib.sha256(PNG).hexdigest()
