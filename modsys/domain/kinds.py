"""The action-kind registry: one declaration per kind stored in `Action.kind`.

Everything that differs between kinds is read from here (validation, the
sanction ladder, severity for "an appeal never makes it worse", the DSA
statement of reasons, labels in pages and notices, appealability), so adding a
kind is one `Kind(...)` below (plus, if its durations are bounded, a section in
the policy schema). `enforce`/`reverse` name what the platform must do; the
Discord work (modsys/adapters/discord/) maps them to API calls.

DSA values are those of the Transparency Database's `decision_account` and
`decision_provision` fields (digital-services-act/transparency-database,
app/Models/Statement.php: DECISION_ACCOUNT_*, DECISION_PROVISION_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

SUSPENDED = "DECISION_ACCOUNT_SUSPENDED"
TERMINATED = "DECISION_ACCOUNT_TERMINATED"
PARTIAL_SUSPENSION = "DECISION_PROVISION_PARTIAL_SUSPENSION"
TOTAL_SUSPENSION = "DECISION_PROVISION_TOTAL_SUSPENSION"
PARTIAL_TERMINATION = "DECISION_PROVISION_PARTIAL_TERMINATION"
TOTAL_TERMINATION = "DECISION_PROVISION_TOTAL_TERMINATION"


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what a person reads: "timeout", "permanent ban" comes from `measure`
    rank: int | None  # severity order of sanctions; None: not a sanction (it lifts one)
    timed: bool = False  # takes a duration (bounded by the policy's `sanctions.<name>`)
    duration_required: bool = False  # timed, and there is no "permanent" form
    tells_member: bool = True  # False: internal (a note); no statement of reasons, no notice
    appealable_by_default: bool = False  # the policy's `appeals.appealable_kinds` default
    on_ladder: bool = True  # may be a step of a rule's sanction ladder / an appeal's replacement
    lifts: str | None = None  # filing it lifts the member's active actions of this kind (unban -> ban)
    # DSA statement of reasons: (while it lasts, when permanent); None when not an account measure.
    decision_account: tuple[str | None, str | None] = (None, None)
    decision_provision: tuple[str | None, str | None] = (None, None)
    # In Discord (modsys/adapters/discord/): the request that applies it and the one that lifts
    # it ("" = none: a kick can't be undone), and whether the member is DMed first.
    enforce: str = ""
    reverse: str = ""
    dm_first: bool = False

    def account(self, duration: timedelta | None) -> str | None:
        return self.decision_account[1 if duration is None else 0]

    def provision(self, duration: timedelta | None) -> str | None:
        return self.decision_provision[1 if duration is None else 0]


# In the order forms offer them.
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("warning", "warning", rank=1, appealable_by_default=True, dm_first=True),
    Kind("timeout", "timeout", rank=2, timed=True, duration_required=True, appealable_by_default=True,
         decision_account=(SUSPENDED, SUSPENDED), decision_provision=(PARTIAL_SUSPENSION, PARTIAL_SUSPENSION),
         enforce="timeout", reverse="untimeout", dm_first=True),
    # A one-off removal from the server: the member may rejoin at once, so nothing lasts or expires.
    Kind("kick", "kick", rank=3, appealable_by_default=True,
         decision_provision=(PARTIAL_TERMINATION, PARTIAL_TERMINATION), enforce="kick", dm_first=True),
    Kind("ban", "ban", rank=4, timed=True, appealable_by_default=True,
         decision_account=(SUSPENDED, TERMINATED), decision_provision=(TOTAL_SUSPENSION, TOTAL_TERMINATION),
         enforce="ban", reverse="unban", dm_first=True),
    Kind("note", "note", rank=0, tells_member=False),
    Kind("unban", "unban", rank=None, on_ladder=False, lifts="ban", enforce="unban"),
    Kind("untimeout", "timeout lifted", rank=None, on_ladder=False, lifts="timeout", enforce="untimeout"),
)}

# Where a case comes from (`Action.source`), with what pages call it.
SOURCES: dict[str, str] = {
    "moderator": "filed by a moderator",
    "flag": "from a flag",
    "automated_detection": "automated detection",
    "discord": "done in Discord",  # the Discord client or AutoMod, found in the guild's audit log
}

# Kinds as an enum (pydantic models and the OpenAPI document list its values), built from the registry.
ActionKind = StrEnum("ActionKind", {name: name for name in KINDS})  # type: ignore[misc]


def kind(name: str) -> Kind:
    """The declaration of `name`; KeyError for a kind that does not exist."""
    return KINDS[name]


def severity(name: str, duration: timedelta | None) -> tuple[int, float]:
    """Comparable severity: kind first, then length (permanent is the longest)."""
    declared = kind(name)
    length = (float("inf") if duration is None else duration.total_seconds()) if declared.timed else 0.0
    return (declared.rank or 0, length)


def counted() -> list[str]:
    """Kinds that count against a member on a rule's ladder: sanctions they were told of."""
    return [k.name for k in KINDS.values() if k.rank is not None and k.tells_member]


def timed() -> list[str]:
    return [k.name for k in KINDS.values() if k.timed]
