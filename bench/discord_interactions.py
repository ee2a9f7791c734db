"""How long modsys takes to answer a Discord interaction, against Discord's 3 s
deadline for the initial response (developers/interactions/receiving-and-responding.mdx).
Prints figures; never a test.

    python bench/discord_interactions.py [--db sqlite|pg] [--n 200]

A real HTTP server (werkzeug, threaded) on a fresh database; each round a
different member reports a message (context menu, then the modal: two signed
requests) and a linked moderator files a timeout with /timeout. Times are
client-side wall times per request, signature check included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import threading
import time

import requests  # noqa: E402
from common import machine_facts, summary_ms  # noqa: E402  (puts the repo on sys.path)
from werkzeug.serving import make_server  # noqa: E402

from modsys.community import default_community  # noqa: E402
from modsys.domain.actors import CLI  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY, load_settings  # noqa: E402
from modsys.infra.db import make_engine, new_session  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402
from modsys.services.staff import create_staff  # noqa: E402
from tests.support import discord_interactions as d  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    if args.db == "sqlite":
        run(args, f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    else:  # a private schema, dropped afterwards: other runs on the server are left alone
        from tests.conftest import empty_pg_schema, schema_url

        with empty_pg_schema("bench_discord") as schema:
            run(args, schema_url(schema))


def run(args: argparse.Namespace, url: str) -> None:
    engine = make_engine(url)
    upgrade_engine(engine)
    signer = d.Signer()
    settings = dataclasses.replace(
        load_settings({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnop",
                       "MODSYS_POLICY": str(DEFAULT_POLICY)}), discord_public_key=signer.public_hex)
    from web import create_app

    app = create_app(settings, engine=engine, RATELIMIT_ENABLED=False)
    with new_session(engine) as s:
        community = default_community(s)
        community.discord_guild_id = d.GUILD
        mod = create_staff(s, CLI, community.id, "mod_a", "moderator", "bench-password-123")
        mod.discord_user_id = "333333333333333333"
        s.add_all([community, mod])
        s.commit()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{httpd.server_port}/discord/interactions"
    http = requests.Session()
    moderator = d.user("333333333333333333", "ModA")
    times: dict[str, list[float]] = {"report command -> modal": [], "modal submit -> flag filed": [],
                                     "/timeout -> case filed": []}

    def post(label: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        start = time.perf_counter()
        resp = http.post(endpoint, data=body, headers=signer.headers(body), timeout=10)
        times[label].append(time.perf_counter() - start)
        assert resp.status_code == 200, resp.text
        return resp.json()

    for i in range(args.n):
        author = d.user(str(500000000000000000 + i), f"member{i}")
        reporter = d.user(str(600000000000000000 + i), f"reporter{i}")
        modal = post("report command -> modal",
                     d.message_command("Report to moderators", reporter, str(700000000000000000 + i), author,
                                       "you are an idiot"))
        post("modal submit -> flag filed", d.modal_submit(modal["data"]["custom_id"], reporter, {"reason": "insult"}))
        out = post("/timeout -> case filed", d.slash("timeout", moderator, [
            {"name": "member", "type": 6, "value": author["id"]}, {"name": "rule", "type": 3, "value": "respectful"},
            {"name": "duration", "type": 3, "value": "1h"},
            {"name": "reason", "type": 3, "value": "Insulting another member."}], [author]))
        assert "filed" in out["data"]["content"], out
    httpd.shutdown()
    engine.dispose()
    print(machine_facts())
    print(f"database: {args.db}, {args.n} rounds, Discord's deadline for an answer: 3000 ms")
    for label, values in times.items():
        s = summary_ms(values)
        print(f"  {label:<28} n {s.pop('n'):.0f}  " + "  ".join(f"{k} {v:.1f} ms" for k, v in s.items()))


if __name__ == "__main__":
    main()
