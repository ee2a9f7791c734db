"""Gateway events into modsys's records, one at a time, in the order received.

discord.py reads the socket on its event loop; the database work happens here,
on one thread fed by a queue, so a slow write never delays a heartbeat and two
events are never applied out of order. An event that fails is logged and
skipped (the next catch-up from REST covers moderation); the stream goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from modsys.adapters.discord import guild_id_for
from modsys.adapters.discord.gateway import message_log, moderation, modmail, triage
from modsys.adapters.discord.gateway.raids import Detector
from modsys.domain.models import Community
from modsys.infra.config import Settings
from modsys.infra.crypto import Cipher, cipher_for

log = logging.getLogger(__name__)
CATCH_UP = "modsys:catch-up"  # not Discord's: queued after a READY

Handler = Callable[["Dispatcher", int, dict[str, Any]], None]


class Dispatcher:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.applied = 0  # events handled (tests and the log)
        self._thread: threading.Thread | None = None
        self._communities: dict[str, int] | None = None
        self.cipher: Cipher = cipher_for(settings)  # refuses a missing key in production, before connecting
        self.raids = Detector()
        self.triage = triage.Budget()

    # --- the thread ------------------------------------------------------------------

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(target=self._run, name="modsys-gateway-dispatch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.queue.put(None)
        if self._thread is not None:
            self._thread.join(30)

    def put(self, event: str, data: dict[str, Any]) -> None:
        self.queue.put((event, data))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            event, data = item
            try:
                self.handle(event, data)
            except Exception:
                log.exception("gateway event %s could not be recorded", event)
            self.applied += 1

    # --- routing -----------------------------------------------------------------------

    def community_of(self, guild_id: Any) -> int | None:
        """The community that moderates `guild_id` (None: not one of ours)."""
        if self._communities is None or (guild_id and str(guild_id) not in self._communities):
            with Session(self.engine) as session:
                self._communities = {g: c.id for c in session.exec(select(Community))  # type: ignore[misc]
                                     if (g := guild_id_for(c, self.settings))}
        return self._communities.get(str(guild_id)) if guild_id else None

    def handle(self, event: str, data: dict[str, Any]) -> None:
        if event == CATCH_UP:
            moderation.catch_up(self.engine, self.settings)
            return
        if event == "MESSAGE_CREATE" and not data.get("guild_id"):
            self._direct_message(data)
            return
        handler = HANDLERS.get(event)
        if handler is None:
            return
        community_id = self.community_of(data.get("guild_id"))
        if community_id is not None:
            handler(self, community_id, data)


    def _direct_message(self, data: dict[str, Any]) -> None:
        """A DM to the bot: modmail (the bot's own DMs come back as events too: skipped)."""
        author = data.get("author") or {}
        if author.get("bot") or not author.get("id"):
            return
        self.community_of(None)  # fills the guild -> community map
        with Session(self.engine) as session:
            targets = modmail.communities_for(session, str(author["id"]), self._communities or {})
        for community_id in targets:
            modmail.receive(self.engine, community_id, data)


def _audit_entry(dispatcher: Dispatcher, community_id: int, data: dict[str, Any]) -> None:
    moderation.record_entry(dispatcher.engine, community_id, data)


def _message_create(dispatcher: Dispatcher, community_id: int, data: dict[str, Any]) -> None:
    message_log.on_create(dispatcher.engine, dispatcher.cipher, community_id, data)
    triage.on_message(dispatcher.engine, dispatcher.triage, community_id, data)
    author = data.get("author") or {}
    if not author.get("bot") and data.get("content"):
        dispatcher.raids.on_message(dispatcher.engine, community_id, str(author.get("id")), _name(author),
                                    str(data["content"]))


def _member_add(dispatcher: Dispatcher, community_id: int, data: dict[str, Any]) -> None:
    user = data.get("user") or {}
    if user.get("id") and not user.get("bot"):
        dispatcher.raids.on_join(dispatcher.engine, community_id, str(user["id"]), _name(user))


def _name(user: dict[str, Any]) -> str:
    return str(user.get("global_name") or user.get("username") or user.get("id") or "")


def _message_update(dispatcher: Dispatcher, community_id: int, data: dict[str, Any]) -> None:
    message_log.on_update(dispatcher.engine, dispatcher.cipher, community_id, data)


def _message_delete(dispatcher: Dispatcher, community_id: int, data: dict[str, Any]) -> None:
    ids = data.get("ids") if "ids" in data else [data.get("id")]  # MESSAGE_DELETE_BULK carries `ids`
    message_log.on_delete(dispatcher.engine, community_id, [str(i) for i in ids or []])


# Discord's event name -> what modsys does with it (events of other guilds are ignored).
HANDLERS: dict[str, Handler] = {
    "GUILD_AUDIT_LOG_ENTRY_CREATE": _audit_entry,
    "MESSAGE_CREATE": _message_create,
    "MESSAGE_UPDATE": _message_update,
    "MESSAGE_DELETE": _message_delete,
    "MESSAGE_DELETE_BULK": _message_delete,
    "GUILD_MEMBER_ADD": _member_add,
}
