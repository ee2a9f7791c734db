"""The unit of work: one service call, bound to (actor, community).

It resolves the actor fresh from the database (a deactivated staff account, a
revoked key or an unknown member can't act, whatever their session says),
knows the community the call acts in, and is the only way services look rows
up: `uow.get(Model, id)` returns a row of that community or raises NotFound,
so a row of another community reads exactly like a missing one (404, never
403, which would confirm it exists). Rows without their own `community_id`
are reached through their parent (`PARENTS`).

Staff, API keys and members carry their community; system actors (the CLI,
the scheduler) name theirs: `CLI.within(community_id)`. The service decorator
(`modsys.services._base.service`) opens one per call and commits the change,
its audit events and its outbox events together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from modsys import audit, permissions
from modsys.domain.actors import Actor
from modsys.domain.errors import NotFound, PermissionDenied
from modsys.domain.models import (
    Action,
    ApiKey,
    Appeal,
    AppealMessage,
    AppealReminder,
    Community,
    Flag,
    FlagReport,
    Member,
    StaffUser,
    StatementOfReasons,
    ToxicityScore,
)
from modsys.permissions import Verdict

T = TypeVar("T", bound=SQLModel)

# Tables without a community_id column: (column holding the parent's id, parent table).
PARENTS: dict[type[SQLModel], tuple[str, type[SQLModel]]] = {
    FlagReport: ("flag_id", Flag),
    ToxicityScore: ("flag_id", Flag),
    StatementOfReasons: ("action_id", Action),
    AppealMessage: ("appeal_id", Appeal),
    AppealReminder: ("appeal_id", Appeal),
}

_MAX_ID = 2**31 - 1  # ids beyond the integer columns don't exist (and must not reach the database)


@dataclass
class UnitOfWork:
    session: Session
    actor: Actor
    community_id: int | None = None
    staff: StaffUser | None = None
    api_key: ApiKey | None = None
    member: Member | None = None
    _policy: Any = field(default=None, repr=False)

    # --- the community ---------------------------------------------------------

    def bind(self, community_id: int) -> int:
        """Act in `community_id` (services that name it, e.g. creating staff). A
        system actor may pick any existing community; anyone else only their own,
        and another community is simply not found."""
        if self.community_id is None and self.actor.kind == "system":
            if self.session.get(Community, community_id) is None:
                raise NotFound(f"community {community_id} does not exist")
            self.community_id = community_id
        elif community_id != self.community_id:
            raise NotFound(f"community {community_id} does not exist")
        return community_id

    @property
    def scope(self) -> int:
        if self.community_id is None:
            raise RuntimeError(f"{self.actor.name} acts on no community: use Actor.within(community_id)")
        return self.community_id

    @property
    def policy(self) -> Any:
        """The community's policy (loaded once per call)."""
        if self._policy is None:
            from modsys.community import policy_for

            self._policy = policy_for(self.session, self.scope)
        return self._policy

    # --- scoped lookups ------------------------------------------------------------

    def get(self, model: type[T], ident: int | None, what: str | None = None) -> T:
        """The row of this community with that id, or NotFound. The operator (a
        system actor not yet bound) may reach any community: its first lookup
        binds the unit to the row's community."""
        row = self.session.get(model, ident) if ident is not None and 0 < ident <= _MAX_ID else None
        if row is not None and self.community_id is None and self.actor.kind == "system":
            self.community_id = self._community_of(row)
        if row is None or not self.owns(row):
            raise NotFound(f"{what or model.__name__.lower()} {ident} does not exist")
        return row

    def owns(self, row: SQLModel) -> bool:
        """Whether `row` belongs to this unit's community."""
        return self._community_of(row) == self.scope

    def _community_of(self, row: SQLModel) -> int | None:
        if isinstance(row, Community):
            return row.id
        if hasattr(row, "community_id"):
            return row.community_id  # type: ignore[attr-defined]
        column, parent = PARENTS[type(row)]
        owner = self.session.get(parent, getattr(row, column))
        return None if owner is None else self._community_of(owner)

    def select(self, model: type[T]) -> Any:
        """`select(model)` limited to this community (models with a community_id)."""
        return select(model).where(self.in_scope(model))

    def in_scope(self, model: type[SQLModel]) -> Any:
        """The WHERE clause keeping `model`'s rows to this community (for joins)."""
        return model.community_id == self.scope  # type: ignore[attr-defined]

    def first(self, model: type[T], *where: Any) -> T | None:
        return self.session.exec(self.select(model).where(*where)).first()

    # --- permissions -----------------------------------------------------------------

    def require(self, verdict: Verdict) -> None:
        permissions.ensure(verdict)

    def staff_with(self, check: Any = permissions.can_read_cases) -> StaffUser:
        """The acting staff user, if `check(user)` allows (default: any staff role)."""
        if self.staff is None:
            raise PermissionDenied("this needs a staff account")
        permissions.ensure(check(self.staff))
        return self.staff

    def admin_or_operator(self) -> StaffUser | None:
        """An admin of this community, or the operator at the CLI (a system actor)."""
        if self.actor.kind == "system":
            return None
        return self.staff_with(permissions.can_administer)

    # --- what the call writes besides the change ---------------------------------------

    def record(self, verb: str, subject: Any, data: dict[str, Any] | None = None) -> None:
        """An audit event in this community (in the call's transaction)."""
        audit.record(self.session, self.actor, verb, subject, data or {}, community_id=self.scope)

    def emit(self, event: Any, *, dedupe_key: str | None = None) -> None:
        """A domain event for the outbox (rendered at delivery, modsys.notify)."""
        from modsys.domain import events

        events.record(self.session, self.scope, event, dedupe_key=dedupe_key)


def open_unit(session: Session, actor: Actor) -> UnitOfWork:
    """Resolve `actor` fresh from the database and bind its community."""
    uow = UnitOfWork(session, actor)
    if actor.kind == "staff":
        user = session.get(StaffUser, actor.id) if actor.id is not None else None
        if user is None or not user.active:
            raise PermissionDenied("this staff account is deactivated")
        uow.staff, uow.community_id = user, user.community_id
    elif actor.kind == "api":
        key = session.get(ApiKey, actor.id) if actor.id is not None else None
        if key is None or key.revoked_at is not None:
            raise PermissionDenied("this API key has been revoked")
        uow.api_key, uow.community_id = key, key.community_id
    elif actor.kind == "member":
        member = session.get(Member, actor.id) if actor.id is not None else None
        if member is None:
            raise PermissionDenied("only the sanctioned member can act here, through their appeal link")
        uow.member, uow.community_id = member, member.community_id
    elif actor.kind == "system":
        uow.community_id = actor.community_id
    else:
        raise PermissionDenied(f"unknown kind of actor {actor.kind!r}")
    return uow
