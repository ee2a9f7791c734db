"""HTTP load on the production web tier: gunicorn (gunicorn.conf.py, gthread)
on PostgreSQL, loopback only, bounded in time. Prints figures; never a test.

    python bench/http_load.py [--url URL] [--workers 2] [--connections 8] [--duration 10]
                         [--appeals 3000] [--wrk]

What is measured, each for `--duration` seconds with `--connections` keep-alive
connections (the appeal pages are bounded by `--appeals` instead):

- GET /healthz: a bare Flask endpoint through the same app, hooks and
  gunicorn, touching no database: the baseline every ratio is taken against;
- GET / (moderator dashboard home) and GET /flags (flag queue page), logged in
  as a moderator (session cookie);
- GET /appeal/<token>: the member's case page (one per member, fresh cookies);
- POST /appeal/<token>/appeal: submitting an appeal through the portal form,
  multipart like a browser, with the CSRF token and session cookie that the
  case page just gave that member. Each POST files a real appeal (audit event
  and notification included), on its own action.

The portal limits requests per client IP. Each simulated member gets its own
address in X-Forwarded-For, with MODSYS_TRUSTED_PROXIES=1: production runs
behind a reverse proxy, and this is what the app then sees.

The load generator is Python (http.client, one thread per connection, split
over `--processes` processes) and runs on the same cores as gunicorn and
PostgreSQL, so the ratios compare like with like; `--wrk` also runs wrk (C)
on the GET pages as a check of how much the Python client holds back.

The database is --url (default: bench/generate.py's modsys_bench). The
actions to appeal are added to it (one member each, with a statement of
reasons) and removed again at the end with their appeals and notifications;
the audit events of the appeals stay (append-only).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from common import BENCH_DB, ROOT, machine_facts, summary_ms  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from modsys.community import ensure_community  # noqa: E402
from modsys.domain.actors import CLI  # noqa: E402
from modsys.domain.models import StaffUser  # noqa: E402
from modsys.domain.policy import load_policy  # noqa: E402
from modsys.infra.config import DEFAULT_POLICY  # noqa: E402
from modsys.infra.db import make_engine  # noqa: E402
from modsys.infra.migrate import upgrade_engine  # noqa: E402
from modsys.infra.portal_links import make_token  # noqa: E402
from modsys.services.staff import create_staff  # noqa: E402

USER_AGENT = "modsys-bench/1"
MOD_USER, MOD_PASSWORD = "bench_http_mod", "bench-http-" + "k3y-9f8e7d6c5b4a"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STATEMENT = "I was quoting another member to report them to the moderators; please read the whole thread."


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


# --- load generator ---------------------------------------------------------------------------

class Request:
    """One request to send: method, path, headers, body; and the status expected."""

    __slots__ = ("method", "path", "headers", "body", "expect")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None, expect: int = 200):
        self.method, self.path, self.headers, self.body, self.expect = method, path, headers, body, expect


def _connection_loop(port: int, work: list[Request] | Request, deadline: float, out: list, statuses: Counter,
                     bodies: list | None) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    items = iter(work) if isinstance(work, list) else None
    while time.monotonic() < deadline:
        req = work if items is None else next(items, None)
        if req is None:
            break
        t0 = time.perf_counter()
        try:
            conn.request(req.method, req.path, body=req.body, headers=req.headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            statuses[type(e).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        out.append(time.perf_counter() - t0)
        statuses[resp.status if resp.status == req.expect else f"unexpected {resp.status}"] += 1
        if bodies is not None:
            bodies.append((req, resp.getheader("Set-Cookie"), data))
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def _process(port: int, shares: list, deadline: float, keep_bodies: bool, queue) -> None:
    out: list[float] = []
    statuses: Counter = Counter()
    bodies: list | None = [] if keep_bodies else None
    threads = [threading.Thread(target=_connection_loop, args=(port, share, deadline, out, statuses, bodies))
               for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((out, dict(statuses), [(r.path, cookie, body) for r, cookie, body in bodies] if bodies else []))


def load(port: int, work: list[Request] | Request, *, connections: int, processes: int, duration: float,
         keep_bodies: bool = False) -> dict[str, Any]:
    """Send `work` (one request repeated until the deadline, or a list, each once)
    over `connections` keep-alive connections. Returns throughput and latencies."""
    per_conn: list = ([work] * connections if isinstance(work, Request)
                      else [work[i::connections] for i in range(connections)])
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    started = time.monotonic()
    deadline = started + duration
    procs = [ctx.Process(target=_process, args=(port, per_conn[p::processes], deadline, keep_bodies, queue))
             for p in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=duration + 120) for _ in procs]
    for p in procs:
        p.join(30)
    elapsed = time.monotonic() - started
    latencies = [x for r in results for x in r[0]]
    statuses: Counter = Counter()
    for r in results:
        statuses.update(r[1])
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "latency": summary_ms(latencies), "statuses": dict(statuses),
            "bodies": [b for r in results for b in r[2]]}


def wrk(port: int, path: str, headers: dict[str, str], connections: int, duration: float) -> dict[str, float] | None:
    if not shutil.which("wrk"):
        return None
    # --timeout: wrk's default (2 s) would drop the slowest answers from the latencies
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(duration)}s", "--latency", "--timeout", "30s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99": float(p99.group(1)) * scale, "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket.group(1) if socket else "none"}


# --- setup ----------------------------------------------------------------------------------

def prepare(engine: sa.Engine, n_actions: int, secret: str, community_id: int) -> tuple[list[tuple[str, int]], list[int]]:
    """`n_actions` fresh timeouts (a member and a statement of reasons each): their
    appeal-link tokens with each member's index (for its client address), and the action ids."""
    policy = load_policy(DEFAULT_POLICY)
    now = datetime.now(UTC) - timedelta(minutes=5)
    deadline = now + policy.appeals.window
    tag = secrets.token_hex(3)
    with engine.begin() as conn:
        mod = conn.execute(sa.select(StaffUser.id).where(StaffUser.username == MOD_USER)).scalar_one()
        members = conn.execute(sa.text(
            "INSERT INTO member (community_id, platform, platform_user_id, display_name, created_at) "
            "SELECT :c, 'discord', :tag || '-' || g, 'http bench member ' || g, now() FROM generate_series(1, :n) g "
            "RETURNING id"), {"c": community_id, "n": n_actions, "tag": f"httpbench-{tag}"}).scalars().all()
        actions = conn.execute(sa.text(
            "INSERT INTO action (community_id, member_id, kind, moderator_id, rules, policy_version, public_reason, "
            "private_note, starts_at, ends_at, status, source, appealable, appeal_deadline, lifted_reason, created_at) "
            "SELECT :c, m, 'timeout', :mod, CAST('[\"respectful\"]' AS json), :v, "
            "'Insulting another member in #general.', '', :now, CAST(:now AS timestamptz) + interval '24 hours', "
            "'active', 'moderator', true, :deadline, '', :now FROM unnest(CAST(:members AS int[])) m RETURNING id, member_id"),
            {"c": community_id, "mod": mod, "v": policy.version, "now": now, "deadline": deadline,
             "members": list(members)}).all()
        conn.execute(sa.text(
            "INSERT INTO statementofreasons (action_id, decision_ground, category, decision_account, measure, "
            "decision_facts, ground_reference, ground_explanation, automated_detection, automated_decision, redress, "
            "created_at) SELECT a, 'DECISION_GROUND_INCOMPATIBLE_CONTENT', 'STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH', "
            "NULL, '24 hours timeout', 'You called another member an idiot in #general.', 'respectful (Be respectful)', "
            "'Insults break the rule Be respectful.', false, 'AUTOMATED_DECISION_NOT_AUTOMATED', "
            "'Appeal through your link.', :now FROM unnest(CAST(:actions AS int[])) a"),
            {"now": now, "actions": [a for a, _ in actions]})
    return ([(make_token(secret, a, m, deadline), i) for i, (a, m) in enumerate(actions, start=1)],
            [a for a, _ in actions])


def cleanup(engine: sa.Engine, action_ids: list[int], since: datetime) -> None:
    """Remove what this run added (its appeals would otherwise fill the moderators'
    queue of the next run). The audit events stay: they are append-only."""
    with engine.begin() as conn:
        appeal_ids = conn.execute(sa.text("SELECT id FROM appeal WHERE action_id = ANY(:a)"),
                                  {"a": action_ids}).scalars().all()
        conn.execute(sa.text("DELETE FROM outboxmessage WHERE event = 'appeal.submitted' AND created_at >= :t "
                             "AND CAST(payload AS jsonb)->>'title' ~ :re"),
                     {"t": since, "re": r"^New appeal: appeal #\d+ \(case #\d+\)$"})
        conn.execute(sa.text("DELETE FROM appeal WHERE id = ANY(:p)"), {"p": appeal_ids})
        conn.execute(sa.text("DELETE FROM statementofreasons WHERE action_id = ANY(:a)"), {"a": action_ids})
        members = conn.execute(sa.text("DELETE FROM action WHERE id = ANY(:a) RETURNING member_id"),
                               {"a": action_ids}).scalars().all()
        conn.execute(sa.text("DELETE FROM member WHERE id = ANY(:m)"), {"m": list(members)})


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "----modsysbench" + secrets.token_hex(8)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename=""\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n\r\n")  # the empty file input a browser sends
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


def login(port: int, ip: str) -> str:
    """The moderator's session cookie, through the real login form."""
    base = {"User-Agent": USER_AGENT, "X-Forwarded-For": ip}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login", headers=base)
    resp = conn.getresponse()
    page = resp.read().decode()
    cookie = resp.getheader("Set-Cookie").split(";", 1)[0]
    body = f"username={MOD_USER}&password={MOD_PASSWORD}&csrf_token={CSRF.search(page).group(1)}"
    conn.request("POST", "/login", body=body, headers={**base, "Cookie": cookie,
                                                         "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 302, f"login failed: {resp.status}"
    conn.close()
    return resp.getheader("Set-Cookie").split(";", 1)[0]


def line(name: str, r: dict[str, Any], base_rps: float | None, target: float | None = None) -> str:
    lat = r["latency"]
    ratio = "" if base_rps is None else f"  ratio {r['rps'] / base_rps:5.3f}"
    verdict = "" if target is None or base_rps is None else (
        f" (target >= {target}: {'met' if r['rps'] / base_rps >= target else 'MISSED'})")
    return (f"{name:<34} {r['rps']:8.1f} req/s  p50 {lat['p50']:7.1f}  p95 {lat['p95']:7.1f}  p99 {lat['p99']:7.1f}  "
            f"max {lat['max']:7.1f} ms  n {r['requests']:>6}{ratio}{verdict}  {r['statuses']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=BENCH_DB)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (2 workers x 4 threads)")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per GET scenario")
    parser.add_argument("--appeals", type=int, default=3000, help="appeals to submit (bounds the portal scenarios)")
    parser.add_argument("--wrk", action="store_true", help="also measure the GET pages with wrk")
    args = parser.parse_args()

    engine = make_engine(args.url)
    upgrade_engine(engine)
    with Session(engine) as s:
        community_id = ensure_community(s, DEFAULT_POLICY).id
        if not s.exec(select(StaffUser).where(StaffUser.username == MOD_USER)).first():
            create_staff(s, CLI, community_id, MOD_USER, "moderator", MOD_PASSWORD)
        sizes = {t: s.exec(sa.text(f"SELECT count(*) FROM {t}")).one()[0] for t in ("action", "flag", "appeal")}
    secret = secrets.token_urlsafe(48)
    t0 = time.perf_counter()
    run_started = datetime.now(UTC)
    links, action_ids = prepare(engine, args.appeals, secret, community_id)
    print(f"# prepared {len(links):,} actions to appeal in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="modsys-http-"))
    env = {**os.environ, "MODSYS_ENV": "production", "SECRET_KEY": secret, "DATABASE_URL": args.url,
           "MODSYS_BASE_URL": f"http://127.0.0.1:{port}", "MODSYS_POLICY": str(DEFAULT_POLICY),
           "MODSYS_MODEL_DIR": str(tmp / "models"), "MODSYS_TRUSTED_PROXIES": "1",
           "MODSYS_RATELIMIT_STORAGE": "memory://", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
           "MODSYS_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.workers), "MODSYS_LOG_FORMAT": "json"}
    for var in ("FLASK_DEBUG", "PORT", "MODSYS_ALLOW_SQLITE"):
        env.pop(var, None)
    log = open(tmp / "gunicorn.log", "wb")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"], env=env,
                           cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or web.poll() is not None:
                raise SystemExit(f"gunicorn did not start:\n{(tmp / 'gunicorn.log').read_text()[-3000:]}")
            time.sleep(0.2)
        from modsys.toxicity import available_cpus

        print(machine_facts(engine, gunicorn_workers=args.workers, gunicorn_threads=4, extra=[
            "dataset: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()),
            f"load: {args.connections} keep-alive connections from {args.processes} Python processes on the same "
            f"machine, {args.duration:g} s per GET scenario; available_cpus()={available_cpus()}"]))
        staff_ip = client_ip(0)
        cookie = login(port, staff_ip)
        staff = {"User-Agent": USER_AGENT, "X-Forwarded-For": staff_ip, "Cookie": cookie}
        bench = dict(connections=args.connections, processes=args.processes, duration=args.duration)

        # warm-up: every worker builds its caches and pool
        load(port, Request("GET", "/", staff), **{**bench, "duration": 2})
        health = load(port, Request("GET", "/healthz", {"User-Agent": USER_AGENT}), **bench)
        print("\n" + line("GET /healthz (baseline)", health, None))
        base = health["rps"]
        for name, path in (("GET / (dashboard home)", "/"), ("GET /flags (flag queue)", "/flags")):
            print(line(name, load(port, Request("GET", path, staff), **bench), base, 0.5), flush=True)

        if args.wrk:  # before the portal scenario: its appeals would lengthen the moderators' queue
            print()
            w_health = wrk(port, "/healthz", {"User-Agent": USER_AGENT}, args.connections, args.duration)
            if w_health is None:
                print("wrk is not installed (apt-get install wrk)")
            else:
                print(f"wrk GET /healthz                    {w_health['rps']:8.1f} req/s  p99 {w_health['p99']:7.1f} ms")
                for name, path in (("wrk GET / (dashboard home)", "/"), ("wrk GET /flags (flag queue)", "/flags")):
                    w = wrk(port, path, staff, args.connections, args.duration)
                    print(f"{name:<34} {w['rps']:8.1f} req/s  p99 {w['p99']:7.1f} ms  ratio {w['rps'] / w_health['rps']:5.3f}"
                          f"  non-2xx {w['non2xx']}, socket errors {w['socket_errors']}")
            print()

        # the portal: each member opens the case page (fresh cookies), then submits
        pages = [Request("GET", f"/appeal/{token}", {"User-Agent": USER_AGENT, "X-Forwarded-For": client_ip(i)})
                 for token, i in links]
        opened = load(port, pages, **{**bench, "duration": 600}, keep_bodies=True)
        print(line("GET /appeal/<token> (case page)", opened, base, 0.5))
        posts = []
        by_path = {r.path: r for r in pages}
        for path, set_cookie, body in opened["bodies"]:
            token = CSRF.search(body.decode()).group(1)
            data, ctype = multipart({"csrf_token": token, "statement": STATEMENT})
            posts.append(Request("POST", f"{path}/appeal", {
                "User-Agent": USER_AGENT, "X-Forwarded-For": by_path[path].headers["X-Forwarded-For"],
                "Cookie": set_cookie.split(";", 1)[0], "Content-Type": ctype}, data, expect=303))
        submitted = load(port, posts, **{**bench, "duration": 600})
        print(line("POST /appeal/<token>/appeal", submitted, base, 0.5))
        with engine.connect() as conn:
            filed = conn.execute(sa.text("SELECT count(*) FROM appeal WHERE statement = :s"), {"s": STATEMENT}).scalar()
        print(f"  appeals in the database with this run's statement: {filed:,} (each POST filed one)")

    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait(10)
        log.close()
        errors = [l for l in (tmp / "gunicorn.log").read_text(errors="replace").splitlines() if '"level": "ERROR"' in l]
        if errors:
            print(f"\n{len(errors)} ERROR lines in the gunicorn log, first: {errors[0][:500]}")
        shutil.rmtree(tmp, ignore_errors=True)
        cleanup(engine, action_ids, run_started)
        engine.dispose()


if __name__ == "__main__":
    main()
