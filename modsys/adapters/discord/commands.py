"""The application commands modsys registers in a guild, as data.

Shapes from discord-api-docs, developers/interactions/application-commands.mdx:
command types CHAT_INPUT 1, USER 2, MESSAGE 3 (USER and MESSAGE commands have
an empty description); option types SUB_COMMAND 1, STRING 3, INTEGER 4, USER 6;
at most 25 options and 25 choices; names 1-32 characters, descriptions 1-100;
`min_value` for INTEGER, `min_length`/`max_length` for STRING options.
`default_member_permissions` is a permission bit set as a string: staff commands
ask for Moderate Members (1 << 40, developers/topics/permissions.mdx) so members
don't see them; modsys still checks the linked staff account on every use.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests

from modsys.adapters.discord import http_session
from modsys.domain import kinds
from modsys.domain.policy import Policy, SanctionKind, format_duration, parse_duration
from modsys.infra.config import Settings

CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
SUB_COMMAND, STRING, INTEGER, USER = 1, 3, 4, 6
MAX_CHOICES = 25
MODERATE_MEMBERS = str(1 << 40)

REPORT = "Report to moderators"
ACT_ON_MESSAGE = "Act on this message"
HISTORY = "Moderation history"
PERMANENT = "permanent"

# The sanction commands, by kind string; `kick` appears once the kind exists
# (the kind registry is another issue's; until then the command isn't offered).
SANCTION_COMMANDS: dict[str, str] = {"warn": "warning", "timeout": "timeout", "ban": "ban", "kick": "kick"}
# The quick commands: a note, the lifts (a case of the registry's lifting kind) and
# the statement of reasons of a case.
NOTE, REASON = "note", "reason"
LIFT_COMMANDS: dict[str, str] = {"unban": "unban", "untimeout": "untimeout"}


def available_sanction_commands() -> dict[str, str]:
    kinds = {str(k) for k in SanctionKind}
    return {name: kind for name, kind in SANCTION_COMMANDS.items() if kind in kinds}


def duration_choices(policy: Policy, kind: str) -> list[dict[str, str]]:
    """The policy's durations for `kind` (plus "permanent" where allowed): never one it forbids."""
    bounds = policy.bounds_for(kind)
    if bounds is None:
        return []
    choices = [{"name": format_duration(d), "value": _compact(d)} for d in policy.duration_choices(kind)]
    if bounds.permanent_allowed:
        choices.append({"name": PERMANENT, "value": PERMANENT})
    return choices[:MAX_CHOICES]


def _compact(delta: timedelta) -> str:
    """A choice's value, as `parse_duration` reads it: "10m", "28d"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_choice(value: str | None) -> timedelta | None:
    """A duration option's value (None for "permanent" or absent)."""
    if not value or value == PERMANENT:
        return None
    return parse_duration(value)


def _opt(kind: int, name: str, description: str, required: bool = False, **extra: Any) -> dict[str, Any]:
    option = {"type": kind, "name": name, "description": description, **extra}
    if kind != SUB_COMMAND:  # `required` is for "all but SUB_COMMAND and SUB_COMMAND_GROUP"
        option["required"] = required
    return option


def _sanction_command(name: str, kind: str, policy: Policy) -> dict[str, Any]:
    opts = [_opt(USER, "member", "The member", True),
            _opt(STRING, "rule", "The rule broken (from the policy)", True, autocomplete=True)]
    choices = duration_choices(policy, kind)
    if choices:
        opts.append(_opt(STRING, "duration", "How long", kind == SanctionKind.timeout, choices=choices))
    opts += [_opt(STRING, "reason", "Public reason: what the member will read", True, min_length=10, max_length=2000),
             _opt(STRING, "note", "Private note for staff", False, max_length=2000)]
    # Required options must come before optional ones in Discord's command builder.
    opts.sort(key=lambda o: not o.get("required"))
    return {"type": CHAT_INPUT, "name": name, "description": f"File a {kind} in modsys",
            "default_member_permissions": MODERATE_MEMBERS, "options": opts}


def _staff_command(name: str, description: str, opts: list[dict[str, Any]]) -> dict[str, Any]:
    opts = sorted(opts, key=lambda o: not o["required"])  # required options first (Discord's rule)
    return {"type": CHAT_INPUT, "name": name, "description": description,
            "default_member_permissions": MODERATE_MEMBERS, "options": opts}


def _rule(required: bool, description: str = "The rule (from the policy)") -> dict[str, Any]:
    return _opt(STRING, "rule", description, required, autocomplete=True)


def quick_commands() -> list[dict[str, Any]]:
    """/note, /unban, /untimeout and /reason."""
    member = _opt(USER, "member", "The member", True)
    out = [_staff_command(NOTE, "Add an internal note to a member's case file (staff only)", [
        member, _rule(True), _opt(STRING, "text", "The note", True, min_length=10, max_length=2000)])]
    for name, kind in LIFT_COMMANDS.items():
        lifted = kinds.kind(kind).lifts
        out.append(_staff_command(name, f"Lift the member's {lifted} in modsys and Discord, with a reason", [
            member, _opt(STRING, "reason", "Why it is lifted: what the member will read", True, min_length=10,
                         max_length=2000),
            _rule(False, f"The rule (default: the {lifted}'s)")]))
    out.append(_staff_command(REASON, "Write or amend the statement of reasons of a case", [
        _opt(INTEGER, "case", "The case number", True, min_value=1),
        _opt(STRING, "text", "Why: what the member will read", True, min_length=10, max_length=2000),
        _rule(False, "The rule broken (needed to complete a case done in Discord)")]))
    return out


def definitions(policy: Policy) -> list[dict[str, Any]]:
    """Every command for a guild governed by `policy` (the body of the bulk overwrite)."""
    staff = [_sanction_command(name, kind, policy) for name, kind in available_sanction_commands().items()]
    staff += quick_commands()
    staff.append({"type": CHAT_INPUT, "name": "case", "description": "Moderation records in modsys",
                  "default_member_permissions": MODERATE_MEMBERS,
                  "options": [_opt(SUB_COMMAND, "member", "A member's history and open appeals",
                                   options=[_opt(USER, "member", "The member", True)])]})
    staff.append({"type": USER_COMMAND, "name": HISTORY, "description": "",
                  "default_member_permissions": MODERATE_MEMBERS})
    staff.append({"type": MESSAGE_COMMAND, "name": ACT_ON_MESSAGE, "description": "",
                  "default_member_permissions": MODERATE_MEMBERS})
    # Every member may report: no default_member_permissions (null = everyone).
    return [{"type": MESSAGE_COMMAND, "name": REPORT, "description": ""}, *staff]


REGISTER_TIMEOUT_S = (3.05, 15)


class RegistrationFailed(Exception):
    pass


def register(settings: Settings, guild_id: str, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk-overwrite the guild's commands (PUT .../guilds/{guild.id}/commands; it
    replaces all of them, so commands modsys no longer has disappear). The app's
    own Bearer token comes from the client credentials grant with scope
    `applications.commands.update` (developers/topics/oauth2.mdx). Run from the
    CLI, never inside a web request."""
    if not (settings.discord_application_id and settings.discord_oauth_enabled):
        raise RegistrationFailed("set MODSYS_DISCORD_APPLICATION_ID, MODSYS_DISCORD_CLIENT_ID and "
                                 "MODSYS_DISCORD_CLIENT_SECRET first (Developer Portal > your application)")
    api = settings.discord_api_url.rstrip("/")
    try:
        with http_session.session() as http:
            token = http.post(f"{api}/oauth2/token", timeout=REGISTER_TIMEOUT_S,
                              auth=(settings.discord_client_id or "", settings.discord_client_secret or ""),
                              data={"grant_type": "client_credentials", "scope": "applications.commands.update"})
            if token.status_code != 200:
                raise RegistrationFailed(f"Discord refused the client credentials (HTTP {token.status_code}): "
                                         "check MODSYS_DISCORD_CLIENT_ID and MODSYS_DISCORD_CLIENT_SECRET")
            answer = http.put(f"{api}/applications/{settings.discord_application_id}/guilds/{guild_id}/commands",
                             json=commands, timeout=REGISTER_TIMEOUT_S,
                             headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    except (requests.RequestException, ValueError, KeyError) as e:
        raise RegistrationFailed(f"Discord could not be reached: {type(e).__name__}") from None
    if answer.status_code != 200:
        raise RegistrationFailed(f"Discord refused the commands (HTTP {answer.status_code}): {answer.text[:300]}")
    return answer.json()
