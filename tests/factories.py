"""Small builders for service-level tests."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from modsys.domain.actors import CLI, Actor
from modsys.domain.models import Action, ApiKey, Appeal, Member
from modsys.services.actions import NewAction, file_action
from modsys.services.appeals import submit_appeal
from modsys.services.evidence import EvidenceInput

STATEMENT = "I was quoting someone else to report them; please look at the context."


def ban(session: Session, mod: Actor, member: Member, days: int | None = 7, **kw) -> Action:
    return file_action(session, mod, NewAction(
        member_id=member.id, kind="ban", rules=kw.pop("rules", ["respectful"]),
        public_reason=kw.pop("public_reason", "Repeated insults towards another member."),
        duration=timedelta(days=days) if days else None,
        evidence=kw.pop("evidence", [
            EvidenceInput("text", "public", "You called another member an idiot, twice."),
            EvidenceInput("text", "private", "Reported by member 42 (staff only)."),
        ]), **kw))


def timeout(session: Session, mod: Actor, member: Member, hours: int = 24, **kw) -> Action:
    return file_action(session, mod, NewAction(
        member_id=member.id, kind="timeout", rules=["respectful"], public_reason="Insulting another member.",
        duration=timedelta(hours=hours), **kw))


def appeal(session: Session, member: Member, action: Action, statement: str = STATEMENT) -> Appeal:
    return submit_appeal(session, Actor.member(member), action.id, statement)


def reporter(session: Session, community_id: int, name: str = "chatbot") -> Actor:
    """A real reporter API key of the community (created once), acting as itself."""
    from sqlmodel import select

    from modsys.services.api_keys import create_api_key

    key = session.exec(select(ApiKey).where(ApiKey.community_id == community_id, ApiKey.name == name,
                                            ApiKey.revoked_at.is_(None))).first()
    if key is None:
        key, _ = create_api_key(session, CLI, community_id, name, "reporter")
    return Actor.api(key)
