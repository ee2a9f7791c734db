"""A logged message (modsys.adapters.discord.gateway.message_log) attached to a case as evidence."""

from __future__ import annotations

from modsys import permissions
from modsys.adapters.discord import vault
from modsys.adapters.discord.gateway.message_log import read
from modsys.domain.models import (
    Action,
    Evidence,
    EvidenceKind,
    LoggedMessage,
    Visibility,
)
from modsys.infra.crypto import Cipher
from modsys.services._base import service
from modsys.services.evidence import EvidenceInput, add_evidence
from modsys.uow import UnitOfWork


@service
def attach_logged_message(uow: UnitOfWork, action_id: int, logged_id: int, cipher: Cipher,
                          visibility: str = Visibility.private) -> Evidence:
    """The message's snapshot (what it said, its edits, its deletion) becomes evidence on
    the case, its attachments are downloaded into the vault, and the message is kept
    past its retention period."""
    action = uow.get(Action, action_id, "action")
    uow.staff_with(lambda user: permissions.can_add_evidence(user, action))
    row = uow.get(LoggedMessage, logged_id, "logged message")
    logged = read(cipher, row)
    evidence = add_evidence(uow.session, uow.actor, action.id,
                            EvidenceInput(kind=EvidenceKind.message_snapshot, visibility=visibility,
                                          content=logged.snapshot))
    for attachment in logged.attachments:  # downloaded now, while Discord's signed links work
        if attachment.get("url"):
            vault.queue(uow.session, uow.scope, str(attachment["url"]), str(attachment.get("filename") or ""),
                        action_id=action.id, visibility=visibility)
    row.kept_as_evidence = True
    uow.session.add(row)
    uow.record("message_log.kept_as_evidence", row, {"action_id": action.id, "evidence_id": evidence.id})
    return evidence
