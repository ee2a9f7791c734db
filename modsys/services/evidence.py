"""Evidence on actions, flags and appeals: bounded, typed by content, hashed.

Blobs live in the database so every web host sees them. Evidence on an action
can't be deleted while the member may still appeal or an appeal is open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlmodel import Session, select

from modsys import permissions
from modsys.domain import clock
from modsys.domain.errors import Conflict, ValidationFailed
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    Appeal,
    Evidence,
    EvidenceKind,
    Visibility,
)
from modsys.domain.policy import Policy
from modsys.services._base import service
from modsys.uow import UnitOfWork


@dataclass(frozen=True)
class EvidenceInput:
    kind: str
    visibility: str
    content: str = ""  # text, URL or message snapshot
    data: bytes | None = None  # file contents
    filename: str = ""
    sensitive: bool = False  # an image blurred until a reviewer clicks it


# Signatures of the file types we accept; the declared type is never trusted.
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]


def sniff_mime(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            return None
    return None


def _safe_filename(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._- " else "_" for c in name.strip())[:200]
    return keep.lstrip(".") or "evidence"


def build_evidence(item: EvidenceInput, policy: Policy, community_id: int) -> Evidence:
    """Validate one item against the policy's limits; returns an unsaved row."""
    if item.kind not in set(EvidenceKind):
        raise ValidationFailed(f"unknown evidence kind {item.kind!r}; use one of {', '.join(EvidenceKind)}", field="evidence.kind")
    if item.visibility not in set(Visibility):
        raise ValidationFailed("evidence visibility must be 'public' (the member sees it) or 'private' (staff only)", field="evidence.visibility")
    limits = policy.evidence
    if item.kind == EvidenceKind.file:
        data = item.data or b""
        if not data:
            raise ValidationFailed("the uploaded file is empty", field="evidence.file")
        if len(data) > limits.max_file_bytes:
            raise ValidationFailed(
                f"file {item.filename or ''} is {len(data)} bytes; the limit is {limits.max_file_bytes} bytes",
                field="evidence.file",
            )
        mime = sniff_mime(data)
        if mime is None or mime not in limits.allowed_mime_types:
            raise ValidationFailed(
                f"file type not allowed (allowed: {', '.join(limits.allowed_mime_types)})", field="evidence.file"
            )
        return Evidence(community_id=community_id, kind=item.kind, visibility=item.visibility, blob=data,
                        filename=_safe_filename(item.filename), mime_type=mime, size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), created_at=clock.now(), sensitive=item.sensitive)
    text = (item.content or "").strip()
    if not text:
        raise ValidationFailed(f"{item.kind.replace('_', ' ')} evidence is empty", field="evidence.content")
    if len(text) > limits.max_text_chars:
        raise ValidationFailed(f"evidence text is limited to {limits.max_text_chars} characters", field="evidence.content")
    if item.kind == EvidenceKind.link and not text.lower().startswith(("https://", "http://")):
        raise ValidationFailed("a link must start with https:// or http://", field="evidence.content")
    raw = text.encode()
    return Evidence(community_id=community_id, kind=item.kind, visibility=item.visibility, content=text,
                    mime_type="text/plain", size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                    created_at=clock.now())


def appeal_possible_or_open(session: Session, action: Action) -> bool:
    open_appeal = session.exec(
        select(Appeal.id).where(Appeal.action_id == action.id, Appeal.status.in_(OPEN_APPEAL_STATES))
    ).first()
    window_open = action.appealable and action.appeal_deadline is not None and clock.now() <= action.appeal_deadline
    return bool(open_appeal) or window_open


@service
def add_evidence(uow: UnitOfWork, action_id: int, item: EvidenceInput) -> Evidence:
    action = uow.get(Action, action_id, "action")
    staff = uow.staff_with(lambda user: permissions.can_add_evidence(user, action))
    policy = uow.policy
    count = len(uow.session.exec(select(Evidence.id).where(Evidence.action_id == action.id)).all())
    if count >= policy.evidence.max_items_per_action:
        raise ValidationFailed(f"an action holds at most {policy.evidence.max_items_per_action} evidence items")
    evidence = build_evidence(item, policy, uow.scope)
    evidence.action_id, evidence.added_by_id = action.id, staff.id
    uow.session.add(evidence)
    uow.session.flush()
    uow.record("evidence.added", evidence,
               {"action_id": action.id, "kind": evidence.kind, "visibility": evidence.visibility, "sha256": evidence.sha256})
    if evidence.kind == EvidenceKind.link:  # a Discord attachment or message: keep the files before links expire
        from modsys.adapters.discord import vault

        if vault.wanted(evidence.content):
            vault.queue(uow.session, uow.scope, evidence.content, action_id=action.id, visibility=evidence.visibility)
    return evidence


@service
def delete_evidence(uow: UnitOfWork, evidence_id: int, reason: str) -> None:
    evidence = uow.get(Evidence, evidence_id, "evidence")
    uow.staff_with(lambda user: permissions.can_delete_evidence(user, evidence))
    if not (reason or "").strip():
        raise ValidationFailed("say why the evidence is deleted", field="reason")
    if evidence.action_id is not None:
        action = uow.get(Action, evidence.action_id, "action")
        if appeal_possible_or_open(uow.session, action):
            raise Conflict("evidence can't be deleted while the member can still appeal or an appeal is open")
    uow.record("evidence.deleted", evidence,
               {"action_id": evidence.action_id, "sha256": evidence.sha256, "reason": reason.strip()})
    uow.session.delete(evidence)


@service
def set_sensitive(uow: UnitOfWork, evidence_id: int, sensitive: bool) -> Evidence:
    """Mark an image as sensitive (blurred for reviewers until clicked), or clear the mark."""
    uow.staff_with(permissions.can_work_flags)
    evidence = uow.get(Evidence, evidence_id, "evidence")
    if evidence.sensitive != sensitive:
        evidence.sensitive = sensitive
        uow.session.add(evidence)
        uow.record("evidence.marked_sensitive" if sensitive else "evidence.unmarked_sensitive",
                   evidence, {"action_id": evidence.action_id})
    return evidence
