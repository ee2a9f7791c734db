"""The message log: messages in the channels the policy names, with their edits
and deletions, sealed at rest and kept for the policy's retention period.

The gateway's MESSAGE_DELETE carries only ids (gateway-events.mdx "Message
Delete"), so a message is kept from MESSAGE_CREATE on, to know what was deleted;
MESSAGE_UPDATE adds an edit (before and after). Every row expires `retention`
after its last change and is purged then, unless it became evidence on a case.
Content and attachments are sealed with `modsys.infra.crypto`, bound to the community
and the message id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from modsys.adapters.discord.cases import snowflake_time
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.models import LoggedMessage
from modsys.infra.crypto import Cipher
from modsys.infra.db import writing

MAX_CONTENT = 4000  # Discord's longest message (Nitro); longer input is cut, never refused


def _context(community_id: int, message_id: str) -> str:
    return f"loggedmessage:{community_id}:{message_id}"


def _attachments(data: dict[str, Any]) -> list[dict[str, Any]]:
    """What modsys keeps of each attachment (message.mdx "Attachment Object")."""
    return [{k: a.get(k) for k in ("id", "filename", "url", "size", "content_type")}
            for a in data.get("attachments") or [] if isinstance(a, dict)]


def _seal(cipher: Cipher, row: LoggedMessage, body: dict[str, Any]) -> None:
    row.sealed = cipher.seal(json.dumps(body).encode(), _context(row.community_id, row.platform_message_id))


def unseal(cipher: Cipher, row: LoggedMessage) -> dict[str, Any]:
    return json.loads(cipher.open(row.sealed, _context(row.community_id, row.platform_message_id)))


def _row(session: Session, community_id: int, message_id: str) -> LoggedMessage | None:
    return session.exec(select(LoggedMessage).where(LoggedMessage.community_id == community_id,
                                                    LoggedMessage.platform_message_id == message_id)).first()


def _logged_channel(session: Session, community_id: int, channel_id: Any) -> bool:
    return str(channel_id) in policy_for(session, community_id).message_log.channels


def on_create(engine: Engine, cipher: Cipher, community_id: int, data: dict[str, Any]) -> None:
    author = data.get("author") or {}
    if author.get("bot") or data.get("webhook_id"):
        return  # bots and webhooks (modsys's own notices among them) are not members' messages
    with writing(engine) as session:
        if not _logged_channel(session, community_id, data.get("channel_id")) or \
                _row(session, community_id, str(data["id"])):
            return
        now = clock.now()
        row = LoggedMessage(community_id=community_id, platform_message_id=str(data["id"]),
                            channel_id=str(data["channel_id"]), author_id=str(author.get("id", "")), sealed=b"",
                            sent_at=snowflake_time(str(data["id"])), changed_at=now,
                            expires_at=now + policy_for(session, community_id).message_log.retention)
        _seal(cipher, row, {"content": (data.get("content") or "")[:MAX_CONTENT], "author_name": _name(author),
                            "attachments": _attachments(data), "edits": []})
        session.add(row)


def _name(author: dict[str, Any]) -> str:
    return str(author.get("global_name") or author.get("username") or author.get("id") or "")[:100]


def on_update(engine: Engine, cipher: Cipher, community_id: int, data: dict[str, Any]) -> None:
    if "content" not in data:
        return  # an embed resolving, not an edit
    with writing(engine) as session:
        row = _row(session, community_id, str(data.get("id")))
        if row is None:
            return  # sent before modsys logged the channel: nothing to compare with
        body = unseal(cipher, row)
        after = (data.get("content") or "")[:MAX_CONTENT]
        if after == body["content"]:
            return
        now = clock.now()
        body["edits"].append({"before": body["content"], "after": after, "at": now.isoformat()})
        body["content"], body["attachments"] = after, _attachments(data) or body["attachments"]
        _seal(cipher, row, body)
        row.edited_at = row.changed_at = now
        row.expires_at = now + policy_for(session, community_id).message_log.retention
        session.add(row)


def on_delete(engine: Engine, community_id: int, message_ids: list[str]) -> None:
    with writing(engine) as session:
        now = clock.now()
        retention = policy_for(session, community_id).message_log.retention
        for row in session.exec(select(LoggedMessage).where(LoggedMessage.community_id == community_id,
                                                            col(LoggedMessage.platform_message_id).in_(message_ids))):
            if row.deleted_at is None:
                row.deleted_at = row.changed_at = now
                row.expires_at = now + retention
                session.add(row)


def purge_expired(engine: Engine, *, batch: int = 1000) -> dict[str, int]:
    """Delete what the retention period no longer covers (never what became evidence)."""
    total = 0
    while True:
        with writing(engine) as session:
            ids = list(session.exec(select(LoggedMessage.id).where(
                LoggedMessage.expires_at <= clock.now(), LoggedMessage.kept_as_evidence == False)  # noqa: E712
                .limit(batch)))
            if ids:
                session.execute(delete(LoggedMessage).where(col(LoggedMessage.id).in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return {"purged": total}


@dataclass(frozen=True)
class Logged:
    """A logged message as a moderator reads it."""

    id: int
    message_id: str
    channel_id: str
    author_id: str
    author_name: str
    content: str
    attachments: list[dict[str, Any]]
    edits: list[dict[str, Any]]
    sent_at: datetime
    deleted_at: datetime | None

    @property
    def snapshot(self) -> str:
        """The message as evidence: what it said, every edit, and whether it was deleted."""
        lines = [f"Message {self.message_id} by {self.author_name} ({self.author_id}) in channel {self.channel_id}, "
                 f"sent {self.sent_at:%Y-%m-%d %H:%M} UTC"
                 + (f", deleted {self.deleted_at:%Y-%m-%d %H:%M} UTC" if self.deleted_at else "") + ":"]
        if self.edits:
            lines.append(f"(first version) {self.edits[0]['before']}")
            lines += [f"(edited {e['at'][:16].replace('T', ' ')} UTC) {e['after']}" for e in self.edits]
        else:
            lines.append(self.content)
        lines += [f"[attachment] {a.get('filename')} {a.get('url')}" for a in self.attachments]
        return "\n".join(lines)


def read(cipher: Cipher, row: LoggedMessage) -> Logged:
    body = unseal(cipher, row)
    return Logged(id=row.id, message_id=row.platform_message_id, channel_id=row.channel_id,  # type: ignore[arg-type]
                  author_id=row.author_id, author_name=body.get("author_name", ""), content=body["content"],
                  attachments=body["attachments"], edits=body["edits"], sent_at=row.sent_at,
                  deleted_at=row.deleted_at)


def recent_changes(session: Session, cipher: Cipher, community_id: int, author_id: str,
                   limit: int = 20) -> list[Logged]:
    """A member's latest deleted and edited messages (the member page)."""
    rows = session.exec(select(LoggedMessage).where(
        LoggedMessage.community_id == community_id, LoggedMessage.author_id == author_id,
        (col(LoggedMessage.deleted_at).is_not(None)) | (col(LoggedMessage.edited_at).is_not(None)))
        .order_by(col(LoggedMessage.changed_at).desc()).limit(limit))
    return [read(cipher, row) for row in rows]


def around(session: Session, cipher: Cipher, community_id: int, channel_id: str, message_id: str,
           count: int) -> list[Logged]:
    """Up to `count` logged messages before and after one in its channel (snowflakes sort by time)."""
    if count <= 0:
        return []
    base = select(LoggedMessage).where(LoggedMessage.community_id == community_id,
                                       LoggedMessage.channel_id == channel_id)
    at = snowflake_time(message_id)
    before = session.exec(base.where(LoggedMessage.sent_at <= at, LoggedMessage.platform_message_id != message_id)
                          .order_by(col(LoggedMessage.sent_at).desc()).limit(count)).all()
    after = session.exec(base.where(LoggedMessage.sent_at > at).order_by(col(LoggedMessage.sent_at)).limit(count)).all()
    return [read(cipher, row) for row in [*reversed(before), *after]]
