"""Reporters as people read them. A report stores who made it as an internal key
(`FlagReport.reporter_key`: the source, then the reporter, "member17:1234",
"api3:1234", "staff2:5678"); pages show the member's display name and the way
the report came in, never the key. Read only, scoped to one community."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from modsys.domain.models import ApiKey, Member, StaffUser

_KEY = re.compile(r"^(member|api|staff)(\d+):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Reporter:
    name: str  # a display name; the platform id only when nobody here knows the person's name
    via: str  # "Discord", "API key “chatbot”", "the dashboard (mod_a)"


def name_reporters(session: Session, community_id: int, keys: Iterable[str]) -> dict[str, Reporter]:
    """Each reporter key, named, in a fixed number of queries whatever the number of keys."""
    wanted = set(keys)
    parsed = {key: m.groups() for key in wanted if (m := _KEY.match(key))}
    ids = {kind: {int(i) for k, i, _ in parsed.values() if k == kind} for kind in ("member", "api", "staff")}
    said = {who for _, _, who in parsed.values()}
    members = {m.id: m for m in _in_community(session, Member, community_id, Member.id.in_(ids["member"]))}  # type: ignore[union-attr]
    by_platform_id = {m.platform_user_id: m.display_name for m in _in_community(
        session, Member, community_id, Member.platform_user_id.in_(said))}  # type: ignore[attr-defined]
    api_keys = {k.id: k.name for k in _in_community(session, ApiKey, community_id, ApiKey.id.in_(ids["api"]))}  # type: ignore[union-attr]
    staff = {s.id: s.username for s in _in_community(session, StaffUser, community_id,
                                                     StaffUser.id.in_(ids["staff"]))}  # type: ignore[union-attr]
    out = {}
    for key, (kind, ident, who) in parsed.items():
        member = members.get(int(ident)) if kind == "member" else None
        name = member.display_name if member else by_platform_id.get(who) or who
        via = {"member": "Discord", "api": f"API key “{api_keys.get(int(ident), 'revoked or removed')}”",
               "staff": f"the dashboard ({staff.get(int(ident), 'former staff')})"}[kind]
        out[key] = Reporter(name, via)
    for key in wanted - set(parsed):  # not a key this version writes: shown as it is
        out[key] = Reporter(key, "unknown")
    return out


def _in_community(session: Session, model: Any, community_id: int, where: Any) -> list:
    return list(session.exec(select(model).where(model.community_id == community_id, where)))
