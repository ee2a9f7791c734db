"""Community policy as data: loads `policies/*.yaml` into typed, validated objects.

A bad file fails at load time with file, field and reason. The policy's version
is the SHA-256 of its bytes; every action stores the version it cited, and the
text of each version is kept in the database (see `models.PolicyVersion`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from modsys.domain import kinds
from modsys.domain.errors import PolicyError
from modsys.domain.kinds import ActionKind

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> timedelta:
    """'30m', '24h', '7d', '2w' -> timedelta. Plain integers are seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**11:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and int(match.group(1)) > 0:
            try:
                return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
            except OverflowError:
                raise ValueError(f"duration {value!r} is too long") from None
    raise ValueError(f"invalid duration {value!r} (use a positive number with a unit, e.g. 30m, 24h, 7d)")


def format_duration(delta: timedelta | None) -> str:
    """Human form: 'permanent', '7 days', '1 hour', '90 minutes'."""
    if delta is None:
        return "permanent"
    seconds = int(delta.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


SanctionKind = ActionKind  # the registry's kinds (modsys.domain.kinds), under the name policies and callers use


class DecisionGround(StrEnum):
    """DSA Transparency Database `decision_ground` values."""

    illegal = "DECISION_GROUND_ILLEGAL_CONTENT"
    incompatible = "DECISION_GROUND_INCOMPATIBLE_CONTENT"


# DSA Transparency Database statement categories. The v1 names (before 1 July 2025) are
# still accepted; the export translates them (modsys/reads/export/dsa.py, V1_CATEGORIES).
DSA_CATEGORIES = {
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
}

DETOXIFY_LABELS = {
    "toxicity", "severe_toxicity", "obscene", "threat", "insult",
    "identity_attack", "sexual_explicit",
}

TIMED_KINDS = set(kinds.timed())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LadderStep(_Strict):
    kind: SanctionKind
    duration: Duration | None = None  # None on a ban = permanent

    @model_validator(mode="after")
    def _duration_fits_kind(self) -> "LadderStep":
        declared = kinds.kind(self.kind)
        if declared.duration_required and self.duration is None:
            raise ValueError(f"a {self.kind} step needs a duration")
        if not declared.timed and self.duration is not None:
            raise ValueError(f"a {self.kind} step takes no duration")
        if not declared.on_ladder:
            raise ValueError(f"{self.kind} is not a sanction step")
        return self

    def describe(self) -> str:
        label = kinds.kind(self.kind).label
        if not kinds.kind(self.kind).timed:
            return label
        return f"permanent {label}" if self.duration is None else f"{format_duration(self.duration)} {label}"


class Rule(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    title: Annotated[str, Field(min_length=3, max_length=120)]
    description: Annotated[str, Field(min_length=3, max_length=2000)]
    ground: DecisionGround = DecisionGround.incompatible
    category: str = "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"
    ladder: Annotated[list[LadderStep], Field(min_length=1)]

    def step_above(self, worst: tuple[str, timedelta | None] | None) -> tuple[LadderStep, bool]:
        """The ladder's first step more severe than `worst` (kind, duration), and True;
        the first step when there is no `worst`; the top step and False when nothing
        on the ladder is more severe (the ladder never suggests going down)."""
        if worst is None:
            return self.ladder[0], True
        floor = kinds.severity(*worst)
        above = next((step for step in self.ladder if kinds.severity(step.kind, step.duration) > floor), None)
        return (above, True) if above is not None else (self.ladder[-1], False)

    @field_validator("ground", mode="before")
    @classmethod
    def _ground_alias(cls, v: Any) -> Any:
        return {"illegal": DecisionGround.illegal, "incompatible": DecisionGround.incompatible}.get(v, v)

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in DSA_CATEGORIES:
            raise ValueError(f"unknown DSA category {v!r}; use one of {sorted(DSA_CATEGORIES)}")
        return v


class DurationBounds(_Strict):
    min: Duration
    max: Duration
    permanent_allowed: bool = False
    # What the Discord commands offer (24 at most: a command option has 25 choices,
    # application-commands.mdx, and "permanent" may take one). Empty: min, max and
    # the durations the rules' ladders use.
    choices: Annotated[list[Duration], Field(max_length=24)] = []

    @model_validator(mode="after")
    def _ordered(self) -> "DurationBounds":
        if self.min > self.max:
            raise ValueError("min is longer than max")
        outside = [format_duration(c) for c in self.choices if not self.min <= c <= self.max]
        if outside:
            raise ValueError(f"choices {outside} are outside min..max")
        return self


# Discord's limit on a timeout: `communication_disabled_until` is "up to 28 days in
# the future" (discord-api-docs, developers/resources/guild.mdx, Modify Guild Member).
# A longer policy maximum would file a case, DM and DSA statement Discord can't honour.
TIMEOUT_MAX = timedelta(days=28)


class TimeoutBounds(DurationBounds):
    @field_validator("max")
    @classmethod
    def _within_discord(cls, v: timedelta) -> timedelta:
        if v > TIMEOUT_MAX:
            raise ValueError(f"{format_duration(v)} is longer than Discord allows for a timeout "
                             f"({format_duration(TIMEOUT_MAX)}); use a ban for longer measures")
        return v


class Sanctions(_Strict):
    timeout: TimeoutBounds
    ban: DurationBounds
    ladder_lookback: Duration = timedelta(days=365)


class Appeals(_Strict):
    window: Duration = timedelta(days=180)
    cooldown: Duration = timedelta(hours=24)
    review_sla: Duration = timedelta(hours=72)
    leadership_sla: Duration = timedelta(days=7)
    reminders: list[Annotated[float, Field(gt=0, lt=1)]] = [0.5, 0.9]
    appealable_kinds: list[SanctionKind] = [SanctionKind(k.name) for k in kinds.KINDS.values() if k.appealable_by_default]
    statement_min_chars: Annotated[int, Field(ge=1)] = 20
    statement_max_chars: Annotated[int, Field(le=20000)] = 4000
    message_max_chars: Annotated[int, Field(ge=1, le=20000)] = 2000
    max_attachments: Annotated[int, Field(ge=0, le=20)] = 3
    redress: Annotated[str, Field(min_length=10)]

    @model_validator(mode="after")
    def _sane(self) -> "Appeals":
        if self.statement_min_chars > self.statement_max_chars:
            raise ValueError("statement_min_chars exceeds statement_max_chars")
        return self


class FinalDecisionMaker(StrEnum):
    leadership = "leadership"


class Decisions(_Strict):
    final_decision_maker: FinalDecisionMaker = FinalDecisionMaker.leadership
    # The reviewer of an appeal may never be the moderator who filed or co-signed
    # the action; this is not configurable, on purpose.


class TwoPersonRule(_Strict):
    kind: SanctionKind
    permanent_only: bool = True


# detoxify's original, unbiased, multilingual, or a model installed with `--hf-dir` under its name
_MODEL = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
_BACKEND = Annotated[str, Field(pattern=r"^(auto|torch|onnx-int8)$")]


class ShadowScoring(_Strict):
    """A candidate scored and stored beside the live model, never used for
    ordering, so `modsys model evaluate --compare` can judge it first."""

    model: _MODEL = "original"
    backend: _BACKEND = "auto"


_THRESHOLDS = dict[str, Annotated[float, Field(gt=0, le=1)]]


def _check_labels(v: dict[str, float]) -> dict[str, float]:
    unknown = set(v) - DETOXIFY_LABELS
    if unknown:
        raise ValueError(f"unknown label(s) {sorted(unknown)}; detoxify labels are {sorted(DETOXIFY_LABELS)}")
    return v


class Route(BaseModel):
    """Which model scores a flag, and whether that choice is unsure."""

    model_config = ConfigDict(frozen=True)
    model: str
    low_confidence: bool


class Toxicity(_Strict):
    model: _MODEL = "original"
    backend: _BACKEND = "auto"  # auto: onnx-int8 once converted, else torch; MODSYS_TOXICITY_BACKEND overrides
    shadow: ShadowScoring | None = None
    thresholds: _THRESHOLDS
    announce_over_threshold: bool = True
    multilingual_languages: list[str] = ["en", "fr", "es", "it", "pt", "tr", "ru"]
    # Language routing: "fr|es|it": multilingual. Empty: `model` scores English (every
    # language in multilingual_languages when it is multilingual).
    routes: dict[str, _MODEL] = {}
    # The model for anything else (and for a language not detected surely), marked low
    # confidence; None: such flags are left to moderators unscored.
    fallback: _MODEL | None = None
    # Below this lingua confidence the detected language is not trusted for routing.
    language_min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    thresholds_by_language: dict[str, _THRESHOLDS] = {}  # per language, over `thresholds`
    # A model installed with --hf-dir: its labels -> modsys's (labels left out are not used).
    label_maps: dict[_MODEL, dict[str, str]] = {}

    @field_validator("thresholds")
    @classmethod
    def _known_labels(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_labels(v)

    @field_validator("thresholds_by_language")
    @classmethod
    def _known_language_labels(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for thresholds in v.values():
            _check_labels(thresholds)
        return v

    @field_validator("label_maps")
    @classmethod
    def _maps_onto_known_labels(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for mapping in v.values():
            _check_labels(dict.fromkeys(mapping.values(), 1.0))
        return v

    def map_labels(self, model: str, labels: dict[str, float]) -> dict[str, float]:
        """A model's scores under modsys's label names (label_maps; two labels mapped
        onto one keep the higher score)."""
        mapping = self.label_maps.get(model)
        if mapping is None:
            return labels
        mapped: dict[str, float] = {}
        for label, score in labels.items():
            if label in mapping:
                mapped[mapping[label]] = max(score, mapped.get(mapping[label], 0.0))
        return mapped

    @model_validator(mode="after")
    def _languages_known(self) -> "Toxicity":
        from modsys.toxicity.language import unknown_languages

        seen: list[str] = []
        for key in self.routes:
            seen += key.split("|")
        duplicated = sorted({c for c in seen if seen.count(c) > 1})
        if duplicated:
            raise ValueError(f"routes name {duplicated} more than once")
        codes = seen + list(self.thresholds_by_language)
        bad = [c for c in codes if not re.fullmatch(r"[a-z]{2}", c)]
        bad += unknown_languages(c for c in codes if c not in bad)
        if bad:
            raise ValueError(f"unknown language code(s) {sorted(set(bad))}: use ISO 639-1 codes such as en, fr, pt")
        return self

    def route_table(self) -> dict[str, str]:
        """Language -> model, as routes say; without routes, `model` for what it was trained on."""
        if self.routes:
            return {lang: model for key, model in self.routes.items() for lang in key.split("|")}
        languages = self.multilingual_languages if self.model == "multilingual" else ["en"]
        return dict.fromkeys(languages, self.model)

    def detection_languages(self) -> set[str]:
        """The languages a detector tells apart for this policy (English always)."""
        return {*self.route_table(), *self.thresholds_by_language, "en"}

    def route(self, language: str | None, confidence: float = 1.0) -> Route | None:
        """The model for a message in `language` (detected with `confidence`), or
        None when the policy leaves it to moderators unscored."""
        table = self.route_table()
        sure = language if language is not None and confidence >= self.language_min_confidence else None
        if sure in table:
            return Route(model=table[sure], low_confidence=False)
        if self.fallback:
            return Route(model=self.fallback, low_confidence=True)
        if sure is None:  # not sure what it is: the main model, marked
            return Route(model=self.model, low_confidence=True)
        return None

    def thresholds_for(self, language: str | None) -> dict[str, float]:
        """The thresholds for a flag in `language`: the language's over the defaults."""
        return {**self.thresholds, **self.thresholds_by_language.get(language or "", {})}

    def models(self) -> list[str]:
        """Every model this policy may score with, the main one first."""
        return list(dict.fromkeys([self.model, *self.route_table().values(), *filter(None, [self.fallback])]))


class Evidence(_Strict):
    max_file_bytes: Annotated[int, Field(gt=0, le=50 * 1024 * 1024)] = 5 * 1024 * 1024
    max_text_chars: Annotated[int, Field(gt=0, le=100_000)] = 10_000
    max_items_per_action: Annotated[int, Field(gt=0, le=50)] = 10
    allowed_mime_types: list[str] = ["image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "application/pdf"]


class Reporting(_Strict):
    """Misuse of reporting (DSA Art. 23): warn, then suspend, a reporter whose
    reports are repeatedly dismissed as unfounded."""

    lookback: Duration = timedelta(days=90)
    warn_after_dismissed: Annotated[int, Field(ge=1)] = 5
    suspend_after_dismissed: Annotated[int, Field(ge=1)] = 10
    # Only when this share of the reporter's resolved reports was dismissed: a busy,
    # mostly accurate reporter is never suspended for their misses.
    min_dismissed_share: Annotated[float, Field(gt=0, le=1)] = 0.7
    suspension: Duration = timedelta(days=14)

    @model_validator(mode="after")
    def _warn_first(self) -> "Reporting":
        if self.suspend_after_dismissed <= self.warn_after_dismissed:
            raise ValueError("suspend_after_dismissed must be above warn_after_dismissed (a warning comes first)")
        return self


class Notifications(_Strict):
    # The Discord role pinged when an appeal is escalated to leadership (its id:
    # Server Settings > Roles > right-click > Copy Role ID). None: nobody is pinged.
    leadership_role_id: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = None
    # DM the member when a timed sanction (a timeout, a temporary ban) runs its course.
    tell_member_when_sanction_ends: bool = False

    @field_validator("leadership_role_id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # YAML reads an id as a number


class PublicLog(StrEnum):
    off = "off"
    anonymised = "anonymised"  # case number, measure, rules and day; nobody is named


class Transparency(_Strict):
    public_log: PublicLog = PublicLog.off

    @field_validator("public_log", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        return PublicLog.off if v is False else v  # YAML 1.1 reads a bare `off` as false


class Claims(_Strict):
    # A claim nobody touches for this long goes back to the queue (scheduled job).
    idle_release: Duration = timedelta(hours=2)


class Accounts(_Strict):
    # Staff roles that must use two-factor (TOTP) to reach any staff page.
    require_two_factor: list[Annotated[str, Field(pattern=r"^(moderator|leadership|admin)$")]] = []


class Flags(_Strict):
    # A dismissed flag comes back to the queue when this many reporters not counted
    # before the dismissal report the message again (one more is rarely news; a few are).
    reopen_after_new_reporters: Annotated[int, Field(ge=1, le=1000)] = 3


class MessageLog(_Strict):
    """What the gateway keeps of messages (docs/discord.md, section 8): only in
    these channels, only this long, unless a message became evidence."""

    channels: list[Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]] = []  # channel ids
    retention: Duration = timedelta(days=30)
    context_messages: Annotated[int, Field(ge=0, le=20)] = 5  # kept around a reported message

    @field_validator("channels", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in v] if isinstance(v, list) else v


class Burst(_Strict):
    count: Annotated[int, Field(ge=2, le=100_000)]
    within: Duration


class Raids(_Strict):
    """Raid detection on the gateway and the one-click response (docs/discord.md, section 8)."""

    joins: Burst = Burst(count=10, within=timedelta(seconds=60))  # this many joins this fast
    messages: Burst = Burst(count=5, within=timedelta(seconds=30))  # this many accounts posting the same text
    # Pinged with the alert on the mod log (right-click the role > Copy Role ID); None: nobody.
    alert_role_id: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = None
    lockdown: Duration = timedelta(hours=6)  # invites and DMs paused (Discord allows up to 24 hours)
    ban_rule: str = "spam"
    ban_duration: Duration | None = timedelta(days=365)  # None: permanent (then the two-person rule applies)
    ban_reason: str = "Joined the server in a coordinated raid."

    @field_validator("alert_role_id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("lockdown")
    @classmethod
    def _discord_limit(cls, v: timedelta) -> timedelta:
        if v > timedelta(hours=24):
            raise ValueError("Discord pauses invites and DMs for at most 24 hours")
        return v


class Triage(_Strict):
    """Live triage (opt-in per channel): messages scored by the toxicity worker, those over
    `toxicity.thresholds` put in the flag queue as automated detection. Never a sanction."""

    channels: list[Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]] = []
    max_per_second: Annotated[float, Field(gt=0, le=1000)] = 5.0  # the load budget; more is not scored

    @field_validator("channels", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in v] if isinstance(v, list) else v


class Modmail(_Strict):
    # A forum channel where each modmail thread also gets a post (its id); None: modsys only.
    forum_channel_id: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = None

    @field_validator("forum_channel_id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class CommunityInfo(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    platform: str = "discord"


class Policy(_Strict):
    community: CommunityInfo
    label: str = ""  # a human version label, e.g. "2026-11"; the hash is the real version
    rules: Annotated[list[Rule], Field(min_length=1)]
    sanctions: Sanctions
    appeals: Appeals
    decisions: Decisions = Decisions()
    two_person_rule: list[TwoPersonRule] = []
    toxicity: Toxicity
    evidence: Evidence = Evidence()
    transparency: Transparency = Transparency()
    reporting: Reporting = Reporting()
    notifications: Notifications = Notifications()
    claims: Claims = Claims()
    accounts: Accounts = Accounts()
    flags: Flags = Flags()
    message_log: MessageLog = MessageLog()
    raids: Raids = Raids()
    modmail: Modmail = Modmail()
    triage: Triage = Triage()
    # Filled by the loader, not the file.
    version: str = ""
    source: str = ""
    text: str = ""

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, rules: list[Rule]) -> list[Rule]:
        ids = [r.id for r in rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule id(s): {dupes}")
        return rules

    @model_validator(mode="after")
    def _ladders_within_bounds(self) -> "Policy":
        for rule in self.rules:
            for i, step in enumerate(rule.ladder):
                bounds = getattr(self.sanctions, step.kind, None) if step.kind in TIMED_KINDS else None
                if bounds is not None:
                    self._check_bounds(step.kind, step.duration, bounds, f"rules.{rule.id}.ladder.{i}")
        return self

    @staticmethod
    def _check_bounds(kind: str, duration: timedelta | None, bounds: DurationBounds, where: str) -> None:
        if duration is None:
            if not bounds.permanent_allowed:
                raise ValueError(f"{where}: a permanent {kind} is not allowed by sanctions.{kind}")
        elif not bounds.min <= duration <= bounds.max:
            raise ValueError(
                f"{where}: {format_duration(duration)} is outside sanctions.{kind} "
                f"({format_duration(bounds.min)} to {format_duration(bounds.max)})"
            )

    # -- lookups used by the services ------------------------------------
    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def requires_cosign(self, kind: str, duration: timedelta | None) -> bool:
        return any(
            r.kind == kind and (duration is None or not r.permanent_only)
            for r in self.two_person_rule
        )

    def bounds_for(self, kind: str) -> DurationBounds | None:
        return getattr(self.sanctions, kind) if kind in TIMED_KINDS else None

    def duration_choices(self, kind: str) -> list[timedelta]:
        """The durations offered for `kind`, shortest first (see DurationBounds.choices)."""
        bounds = self.bounds_for(kind)
        if bounds is None:
            return []
        if bounds.choices:
            return sorted(set(bounds.choices))
        used = {s.duration for r in self.rules for s in r.ladder if s.kind == kind and s.duration is not None}
        return sorted(used | {bounds.min, bounds.max})[:24]


def _format_errors(path: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        reason = e["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {field}: {reason}")
    return "\n".join(lines)


def parse_policy(text: str | bytes, source: str = "<string>") -> Policy:
    raw = text.encode() if isinstance(text, str) else text
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise PolicyError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: (top level): expected a mapping of policy sections")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        raise PolicyError(_format_errors(source, e)) from None
    return policy.model_copy(update={
        "version": hashlib.sha256(raw).hexdigest()[:16],
        "source": source,
        "text": raw.decode("utf-8", errors="replace"),
    })


_cache: dict[tuple[str, float], Policy] = {}
_failed: dict[tuple[str, float], PolicyError] = {}  # a broken file is parsed once per change, not per request
_last_good: dict[str, Policy] = {}
_broken: dict[str, str] = {}  # path -> why the file on disk is not the version in force


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; cached per (path, mtime) so edits are picked up.

    An edit that breaks the file (or removes it) doesn't take the service down:
    the last good version this process loaded stays in force, and
    `policy_problem` says why (/readyz, /admin). Without a good version yet
    (a process starting on a broken file) it raises PolicyError."""
    p = Path(path)
    resolved = str(p.resolve())
    try:
        key = (resolved, p.stat().st_mtime)
    except FileNotFoundError:
        return _keep_last_good(resolved, PolicyError(f"{p}: file not found"))
    if key in _failed:
        return _keep_last_good(resolved, _failed[key])
    if key not in _cache:
        try:
            _cache[key] = parse_policy(p.read_bytes(), source=str(p))
        except PolicyError as e:
            _failed[key] = e
            return _keep_last_good(resolved, e)
    _broken.pop(resolved, None)
    _last_good[resolved] = _cache[key]
    return _cache[key]


def _keep_last_good(resolved: str, error: PolicyError) -> Policy:
    good = _last_good.get(resolved)
    if good is None:
        raise error
    if _broken.get(resolved) != str(error):
        log.error("policy file is broken; version %s stays in force until it is fixed: %s", good.version, error)
        _broken[resolved] = str(error)
    return good


def policy_problem(path: str | Path) -> str | None:
    """Why the policy file at `path` is not in force (it is broken or gone and an
    earlier version serves), or None when the file on disk is what serves."""
    return _broken.get(str(Path(path).resolve()))
