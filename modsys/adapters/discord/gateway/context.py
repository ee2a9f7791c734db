"""Context and candidates kept for reports and actions, by a job (it holds the
data key; the front door's request never waits for it):

- a flag, or a case filed with a link to a Discord message ("Report to
  moderators", "Act on this message", the API), gets the messages around the
  reported one from the message log, where the log has them, as private
  evidence (`message_log.context_messages` before and after);
- every Discord attachment link among a flag's evidence candidates is queued for
  the evidence vault, so the file is kept while its signed link works.

Only recent flags and cases are looked at (`LOOKBACK`), each once.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from modsys.adapters.discord import vault
from modsys.adapters.discord.gateway.message_log import around
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.models import Evidence, EvidenceKind, Flag, VaultFile, Visibility
from modsys.infra.config import Settings
from modsys.infra.crypto import Cipher, cipher_for
from modsys.infra.db import writing

HEADER = "Context from the message log"
LOOKBACK = timedelta(days=1)
JUMP = re.compile(r"/channels/(\d+)/(\d+)/(\d+)")


def _context_text(cipher: Cipher, session: Session, community_id: int, channel_id: str, message_id: str) -> str | None:
    count = policy_for(session, community_id).message_log.context_messages
    rows = around(session, cipher, community_id, channel_id, message_id, count)
    if not rows:
        return None
    lines = [f"{HEADER} (channel {channel_id}, around message {message_id}):"]
    for row in rows:
        mark = " [deleted]" if row.deleted_at else (" [edited]" if row.edits else "")
        lines.append(f"{row.sent_at:%H:%M:%S} {row.author_name} ({row.author_id}){mark}: {row.content}")
    return "\n".join(lines)[:10_000]


def _has_context(session: Session, **owner: Any) -> bool:
    column = getattr(Evidence, next(iter(owner)))
    return session.exec(select(Evidence.id).where(column == next(iter(owner.values())),
                                                  col(Evidence.content).startswith(HEADER))).first() is not None


def _add(session: Session, community_id: int, text: str, **owner: int) -> None:
    session.add(Evidence(community_id=community_id, kind=EvidenceKind.message_snapshot, visibility=Visibility.private,
                         content=text, size=len(text.encode()), sha256=hashlib.sha256(text.encode()).hexdigest(),
                         created_at=clock.now(), **owner))


def keep(engine: Engine, settings: Settings, *, batch: int = 200) -> dict[str, int]:
    counts = {"context": 0, "downloads": 0}
    cipher = cipher_for(settings)
    since = clock.now() - LOOKBACK
    with writing(engine) as session:
        for flag in session.exec(select(Flag).where(Flag.created_at >= since).order_by(col(Flag.id).desc()).limit(batch)):
            if not _has_context(session, flag_id=flag.id):
                text = _context_text(cipher, session, flag.community_id, flag.channel_id, flag.platform_message_id)
                if text:
                    _add(session, flag.community_id, text, flag_id=flag.id)  # type: ignore[arg-type]
                    counts["context"] += 1
            counts["downloads"] += _queue_candidates(session, flag)
        links = session.exec(select(Evidence).where(Evidence.created_at >= since, Evidence.kind == EvidenceKind.link,
                                                    col(Evidence.action_id).is_not(None))
                             .order_by(col(Evidence.id).desc()).limit(batch))
        for link in links:
            found = JUMP.search(link.content)
            if found and not _has_context(session, action_id=link.action_id):
                text = _context_text(cipher, session, link.community_id, found.group(2), found.group(3))
                if text:
                    _add(session, link.community_id, text, action_id=link.action_id)  # type: ignore[arg-type]
                    counts["context"] += 1
    return counts


def _queue_candidates(session: Session, flag: Flag) -> int:
    queued = 0
    known = set(session.exec(select(VaultFile.url).where(VaultFile.flag_id == flag.id)))
    for url in session.exec(select(Evidence.content).where(Evidence.flag_id == flag.id,
                                                           Evidence.kind == EvidenceKind.link)):
        if vault.wanted(url) and url not in known:
            vault.queue(session, flag.community_id, url, flag_id=flag.id)
            known.add(url)
            queued += 1
    return queued
