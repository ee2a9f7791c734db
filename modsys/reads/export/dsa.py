"""Statements of reasons in the EU DSA Transparency Database's submission schema.

Source of every field name, enumeration and limit: the database's own code and
documentation, `digital-services-act/transparency-database` (see the description
in `dsa_statements.schema.json`, which the tests validate every statement against).

What goes in, and why:
- Statements that restrict something: `decision_account` (timeouts, bans) or
  `decision_provision` (kicks too); the database requires one of
  decision_visibility/monetary/provision/account. Warnings restrict nothing, notes
  are internal, actions awaiting a second signature are not in force yet; they are
  counted as skipped.
- No personal data (the database publishes every statement): the free text that
  moderators wrote can name people, so the facts and explanations are composed
  here from structured data only (case number, measure, rules, policy version,
  source); no member, reporter or moderator is named; the puid is the case
  number, never a Discord id.
- A sanction lifted by a successful appeal (overturned, or replaced by a lighter
  one) gets a second statement, puid `...-appeal-N`, whose restriction ends when it
  really ended: the day of the decision, or earlier when it had already expired.
  The replacement sanction has its own statement.

Dates the database refuses (StatementStoreRequest: content_date 2000-01-01..2038-01-01,
application_date 2020-01-01..2038-01-01, every end date before_or_equal 2038-01-01;
in bulk one refused statement fails its whole batch of up to 100):
- content_date is the message's own time when known (a report's `sent_at`, or the
  message of "Act on this message"), else the report's time, else the case's. Intake
  refuses impossible message times; an older row outside the range falls back to the
  next candidate.
- an end date after 2038-01-01 (a long ban) is left empty, and the facts give the real
  end date and say why.
- anything still out of range (the server clock was wrong) is not exported: it is
  listed in `refused` with the reason, and the CLI prints it.

Reading: one server-side cursor per query (`yield_per`), only the columns used and
the filters in SQL, so memory stays at one batch whatever the history.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from sqlmodel import Session

from modsys.domain.kinds import (
    PARTIAL_SUSPENSION,
    PARTIAL_TERMINATION,
    TOTAL_SUSPENSION,
    TOTAL_TERMINATION,
    kind,
)
from modsys.domain.models import (
    Action,
    ActionSource,
    ActionStatus,
    Appeal,
    AppealOutcome,
    Community,
    Evidence,
    Flag,
    StatementOfReasons,
)
from modsys.domain.policy import DecisionGround

SCHEMA_PATH = Path(__file__).with_name("dsa_statements.schema.json")
BATCH_MAX = 100  # StatementMultipleAPIController: 'statements' => 'required|array|between:1,100'
FACTS_MAX = 5000  # StatementStoreRequest: 'decision_facts' => ['required', 'max:5000']
GROUND_MAX = 500  # *_ground: 'max:500'
EXPLANATION_MAX = 2000  # *_explanation: 'max:2000'
# StatementStoreRequest: 'content_date' after_or_equal:2000-01-01, 'application_date'
# after_or_equal:2020-01-01, both and every end_date_* before_or_equal:2038-01-01.
CONTENT_FIRST = date(2000, 1, 1)
APPLICATION_FIRST = date(2020, 1, 1)
LAST = date(2038, 1, 1)
READ_BATCH = 1000  # rows per round trip of the server-side cursor

# api-documentation.md, "Changelog": the schema changed on 1 July 2025. Policies written
# before that may still name a v1 category; the correspondence table maps two of them.
# The two it drops (non-consensual behaviour, pornography) have no successor there, so
# they go out as "other violation of terms and conditions" (the catch-all the table
# gives for "scope of platform service").
V1_CATEGORIES = {
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
}
# A reversal publishes the restriction that was in force until it was lifted: a suspension.
_AS_SUSPENSION = {PARTIAL_TERMINATION: PARTIAL_SUSPENSION, TOTAL_TERMINATION: TOTAL_SUSPENSION}
_SUSPENSIONS = (PARTIAL_SUSPENSION, TOTAL_SUSPENSION)

_NOT_PUID = re.compile(r"[^A-Za-z0-9_-]+")  # puid: 'regex:/^[a-zA-Z0-9-_]+$/D'
_SOURCES = {ActionSource.flag: "a report from a member of the community",
            ActionSource.moderator: "a moderator's own initiative",
            ActionSource.automated_detection: "automated detection"}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


@lru_cache(maxsize=1)
def _columns() -> tuple[str, ...]:
    return tuple(schema()["$defs"]["statement"]["properties"])


def columns() -> list[str]:
    return list(_columns())


def csv_cells(statement: dict[str, Any]) -> list[Any]:
    """One CSV row in `columns()` order (lists as JSON text)."""
    return [_cell(statement.get(name)) for name in _columns()]


def bulk_bodies(statements: Iterable[dict[str, Any]], size: int = BATCH_MAX) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Bodies for the bulk endpoint, {"statements": [...]}, at most `size` each, as they come."""
    size = max(1, min(size, BATCH_MAX))
    batch: list[dict[str, Any]] = []
    for s in statements:
        batch.append(s)
        if len(batch) == size:
            yield {"statements": batch}
            batch = []
    if batch:
        yield {"statements": batch}


@dataclass
class StatementExport:
    statements: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # statements that restrict nothing or are not in force
    refused: list[tuple[str, str]] = field(default_factory=list)  # (puid, why): the database would refuse them

    def batches(self, size: int = BATCH_MAX) -> Iterator[dict[str, list[dict[str, Any]]]]:
        return bulk_bodies(self.statements, size)

    def csv(self) -> str:
        from modsys.reads.export.csvsafe import write_csv

        return write_csv(columns(), (csv_cells(s) for s in self.statements))


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(when: datetime) -> str:
    return when.date().isoformat()  # stored times are UTC; the database wants Y-m-d


def export_statements(session: Session, community_id: int, *, since: date | None = None) -> StatementExport:
    """Every statement in a list (tests and small exports); `StatementStream` streams them."""
    stream = StatementStream(session, community_id, since=since)
    statements = list(stream)
    return StatementExport(statements, stream.skipped, stream.refused)


# The columns a statement is made of: nothing else is read.
_ACTION = (Action.id, Action.status, Action.kind, Action.rules, Action.policy_version, Action.source,
           Action.cosigner_id, Action.starts_at, Action.created_at, Action.content_at, Action.lifted_at)
_SOR = (StatementOfReasons.decision_account, StatementOfReasons.decision_provision,
        StatementOfReasons.end_date_account_restriction, StatementOfReasons.decision_ground,
        StatementOfReasons.category, StatementOfReasons.measure, StatementOfReasons.ground_reference,
        StatementOfReasons.automated_detection, StatementOfReasons.automated_decision)


class StatementStream:
    """Every statement of the community (optionally from `since` on), oldest first, each
    a dict ready for the bulk endpoint, then the reversal statements. Iterate once;
    `skipped` and `refused` are complete when the iteration ends."""

    def __init__(self, session: Session, community_id: int, *, since: date | None = None,
                 read_batch: int = READ_BATCH) -> None:
        community = session.get(Community, community_id)
        if community is None:
            raise ValueError(f"community {community_id} does not exist")
        self.session, self.community_id, self.read_batch = session, community_id, read_batch
        self.prefix = _NOT_PUID.sub("-", community.slug).strip("-") or "community"
        self.since_at = datetime.combine(since, time.min, UTC) if since else None
        self.skipped = 0
        self.refused: list[tuple[str, str]] = []

    def _restricting(self) -> Any:
        return sa.or_(StatementOfReasons.decision_account.is_not(None),  # type: ignore[union-attr]
                      StatementOfReasons.decision_provision.is_not(None))  # type: ignore[union-attr]

    def _base(self, *extra: Any) -> Any:
        image = sa.exists().where(Evidence.action_id == Action.id, Evidence.community_id == self.community_id,
                                  Evidence.mime_type.like("image/%"))  # type: ignore[attr-defined]
        return (sa.select(*extra, *_ACTION, *_SOR, Flag.message_sent_at.label("sent_at"),  # type: ignore[attr-defined]
                          Flag.created_at.label("flag_at"), image.label("image"))
                .select_from(Action)
                .join(StatementOfReasons, StatementOfReasons.action_id == Action.id)
                .outerjoin(Flag, Flag.id == Action.flag_id))

    def _rows(self, q: Any) -> Iterator[Any]:
        yield from self.session.execute(q.execution_options(yield_per=self.read_batch))

    def queries(self) -> tuple[Any, Any]:
        """The two streamed SELECTs: the statements, then the reversals."""
        cid = self.community_id
        window = (Action.created_at >= self.since_at,) if self.since_at is not None else ()
        q = (self._base().where(Action.community_id == cid, Action.status != ActionStatus.pending_cosign,
                                self._restricting(), *window).order_by(Action.id))
        rq = (self._base(Appeal.id.label("appeal_id"), Appeal.outcome, Appeal.decided_at,
                         Appeal.modified_action_id)
              .join(Appeal, Appeal.action_id == Action.id)
              .where(Appeal.community_id == cid, Appeal.decided_at.is_not(None),  # type: ignore[union-attr]
                     Appeal.outcome.in_([AppealOutcome.overturned, AppealOutcome.modified]),  # type: ignore[union-attr]
                     self._restricting())
              .order_by(Appeal.decided_at, Appeal.id))
        if self.since_at is not None:
            rq = rq.where(Appeal.decided_at >= self.since_at)  # type: ignore[operator]
        return q, rq

    def __iter__(self) -> Iterator[dict[str, Any]]:
        in_force = Action.status != ActionStatus.pending_cosign
        window = (Action.created_at >= self.since_at,) if self.since_at is not None else ()
        skipped = (sa.select(sa.func.count()).select_from(Action)
                   .join(StatementOfReasons, StatementOfReasons.action_id == Action.id)
                   .where(Action.community_id == self.community_id, *window,
                          sa.not_(sa.and_(in_force, self._restricting()))))
        self.skipped = int(self.session.execute(skipped).scalar_one())
        q, rq = self.queries()
        for r in self._rows(q):
            yield from self._checked(_statement(self.prefix, r))
        for r in self._rows(rq):
            yield from self._checked(_reversal(self.prefix, r))

    def _checked(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        why = refusal(body)
        if why is None:
            yield body
        else:
            self.refused.append((body["puid"], why))


def refusal(body: dict[str, Any]) -> str | None:
    """Why the database would refuse this statement's dates, or None."""
    bounds = {"content_date": (CONTENT_FIRST, LAST), "application_date": (APPLICATION_FIRST, LAST)}
    for name in ("end_date_account_restriction", "end_date_service_restriction"):
        bounds[name] = (date.min, LAST)
    for name, (first, last) in bounds.items():
        value = body.get(name)
        if value is not None and not first.isoformat() <= value <= last.isoformat():
            return f"{name} {value} is outside {first.isoformat()}..{last.isoformat()}, which the database refuses"
    return None


def _content_day(r: Any) -> str:
    """The message's own time when known, else the report's, else the case's: the first
    that the database accepts (an older row may hold a time intake now refuses)."""
    for when in (r.sent_at, r.content_at, r.flag_at, r.created_at):
        if when is not None and CONTENT_FIRST <= when.date() <= LAST:
            return _day(when)
    return _day(r.created_at)  # out of range: `refusal` says so


def _end_day(when: datetime | None, notes: list[str]) -> str | None:
    if when is None:
        return None
    if when.date() > LAST:
        notes.append(f"The restriction ends on {_day(when)}; the database takes end dates up to "
                     f"{LAST.isoformat()} only, so the end date is left empty here.")
        return None
    return _day(when)


def _statement(prefix: str, r: Any, ends: datetime | None = None) -> dict[str, Any]:
    rules = ", ".join(f"'{rule}'" for rule in r.rules)
    what = r.measure  # as decided; a lifted action's own end moved to the day it was lifted
    notes: list[str] = []
    end = _end_day(ends or r.end_date_account_restriction, notes)
    facts = (f"Case {r.id}: {what} of a member's account under the community rule(s) {rules} of the "
             f"published community policy (version {r.policy_version}). The case arose from "
             f"{_SOURCES.get(r.source, 'a moderator')}; a human moderator decided it"
             f"{' and a second staff member co-signed it' if r.cosigner_id else ''}. "
             f"The member was told the reasons and could appeal to a moderator who was not involved, "
             f"and then to the community's leadership.")
    explanation = (f"A moderator found that the member's messages or conduct breached the rule(s) {rules} quoted in "
                   f"the ground; the measure ({what}) is within the bounds the published policy sets for it.")
    ground = r.decision_ground
    body: dict[str, Any] = {
        "decision_account": r.decision_account,
        "end_date_account_restriction": end if r.decision_account else None,
        "decision_provision": r.decision_provision,
        "end_date_service_restriction": end if r.decision_provision in _SUSPENSIONS else None,
        "decision_ground": ground,
        "content_type": ["CONTENT_TYPE_TEXT", *(["CONTENT_TYPE_IMAGE"] if r.image else [])],
        "category": V1_CATEGORIES.get(r.category, r.category),
        "content_date": _content_day(r),
        "application_date": _day(r.starts_at),
        "decision_facts": _cut(" ".join([facts, *notes]), FACTS_MAX),
        "source_type": _source_type(r.source, ground),
        "automated_detection": "Yes" if r.automated_detection else "No",
        "automated_decision": r.automated_decision,
        "puid": f"{prefix}-case-{r.id}",
    }
    if ground == DecisionGround.illegal:
        body["illegal_content_legal_ground"] = _cut(r.ground_reference, GROUND_MAX)
        body["illegal_content_explanation"] = _cut(explanation, EXPLANATION_MAX)
    else:
        body["incompatible_content_ground"] = _cut(r.ground_reference, GROUND_MAX)
        body["incompatible_content_explanation"] = _cut(explanation, EXPLANATION_MAX)
    return body


def _real_end(r: Any) -> datetime:
    """When the lifted restriction really stopped: a one-off removal (a kick) the moment
    it happened; a timed one when it expired, was lifted, or the appeal was decided,
    whichever came first."""
    if not kind(r.kind).timed:
        return r.starts_at
    return min(t for t in (r.end_date_account_restriction, r.lifted_at, r.decided_at) if t is not None)


def _reversal(prefix: str, r: Any) -> dict[str, Any]:
    real_end = _real_end(r)
    body = _statement(prefix, r, real_end)
    decided = r.decided_at
    how = ("overturned: the sanction was lifted" if r.outcome == AppealOutcome.overturned
           else f"modified: the sanction was replaced by a lighter one (case {r.modified_action_id})")
    body["decision_facts"] = _cut(
        f"Reversal on appeal {r.appeal_id}. Case {r.id} ({r.measure}) was {how} "
        f"on {_day(decided)}, decided by staff who were not involved in the original decision. "
        + body["decision_facts"], FACTS_MAX)
    # The restriction that was actually in force: a suspension until it really ended
    # (a lifted permanent ban too: the account was restored).
    end = max(_day(real_end), body["application_date"])
    if r.decision_account:
        body["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
        body["end_date_account_restriction"] = end
    if r.decision_provision:
        body["decision_provision"] = _AS_SUSPENSION.get(r.decision_provision, r.decision_provision)
        body["end_date_service_restriction"] = end
    body["puid"] = f"{prefix}-case-{r.id}-appeal-{r.appeal_id}"
    return body


def _source_type(source: str, ground: str) -> str:
    """A member's report is a notice; under Art. 16 only when it alleges illegal content."""
    if source != ActionSource.flag:
        return "SOURCE_VOLUNTARY"
    return "SOURCE_ARTICLE_16" if ground == DecisionGround.illegal else "SOURCE_TYPE_OTHER_NOTIFICATION"
