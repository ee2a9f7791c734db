"""Official statements that leadership publishes with a final decision."""

from __future__ import annotations

from modsys import permissions
from modsys.domain import clock, events
from modsys.domain.errors import Conflict
from modsys.domain.models import Appeal, AppealStatus, OfficialStatement
from modsys.services._base import clean_text, service
from modsys.uow import UnitOfWork


@service
def publish_statement(uow: UnitOfWork, appeal_id: int, title: str, body: str) -> OfficialStatement:
    appeal = uow.get(Appeal, appeal_id, "appeal")
    staff = uow.staff_with(lambda user: permissions.can_publish_statement(user, appeal))
    if appeal.status != AppealStatus.decided:
        raise Conflict("a statement accompanies a decision; decide the appeal first")
    statement = OfficialStatement(
        community_id=appeal.community_id, appeal_id=appeal.id,
        title=clean_text(title, "statement_title", min_len=3, max_len=200, label="statement title"),
        body=clean_text(body, "statement_body", min_len=20, max_len=10000, label="statement text"),
        author_id=staff.id, published_at=clock.now(),
    )
    uow.session.add(statement)
    uow.session.flush()
    uow.record("statement.published", statement, {"appeal_id": appeal.id, "title": statement.title})
    uow.emit(events.StatementPublished(statement.id))
    return statement
