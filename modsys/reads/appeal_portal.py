"""What a sanctioned member's signed link opens: the read model and rules of
the appeal portal (web/portal.py only renders them).

The link (`modsys.infra.portal_links`) is bound to one action and one member and
expires at the end of the appeal window. Expiry rule (one rule, kept here): an
expired link is refused, EXCEPT when the case has an appeal to follow: an open
appeal, or a decided one for as long as the policy's appeal window
(`appeals.window`) after its decision. Under that grace the link still only
reaches its own case; the services keep refusing what the state no longer
allows (a new appeal after the window closed, a message on a decided appeal),
so the grace can't reopen anything.

Private evidence never leaves through here: every read of evidence is of
public items, of this case or of the member's own appeal attachments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from modsys.adapters.discord import cases as discord_cases
from modsys.community import policy_for
from modsys.domain import clock
from modsys.domain.errors import DomainError, NotFound
from modsys.domain.models import (
    OPEN_APPEAL_STATES,
    Action,
    ActionStatus,
    Appeal,
    AppealStatus,
    Evidence,
    Member,
    OfficialStatement,
    StaffUser,
    StatementOfReasons,
    Visibility,
)
from modsys.domain.policy import Policy
from modsys.infra import portal_links
from modsys.permissions import Cap, has
from modsys.reads import queries
from modsys.services.appeals import APPEALABLE_STATUSES, cooldown_until

INVALID_LINK = "This appeal link is not valid. Check that you copied all of it, or ask the moderation team for your link."
FOREIGN_LINK = "This appeal link does not belong to this case. Use the link you received for your own case."


class LinkProblem(DomainError):
    """A link that can't be used; carries its own status (404 invalid, 403 foreign, 410 expired)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.http_status = status


@dataclass
class Case:
    token: str
    action: Action
    member: Member
    policy: Policy
    expires_at: datetime
    grace: bool  # the link expired; it works only because there is an appeal to follow
    awaiting_reasons: bool = False  # done in Discord; nobody wrote its statement of reasons yet


def grace_allowed(session: Session, action: Action, policy: Policy) -> bool:
    """The expiry rule above: an open appeal, or one decided within the policy's window."""
    now = clock.now()
    for ap in queries.appeals_of_action(session, action.id):  # type: ignore[arg-type]
        if ap.status in OPEN_APPEAL_STATES:
            return True
        if ap.status == AppealStatus.decided and ap.decided_at and now <= ap.decided_at + policy.appeals.window:
            return True
    return False


def open_case(session: Session, secret: str, token: str) -> Case:
    """The case a link opens (its community is the action's), or a LinkProblem."""
    try:
        action_id, member_id, expires_at = portal_links.decode_token(secret, token)
    except NotFound:
        raise LinkProblem(INVALID_LINK, 404) from None
    grace = clock.now() > expires_at
    action = session.get(Action, action_id)
    if action is None or action.status == ActionStatus.pending_cosign:
        raise LinkProblem(INVALID_LINK, 404)  # not (yet) in force: nothing to show
    if action.member_id != member_id:
        raise LinkProblem(FOREIGN_LINK, 403)
    member = session.get(Member, member_id)
    if member is None:
        raise LinkProblem(INVALID_LINK, 404)
    policy = policy_for(session, action.community_id)
    if grace and not grace_allowed(session, action, policy):
        raise LinkProblem(
            f"This appeal link expired on {expires_at:%Y-%m-%d %H:%M} UTC, when the appeal window for this case "
            "closed, and there is no appeal to follow. If you think this is wrong, contact the moderation team.", 410)
    return Case(token, action, member, policy, expires_at, grace,
                discord_cases.awaiting_reasons(session, action.id))  # type: ignore[arg-type]


def appeal_of(session: Session, case: Case, appeal_id: int) -> Appeal:
    ap = session.get(Appeal, appeal_id) if 0 < appeal_id < 2**31 else None
    if ap is None or ap.action_id != case.action.id or ap.appellant_id != case.member.id:
        raise NotFound(f"there is no appeal #{appeal_id} for this case")
    return ap


def can_appeal(case: Case, appeals: list[Appeal]) -> tuple[bool, str]:
    """Whether to offer the form, and if not, why. Decided from the action's stored
    `appealable` (the policy in force when it was filed), as the service does; the
    service has the last word on submission."""
    a = case.action
    for ap in appeals:
        if ap.status in OPEN_APPEAL_STATES:
            return False, "Your appeal is open: open it above to follow it and to answer the moderators."
        if ap.status == AppealStatus.decided:
            return False, "Your appeal was decided: open it above to read the decision and its reasons."
    if case.awaiting_reasons:
        return False, ("The moderators have not yet written the statement of reasons for this case. You will "
                       "receive it by DM with your appeal link, and you can appeal from then.")
    if not a.appealable:
        return False, f"A {a.kind} can't be appealed under this community's policy."
    if a.status not in APPEALABLE_STATUSES:
        return False, "This sanction was lifted or replaced; there is nothing left to appeal."
    if case.grace or a.appeal_deadline is None or clock.now() > a.appeal_deadline:
        return False, "The appeal window for this case has closed."
    return True, ""


@dataclass
class CaseView:
    sor: StatementOfReasons | None
    evidence: list[Evidence]  # public only
    appeals: list[Appeal]  # newest first
    can_appeal: bool
    why_not: str
    cooldown_until: datetime | None


def case_view(session: Session, case: Case) -> CaseView:
    appeals = queries.appeals_of_action(session, case.action.id)  # type: ignore[arg-type]
    can, why_not = can_appeal(case, appeals)
    return CaseView(sor=queries.statement_of_reasons(session, case.action.id),  # type: ignore[arg-type]
                    evidence=queries.evidence_for(session, case.action.id, include_private=False),  # type: ignore[arg-type]
                    appeals=appeals, can_appeal=can, why_not=why_not,
                    cooldown_until=cooldown_until(appeals, case.policy))


def _decided_by(session: Session, ap: Appeal) -> str:
    user = session.get(StaffUser, ap.decided_by_id) if ap.decided_by_id else None
    if user is not None and has(user, Cap.decide_final):
        return "leadership"
    return "a moderator who was not involved in the original decision"


@dataclass
class AppealView:
    appeal: Appeal
    sla: Any
    thread: list
    attachments: list[Evidence]  # public only
    decided_by: str | None
    replacement: Action | None
    replacement_sor: StatementOfReasons | None
    official_statement: OfficialStatement | None

    @property
    def is_open(self) -> bool:
        return self.appeal.status in OPEN_APPEAL_STATES


def appeal_view(session: Session, ap: Appeal) -> AppealView:
    files = session.exec(select(Evidence).where(Evidence.appeal_id == ap.id, Evidence.visibility == Visibility.public)
                         .order_by(Evidence.id)).all()
    replacement = session.get(Action, ap.modified_action_id) if ap.modified_action_id else None
    return AppealView(
        appeal=ap, sla=queries.sla(ap), thread=queries.thread(session, ap.id), attachments=list(files),  # type: ignore[arg-type]
        decided_by=_decided_by(session, ap) if ap.status == AppealStatus.decided else None,
        replacement=replacement,
        replacement_sor=queries.statement_of_reasons(session, replacement.id) if replacement else None,  # type: ignore[arg-type]
        official_statement=session.exec(select(OfficialStatement).where(OfficialStatement.appeal_id == ap.id)).first(),
    )


def current_appeal(session: Session, case: Case) -> Appeal | None:
    """The case's open or decided appeal, if any (a resent form lands there)."""
    return next((a for a in queries.appeals_of_action(session, case.action.id)  # type: ignore[arg-type]
                 if a.status in (*OPEN_APPEAL_STATES, AppealStatus.decided)), None)


def downloadable_evidence(session: Session, case: Case, evidence_id: int) -> Evidence:
    """A file the member may download: public, with a file, and of this case or of
    their own appeal. A private item reads exactly like a missing one."""
    ev = session.get(Evidence, evidence_id) if 0 < evidence_id < 2**31 else None
    mine = False
    if ev is not None and ev.appeal_id is not None:
        owner = session.get(Appeal, ev.appeal_id)
        mine = owner is not None and owner.action_id == case.action.id and owner.appellant_id == case.member.id
    if (ev is None or ev.visibility != Visibility.public or ev.blob is None
            or not (ev.action_id == case.action.id or mine)):
        raise NotFound("there is no downloadable evidence with that number for this case")
    return ev
