"""Who is acting. Services take an Actor and re-check it against the database
(a deactivated staff account can't act even with a stale session)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff" | "member" | "system" | "api"
    id: int | None
    name: str
    # Only for system actors (CLI, scheduler): the community they act on. Staff,
    # keys and members carry theirs in the database (modsys.uow resolves it).
    community_id: int | None = None

    def within(self, community_id: int) -> "Actor":
        return replace(self, community_id=community_id)

    @classmethod
    def staff(cls, user: object) -> "Actor":
        return cls("staff", user.id, user.username)  # type: ignore[attr-defined]

    @classmethod
    def member(cls, member: object) -> "Actor":
        return cls("member", member.id, member.display_name)  # type: ignore[attr-defined]

    @classmethod
    def api(cls, key: object) -> "Actor":
        return cls("api", key.id, f"api:{key.name}")  # type: ignore[attr-defined]


SCHEDULER = Actor("system", None, "scheduler")
CLI = Actor("system", None, "cli")
