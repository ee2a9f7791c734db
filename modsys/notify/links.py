"""Links back to modsys and the one ping modsys sends.

Events carry a site-relative `link` ("/actions/12"); it becomes the embed's
absolute `url` at delivery, from MODSYS_BASE_URL, so a changed base URL applies
to messages already queued. Paths live here, in one place.

The only mention modsys ever makes is the leadership role's, on an escalation
(policy: notifications.leadership_role_id). Discord's allowed_mentions object
(developers/resources/message.mdx, "Allowed Mentions Object"): `roles` lists the
role ids that may be mentioned (max 100) and `parse` is mutually exclusive with
it, so a ping is exactly {"roles": [id]} and anything else goes out as {"parse": []}.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

NO_MENTIONS = {"parse": []}
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")


def case_path(action_id: int) -> str:
    return f"/actions/{action_id}"


def appeal_path(appeal_id: int) -> str:
    return f"/appeals/{appeal_id}"


def decision_path(appeal_id: int) -> str:
    """Where leadership decides an escalated appeal: the desk's page, with the form."""
    return f"/leadership/appeals/{appeal_id}"


def flag_path(flag_id: int) -> str:
    return f"/flags/{flag_id}"


def with_url(event: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The event with its `link` made absolute as the embed's `url`."""
    spec = dict(event)
    link = spec.pop("link", None)
    if isinstance(link, str) and link.startswith("/") and "url" not in spec:
        spec["url"] = base_url.rstrip("/") + link
    return spec


def ping_role(message: Mapping[str, Any], role_id: str) -> dict[str, Any]:
    """`message` with the role mentioned first in its content, and only that role allowed."""
    if not _SNOWFLAKE.match(role_id):
        raise ValueError(f"{role_id!r} is not a Discord role id")
    out = dict(message)
    out["content"] = f"<@&{role_id}> " + (out.get("content") or "")
    out["allowed_mentions"] = {"roles": [role_id]}
    return out


def allowed_mentions(message: Mapping[str, Any]) -> dict[str, Any]:
    """What may ping: the single role ping `ping_role` built, if its mention is in the
    content; nothing otherwise, whatever the message says."""
    wanted = message.get("allowed_mentions")
    if isinstance(wanted, Mapping) and set(wanted) == {"roles"} and isinstance(wanted["roles"], list) \
            and len(wanted["roles"]) == 1 and isinstance(wanted["roles"][0], str) \
            and _SNOWFLAKE.match(wanted["roles"][0]) \
            and str(message.get("content") or "").startswith(f"<@&{wanted['roles'][0]}>"):
        return {"roles": [wanted["roles"][0]]}
    return dict(NO_MENTIONS)
