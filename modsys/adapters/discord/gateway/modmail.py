"""Modmail: a member who DMs the bot reaches the moderators.

The gateway hands every DM (MESSAGE_CREATE without a guild) to `receive`: the
message joins the member's open thread in modsys, or opens one, in each
community that knows the member (with one community, that one). With the
policy's `modmail.forum_channel_id` the thread also gets a post in that forum
channel, and each message a copy there. A member with an active ban is answered
with their appeal link instead, so appeals don't arrive through side doors.
Moderators reply from /modmail/<id> (`reply`); the `deliver_modmail` job sends
replies as DMs (a nonce per message: a retry never sends twice), retrying until
Discord takes them or refuses for a reason shown on the thread.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from modsys import permissions
from modsys.adapters import discord
from modsys.adapters.discord import dm
from modsys.adapters.discord.client import DiscordClient, client_for
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.errors import Conflict
from modsys.domain.models import (
    Action,
    ActionStatus,
    Community,
    Member,
    ModmailMessage,
    ModmailThread,
)
from modsys.infra.config import Settings
from modsys.infra.db import writing
from modsys.infra.portal_links import make_token, portal_url
from modsys.services._base import clean_text, service
from modsys.services.members import get_or_create_member
from modsys.uow import UnitOfWork

MAX_ATTEMPTS = 8
BODY_MAX = 2000  # a DM's content limit (message.mdx "Create Message": 2000 characters)


# --- in: the gateway ------------------------------------------------------------------


def communities_for(session: Session, user_id: str, known: dict[str, int]) -> list[int]:
    """Where a DM goes: the communities that know the member, else the only one with a guild."""
    mine = sorted(set(session.exec(select(Member.community_id).where(Member.platform_user_id == user_id))))
    if mine:
        return mine
    guilds = sorted(set(known.values()))
    return guilds if len(guilds) == 1 else []


def receive(engine: Engine, community_id: int, data: dict[str, Any]) -> ModmailThread | None:
    """A member's DM into their thread (or the appeal-link answer when banned); None if seen before."""
    author = data.get("author") or {}
    user_id, text = str(author.get("id", "")), (data.get("content") or "").strip()
    attachments = [a.get("url") for a in data.get("attachments") or [] if isinstance(a, dict) and a.get("url")]
    body = "\n".join([text, *[f"[attachment] {u}" for u in attachments]]).strip()[:4000]
    if not user_id or not body:
        return None
    now = clock.now()
    try:
        with writing(engine) as session:
            member = get_or_create_member(session, community_id, user_id,
                                          str(author.get("global_name") or author.get("username") or user_id)[:100])
            thread = session.exec(select(ModmailThread).where(
                ModmailThread.community_id == community_id, ModmailThread.member_id == member.id,
                ModmailThread.status == "open")).first()
            if thread is None:
                thread = ModmailThread(community_id=community_id, member_id=member.id, created_at=now,  # type: ignore[arg-type]
                                       last_message_at=now)
                session.add(thread)
                session.flush()
            thread.last_message_at = now
            session.add(thread)
            session.add(ModmailMessage(community_id=community_id, thread_id=thread.id, direction="in", body=body,  # type: ignore[arg-type]
                                       platform_message_id=str(data.get("id")), created_at=now, next_attempt_at=now))
            session.flush()
            banned = _active_ban(session, member.id)  # type: ignore[arg-type]
            if banned is not None:
                _queue(session, thread, "out", "", appeal_action_id=banned.id)
            elif policy_for(session, community_id).modmail.forum_channel_id:
                _queue(session, thread, "forum", f"**{member.display_name}**: {body}"[:BODY_MAX])
            return thread
    except IntegrityError:
        return None  # the same DM again (a replayed event): kept once


def _active_ban(session: Session, member_id: int) -> Action | None:
    return session.exec(select(Action).where(Action.member_id == member_id, Action.kind == "ban",
                                             Action.status == ActionStatus.active)
                        .order_by(col(Action.id).desc())).first()


def _queue(session: Session, thread: ModmailThread, direction: str, body: str, *, staff_id: int | None = None,
           appeal_action_id: int | None = None) -> ModmailMessage:
    now = clock.now()
    message = ModmailMessage(community_id=thread.community_id, thread_id=thread.id, direction=direction,  # type: ignore[arg-type]
                             body=body, author_staff_id=staff_id, appeal_action_id=appeal_action_id,
                             status="pending", next_attempt_at=now, created_at=now)
    session.add(message)
    session.flush()
    return message


# --- moderators (services) -----------------------------------------------------------------


@service
def reply(uow: UnitOfWork, thread_id: int, body: str) -> ModmailMessage:
    thread = uow.get(ModmailThread, thread_id, "modmail thread")
    staff = uow.staff_with(permissions.can_work_flags)
    if thread.status != "open":
        raise Conflict(f"modmail thread #{thread.id} is closed; the member opens a new one by writing again")
    text = clean_text(body, "reply", min_len=1, max_len=BODY_MAX)
    message = _queue(uow.session, thread, "out", text, staff_id=staff.id)
    if uow.policy.modmail.forum_channel_id:
        _queue(uow.session, thread, "forum", f"**{staff.username}** (moderator): {text}"[:BODY_MAX], staff_id=staff.id)
    uow.record("modmail.replied", thread, {"message_id": message.id})
    return message


@service
def close(uow: UnitOfWork, thread_id: int) -> ModmailThread:
    thread = uow.get(ModmailThread, thread_id, "modmail thread")
    uow.staff_with(permissions.can_work_flags)
    thread.status = "closed"
    uow.session.add(thread)
    uow.record("modmail.closed", thread, {})
    return thread


def threads(session: Session, community_id: int, limit: int = 50) -> list[ModmailThread]:
    return list(session.exec(select(ModmailThread).where(ModmailThread.community_id == community_id)
                             .order_by(col(ModmailThread.status).desc(), col(ModmailThread.last_message_at).desc())
                             .limit(limit)))


def members_of(session: Session, found: list[ModmailThread]) -> dict[int, Member]:
    ids = [t.member_id for t in found]
    return {m.id: m for m in session.exec(select(Member).where(col(Member.id).in_(ids)))} if ids else {}  # type: ignore[misc]


def cases_of(session: Session, member_id: int, limit: int = 20) -> list[Action]:
    """The member's latest cases (the thread page and the message log page link them)."""
    return list(session.exec(select(Action).where(Action.member_id == member_id)
                             .order_by(col(Action.id).desc()).limit(limit)))


def messages(session: Session, thread_id: int) -> list[ModmailMessage]:
    return list(session.exec(select(ModmailMessage).where(ModmailMessage.thread_id == thread_id,
                                                          ModmailMessage.direction != "forum")
                             .order_by(col(ModmailMessage.id))))


# --- out: the job --------------------------------------------------------------------------


def answer_for(session: Session, message: ModmailMessage, settings: Settings) -> str:
    """What goes to the member: the moderator's text, or the appeal link for a banned member."""
    if message.appeal_action_id is None:
        return message.body
    action = session.get(Action, message.appeal_action_id)
    community = session.get(Community, message.community_id)
    deadline = action.appeal_deadline if action else None
    if action is None or not action.appealable or deadline is None or deadline <= clock.now():
        return (f"**{community.name if community else 'The moderators'}**: you are banned (case #{action.id if action else '?'}). "
                "The appeal window of this case is closed, so messages here don't reach the moderators.")
    if not settings.secret_key:
        raise ValueError("SECRET_KEY is not set in this process: the appeal link can't be made")
    link = portal_url(settings.base_url, make_token(settings.secret_key, action.id, action.member_id, deadline))  # type: ignore[arg-type]
    return (f"**{community.name if community else 'modsys'}**: you are banned (case #{action.id}), so messages here "
            f"don't reach the moderators. Read why and appeal until {deadline:%Y-%m-%d %H:%M} UTC: {link}")


def deliver(engine: Engine, *, settings: Settings, client: DiscordClient | None = None, batch: int = 50) -> dict[str, int]:
    if not settings.discord_bot_token:
        return {}
    client = client or client_for(settings)
    counts = {"sent": 0, "failed": 0, "retry": 0}
    with Session(engine) as session:
        due = list(session.exec(select(ModmailMessage).where(ModmailMessage.status == "pending",
                                                             ModmailMessage.next_attempt_at <= clock.now())
                                .order_by(col(ModmailMessage.id)).limit(batch)))
    for message in due:
        counts[_deliver_one(engine, client, settings, message)] += 1
    return counts


def _deliver_one(engine: Engine, client: DiscordClient, settings: Settings, message: ModmailMessage) -> str:
    with Session(engine) as session:
        thread = session.get(ModmailThread, message.thread_id)
        member = session.get(Member, thread.member_id)  # type: ignore[union-attr]
        forum = policy_for(session, message.community_id).modmail.forum_channel_id
        guild, why = discord.target(session, message.community_id, settings)
        try:
            content = answer_for(session, message, settings)
        except ValueError as e:
            return _settle(engine, message.id, ok=False, error=str(e), final=True)  # type: ignore[arg-type]
    if message.direction == "out":
        sent = dm.send(client, member.platform_user_id, content, nonce=f"modmail-{message.id}")  # type: ignore[union-attr]
        return _settle(engine, message.id, ok=sent.delivered, error=sent.detail)  # type: ignore[arg-type]
    if not forum or guild is None:
        return _settle(engine, message.id, ok=False, error=why or "no forum channel in the policy", final=True)  # type: ignore[arg-type]
    if thread.forum_thread_id is None:  # type: ignore[union-attr]
        # channel.mdx "Start Thread in Forum or Media Channel": the post and its first message
        reply = client.request("POST", "/channels/{channel_id}/threads", channel_id=forum, json={
            "name": f"modmail: {member.display_name}"[:100],  # type: ignore[union-attr]
            "message": {"content": content, "allowed_mentions": {"parse": []}}})
        if reply.ok:
            with writing(engine) as session:
                row = session.get(ModmailThread, thread.id)  # type: ignore[union-attr]
                row.forum_thread_id = str(reply.data["id"])  # type: ignore[union-attr]
                session.add(row)
        return _settle(engine, message.id, ok=reply.ok, error=reply.explain("Send Messages, Create Posts"))  # type: ignore[arg-type]
    reply = client.request("POST", "/channels/{channel_id}/messages", channel_id=thread.forum_thread_id,  # type: ignore[union-attr]
                           json={"content": content, "allowed_mentions": {"parse": []}})
    return _settle(engine, message.id, ok=reply.ok, error=reply.explain("Send Messages in Threads"))  # type: ignore[arg-type]


def _settle(engine: Engine, message_id: int, *, ok: bool, error: str = "", final: bool = False) -> str:
    with writing(engine) as session:
        row = session.get(ModmailMessage, message_id)
        if row is None or row.status != "pending":
            return "sent"
        row.attempts += 1
        if ok:
            row.status, row.last_error = "sent", ""
        elif final or row.attempts >= MAX_ATTEMPTS:
            row.status, row.last_error = "failed", error[:500]
        else:
            row.last_error, row.next_attempt_at = error[:500], clock.now() + timedelta(seconds=5 * 2 ** row.attempts)
        session.add(row)
        return "sent" if ok else ("failed" if row.status == "failed" else "retry")
