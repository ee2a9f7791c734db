"""The production topology without Docker, end to end (docs/production.md,
"Without Docker"): real `gunicorn -c gunicorn.conf.py` with 2 workers, a
`modsys scheduler` (plus a standby), a `modsys worker`, on PostgreSQL in a
fresh schema, every process a subprocess configured only by environment
variables, and a fake Discord behind the webhooks. One case travels the whole
road over HTTP:

    chat bot reports a message (API, reporter key)
    -> the worker scores it (read back through the API with a moderator key)
    -> a moderator files a timeout on the flag (dashboard: login + CSRF)
    -> the member gets a DM from the bot with a signed link, and appeals (portal + CSRF)
    -> nobody reviews: the appeal is made overdue by SQL (the review SLA is
       72 h; this test can't wait that long, and the servers run on the system clock)
    -> the scheduler escalates it
    -> leadership modifies the sanction (leadership desk: login + CSRF)
    -> the member reads the decision in the portal
    and Discord got exactly the right messages on the right channels and DMs.

Why two schedulers: the escalation job runs every 60 s, and once at once when
a scheduler becomes leader. Stopping the leader (SIGTERM) after the appeal is
overdue hands over to the standby, which escalates without the 60 s wait, and
checks the documented failover on the way.

PostgreSQL only, never skipped. Not `pg_engine`: its schema is built by
create_all, which `modsys db upgrade` rightly refuses, and the migration is part
of what is tested here. So this test makes (and drops) its own schema.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from modsys.infra.config import DEFAULT_POLICY, KNOWN_ENV_VARS
from modsys.infra.portal_links import decode_token, make_token, portal_url
from tests.conftest import empty_pg_schema, schema_url
from tests.support.discord_server import FakeDiscord
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_TOKEN = "journey-WEBHOOK-t0ken-must-not-be-logged"
CHANNEL_IDS = {"modlog": "101", "appeals": "102", "leadership": "103"}
MEMBER_ID = "1100000000000000042"
LINK = re.compile(r"(https?://\S+/appeal/[A-Za-z0-9._-]{20,})")
PASSWORDS = {"mod_alice": "alice-" + secrets.token_hex(8), "lead_bob": "bob-" + secrets.token_hex(8)}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MESSAGE = "you are a complete idiot and everyone here knows it"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A long-running process with its output in a file we can read while it runs.
    Its own session, so a forgotten gunicorn worker dies with its master."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path, cwd: Path = ROOT) -> None:
        self.name, self.log = name, logs / f"{name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return f"--- {self.name} (rc={self.proc.poll()}) ---\n{self.text()[-3000:]}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a process manager would; the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop on SIGTERM within {timeout}s\n{self.tail()}") from None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created: master and its workers
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty schema in the `test` database, as a DATABASE_URL for other processes."""
    with empty_pg_schema("modsys_journey") as schema:
        yield schema_url(schema)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The tiny detoxify-format checkpoint, installed the way an operator would."""
    from modsys.toxicity import install_model
    from tests.support.tiny_model import build_tiny_checkpoint

    src = tmp_path_factory.mktemp("tiny")
    checkpoint, config_dir = build_tiny_checkpoint(src, "original")
    install_model(checkpoint, config_dir, src / "models")
    return src / "models"


def policy_file(tmp_path: Path) -> Path:
    """The default policy with every toxicity threshold at 0.01: the tiny model's
    scores are random, and this makes "over threshold, announce" certain."""
    text = DEFAULT_POLICY.read_text()
    text, n = re.subn(r"^(    (?:toxicity|severe_toxicity|obscene|threat|insult|identity_attack)): 0\.\d+$",
                      r"\1: 0.01", text, flags=re.M)
    assert n == 6, "the default policy's thresholds moved; update this test"
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (CSRF token, flag and member ids)."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/login", timeout=10)
    token = CSRF.search(page.text).group(1)
    r = s.post(f"{base}/login", data={"username": username, "password": PASSWORDS[username], "csrf_token": token},
               allow_redirects=False, timeout=10)
    assert r.status_code == 302, (r.status_code, r.text[:500])
    return s


def titles(fake: FakeDiscord, channel: str) -> list[str]:
    """What a channel got, less the hourly audit checkpoints (checked on their own)."""
    return [t for t in (p["embeds"][0]["title"] for p in fake.payloads_for(CHANNEL_IDS[channel]))
            if not t.startswith("Audit checkpoint")]


def polled_json(url: str, **kw) -> dict | None:
    """A GET inside a wait: a slow answer on a busy machine is "not yet", not a failure."""
    try:
        return requests.get(url, timeout=5, **kw).json()
    except requests.RequestException:
        return None


def test_flag_to_final_decision_across_real_processes(fresh_pg_url, model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # our own HTTP calls too
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(48)
    # Only what this test sets: nothing of modsys's configuration leaks in from the developer's shell.
    env = {k: v for k, v in os.environ.items() if k not in KNOWN_ENV_VARS and not k.startswith("MODSYS_")}
    env |= {"MODSYS_ENV": "production", "SECRET_KEY": secret, "DATABASE_URL": fresh_pg_url,
           "MODSYS_BASE_URL": base, "MODSYS_POLICY": str(policy_file(tmp_path)), "MODSYS_MODEL_DIR": str(model_dir),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MODSYS_LOG_FORMAT": "json",
           "MODSYS_TORCH_THREADS": "1", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1",
           "MODSYS_AUDIT_KEY": secrets.token_urlsafe(48), "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "checkpoints.log")}
    # The bot reaches the member by DM (no Discord server set: nothing is enforced, only told).
    env |= {"MODSYS_DISCORD_BOT_TOKEN": "fake-bot-token", "MODSYS_DISCORD_API_URL": "set below"}

    def cli(*args: str, stdin: str | None = None) -> str:
        r = subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, cwd=ROOT, input=stdin,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"modsys {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r.stdout

    engine = sa.create_engine(fresh_pg_url, poolclass=sa.pool.NullPool)  # the test's own look at the database
    procs: list[Proc] = []
    with FakeDiscord() as fake:
        env["MODSYS_DISCORD_API_URL"] = fake.api_url
        try:
            # --- deploy: migrate, then init (the compose `migrate` service) ------------------
            assert "migrated empty -> " in cli("db", "upgrade")
            assert "database ready" in cli("init")
            assert "already at" in cli("db", "upgrade")  # the next deploy's migrate is a no-op
            for user, role in (("mod_alice", "moderator"), ("lead_bob", "leadership")):
                cli("create-user", user, "--role", role, "--password-stdin", stdin=PASSWORDS[user] + "\n")
            reporter_key = re.search(r"key: (\S+)", cli("apikey", "create", "chatbot", "--role", "reporter")).group(1)
            mod_key = re.search(r"key: (\S+)", cli("apikey", "create", "modbot", "--role", "moderator",
                                                   "--staff", "mod_alice")).group(1)

            # --- start the processes ------------------------------------------------------------
            # The web tier never holds the audit key; two workers share their rate limits in Redis.
            web_env = {**{k: v for k, v in env.items() if k != "MODSYS_AUDIT_KEY"}, "MODSYS_BIND": f"127.0.0.1:{port}",
                       "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
                       "MODSYS_RATELIMIT_STORAGE": "redis://127.0.0.1:6379"}
            # Only the scheduler gets the webhook URLs (docs/production.md).
            sched_env = {**env, **{f"MODSYS_WEBHOOK_{c.upper()}": fake.url(CHANNEL_IDS[c], WEBHOOK_TOKEN)
                                   for c in ("modlog", "appeals", "leadership")}}
            web = Proc("web", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"],
                       web_env, logs)
            procs.append(web)
            worker = Proc("worker", [sys.executable, "-m", "modsys.cli", "worker"], env, logs)
            procs.append(worker)
            leader = Proc("scheduler-1", [sys.executable, "-m", "modsys.cli", "scheduler", "--standby-poll", "0.5"],
                          sched_env, logs)
            procs.append(leader)

            def dump() -> str:
                return "\n".join(p.tail() for p in procs)

            def ready() -> bool:
                assert all(p.alive() for p in procs), dump()
                try:
                    r = requests.get(f"{base}/readyz", timeout=5)
                except requests.RequestException:  # not listening yet, or too busy to answer in time
                    return False
                return r.status_code == 200 and r.json()["status"] == "ready"  # model installed: not degraded

            wait_until(ready, 40, "gunicorn to be ready", on_timeout=dump)
            wait_until(lambda: "scheduler lock acquired" in leader.text(), 30, "the scheduler to lead", on_timeout=dump)
            standby = Proc("scheduler-2", [sys.executable, "-m", "modsys.cli", "scheduler", "--standby-poll", "0.5"],
                           sched_env, logs)
            procs.append(standby)
            assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
            assert web.text().count("Booting worker") == 2  # WEB_CONCURRENCY, and nothing else, sets the count

            # --- a chat bot reports a message ---------------------------------------------------
            bot = {"Authorization": f"Bearer {reporter_key}"}
            staff_api = {"Authorization": f"Bearer {mod_key}"}
            r = requests.post(f"{base}/api/v1/flags", headers=bot, timeout=10, json={
                "message_id": "1300000000000000001", "channel_id": "1200000000000000001", "channel_name": "general",
                "author_id": "1100000000000000042", "author_name": "grumpy_gus", "content": MESSAGE,
                "reporter": "1100000000000000007", "reason": "insulting people"})
            assert r.status_code == 202, r.text
            flag_id = r.json()["flag_id"]
            assert r.json()["score_state"] == "pending" and r.headers["Location"].endswith(f"/api/v1/flags/{flag_id}")

            # --- the worker scores it -----------------------------------------------------------
            def scored() -> dict | None:
                assert worker.alive(), dump()
                body = polled_json(f"{base}/api/v1/flags/{flag_id}", headers=staff_api)
                return body if body and body["score_state"] == "scored" else None

            flag = wait_until(scored, 40, "the worker to score the flag", every=0.3, on_timeout=dump)
            assert flag["details"]["priority"] is True and flag["details"]["max_score"] >= 0.01
            assert flag["details"]["author"]["platform_user_id"] == "1100000000000000042"
            # A reporter key sees only the status of what it reported.
            assert requests.get(f"{base}/api/v1/flags/{flag_id}", headers=bot, timeout=5).json()["details"] is None

            # --- a moderator files a timeout on it in the dashboard -------------------------------
            mod = login(base, "mod_alice")
            assert f"/flags/{flag_id}" in mod.get(f"{base}/flags", timeout=10).text  # in the queue
            page = mod.get(f"{base}/actions/new", params={"flag": flag_id}, timeout=10)
            assert page.status_code == 200, page.text[:500]
            hidden = form_fields(page.text)
            assert hidden["flag"] == str(flag_id) and "csrf_token" in hidden
            r = mod.post(f"{base}/actions/new", params={"flag": flag_id}, allow_redirects=False, timeout=10, data={
                **hidden, "kind": "timeout", "rule": "respectful", "duration": "24h",
                "public_reason": "Insulting another member in #general.",
                "facts": "You called another member an idiot in #general.",
                "ev_kind_0": "text", "ev_vis_0": "private", "ev_content_0": "STAFF-ONLY: reported by 3 members"})
            assert r.status_code == 302 and "/actions/" in r.headers["Location"], (r.status_code, r.text[:800])
            action_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
            assert requests.get(f"{base}/api/v1/flags/{flag_id}", headers=staff_api, timeout=5).json()["status"] == "actioned"

            # --- the member's notice (the bot's DM) carries the signed appeal link -----------------
            wait_until(lambda: fake.dms.get(MEMBER_ID), 20, "the member's notice", on_timeout=dump)
            notice = fake.dms[MEMBER_ID][0]["content"]
            assert f"you received a 1 day timeout (case #{action_id})" in notice, notice
            link = LINK.search(notice).group(1)
            token = urlsplit(link).path.rsplit("/", 1)[1]
            linked_action, member_id, expires_at = decode_token(secret, token)  # signed with the shared SECRET_KEY
            assert linked_action == action_id
            assert link == portal_url(base, make_token(secret, action_id, member_id, expires_at))

            # --- the member appeals through the portal --------------------------------------------
            member = requests.Session()
            case = member.get(link, timeout=10)
            assert case.status_code == 200 and "Insulting another member" in case.text
            assert "STAFF-ONLY" not in case.text and MESSAGE in case.text  # public snapshot, never private evidence
            r = member.post(f"{link}/appeal", allow_redirects=False, timeout=10, data={
                "csrf_token": CSRF.search(case.text).group(1),
                "statement": "I was quoting what someone said to me, to report it; please read the thread."})
            assert r.status_code == 303, (r.status_code, r.text[:800])
            appeal_id = int(re.search(r"/appeals/(\d+)$", r.headers["Location"]).group(1))
            appeal_url = f"{link}/appeals/{appeal_id}"

            def appeal_status() -> str | None:
                body = polled_json(f"{base}/api/v1/appeals/{appeal_id}", headers=staff_api)
                return body and body["status"]

            assert appeal_status() == "submitted"
            wait_until(lambda: titles(fake, "appeals"), 20, "the appeals channel to hear of it", on_timeout=dump)

            # --- nobody reviews it: 73 hours pass (by SQL), the scheduler escalates it -------------
            with engine.begin() as conn:
                moved = conn.execute(sa.text(
                    "UPDATE appeal SET submitted_at = submitted_at - interval '73 hours', "
                    "review_due_at = review_due_at - interval '73 hours' WHERE id = :id AND status = 'submitted'"),
                    {"id": appeal_id}).rowcount
            assert moved == 1
            assert "scheduler lock acquired" not in standby.text()  # it only stood by so far
            assert leader.stop() == 0  # SIGTERM: a clean exit, the lock released
            wait_until(lambda: "scheduler lock acquired" in standby.text(), 15, "the standby to take over",
                       on_timeout=dump)
            wait_until(lambda: appeal_status() == "escalated", 20, "the escalation", on_timeout=dump)
            escalated = requests.get(f"{base}/api/v1/appeals/{appeal_id}", headers=staff_api, timeout=5).json()
            assert escalated["escalation_reason"] == "review SLA passed" and escalated["leadership_due_at"]
            wait_until(lambda: titles(fake, "leadership"), 20, "leadership to be told", on_timeout=dump)

            # --- leadership decides at the desk ---------------------------------------------------
            lead = login(base, "lead_bob")
            assert f"/leadership/appeals/{appeal_id}" in lead.get(f"{base}/leadership", timeout=10).text
            page = lead.get(f"{base}/leadership/appeals/{appeal_id}", timeout=10)
            assert page.status_code == 200 and "review SLA passed" in page.text
            r = lead.post(f"{base}/leadership/appeals/{appeal_id}/decide", allow_redirects=False, timeout=10, data={
                "csrf_token": CSRF.search(page.text).group(1), "outcome": "modified", "new_kind": "timeout",
                "new_duration": "1h", "reasons": "The insult was real but quoted to report it; one hour is enough.",
                "statement_title": "On quoting abuse to report it",
                "statement_body": "Quote abuse in a report to the moderators, not in the channel."})
            assert r.status_code == 302, (r.status_code, r.text[:800])

            # --- the member reads the decision ----------------------------------------------------
            seen = member.get(appeal_url, headers={"Accept": "application/json"}, timeout=10).json()
            assert seen["status"] == "decided" and seen["escalated_to_leadership"] is True
            decision = seen["decision"]
            assert decision["outcome"] == "modified" and decision["decided_by"] == "leadership"
            assert decision["reasons"].startswith("The insult was real")
            assert decision["new_sanction"]["kind"] == "timeout"
            assert decision["official_statement"]["title"] == "On quoting abuse to report it"
            assert "one hour is enough" in member.get(appeal_url, timeout=10).text  # the HTML page too

            # --- Discord: exactly these messages, each on its own channel, in order ---------------
            wait_until(lambda: len(titles(fake, "appeals")) >= 3 and len(fake.dms.get(MEMBER_ID, [])) >= 2, 20,
                       "the decision's notifications", on_timeout=dump)
            def delivered() -> bool:  # nothing left to send: anything extra would have shown up by now
                with engine.connect() as conn:
                    return not conn.execute(sa.text("SELECT count(*) FROM outboxmessage WHERE status = 'pending'")).scalar_one()

            wait_until(delivered, 20, "the outbox to drain", on_timeout=dump)
            assert titles(fake, "modlog") == [f"Priority flag #{flag_id} in #general", f"Action filed: case #{action_id}"]
            assert titles(fake, "appeals") == [f"New appeal: appeal #{appeal_id} (case #{action_id})",
                                               f"Appeal #{appeal_id} modified (case #{action_id})",
                                               "Official statement: On quoting abuse to report it"]
            assert titles(fake, "leadership") == [f"Escalated to leadership: appeal #{appeal_id} (case #{action_id})"]
            told = [m["content"] for m in fake.dms[MEMBER_ID]]
            assert len(told) == 2 and f"your appeal #{appeal_id} on case #{action_id} was decided: modified. As the " \
                "result of your appeal, the 1 day timeout is replaced by a 1 hour timeout" in told[1], told
            assert {r.token for r in fake.attempts} == {WEBHOOK_TOKEN} and len(fake.attempts) == len(fake.accepted)

            # --- what is stored, and the audit chain ----------------------------------------------
            with engine.connect() as conn:
                score = conn.execute(sa.text("SELECT model_name, max_score FROM toxicityscore WHERE flag_id = :f"),
                                     {"f": flag_id}).one()
                statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM outboxmessage "
                                                     "WHERE event != 'audit.checkpoint' GROUP BY status")).all())
            assert score.model_name == "original" and score.max_score == pytest.approx(flag["details"]["max_score"])
            assert statuses == {"sent": 8}
            # --- the audit checkpoints: in the log outside the database, and on leadership's channel ---
            posted = [p["embeds"][0]["description"] for p in fake.payloads_for(CHANNEL_IDS["leadership"])
                      if p["embeds"][0]["title"].startswith("Audit checkpoint")]
            assert posted, "the scheduler posts a checkpoint when it starts leading"
            line = re.search(r"modsys-audit-checkpoint v1 \S+ \S+ \S+ \S+", posted[-1]).group(0)
            assert line in (tmp_path / "checkpoints.log").read_text()
            verified = cli("audit", "verify")
            assert "audit chain ok" in verified and "against" in verified and "no checkpoint" not in verified
            assert "audit chain ok" in cli("audit", "verify", "--checkpoint", line)

            # --- shut down cleanly; no secret in any log -----------------------------------------
            for p in (standby, worker, web):
                assert p.stop() == 0, p.tail()
            for p in procs:
                text = p.text()
                assert secret not in text and WEBHOOK_TOKEN not in text, f"a secret leaked into {p.name}'s log"
            json.loads(web.text().strip().splitlines()[-1])  # production logs are JSON lines
        finally:
            for p in procs:
                if p.alive():
                    p.kill()
            engine.dispose()
