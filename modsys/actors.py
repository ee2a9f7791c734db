"""Who is acting. Services take an Actor and re-check it against the database
(a deactivated staff account can't act even with a stale session)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff" | "member" | "system" | "api"
    id: int | None
    name: str

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
