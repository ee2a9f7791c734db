"""Official statements that leadership publishes with a final decision."""

from __future__ import annotations

from sqlmodel import Session

from modsys import audit, clock, outbox
from modsys.actors import Actor
from modsys.errors import Conflict, PermissionDenied
from modsys.models import Appeal, AppealStatus, Channel, OfficialStatement, Role
from modsys.notify.markdown import escape_markdown
from modsys.services._base import clean_text, get_or_404, require_staff, service


@service
def publish_statement(session: Session, actor: Actor, appeal_id: int, title: str, body: str) -> OfficialStatement:
    staff = require_staff(session, actor, (Role.leadership,))
    appeal = get_or_404(session, Appeal, appeal_id, "appeal")
    if appeal.community_id != staff.community_id:
        raise PermissionDenied("that appeal belongs to another community")
    if appeal.status != AppealStatus.decided:
        raise Conflict("a statement accompanies a decision; decide the appeal first")
    statement = OfficialStatement(
        community_id=appeal.community_id, appeal_id=appeal.id,
        title=clean_text(title, "statement_title", min_len=3, max_len=200, label="statement title"),
        body=clean_text(body, "statement_body", min_len=20, max_len=10000, label="statement text"),
        author_id=staff.id, published_at=clock.now(),
    )
    session.add(statement)
    session.flush()
    audit.record(session, actor, "statement.published", statement, {"appeal_id": appeal.id, "title": statement.title})
    outbox.enqueue(session, appeal.community_id, Channel.appeals, "statement.published",
                   {"title": f"Official statement: {escape_markdown(statement.title)}",
                    "description": escape_markdown(statement.body)})
    return statement
