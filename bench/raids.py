"""A raid of N accounts through modsys's one-click response. Prints figures; never a test.

    python bench/raids.py [--accounts 1000]

On a SQLite file: the alert is raised with N accounts, `modsys.adapters.discord.gateway.raids.respond`
records the decision (the web request's share), and `deliver_raid_responses`
(which files one appealable ban case per account, 100 per transaction) runs until done against a fake Discord that enforces
the documented global limit (50 requests per second, topics/rate-limits.mdx)
and a per-route bucket of 25 per second, answering 429 like Discord. Reported:
the time to file, the time to deliver (lockdown, a DM each, bulk bans of at
most 200), requests by route, 429s and the busiest second. A DM is two
requests (open the channel, send), so the DMs bound the whole: 2N requests at
50 per second is N/25 seconds at best; the bans themselves are ceil(N/200) calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_facts  # noqa: E402
from modsys.adapters.discord.gateway.raids import deliver, raise_alert, respond  # noqa: E402
from modsys.community import ensure_community  # noqa: E402
from modsys.domain import clock  # noqa: E402
from modsys.domain.actors import CLI, Actor  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY, load_settings  # noqa: E402
from modsys.infra.db import make_engine, new_session  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402
from modsys.services.staff import create_staff  # noqa: E402
from tests.support.discord_server import FakeDiscord  # noqa: E402

GUILD = "500000000000000001"
SECRET = "bench-secret-key-0123456789abcdefghijklmnop"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    n = parser.parse_args().accounts
    print(machine_facts())
    with tempfile.TemporaryDirectory() as tmp, FakeDiscord() as fake:
        fake.add_guild(GUILD)
        # The services read whether a bot is configured from the environment (modsys.adapters.discord.target).
        os.environ.update({"MODSYS_DISCORD_BOT_TOKEN": fake.bot_token, "MODSYS_DISCORD_API_URL": fake.api_url,
                           "no_proxy": "127.0.0.1"})
        fake.global_limit, fake.bucket_limit = 50, (25, 1.0)
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade_engine(engine)
        with new_session(engine) as session:
            community = ensure_community(session, DEFAULT_POLICY)
            community.discord_guild_id = GUILD
            session.add(community)
            session.commit()
            mod = Actor.staff(create_staff(session, CLI, community.id, "mod", "moderator", "bench-password-123"))
            community_id = community.id
        now = clock.now()
        incident = raise_alert(engine, community_id, "joins",
                               [(now, str(1500000000000000000 + i), f"raider{i}") for i in range(n)],
                               timedelta(seconds=60))
        with new_session(engine) as session:
            started = time.monotonic()
            respond(session, mod, incident)
            clicked = time.monotonic() - started
        settings = load_settings({"SECRET_KEY": SECRET, "MODSYS_DISCORD_BOT_TOKEN": fake.bot_token,
                                  "MODSYS_DISCORD_API_URL": fake.api_url,
                                  "MODSYS_AUDIT_CHECKPOINTS": f"{tmp}/checkpoints.log"})
        started = time.monotonic()
        runs = 0
        while len(fake.guilds[GUILD].bans) < n and runs < 50:
            deliver(engine, settings=settings)
            runs += 1
        delivered = time.monotonic() - started
        calls = fake.calls
        per_second = Counter(int(c.at) for c in calls)
        routes = Counter(c.route for c in calls)
        print(f"raid of {n} accounts: the click took {clicked * 1000:.0f} ms; the job filed {n} cases, DMed and "
              f"banned them in {delivered:.1f} s over {runs} run(s)")
        print(f"requests: {dict(routes)}; 429s: {sum(c.status == 429 for c in calls)}; "
              f"busiest second: {max(per_second.values())}")
        print(f"banned: {len(fake.guilds[GUILD].bans)}, DMed: {len(fake.dms)}, "
              f"bulk-ban calls: {routes['bulk_ban']} (at most 200 each), lockdown: {fake.guilds[GUILD].incident_actions}")


if __name__ == "__main__":
    main()
