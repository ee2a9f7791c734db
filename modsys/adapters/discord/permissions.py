"""`modsys discord check`: is the bot set up to do its job in a guild?

Token (user.mdx "Get Current User"), guild (guild.mdx "Get Guild": its roles
and owner), the bot's member (guild.mdx "Get Guild Member": its roles), then
its permissions as Discord computes them: @everyone's (the role whose id is
the guild's) OR'ed with its roles', ADMINISTRATOR meaning all
(topics/permissions.mdx), and its highest role: "A bot can only kick, ban, and
edit nicknames for users whose highest role is lower than the bot's highest
role" (topics/permissions.mdx, "Permission Hierarchy").
"""

from __future__ import annotations

from dataclasses import dataclass

from modsys.adapters.discord.client import DiscordClient

ADMINISTRATOR = 1 << 3
# topics/permissions.mdx bit values; names as Discord's settings show them.
REQUIRED = {
    "Ban Members": (1 << 2, "bans and unbans"),
    "Kick Members": (1 << 1, "kicks"),
    "Moderate Members": (1 << 40, "timeouts (shown as Timeout Members)"),
    "View Audit Log": (1 << 7, "recording what moderators do in Discord"),
}


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"ok       {self.what}" if self.ok else f"MISSING  {self.what}\n         fix: {self.fix}"


def check(client: DiscordClient, guild_id: str) -> list[Finding]:
    me = client.current_user()
    if not me.ok:
        return [Finding(False, "bot token", me.explain())]
    bot_id = str(me.data["id"])
    found = [Finding(True, f"bot token (the bot is {me.data.get('username', bot_id)}, id {bot_id})")]
    guild = client.guild(guild_id)
    if not guild.ok:
        fix = guild.explain() if guild.status != 403 else ("the bot is not in this server: invite it with the bot "
                                                            "scope and the permissions below (docs/discord.md)")
        return found + [Finding(False, f"Discord server {guild_id}", fix)]
    found.append(Finding(True, f"Discord server {guild.data.get('name', '')} ({guild_id})"))
    member = client.member(guild_id, bot_id)
    if not member.ok:
        return found + [Finding(False, "the bot's membership", member.explain())]
    roles = {str(r["id"]): r for r in guild.data.get("roles", [])}
    bits = int(roles.get(guild_id, {}).get("permissions", 0))
    mine = [roles[r] for r in member.data.get("roles", []) if r in roles]
    for role in mine:
        bits |= int(role["permissions"])
    for name, (bit, used_for) in REQUIRED.items():
        has = bool(bits & ADMINISTRATOR or bits & bit)
        found.append(Finding(has, f"permission {name} ({used_for})",
                             f"Server Settings > Roles > {(mine and max(mine, key=_pos)['name']) or 'the bot role'} "
                             f"> Permissions: turn on {name}"))
    top = max(mine, key=_pos) if mine else {"name": "@everyone", "position": 0}
    above = sorted((r for r in roles.values() if r["position"] >= top["position"] and str(r["id"]) != guild_id
                    and r not in mine), key=_pos, reverse=True)
    if above:
        names = ", ".join(r["name"] for r in above[:10])
        found.append(Finding(False, f"role position: the bot's highest role {top['name']!r} is not above {names}",
                             f"members with those roles can't be banned, kicked or timed out by the bot; drag "
                             f"{top['name']!r} above them in Server Settings > Roles (keep staff roles above it "
                             f"if they must stay out of reach)"))
    else:
        found.append(Finding(True, f"role position: {top['name']!r} is the highest role"))
    return found


def _pos(role: dict) -> int:
    return int(role.get("position", 0))
