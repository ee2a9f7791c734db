"""Two communities in one database, each with a little of everything: staff of
every role, API keys, members, flags, actions with public, private and file
evidence, appeals in several states, a statement, a dead notification. Used by
the sweeps that prove one community's actors never reach the other's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, select

from modsys import outbox
from modsys.domain import clock
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import (
    Action,
    ApiKey,
    Community,
    DiscordDrift,
    Evidence,
    LoggedMessage,
    Member,
    ModmailMessage,
    ModmailThread,
    OutboxStatus,
    RaidAccount,
    RaidIncident,
    StaffUser,
)
from modsys.infra.config import DEFAULT_POLICY
from modsys.infra.portal_links import make_token
from modsys.services import appeals as appeal_svc
from modsys.services.actions import NewAction, file_action
from modsys.services.api_keys import create_api_key
from modsys.services.communities import create_community
from modsys.services.decisions import Decision, final_decision
from modsys.services.evidence import EvidenceInput
from modsys.services.flags import FlagReportInput, act_on_flag, report_flag
from modsys.services.staff import create_staff

PASSWORD = "correct-horse-battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class World:
    """One community's rows (ids) and actors, and strings only it holds."""

    community: Community
    prefix: str
    staff: dict[str, StaffUser] = field(default_factory=dict)  # role -> user
    keys: dict[str, str] = field(default_factory=dict)  # role -> plaintext API key
    ids: dict[str, int] = field(default_factory=dict)  # URL argument name -> id
    token: str = ""  # the sanctioned member's appeal link token

    def actor(self, role: str) -> Actor:
        return Actor.staff(self.staff[role])

    @property
    def markers(self) -> list[str]:
        """Text that must never appear in the other community's pages and answers."""
        return [self.community.name, f"{self.prefix}-member", f"{self.prefix}-mod", f"{self.prefix}-secret-note",
                f"{self.prefix} flagged words", f"{self.prefix}-appeal-statement", f"{self.prefix}-raider",
                f"{self.prefix}-modmail-body"]


def build(session: Session, community: Community, prefix: str, secret_key: str) -> World:
    w = World(community, prefix)
    for role in ("moderator", "leadership", "admin"):
        w.staff[role] = create_staff(session, CLI, community.id, f"{prefix}-{role[:3]}", role, PASSWORD)
    w.staff["moderator2"] = create_staff(session, CLI, community.id, f"{prefix}-mod2", "moderator", PASSWORD)
    mod, mod2, lead = w.actor("moderator"), w.actor("moderator2"), w.actor("leadership")
    _, w.keys["reporter"] = create_api_key(session, CLI, community.id, f"{prefix}-bot", "reporter")
    _, w.keys["moderator"] = create_api_key(session, CLI, community.id, f"{prefix}-modkey", "moderator",
                                            f"{prefix}-mod")
    bot = Actor.api(_key(session, f"{prefix}-bot"))
    n = str(community.id)  # snowflakes of this community's messages and member
    flag, _ = report_flag(session, bot, community.id, FlagReportInput(
        message_id=f"{n}00000000000000001", channel_id="1", author_id=f"{n}00000000000000002",
        author_name=f"{prefix}-member", content=f"{prefix} flagged words", reporter="77", channel_name="general"))
    other, _ = report_flag(session, bot, community.id, FlagReportInput(
        message_id=f"{n}00000000000000003", channel_id="1", author_id=f"{n}00000000000000002",
        author_name=f"{prefix}-member", content=f"{prefix} flagged words again", reporter="78"))
    evidence = [EvidenceInput("text", "public", f"{prefix} public evidence"),
                EvidenceInput("text", "private", f"{prefix}-secret-note"),
                EvidenceInput("file", "public", data=PNG, filename=f"{prefix}.png")]
    ban = act_on_flag(session, mod, flag.id, NewAction(
        member_id=flag.author_id, kind="ban", rules=["respectful"], public_reason="Repeated insults in general.",
        private_note=f"{prefix}-secret-note", duration=timedelta(days=7), evidence=evidence))
    member = session.get(Member, ban.member_id)
    pending = file_action(session, mod, NewAction(member_id=member.id, kind="ban", rules=["respectful"],
                                                  public_reason="A permanent ban for repeated abuse."))
    appeal = appeal_svc.submit_appeal(session, Actor.member(member), ban.id, f"{prefix}-appeal-statement is long")
    appeal_svc.escalate_appeal(session, mod2, appeal.id, "Leadership should look at this case.")
    timeout = file_action(session, mod2, NewAction(member_id=member.id, kind="timeout", rules=["respectful"],
                                                   public_reason="Insulting another member.",
                                                   duration=timedelta(hours=2)))
    decided = appeal_svc.submit_appeal(session, Actor.member(member), timeout.id, f"{prefix}-appeal-statement two")
    appeal_svc.escalate_appeal(session, mod, decided.id, "A timeout leadership should confirm.")
    final_decision(session, lead, decided.id, Decision("upheld", "The timeout stands, as the log shows."),
                   statement_title=f"{prefix} statement", statement_body="Leadership upheld a timeout today.")
    dead = outbox.enqueue(session, community.id, "modlog", "test.dead", {"title": f"{prefix} dead letter"})
    dead.status = OutboxStatus.dead
    session.add(dead)
    drift = DiscordDrift(community_id=community.id, kind="ban", problem="missing_case",
                         platform_user_id="300000000000000001", found_at=clock.now())
    session.add(drift)
    raid = RaidIncident(community_id=community.id, trigger="joins", started_at=clock.now(), last_seen_at=clock.now())
    session.add(raid)
    session.flush()
    session.add(RaidAccount(incident_id=raid.id, platform_user_id="1400000000000000001",
                            display_name=f"{prefix}-raider", seen_at=clock.now()))
    logged = LoggedMessage(community_id=community.id, platform_message_id="1300000000000000001",
                           channel_id="600000000000000001", author_id="1", sealed=b"\x01", sent_at=clock.now(),
                           changed_at=clock.now(), expires_at=clock.now())
    session.add(logged)
    thread = ModmailThread(community_id=community.id, member_id=member.id, created_at=clock.now(),
                           last_message_at=clock.now())
    session.add(thread)
    session.flush()
    session.add(ModmailMessage(community_id=community.id, thread_id=thread.id, direction="in",
                               body=f"{prefix}-modmail-body", created_at=clock.now(), next_attempt_at=clock.now()))
    session.commit()
    file_ev = next(e for e in _evidence(session, ban.id) if e.kind == "file")
    w.ids = {"flag_id": other.id, "member_id": member.id, "action_id": ban.id, "appeal_id": appeal.id,
             "evidence_id": file_ev.id, "user_id": w.staff["moderator"].id, "key_id": _key(session, f"{prefix}-bot").id,
             "pending_id": pending.id, "decided_appeal_id": decided.id, "drift_id": drift.id,
             "incident_id": raid.id, "logged_id": logged.id, "thread_id": thread.id}
    w.token = make_token(secret_key, ban.id, member.id, session.get(Action, ban.id).appeal_deadline)
    return w


def _key(session: Session, name: str) -> ApiKey:
    return session.exec(select(ApiKey).where(ApiKey.name == name)).one()


def _evidence(session: Session, action_id: int) -> list[Evidence]:
    return list(session.exec(select(Evidence).where(Evidence.action_id == action_id)))


def two_communities(session: Session, first: Community, secret_key: str) -> tuple[World, World]:
    second = create_community(session, CLI, "partner", "Partner Server", DEFAULT_POLICY, "123456789012345678")
    return build(session, first, "alpha", secret_key), build(session, second, "beta", secret_key)
