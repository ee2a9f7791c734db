"""The API document's limits that come from a community's policy: which rules
exist, which kinds take a duration and how long, the lengths the services check
after trimming, the evidence limits. `/api/openapi.json` fills them in when it is
asked with a key, so a request the document allows is one the API accepts
(checked with schemathesis in tests/web/test_openapi_truth.py).

Each rule is read from where the services apply it (the policy, the kind
registry, `modsys.services.actions`), never restated."""

from __future__ import annotations

import copy

from modsys.domain import kinds
from modsys.domain.policy import Policy, format_duration
from modsys.services import actions as action_rules
from web.api_schemas import at_least

_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))  # modsys.domain.policy.parse_duration's


def _same_length(lo: str, hi: str) -> str:
    """A regex for the decimal numbers lo..hi, both written with the same number of digits."""
    if lo == hi:
        return lo
    if len(lo) == 1:
        return f"[{lo}-{hi}]"
    if lo[0] == hi[0]:
        return lo[0] + f"(?:{_same_length(lo[1:], hi[1:])})"
    rest = len(lo) - 1
    parts = [lo[0] + f"(?:{_same_length(lo[1:], '9' * rest)})"]
    if int(hi[0]) - int(lo[0]) > 1:
        parts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" + "[0-9]" * rest)
    parts.append(hi[0] + f"(?:{_same_length('0' * rest, hi[1:])})")
    return "|".join(parts)


def number_range(lo: int, hi: int) -> str:
    """A regex for the whole numbers lo..hi (1 <= lo <= hi), written without leading zeros."""
    parts = []
    for digits in range(len(str(lo)), len(str(hi)) + 1):
        a, b = max(lo, 10 ** (digits - 1)), min(hi, 10 ** digits - 1)
        if a <= b:
            parts.append(f"(?:{_same_length(str(a), str(b))})")
    return "(?:" + "|".join(parts) + ")"


def _duration_pattern(low_seconds: int, high_seconds: int) -> str:
    alternatives = []
    for unit, size in _UNITS:
        lo, hi = -(-low_seconds // size), high_seconds // size
        if 1 <= lo <= hi:
            alternatives.append(f"{number_range(lo, hi)}{unit}")
    return r"^\s*(?:" + "|".join(alternatives) + r")\s*$"


def _kind_variant(base: dict, policy: Policy, kind: str) -> dict:
    declared = kinds.kind(kind)
    variant = copy.deepcopy(base)
    props, required = variant["properties"], set(variant.get("required", []))
    props["kind"] = {"const": kind}
    bounds = policy.bounds_for(kind)
    if bounds is None:
        props["duration"] = {"type": "null", "description": f"A {kind} has no duration."}
    else:
        lasting = {"type": "string", "pattern": _duration_pattern(int(bounds.min.total_seconds()),
                                                                  int(bounds.max.total_seconds()))}
        permanent = bounds.permanent_allowed and not declared.duration_required
        choices = [lasting, {"const": "permanent"}, {"type": "null"}] if permanent else [lasting]
        props["duration"] = {"anyOf": choices, "description": f"A {kind} lasts {format_duration(bounds.min)} to "
                             f"{format_duration(bounds.max)}{' or is permanent' if permanent else ''} under this policy."}
        if not permanent:
            required.add("duration")
    internal = not declared.tells_member
    reason_min, note_min = (0, action_rules.INTERNAL_NOTE_MIN) if internal else (action_rules.PUBLIC_REASON_MIN, 0)
    props["public_reason"] = {"type": "string", "maxLength": action_rules.PUBLIC_REASON_MAX,
                              **({"pattern": at_least(reason_min)} if reason_min else {})}
    props["private_note"] = {"type": "string", "maxLength": action_rules.PRIVATE_NOTE_MAX,
                             **({"pattern": at_least(note_min)} if note_min else {})}
    required |= {name for name, least in (("public_reason", reason_min), ("private_note", note_min)) if least}
    variant["required"] = sorted(required)
    variant["title"] = f"ActionCreate ({kind})"
    return variant


def for_policy(document: dict, policy: Policy) -> dict:
    """The document with one community's policy limits filled in."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]
    base = schemas["ActionCreate"]
    base["properties"]["rules"]["items"] = {"enum": [rule.id for rule in policy.rules]}
    base["properties"]["facts"]["maxLength"] = action_rules.FACTS_MAX
    limits = policy.evidence
    base["properties"]["evidence"]["maxItems"] = limits.max_items_per_action
    evidence = schemas["EvidenceIn"]
    text_item = copy.deepcopy(evidence)
    text_item["properties"]["kind"] = {"const": "text"}
    text_item["properties"]["content"] = {"type": "string", "pattern": at_least(1),
                                          "maxLength": limits.max_text_chars}
    link_item = copy.deepcopy(text_item)
    link_item["properties"]["kind"] = {"const": "link"}
    link_item["properties"]["content"]["pattern"] = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://\S*\s*$"
    schemas["EvidenceIn"] = {"oneOf": [text_item, link_item], "description": evidence.get("description", "")}
    member = schemas["MemberRef"]["properties"]["display_name"]
    member["pattern"] = at_least(1)
    schemas["ActionCreate"] = {"oneOf": [_kind_variant(base, policy, k) for k in kinds.KINDS],
                               "description": "One shape per kind: the durations and reasons each kind takes "
                                              "under your community's policy."}
    return document
