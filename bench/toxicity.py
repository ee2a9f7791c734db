"""Toxicity scoring throughput and memory on this machine's CPU. Prints figures; never a test.

    python bench/toxicity.py [--quick] [--messages N] [--threads T]   # everything below, side by side, one run
    python bench/toxicity.py --strategies [--quick]                   # torch: batching strategies compared

One run compares, with the worker's thread count (default 1, as MODSYS_TORCH_THREADS):
modsys fp32 (torch) and int8 (ONNX Runtime) against their compute limits
(a measured fp32 GEMM in torch and a measured int8 GEMM, MatMulInteger, in
ONNX Runtime, same threads); detoxify used directly (its own predict, 32
texts a call, the way a bot would call it); the multilingual shape
(XLM-RoBERTa base, 16 outputs) beside `original`; and a scoring worker's
messages/s for live triage (claim, language detection, routing, int8
scoring and the writes, on a SQLite file). The load average is printed
with every part.

The model is detoxify's `original` architecture at full size (bert-base-
uncased: 12 layers, 768 wide, 6 labels), randomly initialised, with a
generated 30,522-token vocabulary, so nothing is downloaded; speed does not
depend on the weights' values. It is saved as a detoxify-format checkpoint,
installed and loaded through modsys's real path, converted with `modsys model
convert --to onnx-int8` (which refuses a conversion more than 0.02 off torch),
and each backend is then measured in a process of its own, so its RSS is its
own: RSS after load, peak RSS while scoring, messages/s, and the arithmetic
it did (fp32-equivalent FLOPs of the tokens it computed, padding included) as
a share of this CPU's fp32 matmul limit. The identity-regression
false-positive rate needs real weights: it is measured only when
MODSYS_MODEL_DIR holds installed models.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCAB_SIZE = 30522
LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
COMMON = """i you the a to and is it that of in me my this for on be was are not so just do have
lol what but with like no yes can all your get if we at he she they know its im dont out up
go good about how one now think when ok want really why who time see people there would
mod ban banned appeal server game play chat message rule rules hey thanks please sorry""".split()


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM (Linux >= 4.0)
        f.write("5")


def window_peak_rss_mib() -> float:
    """Peak RSS since the last reset_peak_rss()."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 1024


def word_pool(rng: random.Random, n: int = 3000) -> list[str]:
    syll = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "sh", "ch", "st", "er", "an", "in"]
    words = set(COMMON)
    while len(words) < n:
        words.add("".join(rng.choices(syll, k=rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words)


def make_vocab(words: list[str]) -> list[str]:
    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    base += list(string.ascii_lowercase + string.digits + string.punctuation)
    base += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab = list(dict.fromkeys(base + words))
    vocab += [f"tok{i}" for i in range(VOCAB_SIZE - len(vocab))]
    return vocab


def corpus(n: int, words: list[str], rng: random.Random) -> list[str]:
    """Chat-like lengths: median ~8 words, a long tail, and ~4% walls of text
    (150-650 words; the longest exceed 512 tokens and get chunked)."""
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf-ish
    out = []
    for _ in range(n):
        if rng.random() < 0.04:
            k = rng.randint(150, 650)
        else:
            k = max(1, min(120, round(rng.lognormvariate(math.log(8), 0.9))))
        text = " ".join(rng.choices(words, weights, k=k))
        if rng.random() < 0.3:
            text += rng.choice(["!", "?", "...", " :)", " lol", " @user123"])
        out.append(text)
    return out


MULTILINGUAL_CLASSES = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                        "sexual_explicit"]


def build(dest: Path, kind: str = "original") -> None:
    """Child process: write a checkpoint + HF config dir (keeps the builder's
    memory out of the parent's peak RSS). original: bert-base-uncased's
    dimensions, 6 outputs; multilingual: xlm-roberta-base's encoder (12 layers,
    768 wide, 16 outputs as detoxify's release) over the same generated
    WordPiece vocabulary: compute per token is the encoder's, and a 250k-row
    embedding table would only add memory."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizer,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    cfg_dir = dest / f"hf-{kind}"
    cfg_dir.mkdir(parents=True)
    words = word_pool(random.Random(0))
    (cfg_dir / "vocab.txt").write_text("\n".join(make_vocab(words)) + "\n")
    BertTokenizer(str(cfg_dir / "vocab.txt"), do_lower_case=True, model_max_length=512).save_pretrained(cfg_dir)
    torch.manual_seed(0)
    if kind == "multilingual":
        config = XLMRobertaConfig(vocab_size=VOCAB_SIZE, num_labels=16, max_position_embeddings=514, pad_token_id=0)
        net, name, model_type, classes = XLMRobertaForSequenceClassification(config), \
            "XLMRobertaForSequenceClassification", "xlm-roberta-base", MULTILINGUAL_CLASSES
    else:
        config = BertConfig(vocab_size=VOCAB_SIZE, num_labels=6)
        net, name, model_type, classes = BertForSequenceClassification(config), \
            "BertForSequenceClassification", "bert-base-uncased", LABELS
    config.save_pretrained(cfg_dir)
    torch.save(
        {
            "config": {
                "arch": {"args": {"model_type": model_type, "model_name": name,
                                  "tokenizer_name": "BertTokenizer", "num_classes": config.num_labels}},
                "dataset": {"args": {"classes": classes}},
            },
            "state_dict": net.state_dict(),
        },
        dest / f"{kind}-random.ckpt",
    )


def matmul_gflops(seconds: float = 2.0) -> float:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * 2048**3 * runs / (time.perf_counter() - start) / 1e9


def in_input_order(lengths, batch_size, *_caps):
    return [list(range(i, min(i + batch_size, len(lengths)))) for i in range(0, len(lengths), batch_size)]


STRATEGIES = {
    # name: (length-sorted?, padding cap) -- the default is the last one
    "input": (False, None),
    "sorted": (True, math.inf),
    "sort+cap": (True, None),
}


def run(scorer, texts, batch_size: int, strategy: str, per_call: int | None = None):
    """Score once (in calls of `per_call` texts, default all at once); return
    (seconds, tokens the model computed incl. padding, peak RSS MiB)."""
    from modsys.toxicity import scorer as scorer_module

    sort, cap = STRATEGIES[strategy]
    executed = []
    hook = scorer.model.register_forward_pre_hook(
        lambda _m, _a, kw: executed.append(kw["attention_mask"].shape), with_kwargs=True
    )
    real_batches, defaults = scorer_module.length_sorted_batches, (scorer.max_padding, scorer.max_batch_tokens)
    if not sort:
        scorer_module.length_sorted_batches = in_input_order
    if cap is not None:
        scorer.max_padding = scorer.max_batch_tokens = cap
    scorer.batch_size = batch_size
    try:
        reset_peak_rss()
        start = time.perf_counter()
        step = per_call or len(texts)
        for i in range(0, len(texts), step):
            scorer.score(texts[i : i + step])
        elapsed = time.perf_counter() - start
    finally:
        scorer_module.length_sorted_batches = real_batches
        scorer.max_padding, scorer.max_batch_tokens = defaults
        hook.remove()
    return elapsed, sum(b * w for b, w in executed), window_peak_rss_mib()


def identity_fpr() -> None:
    from modsys.toxicity import IDENTITY_REGRESSION, installed_models, load_scorer

    model_dir = os.environ.get("MODSYS_MODEL_DIR")
    models = installed_models(model_dir) if model_dir else []
    if not models:
        why = "MODSYS_MODEL_DIR is not set" if not model_dir else f"no model installed in {model_dir}"
        print(f"identity-regression false-positive rate: not measured ({why}; random weights would make it meaningless)")
        return
    for name in models:
        results = load_scorer(model_dir, name).score(IDENTITY_REGRESSION)
        for threshold in (0.5, 0.8):
            flagged = [t for t, r in zip(IDENTITY_REGRESSION, results) if max(r.values()) >= threshold]
            print(f"identity-regression FPR  model={name} any label >= {threshold}: "
                  f"{len(flagged)}/{len(IDENTITY_REGRESSION)} = {len(flagged) / len(IDENTITY_REGRESSION):.1%}")
            for t in flagged:
                print(f"    flagged: {t!r}")


def strategies(args) -> None:
    """torch fp32: batch sizes and batching strategies, in this process."""
    import torch
    import transformers

    from modsys.toxicity import (
        DetoxifyScorer,
        available_cpus,
        install_model,
        load_scorer,
    )

    n = args.messages or (64 if args.quick else 256)
    rounds = 1 if args.quick else 2
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, python {sys.version.split()[0]}")
    print("load average at start (other work on this machine skews every figure): %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="modsys-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(tmp / "src")], check=True)
        t1 = time.perf_counter()
        install_model(tmp / "src" / "original-random.ckpt", tmp / "src" / "hf-original", tmp / "models")
        t2 = time.perf_counter()
        base_rss = rss_mib()
        scorer: DetoxifyScorer = load_scorer(tmp / "models", "original", "torch")
        t3 = time.perf_counter()
        print(f"cores: torch.get_num_threads()={torch.get_num_threads()}, os.cpu_count()={os.cpu_count()}, "
              f"available_cpus()={available_cpus()}")
        print(f"build {t1 - t0:.1f} s (child), install (copy + sha256 x2) {t2 - t1:.1f} s, "
              f"load_scorer (sha256 + torch.load + detoxify build) {t3 - t2:.1f} s")
        print(f"RSS before load {base_rss:.0f} MiB, after load {rss_mib():.0f} MiB, peak so far {peak_rss_mib():.0f} MiB")

        params = sum(p.numel() for p in scorer.model.parameters())
        embed = sum(p.numel() for n_, p in scorer.model.named_parameters() if "embeddings" in n_)
        flops_per_token = 2 * (params - embed)  # embeddings are lookups, not matmuls
        peak = matmul_gflops()
        print(f"params {params / 1e6:.1f} M ({(params - embed) / 1e6:.1f} M outside embeddings) "
              f"-> ~{flops_per_token / 1e6:.0f} MFLOP/token")

        rng = random.Random(1)
        texts = corpus(n, word_pool(random.Random(0)), rng)
        real_tokens = sum(sum(len(c) for c in scorer.token_chunks(t)) for t in texts)
        n_chunked = sum(len(scorer.token_chunks(t)) > 1 for t in texts)
        lengths = sorted(len(scorer.token_chunks(t)[0]) for t in texts)
        print(f"corpus: {n} messages, {real_tokens} tokens incl. [CLS]/[SEP], median {lengths[n // 2]}, "
              f"p90 {lengths[int(n * 0.9)]}, max {max(lengths)} per chunk; {n_chunked} longer than 512 tokens")
        scorer.score(texts[:8])  # warm-up

        settings = [(1, "sort+cap")] + [(b, st) for b in (8, 32) for st in STRATEGIES] + [(32, "sort+cap", 32)]
        best: dict[tuple[int, str], tuple[float, int, float]] = {}
        for _ in range(rounds):  # interleaved, best of rounds: damps other load on the machine
            peak = max(peak, matmul_gflops(1.0))
            for setting in settings:
                best[setting] = min(best.get(setting, (math.inf, 0, 0.0)), run(scorer, texts, *setting))
        print(f"float32 matmul (2048^3, best of {rounds + 1}): {peak:.0f} GFLOP/s = 'peak' below")
        print(f"{'batch':>5} {'batching':>13} {'msg/s':>7} {'tok/s':>7} {'padding':>8} {'GFLOP/s':>8} "
              f"{'of peak':>8} {'peak RSS':>9}")
        for (batch_size, strategy, *per_call), (elapsed, executed, rss) in best.items():
            gflops = flops_per_token * executed / elapsed / 1e9
            label = f"{strategy}{'/call' if per_call else ''}" if batch_size > 1 else "-"
            print(f"{batch_size:>5} {label:>13} {n / elapsed:>7.1f} "
                  f"{real_tokens / elapsed:>7.0f} {executed / real_tokens - 1:>8.0%} {gflops:>8.0f} "
                  f"{gflops / peak:>8.0%} {rss:>5.0f} MiB")
        print("batching: input = fixed-size batches in arrival order; sorted = length-sorted, fixed size; "
              "sort+cap = length-sorted, closed at 10% padding (modsys's default); "
              f"/call = the {n} messages passed 32 per score() call (a worker claiming 32 flags at a time)")
        print(f"best of {rounds} interleaved rounds; padding = tokens computed beyond the real ones; GFLOP/s counts computed "
              "tokens at 2 x non-embedding params each (attention's seq^2 term ignored); peak RSS is the "
              "process's peak during that run (model included)")
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


# -- torch fp32 vs onnx-int8, each in its own process ---------------------------


def measure(backend: str, model_dir: Path, n: int, rounds: int, model: str = "original", threads: int = 1) -> None:
    """Child process: load one backend, score the corpus, print one JSON line."""
    import threading

    from modsys.toxicity import load_scorer

    before = rss_mib()
    t0 = time.perf_counter()
    scorer = load_scorer(model_dir, model, backend, threads=threads)
    loaded_s = time.perf_counter() - t0
    after = rss_mib()
    texts = corpus(n, word_pool(random.Random(0)), random.Random(1))
    real = sum(sum(len(c) for c in scorer.token_chunks(t)) for t in texts)
    computed: list[int] = []
    forward = scorer._forward

    def counted(windows):  # padded tokens the model computes
        computed.append(len(windows) * max(map(len, windows)))
        return forward(windows)

    scorer._forward = counted
    scorer.score(texts[:8])  # warm-up
    # the limit of the same precision and threads, measured in this process just before (the load drifts)
    limit = matmul_gflops(1.0) if backend == "torch" else int8_gemm_gops(threads, 1.0)
    best = {}
    for _ in range(rounds):
        for per_call in (32, n):  # 32 at a time: a worker's first claim; n: a backlog's (claims grow to 256)
            computed.clear()
            start = time.perf_counter()
            for i in range(0, n, per_call):
                scorer.score(texts[i : i + per_call])
            took = time.perf_counter() - start
            best[per_call] = min(best.get(per_call, (math.inf, 0, 0)), (took, sum(computed), len(computed)))
    print(json.dumps({
        "backend": backend, "model": model, "rss_after_load": after, "peak_rss": peak_rss_mib(),
        "rss_before_load": before, "load_s": loaded_s, "real_tokens": real, "n": n,
        "python_threads": threading.active_count(), "torch_imported": "torch" in sys.modules,
        "runs": {str(k): v for k, v in best.items()}, "sha256": scorer.info.sha256, "limit": limit,
    }))


def measure_detoxify(src: Path, kind: str, n: int, rounds: int, threads: int) -> None:
    """Child process: detoxify used directly (Detoxify(...).predict, 32 texts a call)."""
    import torch
    from detoxify import Detoxify

    torch.set_num_threads(threads)
    raw = torch.load(src / f"{kind}-random.ckpt", weights_only=True)
    raw["config"]["arch"]["args"]["model_type"] = str(src / f"hf-{kind}")  # offline: detoxify asks the hub otherwise
    local = src / f"{kind}-local.ckpt"
    torch.save(raw, local)
    model = Detoxify(checkpoint=str(local), huggingface_config_path=str(src / f"hf-{kind}"))
    texts = corpus(n, word_pool(random.Random(0)), random.Random(1))
    model.predict(texts[:8])
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, n, 32):
            model.predict(texts[i : i + 32])
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"seconds": best, "n": n}))


def measure_worker(model_dir: Path, n: int, threads: int) -> None:
    """Child process: a scoring worker for live triage on a SQLite file, with
    the seed community's routes (en: original; fr|es|it|pt|tr|ru and anything
    else: multilingual). n pending flags (a backlog, as after a burst) are
    scored by the real loop (claims, language detection, routing, int8,
    writes, audit) until none is left; the detector and both models are
    loaded first (a worker's start, not its rate)."""
    import threading

    import sqlalchemy as sa
    import yaml

    from modsys.community import ensure_community
    from modsys.domain import clock
    from modsys.domain.models import Flag, ToxicityScore
    from modsys.domain.policy import load_policy
    from modsys.infra import migrate
    from modsys.infra.config import DEFAULT_POLICY, load_settings
    from modsys.infra.db import make_engine, new_session
    from modsys.runtime.scoring import ScoringPlan, run_worker, scorers_for
    from modsys.services.members import get_or_create_member
    from modsys.toxicity.language import detector

    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["toxicity"].update(routes={"en": "original", "fr|es|it|pt|tr|ru": "multilingual"}, fallback="multilingual")
    policy_path = model_dir.parent / "routed-policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    db = model_dir.parent / "worker.db"
    db.unlink(missing_ok=True)
    migrate.upgrade(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    rng = random.Random(2)
    texts = corpus(n, word_pool(random.Random(0)), rng)
    # a fifth in other languages, as in an international community
    other = ["t'es vraiment nul, ferme-la, personne ne veut de toi ici", "eres un idiota, cállate ya por favor",
             "ты полный идиот, заткнись уже", "sen tam bir aptalsın, kapa çeneni artık"]
    texts = [rng.choice(other) if rng.random() < 0.2 else t for t in texts]
    with new_session(engine) as session:
        community = ensure_community(session, policy_path)
        author = get_or_create_member(session, community.id, "110000000000000001", "author")
        session.add_all(Flag(community_id=community.id, platform_message_id=str(10_000 + i), channel_id="1",
                             author_id=author.id, content=t, reporter_count=1, created_at=clock.now())
                        for i, t in enumerate(texts))
        session.commit()
    settings = load_settings({"MODSYS_MODEL_DIR": str(model_dir), "MODSYS_TORCH_THREADS": str(threads),
                              "MODSYS_TOXICITY_BACKEND": "onnx-int8", "MODSYS_POLICY": str(policy_path)})
    plan = ScoringPlan("original", (settings.toxicity_backend,))
    detector(load_policy(policy_path).toxicity.detection_languages())
    for model in ("original", "multilingual"):
        scorers_for(settings, plan)(model)
    stop, done, claims = threading.Event(), [0], []

    def on_batch(count: int) -> None:
        done[0] += count
        claims.append(count)
        if done[0] >= n:
            stop.set()

    start = time.perf_counter()
    run_worker(engine, settings, plan, stop, on_batch=on_batch)
    took = time.perf_counter() - start
    with new_session(engine) as session:
        mix = dict(session.exec(sa.select(ToxicityScore.model_name, sa.func.count()).group_by(ToxicityScore.model_name)).all())
    print(json.dumps({"seconds": took, "n": done[0], "claims": claims, "models": mix}))


def int8_gemm_gops(threads: int, seconds: float = 2.0) -> float:
    """ONNX Runtime's int8 GEMM (MatMulInteger, uint8 x int8 -> int32, 2048^3), GOP/s."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    size = 2048
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [size, size])],
        [helper.make_tensor("b", TensorProto.INT8, [size, size],
                            np.random.default_rng(0).integers(-127, 127, (size, size), dtype=np.int8).tobytes(),
                            raw=True)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                   .SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(1).integers(0, 255, (size, size), dtype=np.uint8)
    session.run(None, {"a": a})
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, {"a": a})
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def loadavg() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def child(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def backends(args) -> None:
    import torch

    n = args.messages or (64 if args.quick else 256)
    rounds = 1 if args.quick else 2
    threads = args.threads
    print(f"python {sys.version.split()[0]}; {len(os.sched_getaffinity(0))} cores usable of {os.cpu_count()}; "
          f"{threads} intra-op thread(s) everywhere (the worker's MODSYS_TORCH_THREADS)")
    print(f"start: {loadavg()} (other work on this machine skews every figure)", flush=True)
    with tempfile.TemporaryDirectory(prefix="modsys-bench-") as scratch:
        tmp = args.workdir or Path(scratch)  # --workdir keeps the built models for the next run
        models, src = tmp / "models", tmp / "src"
        env = {**os.environ, "MODSYS_MODEL_DIR": str(models), "HF_HUB_OFFLINE": "1"}
        kinds = ("original", "multilingual")
        for kind in kinds:
            if (models / kind / "model.int8.onnx").exists():
                continue
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--build", str(src), "--kind", kind], check=True)
            subprocess.run([sys.executable, "-m", "modsys.cli", "model", "install", "--model", kind, "--checkpoint",
                            str(src / f"{kind}-random.ckpt"), "--config-dir", str(src / f"hf-{kind}")],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            t1 = time.perf_counter()
            converted = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "convert", "--model", kind,
                                        "--to", "onnx-int8"], env=env, capture_output=True, text=True)
            if converted.returncode:
                raise SystemExit(f"conversion failed:\n{converted.stderr}")
            print(f"{kind}: build + install {t1 - t0:.0f} s, convert {time.perf_counter() - t1:.0f} s "
                  f"({converted.stdout.strip().split(': ', 1)[-1]})", flush=True)
        for kind in kinds:
            entry = json.loads((models / kind / "manifest.json").read_text())["backends"]["onnx-int8"]
            print(f"{kind}: int8 within {entry['max_abs_diff']} of torch; fused kernels {entry['fused']}")

        torch.set_num_threads(threads)
        fp32_limit = matmul_gflops()
        int8_limit = int8_gemm_gops(threads)
        print(f"limits ({loadavg()}): fp32 GEMM (torch, 2048^3) {fp32_limit:.0f} GFLOP/s, "
              f"int8 GEMM (ONNX Runtime MatMulInteger, 2048^3) {int8_limit:.0f} GOP/s; each line below measures "
              f"its own limit just before it runs; {n} chat messages, best of {rounds} round(s)")
        print(f"{'model':>12} {'backend':>10} {'per call':>8} {'batches':>7} {'msg/s':>7} {'vs fp32':>8} "
              f"{'G(FL)OP/s':>9} {'limit':>6} {'of limit':>8} {'RSS load':>9} {'RSS peak':>9}  load average",
              flush=True)
        for kind in kinds:
            params = nonembed_params(src, kind)
            base: dict[str, float] = {}
            for backend in ("torch", "onnx-int8"):
                r = child(env, "--measure", backend, "--kind", kind, "--model-dir", str(models), "--messages", str(n),
                          "--rounds", str(rounds), "--threads", str(threads))
                limit = r["limit"]
                for per_call, (took, computed, batches) in r["runs"].items():
                    base.setdefault(per_call, n / took)
                    rate = 2 * params * computed / took / 1e9
                    print(f"{kind:>12} {backend:>10} {per_call:>8} {batches:>7} {n / took:>7.1f} "
                          f"{n / took / base[per_call]:>7.2f}x {rate:>9.0f} {limit:>6.0f} {rate / limit:>8.0%} "
                          f"{r['rss_after_load']:>5.0f} MiB {r['peak_rss']:>5.0f} MiB  {loadavg()[13:]}", flush=True)
            d = child(env, "--detoxify", str(src), "--kind", kind, "--messages", str(n), "--rounds", str(rounds),
                      "--threads", str(threads))
            print(f"{kind:>12} {'detoxify':>10} {32:>8} {'':>7} {n / d['seconds']:>7.1f} "
                  f"{n / d['seconds'] / base['32']:>7.2f}x  (Detoxify.predict, 32 texts a call)  {loadavg()[13:]}",
                  flush=True)
        worker = child(env, "--worker", str(models), "--messages", str(4 * n), "--threads", str(threads))
        print(f"worker, live triage (int8, routed by language: {worker['models']}; {threads} thread(s); claims "
              f"{worker['claims'][:6]}...): {worker['n']} flags in {worker['seconds']:.1f} s = "
              f"{worker['n'] / worker['seconds']:.1f} msg/s, language detection and database writes included; "
              f"{loadavg()}")
    print("G(FL)OP/s = the arithmetic of the tokens computed (padding included, 2 x non-embedding params per token); "
          "'of limit' divides it by the measured GEMM of the same precision and threads (fp32 for torch, int8 for "
          "onnx-int8). RSS: the scoring process's own (one process per line).")


def nonembed_params(src: Path, kind: str) -> int:
    import torch

    state = torch.load(src / f"{kind}-random.ckpt", weights_only=True)["state_dict"]
    return sum(t.numel() for name, t in state.items() if "embeddings" not in name and "classifier" not in name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 messages, one round")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--strategies", action="store_true", help="torch batching strategies instead of backends")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (the worker's default is 1)")
    parser.add_argument("--workdir", type=Path, help="build the models here and reuse them on the next run")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="original", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--detoxify", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        return build(args.build, args.kind)
    if args.measure:
        return measure(args.measure, args.model_dir, args.messages, args.rounds, args.kind, args.threads)
    if args.detoxify:
        return measure_detoxify(args.detoxify, args.kind, args.messages, args.rounds, args.threads)
    if args.worker:
        return measure_worker(args.worker, args.messages, args.threads)
    if args.strategies:
        return strategies(args)
    backends(args)
    identity_fpr()


if __name__ == "__main__":
    main()
