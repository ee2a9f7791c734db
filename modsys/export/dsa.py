"""Statements of reasons in the EU DSA Transparency Database's submission schema.

Source of every field name, enumeration and limit: the database's own code and
documentation, `digital-services-act/transparency-database` (see the description
in `dsa_statements.schema.json`, which the tests validate every statement against).

What goes in, and why:
- Only restrictions (`decision_account` set: timeouts and bans) are statements the
  database takes: it requires one of decision_visibility/monetary/provision/account.
  Warnings restrict nothing, notes are internal, actions awaiting a second
  signature are not in force yet; they are counted as skipped.
- No personal data (the database publishes every statement): the free text that
  moderators wrote can name people, so the facts and explanations are composed
  here from structured data only (case number, measure, rules, policy version,
  source); no member, reporter or moderator is named; the puid is the case
  number, never a Discord id.
- A sanction lifted by a successful appeal (overturned, or replaced by a lighter
  one) gets a second statement, puid `...-appeal-N`, whose restriction ends on the
  day of the decision. The replacement sanction has its own statement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from sqlmodel import Session, select

from modsys.models import (
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
from modsys.policy import DecisionGround

SCHEMA_PATH = Path(__file__).with_name("dsa_statements.schema.json")
BATCH_MAX = 100  # StatementMultipleAPIController: 'statements' => 'required|array|between:1,100'
FACTS_MAX = 5000  # StatementStoreRequest: 'decision_facts' => ['required', 'max:5000']
GROUND_MAX = 500  # *_ground: 'max:500'
EXPLANATION_MAX = 2000  # *_explanation: 'max:2000'

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

# The order of the CSV columns: the schema's properties (the database's field names).
_NOT_PUID = re.compile(r"[^A-Za-z0-9_-]+")  # puid: 'regex:/^[a-zA-Z0-9-_]+$/D'
_SOURCES = {ActionSource.flag: "a report from a member of the community",
            ActionSource.moderator: "a moderator's own initiative",
            ActionSource.automated_detection: "automated detection"}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def columns() -> list[str]:
    return list(schema()["$defs"]["statement"]["properties"])


@dataclass
class StatementExport:
    statements: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # statements that restrict nothing or are not in force

    def batches(self, size: int = BATCH_MAX) -> Iterator[dict[str, list[dict[str, Any]]]]:
        """Bodies for the bulk endpoint: {"statements": [...]}, at most `size` each."""
        size = max(1, min(size, BATCH_MAX))
        for start in range(0, len(self.statements), size):
            yield {"statements": self.statements[start:start + size]}

    def csv(self) -> str:
        from modsys.export.csvsafe import write_csv

        names = columns()
        rows = ([_cell(s.get(name)) for name in names] for s in self.statements)
        return write_csv(names, rows)


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(when: datetime) -> str:
    return when.date().isoformat()  # stored times are UTC; the database wants Y-m-d


def export_statements(session: Session, community_id: int, *, since: date | None = None) -> StatementExport:
    """Every statement of the community (optionally from `since` on), oldest first,
    each a dict ready for the bulk endpoint, followed by the reversal statements."""
    community = session.get(Community, community_id)
    if community is None:
        raise ValueError(f"community {community_id} does not exist")
    prefix = _NOT_PUID.sub("-", community.slug).strip("-") or "community"
    since_at = datetime.combine(since, time.min, UTC) if since else None

    q = (select(StatementOfReasons, Action, Flag).join(Action, Action.id == StatementOfReasons.action_id)
         .outerjoin(Flag, Flag.id == Action.flag_id)
         .where(Action.community_id == community_id).order_by(Action.id))
    if since_at is not None:
        q = q.where(Action.created_at >= since_at)
    rq = (select(Appeal, StatementOfReasons, Action, Flag).join(Action, Action.id == Appeal.action_id)
          .join(StatementOfReasons, StatementOfReasons.action_id == Action.id)
          .outerjoin(Flag, Flag.id == Action.flag_id)
          .where(Appeal.community_id == community_id, Appeal.decided_at.is_not(None),  # type: ignore[union-attr]
                 Appeal.outcome.in_([AppealOutcome.overturned, AppealOutcome.modified]))  # type: ignore[union-attr]
          .order_by(Appeal.decided_at, Appeal.id))
    if since_at is not None:
        rq = rq.where(Appeal.decided_at >= since_at)  # type: ignore[operator]
    images = set(session.exec(select(Evidence.action_id).distinct().where(
        Evidence.community_id == community_id, Evidence.action_id.is_not(None),  # type: ignore[union-attr]
        Evidence.mime_type.like("image/%"))))  # type: ignore[attr-defined]

    out = StatementExport()
    for sor, action, flag in session.exec(q):
        if sor.decision_account is None or action.status == ActionStatus.pending_cosign:
            out.skipped += 1
            continue
        out.statements.append(_statement(prefix, sor, action, flag, action.id in images))
    for appeal, sor, action, flag in session.exec(rq):
        if sor.decision_account is None:
            continue
        out.statements.append(_reversal(prefix, appeal, sor, action, flag, action.id in images))
    return out


def _statement(prefix: str, sor: StatementOfReasons, action: Action, flag: Flag | None, image: bool) -> dict[str, Any]:
    rules = ", ".join(f"'{r}'" for r in action.rules)
    what = sor.measure  # as decided; a lifted action's own end moved to the day it was lifted
    facts = (f"Case {action.id}: {what} of a member's account under the community rule(s) {rules} of the "
             f"published community policy (version {action.policy_version}). The case arose from "
             f"{_SOURCES.get(action.source, 'a moderator')}; a human moderator decided it"
             f"{' and a second staff member co-signed it' if action.cosigner_id else ''}. "
             f"The member was told the reasons and could appeal to a moderator who was not involved, "
             f"and then to the community's leadership.")
    explanation = (f"A moderator found that the member's messages or conduct breached the rule(s) {rules} quoted in "
                   f"the ground; the measure ({what}) is within the bounds the published policy sets for it.")
    ground = sor.decision_ground
    body: dict[str, Any] = {
        "decision_account": sor.decision_account,
        "end_date_account_restriction": _day(sor.end_date_account_restriction) if sor.end_date_account_restriction else None,
        "decision_ground": ground,
        "content_type": ["CONTENT_TYPE_TEXT", *(["CONTENT_TYPE_IMAGE"] if image else [])],
        "category": V1_CATEGORIES.get(sor.category, sor.category),
        "content_date": _day(flag.message_sent_at or flag.created_at) if flag else _day(action.created_at),
        "application_date": _day(action.starts_at),
        "decision_facts": _cut(facts, FACTS_MAX),
        "source_type": _source_type(action, ground),
        "automated_detection": "Yes" if sor.automated_detection else "No",
        "automated_decision": sor.automated_decision,
        "puid": f"{prefix}-case-{action.id}",
    }
    if ground == DecisionGround.illegal:
        body["illegal_content_legal_ground"] = _cut(sor.ground_reference, GROUND_MAX)
        body["illegal_content_explanation"] = _cut(explanation, EXPLANATION_MAX)
    else:
        body["incompatible_content_ground"] = _cut(sor.ground_reference, GROUND_MAX)
        body["incompatible_content_explanation"] = _cut(explanation, EXPLANATION_MAX)
    return body


def _reversal(prefix: str, appeal: Appeal, sor: StatementOfReasons, action: Action, flag: Flag | None,
              image: bool) -> dict[str, Any]:
    body = _statement(prefix, sor, action, flag, image)
    decided = appeal.decided_at or action.lifted_at or action.starts_at
    how = ("overturned: the sanction was lifted" if appeal.outcome == AppealOutcome.overturned
           else f"modified: the sanction was replaced by a lighter one (case {appeal.modified_action_id})")
    body["decision_facts"] = _cut(
        f"Reversal on appeal {appeal.id}. Case {action.id} ({sor.measure}) was {how} "
        f"on {_day(decided)}, decided by staff who were not involved in the original decision. "
        + body["decision_facts"], FACTS_MAX)
    # The restriction that was actually in force: a suspension that ended on the decision day
    # (a lifted permanent ban, too: the account was restored).
    body["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
    body["end_date_account_restriction"] = max(_day(decided), body["application_date"])
    body["puid"] = f"{prefix}-case-{action.id}-appeal-{appeal.id}"
    return body


def _source_type(action: Action, ground: str) -> str:
    """A member's report is a notice; under Art. 16 only when it alleges illegal content."""
    if action.source != ActionSource.flag:
        return "SOURCE_VOLUNTARY"
    return "SOURCE_ARTICLE_16" if ground == DecisionGround.illegal else "SOURCE_TYPE_OTHER_NOTIFICATION"
