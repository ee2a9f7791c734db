"""The workspace's one search box: members by Discord id or name, cases,
appeals and flags by number, and words in public reasons, evidence text, appeal
statements, reported messages and report reasons. Scoped to one community;
every group is bounded.

PostgreSQL matches words with full text search (`to_tsvector('simple', ...)`,
served by the GIN indexes in `models.SEARCH_INDEXES`: the expressions here must
stay identical to those); SQLite falls back to a case-insensitive substring
LIKE. 'simple' does no stemming, so it behaves the same for every language a
community writes in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from modsys.domain.errors import ValidationFailed
from modsys.domain.models import Action, Appeal, Evidence, Flag, FlagReport, Member

MAX_QUERY = 200
PER_GROUP = 10
RECENT = 2000  # rows read newest-first before a word counts as rare (see _matching)
_NUMBER = re.compile(r"^#?(\d{1,20})$")
_INT_MAX = 2**31 - 1  # ids are 32-bit integer columns
_SIMPLE = sa.literal_column("'simple'::regconfig")


@dataclass
class Results:
    query: str
    members: list[Member] = field(default_factory=list)
    cases: list[Action] = field(default_factory=list)  # by number, then by words in the public reason
    appeals: list[Appeal] = field(default_factory=list)  # by number, then by words in the statement
    evidence: list[Evidence] = field(default_factory=list)  # text evidence on cases
    flags: list[Flag] = field(default_factory=list)  # by number, then by words in the message or a report reason
    limit: int = PER_GROUP

    @property
    def empty(self) -> bool:
        return not (self.members or self.cases or self.appeals or self.evidence or self.flags)


def clean_query(q: str | None) -> str:
    text = " ".join((q or "").split())
    if len(text) > MAX_QUERY:
        raise ValidationFailed(f"a search is limited to {MAX_QUERY} characters (has {len(text)})", field="q")
    if "\x00" in text:
        raise ValidationFailed("the search contains a NUL character", field="q")
    return text


def search(session: Session, community_id: int, q: str | None, limit: int = PER_GROUP) -> Results:
    text = clean_query(q)
    found = Results(query=text, limit=limit)
    if not text:
        return found
    number = _NUMBER.match(text)
    if number:
        n = int(number.group(1))
        # A Discord id (a snowflake, 17-20 digits) or any member id typed as digits.
        found.members = list(session.exec(select(Member).where(
            Member.community_id == community_id, Member.platform_user_id == number.group(1)).limit(limit)))
        if n <= _INT_MAX:
            for model, attr in ((Action, "cases"), (Appeal, "appeals"), (Flag, "flags")):
                row = session.get(model, n)
                if row is not None and row.community_id == community_id:
                    getattr(found, attr).append(row)
        if found.members:
            return found  # a Discord id: the member is what was meant
    if text.startswith("#"):
        return found  # "#123" is a number, never words
    words = _is_postgres(session)
    found.members += _names(session, community_id, text, limit - len(found.members))
    found.cases += _matching(session, Action, _match(Action.public_reason, text, words), community_id,
                             limit - len(found.cases), words)
    found.appeals += _matching(session, Appeal, _match(Appeal.statement, text, words), community_id,
                               limit - len(found.appeals), words)
    found.evidence = _matching(session, Evidence, _match(Evidence.content, text, words), community_id, limit, words,
                               Evidence.action_id.is_not(None), Evidence.kind != "file")
    found.flags += _reported(session, community_id, text, limit - len(found.flags), words)
    return found


def _reported(session: Session, community_id: int, text: str, limit: int, postgres: bool) -> list[Flag]:
    """Flags whose reported message, or any of whose reports' reasons, holds the
    words, newest first. Two queries, each served by its own index, then merged."""
    by_message = _matching(session, Flag, _match(Flag.content, text, postgres), community_id, limit, postgres)
    merged = {f.id: f for f in (*by_message, *_by_reason(session, community_id, text, limit, postgres))}
    return [merged[i] for i in sorted(merged, reverse=True)[:max(limit, 0)]]


def _by_reason(session: Session, community_id: int, text: str, limit: int, postgres: bool) -> list[Flag]:
    """Flags a report's reason holding the words names. A report has no community
    of its own (its flag has), so on PostgreSQL the fallback of `_matching` would
    join every flag; instead the matching reports' flag ids, newest first, each
    looked up by primary key until `limit` are of this community."""
    match = _match(FlagReport.reason, text, postgres)
    in_reports = Flag.id.in_(select(FlagReport.flag_id).where(match))
    if limit <= 0 or not postgres:
        return _matching(session, Flag, in_reports, community_id, limit, postgres)
    rows = _recent(session, Flag, in_reports, community_id, limit)
    if len(rows) == limit:
        return rows
    found = select(FlagReport.flag_id).where(match).distinct().cte("found").prefix_with("MATERIALIZED")
    newest = select(found.c.flag_id).order_by(found.c.flag_id.desc()).subquery("newest")
    # LIMIT 1 (ids are unique) keeps the lateral a probe per id; flattened, PostgreSQL
    # would rather walk the whole flag table backwards.
    one = select(Flag).where(Flag.id == newest.c.flag_id, Flag.community_id == community_id).limit(1).lateral("one")
    query = (select(aliased(Flag, one)).select_from(newest).join(one, sa.true())
             .order_by(newest.c.flag_id.desc()).limit(limit))
    return list(session.exec(query))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _names(session: Session, community_id: int, text: str, limit: int) -> list[Member]:
    """Display names starting with the text, case-insensitively (PostgreSQL: the
    ix_member_name_prefix index)."""
    if limit <= 0:
        return []
    lowered = sa.func.lower(Member.display_name)
    prefix = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(session.exec(select(Member).where(Member.community_id == community_id,
                                                  lowered.like(prefix, escape="\\"))
                             .order_by(Member.display_name, Member.id).limit(limit)))


def _recent(session: Session, model: Any, match: Any, community_id: int, limit: int, *where: Any) -> list:
    """The matches among the community's newest RECENT rows (PostgreSQL's first pass)."""
    recent = (select(model.id).where(model.community_id == community_id, *where)
              .order_by(model.id.desc()).limit(RECENT).subquery())
    return list(session.exec(select(model).join(recent, recent.c.id == model.id).where(match)
                             .order_by(model.id.desc()).limit(limit)))


def _match(column: Any, text: str, postgres: bool) -> sa.ColumnElement:
    """`column` holds the words: full text on PostgreSQL (the expression of its GIN
    index in models.SEARCH_INDEXES), a case-insensitive substring on SQLite."""
    if not postgres:
        return sa.func.lower(column).like(_like(text), escape="\\")
    return sa.func.to_tsvector(_SIMPLE, column).op("@@")(sa.func.plainto_tsquery(_SIMPLE, text))


def _matching(session: Session, model: Any, match: Any, community_id: int, limit: int,
              postgres: bool, *where: sa.ColumnElement) -> list:
    """Rows of `model` where `match` holds (see `_match`), newest first."""
    if limit <= 0:
        return []
    if not postgres:
        query = select(model).where(model.community_id == community_id, match, *where)
        return list(session.exec(query.order_by(model.id.desc()).limit(limit)))
    # No single plan is fast for both common and rare words (bench/RESULTS.md): walking ids
    # backwards finds a common word at once but reads the whole table for a rare one, and the
    # planner can't tell them apart (for a word it has no statistics on it assumes a fixed
    # share of the rows). So, first the newest RECENT rows only: a common word has its
    # `limit` newest matches there. Otherwise every match, through the GIN index (a
    # MATERIALIZED CTE is planned for all its rows, so as an index scan): few, for a rare word.
    rows = _recent(session, model, match, community_id, limit, *where)
    if len(rows) == limit:
        return rows
    found = (select(model.id).where(model.community_id == community_id, match, *where)
             .cte("found").prefix_with("MATERIALIZED"))
    newest = select(found.c.id).order_by(found.c.id.desc()).limit(limit).scalar_subquery()
    return list(session.exec(select(model).where(model.id.in_(newest)).order_by(model.id.desc())))
