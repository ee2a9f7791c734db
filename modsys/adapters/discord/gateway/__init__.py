"""modsys sees the server: a connection to Discord's gateway (discord.py's), as
its own process (`modsys gateway`) or inside `modsys serve` when a bot token is set.

`connection` runs discord.py's client (intents, shards, resume) and hands every
DISPATCH, in order, to `dispatch`, which turns it into modsys's records on one
thread: moderation found in the audit log (`moderation`, which also catches up
from REST after an outage), the message log (`message_log`). Enforcement stays
on modsys's own REST client (`modsys.adapters.discord.client`).
"""
