"""Flag intake to stored score, at a steady rate, through the real processes.
Prints figures; never a test.

    python bench/intake.py [--mode pg|sqlite|both] [--rate 10] [--seconds 60]
                           [--backend onnx-int8|torch] [--pages 5] [--model-dir DIR] [--pg URL]

PostgreSQL (`pg`): a fresh database (`modsys db upgrade && modsys init`),
gunicorn with 2 workers (gunicorn.conf.py) and one `modsys worker`, in
production mode. SQLite (`sqlite`): the embedded default, `modsys serve` (web
server, scheduler and scoring thread in one process) on a SQLite file.

The model is BERT-base shaped (12 layers, hidden 768, 12 heads, intermediate
3072, vocabulary 30,522; detoxify's `original` head with 6 labels), randomly
initialised and saved in detoxify's checkpoint format like
tests/support/tiny_model.py, then installed with `install_model`: the real
loading and scoring path, the real amount of arithmetic. Nothing is downloaded.

Flags are POSTed to /api/v1/flags at `--rate` per second (open loop: a slow
answer does not delay the next report) for `--seconds`, spread over four
reporter keys (four chat-bot shards; one key is limited to 300 requests a
minute). Messages have chat-like lengths (median ~8 words, 4% walls of text).
Meanwhile pages are served: `--pages` GETs a second of /statements and /login
(templates + queries), open loop. The scoring backend is `--backend` (the
int8 one is made with `modsys model convert`, as an operator would).
Reported: the API's and the pages' answer times, and intake-to-score latency per flag,
`ToxicityScore.created_at - Flag.created_at` (both stamped by the app's clock
on this machine), p50/p95/max, once every flag is scored or 180 s after the
last report; a flag still unscored then counts as a miss (and the percentiles,
over the scored ones only, flatter the run).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    drop_database,
    ensure_database,
    machine_facts,
    percentile,
    summary_ms,
)

from modsys.infra.config import DEFAULT_POLICY  # noqa: E402
from modsys.toxicity.model_store import locate  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/modsys_intake"
LOADED = r"loaded toxicity model \S+ \((\S+), sha256 \w+, (\d+) threads\)"  # backend, threads
THROUGHPUT = math.nan  # flags scored per second over the run (set by `latencies`)
WINDOWS: dict[int, list[float]] = {}
VOCAB_SIZE = 30522
LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = ("i you the a to and is it that of in me my this for on be was are not so just do have lol what but with "
         "like no yes can all your get if we at he she they know im dont out up go good about how one now think "
         "when ok want really why who time see people there would mod ban banned appeal server game play chat "
         "message rule rules hey thanks please sorry idiot stupid trash noob clown shut cope ratio").split()


# --- the model -------------------------------------------------------------------------------------

def build(dest: Path) -> None:
    """Child process: a BERT-base-shaped detoxify checkpoint + its HF config dir."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    cfg_dir = dest / "hf"
    cfg_dir.mkdir(parents=True)
    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(string.ascii_lowercase + string.digits
                                                                  + string.punctuation)
    base += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab = list(dict.fromkeys(base + WORDS))
    vocab += [f"tok{i}" for i in range(VOCAB_SIZE - len(vocab))]
    (cfg_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(cfg_dir / "vocab.txt"), do_lower_case=True, model_max_length=512).save_pretrained(cfg_dir)
    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, num_labels=len(LABELS))
    config.save_pretrained(cfg_dir)
    torch.manual_seed(0)
    net = BertForSequenceClassification(config).eval()
    torch.save({"config": {"name": "bert_base_random",
                           "arch": {"type": "BERT", "args": {"model_type": "bert-base-uncased",
                                                             "model_name": "BertForSequenceClassification",
                                                             "tokenizer_name": "BertTokenizer",
                                                             "num_classes": len(LABELS)}},
                           "dataset": {"type": "JigsawData", "args": {"classes": LABELS}}},
                "state_dict": net.state_dict()}, dest / "bert-base-random.ckpt")


def install(model_dir: Path) -> float:
    from modsys.toxicity import install_model

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modsys-intake-build-") as tmp:
        subprocess.run([sys.executable, __file__, "--build", tmp + "/src"], check=True)
        install_model(Path(tmp) / "src" / "bert-base-random.ckpt", Path(tmp) / "src" / "hf", model_dir)
    return time.perf_counter() - t0


# --- the load -----------------------------------------------------------------------------------

def messages(n: int, rng: random.Random, long_share: float) -> list[str]:
    out = []
    for _ in range(n):
        long = rng.random() < long_share
        k = rng.randint(150, 400) if long else max(1, min(120, round(rng.lognormvariate(math.log(8), 0.9))))
        out.append(" ".join(rng.choices(WORDS, k=k)))
    return out


def load_pages(base: str, rate: float, stop: threading.Event) -> list[float]:
    """GET pages at `rate`/s until `stop`; returns answer times of the 200s."""
    times: list[float] = []
    if rate <= 0:
        return times
    lock = threading.Lock()

    def get(i: int) -> None:
        t0 = time.perf_counter()
        try:
            ok = requests.get(f"{base}{('/statements', '/login')[i % 2]}", timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        if ok:
            with lock:
                times.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(4) as pool:
        start, i = time.monotonic(), 0
        while not stop.is_set():
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            pool.submit(get, i)
            i += 1
    return times


def drive_with_pages(base: str, keys: list[str], args) -> tuple[list[int], list[float], dict, list[float]]:
    stop = threading.Event()
    pages: list[float] = []
    loader = threading.Thread(target=lambda: pages.extend(load_pages(base, args.pages, stop)))
    loader.start()
    try:
        ids, answers, statuses = drive(base, keys, args.rate, args.seconds, seed=1, long_share=args.long_share)
    finally:
        stop.set()
        loader.join()
    return ids, answers, statuses, pages


def drive(base: str, keys: list[str], rate: float, seconds: float, seed: int,
          long_share: float) -> tuple[list[int], list[float], dict]:
    """POST flags at `rate`/s for `seconds` (open loop). Returns (flag ids, API answer
    times in seconds, status counts)."""
    n = int(rate * seconds)
    texts = messages(n, random.Random(seed), long_share)
    run = secrets.token_hex(4)
    local = threading.local()
    ids: list[int] = []
    answers: list[float] = []
    statuses: dict = {}
    lock = threading.Lock()

    def post(i: int) -> None:
        s = getattr(local, "session", None) or requests.Session()
        local.session = s
        t0 = time.perf_counter()
        try:
            r = s.post(f"{base}/api/v1/flags", timeout=30, headers={"Authorization": f"Bearer {keys[i % len(keys)]}"},
                       json={"message_id": f"{run}{i:07d}", "channel_id": "1200000000000000001",
                             "channel_name": "general", "author_id": str(1_100_000_000_000_000_000 + i % 5000),
                             "author_name": f"member{i % 5000}", "content": texts[i], "reporter": str(7000 + i),
                             "reason": "reported from the chat"})
            status = r.status_code
        except requests.RequestException as e:
            status = type(e).__name__
        took = time.perf_counter() - t0
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                ids.append(r.json()["flag_id"])
                answers.append(took)

    with ThreadPoolExecutor(16) as pool:
        start = time.monotonic()
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, i)
    return ids, answers, statuses


def latencies(engine: sa.Engine, ids: list[int], wait_s: float) -> tuple[list[float], int]:
    """Intake-to-score seconds of every flag once all are scored (or `wait_s` ran out); and the misses."""
    deadline = time.monotonic() + wait_s
    ids_param = sa.bindparam("ids", expanding=True)  # IN (...) on both PostgreSQL and SQLite
    query = sa.text("SELECT count(*) FROM flag WHERE id IN :ids AND score_state = 'pending'").bindparams(ids_param)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query, {"ids": ids}).scalar() == 0:
                break
        time.sleep(0.5)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT f.created_at, s.created_at FROM flag f JOIN toxicityscore s ON s.flag_id = f.id "
            "WHERE f.id IN :ids").bindparams(ids_param), {"ids": ids}).all()
    def when(v):  # SQLite hands raw text back to a text() query
        return datetime.fromisoformat(v) if isinstance(v, str) else v

    global THROUGHPUT, WINDOWS
    if rows:
        first, last = min(when(c) for c, _ in rows), max(when(s) for _, s in rows)
        THROUGHPUT = len(rows) / max((last - first).total_seconds(), 1e-9)
        WINDOWS = {}  # 10-second window of intake -> latencies: growth means saturation, a bump a stall
        for created, scored in rows:
            window = int((when(created) - first).total_seconds() // 10) * 10
            WINDOWS.setdefault(window, []).append((when(scored) - when(created)).total_seconds())
    return [(when(scored) - when(created)).total_seconds() for created, scored in rows], len(ids) - len(rows)


def report(name: str, answers: list[float], lat: list[float], misses: int, statuses: dict, sent_for: float,
           pages: list[float] = ()) -> None:
    api = summary_ms(answers)
    ordered = sorted(lat)
    p95 = percentile(ordered, 95) if ordered else math.nan
    verdict = "met" if ordered and p95 < 2 and not misses else "MISSED"
    print(f"{name}: {sum(statuses.values())} flags sent in {sent_for:.1f}s, answers {statuses}")
    print(f"  API answer (202)       p50 {api['p50']:7.1f}  p95 {api['p95']:7.1f}  p99 {api['p99']:7.1f}  "
          f"max {api['max']:7.1f} ms")
    if pages:
        page = summary_ms(pages)
        print(f"  pages served ({len(pages)})  p50 {page['p50']:7.1f}  p95 {page['p95']:7.1f}  p99 {page['p99']:7.1f}  "
              f"max {page['max']:7.1f} ms")
    if ordered:
        print(f"  intake -> stored score p50 {percentile(ordered, 50):7.3f}  p95 {p95:7.3f}  "
              f"p99 {percentile(ordered, 99):7.3f}  max {ordered[-1]:7.3f} s  scored {len(ordered)}, "
              f"unscored at the end {misses}  target p95 < 2 s: {verdict}")
        print(f"  scored {THROUGHPUT:.1f} flags/s on average (first report to last score), for {sum(statuses.values()) / sent_for:.1f} sent/s")
        print("  p95 by 10 s of intake: " + ", ".join(
            f"{w}s {percentile(sorted(v), 95):.2f}" for w, v in sorted(WINDOWS.items())))
    else:
        print(f"  nothing was scored ({misses} unscored): target MISSED")


class Procs:
    def __init__(self, logs: Path):
        self.logs, self.procs = logs, []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc, out))
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, out in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            out.close()


def wait_http(url: str, procs: Procs, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, proc, _ in procs.procs:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited:\n{procs.log(name)[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {seconds}s")


def wait_log(procs: Procs, name: str, pattern: str, seconds: float = 120) -> re.Match:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if m := re.search(pattern, procs.log(name)):
            return m
        time.sleep(0.3)
    raise SystemExit(f"{name}: no {pattern!r} in {seconds}s:\n{procs.log(name)[-3000:]}")


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    r = subprocess.run([sys.executable, "-m", "modsys.cli", *args], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode:
        raise SystemExit(f"modsys {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def keys(env: dict[str, str]) -> list[str]:
    return [re.search(r"key: (\S+)", cli(env, "apikey", "create", f"chatbot-shard{i}", "--role", "reporter")).group(1)
            for i in range(4)]


def warm_up(base: str, key: str, engine: sa.Engine) -> None:
    """One flag before the clock starts (the worker loads the model on its first
    batch), then wait until nothing is left to score (the demo's flags, in SQLite mode)."""
    requests.post(f"{base}/api/v1/flags", timeout=30, headers={"Authorization": f"Bearer {key}"},
                  json={"message_id": "warmup", "channel_id": "1", "author_id": "110000000000000001", "author_name": "w",
                        "content": "hello there", "reporter": "1"}).raise_for_status()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT count(*) FROM flag WHERE score_state = 'pending'")).scalar():
                return
        time.sleep(0.5)
    raise SystemExit("the scoring worker did not catch up before the run")


def run_pg(args, model_dir: Path, tmp: Path) -> None:
    drop_database(args.pg)
    ensure_database(args.pg)
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MODSYS_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48), "DATABASE_URL": args.pg,
           "MODSYS_BASE_URL": base, "MODSYS_POLICY": str(DEFAULT_POLICY), "MODSYS_MODEL_DIR": str(model_dir),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MODSYS_LOG_FORMAT": "text",
           "MODSYS_TOXICITY_BACKEND": args.backend, "MODSYS_MODEL_AUTOFETCH": "0"}
    for var in ("FLASK_DEBUG", "MODSYS_TORCH_THREADS", "PORT", "WEB_CONCURRENCY"):
        env.pop(var, None)
    cli(env, "db", "upgrade")
    cli(env, "init")
    api_keys = keys(env)
    procs = Procs(tmp)
    engine = sa.create_engine(args.pg, poolclass=sa.pool.NullPool)
    try:
        procs.start("web", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "web.wsgi:app"],
                    {**env, "MODSYS_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
                     "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")})
        procs.start("worker", [sys.executable, "-m", "modsys.cli", "worker"], env)
        wait_http(f"{base}/healthz", procs)
        warm_up(base, api_keys[0], engine)
        backend, threads = wait_log(procs, "worker", LOADED).groups()
        time.sleep(1)
        print(machine_facts(engine, gunicorn_workers=2, gunicorn_threads=4, extra=[
            f"scoring backend {backend}, {threads} threads; load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "processes: gunicorn (2 workers) + 1 `modsys worker` + PostgreSQL + this load generator, same machine",
            f"load: {args.rate:g} flags/s for {args.seconds:g} s, open loop; {args.long_share:.0%} walls of text"]))
        t0 = time.monotonic()
        ids, answers, statuses, pages = drive_with_pages(base, api_keys, args)
        sent_for = time.monotonic() - t0
        lat, misses = latencies(engine, ids, 180)
        report(f"PostgreSQL, gunicorn x2 + modsys worker ({backend})", answers, lat, misses, statuses, sent_for, pages)
    finally:
        procs.stop()
        engine.dispose()
        drop_database(args.pg)


def run_sqlite(args, model_dir: Path, tmp: Path) -> None:
    port = _port()
    base = f"http://127.0.0.1:{port}"
    db = tmp / "modsys.infra.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "MODSYS_POLICY": str(DEFAULT_POLICY),
           "MODSYS_MODEL_DIR": str(model_dir), "SECRET_KEY": secrets.token_urlsafe(48), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "MODSYS_LOG_FORMAT": "text", "MODSYS_TOXICITY_BACKEND": args.backend,
           "MODSYS_MODEL_AUTOFETCH": "0"}
    for var in ("MODSYS_ENV", "FLASK_DEBUG", "MODSYS_TORCH_THREADS"):
        env.pop(var, None)
    api_keys = keys(env)  # creates the schema and the community on the file
    procs = Procs(tmp)
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    try:
        procs.start("serve", [sys.executable, "-m", "modsys.cli", "serve", "--port", str(port)], env)
        wait_http(f"{base}/healthz", procs)
        warm_up(base, api_keys[0], engine)
        backend, threads = wait_log(procs, "serve", LOADED).groups()
        time.sleep(1)
        import sqlite3

        print(machine_facts(extra=[
            f"scoring backend {backend}, {threads} threads; {args.pages:g} pages/s served meanwhile",
            f"processes: `modsys serve` (werkzeug threaded server + scheduler + scoring thread), SQLite "
            f"{sqlite3.sqlite_version} file in WAL mode, + this load generator, same machine",
            f"load: {args.rate:g} flags/s for {args.seconds:g} s, open loop; {args.long_share:.0%} walls of text"]))
        t0 = time.monotonic()
        ids, answers, statuses, pages = drive_with_pages(base, api_keys, args)
        sent_for = time.monotonic() - t0
        lat, misses = latencies(engine, ids, 180)
        report(f"SQLite, embedded `modsys serve` ({backend})", answers, lat, misses, statuses, sent_for, pages)
    finally:
        procs.stop()
        engine.dispose()


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("pg", "sqlite", "both"), default="both")
    parser.add_argument("--rate", type=float, default=10.0, help="flags per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--long-share", type=float, default=0.04,
                        help="share of walls of text (150-400 words) among the messages")
    parser.add_argument("--pg", default=PG_DEFAULT, help="a database to create, use and drop")
    parser.add_argument("--model-dir", type=Path, help="an installed model to reuse (default: build one)")
    parser.add_argument("--backend", choices=("onnx-int8", "torch"), default="onnx-int8")
    parser.add_argument("--pages", type=float, default=5.0, help="pages served per second meanwhile")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        return build(args.build)
    with tempfile.TemporaryDirectory(prefix="modsys-intake-") as tmp:
        tmp = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            model_dir = tmp / "models"
            took = install(model_dir)
            size = sum(f.stat().st_size for f in model_dir.rglob("*") if f.is_file()) / 2**20
            print(f"# BERT-base-shaped random model built and installed in {took:.1f}s ({size:.0f} MiB)", flush=True)
        if args.backend == "onnx-int8" and not locate(model_dir, "original").backend("onnx-int8"):
            t0 = time.perf_counter()
            print("# " + cli({**os.environ, "MODSYS_MODEL_DIR": str(model_dir)}, "model", "convert", "--to", "onnx-int8",
                         timeout=1200)
                  .strip() + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
        for mode in (("pg", "sqlite") if args.mode == "both" else (args.mode,)):
            work = tmp / mode
            work.mkdir()
            print()
            (run_pg if mode == "pg" else run_sqlite)(args, model_dir, work)
        shutil.rmtree(tmp / "pg", ignore_errors=True)


if __name__ == "__main__":
    main()
