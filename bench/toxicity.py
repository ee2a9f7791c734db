"""Toxicity scoring throughput and memory on this machine's CPU. Prints figures; never a test.

    python bench/toxicity.py [--quick] [--messages N]      # torch fp32 vs onnx-int8, side by side
    python bench/toxicity.py --strategies [--quick]        # torch: batching strategies compared

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


def build(dest: Path) -> None:
    """Child process: write the checkpoint + HF config dir (keeps the
    builder's memory out of the parent's peak RSS)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    cfg_dir = dest / "hf"
    cfg_dir.mkdir(parents=True)
    words = word_pool(random.Random(0))
    (cfg_dir / "vocab.txt").write_text("\n".join(make_vocab(words)) + "\n")
    BertTokenizer(str(cfg_dir / "vocab.txt"), do_lower_case=True, model_max_length=512).save_pretrained(cfg_dir)
    config = BertConfig(vocab_size=VOCAB_SIZE, num_labels=6)  # bert-base-uncased dimensions
    config.save_pretrained(cfg_dir)
    torch.manual_seed(0)
    net = BertForSequenceClassification(config)
    torch.save(
        {
            "config": {
                "arch": {"args": {"model_type": "bert-base-uncased", "model_name": "BertForSequenceClassification",
                                  "tokenizer_name": "BertTokenizer", "num_classes": 6}},
                "dataset": {"args": {"classes": LABELS}},
            },
            "state_dict": net.state_dict(),
        },
        dest / "bert-base-random.ckpt",
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

    from modsys.toxicity import DetoxifyScorer, available_cpus, install_model, load_scorer

    n = args.messages or (64 if args.quick else 256)
    rounds = 1 if args.quick else 2
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, python {sys.version.split()[0]}")
    print("load average at start (other work on this machine skews every figure): %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="modsys-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(tmp / "src")], check=True)
        t1 = time.perf_counter()
        install_model(tmp / "src" / "bert-base-random.ckpt", tmp / "src" / "hf", tmp / "models")
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


def measure(backend: str, model_dir: Path, n: int, rounds: int) -> None:
    """Child process: load one backend, score the corpus, print one JSON line."""
    import threading

    from modsys.toxicity import load_scorer

    before = rss_mib()
    t0 = time.perf_counter()
    scorer = load_scorer(model_dir, "original", backend)
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
    best = {}
    for _ in range(rounds):
        for per_call in (32, n):  # 32 at a time: a worker's claim; n: one call
            computed.clear()
            start = time.perf_counter()
            for i in range(0, n, per_call):
                scorer.score(texts[i : i + per_call])
            took = time.perf_counter() - start
            best[per_call] = min(best.get(per_call, (math.inf, 0)), (took, sum(computed)))
    extra = {}
    if backend == "torch":
        params = sum(p.numel() for name, p in scorer.model.named_parameters() if "embeddings" not in name)
        extra = {"nonembed_params": params, "threads": __import__("torch").get_num_threads()}
    print(json.dumps({
        "backend": backend, "rss_before_load": before, "rss_after_load": after, "peak_rss": peak_rss_mib(),
        "load_s": loaded_s, "real_tokens": real, "n": n, "python_threads": threading.active_count(),
        "torch_imported": "torch" in sys.modules, "runs": {str(k): v for k, v in best.items()},
        "sha256": scorer.info.sha256, **extra,
    }))


def backends(args) -> None:
    n = args.messages or (64 if args.quick else 256)
    rounds = 1 if args.quick else 2
    print(f"python {sys.version.split()[0]}; {len(os.sched_getaffinity(0))} cores usable of {os.cpu_count()}")
    print("load average at start (other work on this machine skews every figure): %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="modsys-bench-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MODSYS_MODEL_DIR": str(tmp / "models"), "HF_HUB_OFFLINE": "1"}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(tmp / "src")], check=True)
        subprocess.run([sys.executable, "-m", "modsys.cli", "model", "install", "--checkpoint",
                        str(tmp / "src" / "bert-base-random.ckpt"), "--config-dir", str(tmp / "src" / "hf")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        t1 = time.perf_counter()
        converted = subprocess.run([sys.executable, "-m", "modsys.cli", "model", "convert", "--to", "onnx-int8"],
                                   env=env, capture_output=True, text=True)
        t2 = time.perf_counter()
        if converted.returncode:
            raise SystemExit(f"conversion failed:\n{converted.stderr}")
        root = tmp / "models" / "original"
        mib = lambda p: p.stat().st_size / 2**20  # noqa: E731
        print(f"build + install {t1 - t0:.0f} s; `modsys model convert --to onnx-int8` {t2 - t1:.0f} s: "
              f"{converted.stdout.strip()}")
        print(f"files: checkpoint.ckpt {mib(root / 'checkpoint.ckpt'):.0f} MiB, "
              f"model.int8.onnx {mib(root / 'model.int8.onnx'):.0f} MiB")
        import torch

        results = {}
        peak = matmul_gflops()
        for backend in ("torch", "onnx-int8"):
            print(f"load average before {backend}: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
            out = subprocess.run([sys.executable, __file__, "--measure", backend, "--model-dir", str(tmp / "models"),
                                  "--messages", str(n), "--rounds", str(rounds)], env=env, capture_output=True,
                                 text=True, check=True)
            results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
        peak = max(peak, matmul_gflops(1.0))
    flops_per_token = 2 * results["torch"]["nonembed_params"]
    print(f"fp32 matmul limit (torch, 2048^3, {torch.get_num_threads()} threads, best of 2): {peak:.0f} GFLOP/s; "
          f"{n} chat messages, {results['torch']['real_tokens']} tokens; best of {rounds} round(s)")
    print(f"{'backend':>10} {'per call':>8} {'msg/s':>7} {'vs fp32':>8} {'GFLOP/s':>8} {'of limit':>8} "
          f"{'RSS load':>9} {'RSS peak':>9} {'load s':>7} {'torch?':>6}")
    base = {k: n / v[0] for k, v in results["torch"]["runs"].items()}
    for backend, r in results.items():
        for per_call, (took, computed) in r["runs"].items():
            gflops = flops_per_token * computed / took / 1e9
            print(f"{backend:>10} {per_call:>8} {n / took:>7.1f} {n / took / base[per_call]:>7.2f}x {gflops:>8.0f} "
                  f"{gflops / peak:>8.0%} {r['rss_after_load']:>5.0f} MiB {r['peak_rss']:>5.0f} MiB "
                  f"{r['load_s']:>7.1f} {'yes' if r['torch_imported'] else 'no':>6}")
    print("GFLOP/s = fp32-equivalent arithmetic of the tokens computed (padding included, 2 x non-embedding params "
          "per token); 'of limit' divides it by the fp32 matmul limit, so int8 kernels can pass 100%. RSS load = "
          "the process's RSS once the scorer is loaded; RSS peak = its peak over the whole run (its own process).")
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 messages, one round")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--strategies", action="store_true", help="torch batching strategies instead of backends")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        return build(args.build)
    if args.measure:
        return measure(args.measure, args.model_dir, args.messages, args.rounds)
    if args.strategies:
        return strategies(args)
    backends(args)
    identity_fpr()


if __name__ == "__main__":
    main()
