"""GPU benchmark (issue 15, item 4): the composed score and the at-floor sampler on CUDA.

One run of at most about five minutes on one CUDA device, on the family of
``bench_sampling.py`` (FC, n = 16, three conditionals, 4-D blocks of 8-component
mixtures; ``C[p⃗]`` is a product of four noisy blocks, C1–C2):

1. float32 matmul peak: the best of ``PEAK_REPEATS`` products of two ``PEAK_SIZE²``
   matrices with TF32 off (true float32 arithmetic), and with TF32 on for reference;
2. throughput of the composed score ``compose(family.noised(0.3)).score`` at
   ``N ∈ SCORE_POINTS`` points (best of ``SCORE_REPEATS`` synchronized calls): GFLOP/s
   by the analytic count ``block_flops`` of bench_sampling.py, and its fraction of (1);
3. the at-floor time: DPM-Solver++(2M) with the step counts of bench_sampling.py's
   at-floor row (``STEPS``) on N = 100,000 points, ``SEEDS`` prior draws, wall time
   (median) and sliced-W2 ratio to the exact-vs-exact floor (mean; target ≤ 1.05).

Writes ``benchmarks/results/gpu.json`` and ``gpu.md`` with the device's name. Without a
CUDA device it writes nothing and exits with status 2 and one line saying so.

    .venv/bin/python benchmarks/bench_gpu.py [--device cuda:0]     (make bench-gpu)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from bench_sampling import (
    OURS,
    TARGET_RATIO,
    Accuracy,
    TimedScore,
    benchmark_family,
    block_flops,
    machine,
    ours_sample,
)

from numerics.composition.compose import compose
from projcomp.atomic import write_text

RESULTS = Path(__file__).parent / "results"
PEAK_SIZE, PEAK_REPEATS = 8192, 10
SCORE_POINTS = (100_000, 1_000_000, 10_000_000)
SCORE_REPEATS = 10
N = 100_000
STEPS = (8, 30)  # (SDE steps, ODE steps): 38 score calls, bench_sampling's at-floor row
SEEDS = (0, 1, 2, 3)


def timed(device: torch.device, fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds of ``fn()`` with the device synchronized before and after, and its value."""
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    value = fn()
    torch.cuda.synchronize(device)
    return time.perf_counter() - start, value


def synchronized(device: torch.device, fn: Callable[[], object]) -> float:
    """Seconds of ``fn()`` with the device synchronized before and after."""
    return timed(device, fn)[0]


def matmul_peak(device: torch.device, tf32: bool) -> float:
    """Best float32 GFLOP/s of a ``PEAK_SIZE``-square matrix product (``2 n³`` flops)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device)
        b = torch.randn(PEAK_SIZE, PEAK_SIZE, device=device)
        a @ b  # warm-up (cuBLAS handle, kernel choice)
        best = min(synchronized(device, lambda: a @ b) for _ in range(PEAK_REPEATS))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return 2.0 * PEAK_SIZE**3 / best / 1e9


def score_throughput(device: torch.device, peak: float) -> list[dict]:
    """Per ``N`` of ``SCORE_POINTS``: seconds per call, GFLOP/s, fraction of ``peak``."""
    family = benchmark_family()
    law = compose(family.noised(0.3)).to(torch.float32, device)
    flops = sum(block_flops(d.dim, d.num_components) for d in law.dists)
    g = torch.Generator(device=device).manual_seed(5)
    rows = []
    for n in SCORE_POINTS:
        x = torch.randn(n, 16, generator=g, device=device)
        law.score(x)  # warm-up
        best = min(synchronized(device, lambda x=x: law.score(x))
                   for _ in range(SCORE_REPEATS))
        gflops = flops * n / best / 1e9
        rows.append({"n": n, "seconds": best, "gflops": gflops,
                     "peak_fraction": gflops / peak, "flops_per_point": flops})
    return rows


def at_floor(device: torch.device) -> dict:
    """Wall time (median over ``SEEDS``) and SW2 ratio (mean) of our sampler at ``STEPS``."""
    family = benchmark_family()
    accuracy = Accuracy(compose(family), N, torch.float32, device)
    score = TimedScore(lambda t: compose(family.noised(t)), torch.float32, device)
    k1, k2 = STEPS
    ours_sample(score, family.process, N, k1, k2, seed=99)  # warm-up (kernels, caches)
    seconds, ratios = [], []
    for seed in SEEDS:
        score.reset()
        wall, x = timed(device, lambda s=seed: ours_sample(score, family.process, N, k1,
                                                            k2, s))
        seconds.append(wall)
        ratios.append(accuracy.ratio(x))
    return {"method": OURS, "steps": k1 + k2, "n": N, "seconds": statistics.median(seconds),
            "all_seconds": seconds, "ratios": ratios, "ratio": statistics.fmean(ratios),
            "at_floor": statistics.fmean(ratios) <= TARGET_RATIO,
            "floor": accuracy.floor}


def markdown(report: dict) -> str:
    m, floor = report["machine"], report["at_floor"]
    lines = ["# GPU benchmark: composed score and at-floor sampler", "",
             f"Device: **{m['device_name']}** (`{m['device']}`), torch {m['torch']}, "
             f"CUDA {m['cuda']}; host CPU {m['cpu']}.", "",
             f"float32 matmul peak ({PEAK_SIZE}² × {PEAK_SIZE}², best of {PEAK_REPEATS}): "
             f"**{report['peak_gflops']:.0f} GFLOP/s** with TF32 off "
             f"({report['peak_tf32_gflops']:.0f} GFLOP/s with TF32 on).", "",
             "## Composed score (family of bench_sampling.py, t = 0.3, float32)", "",
             "| N | ms per call | GFLOP/s | fraction of float32 peak |", "|---|---|---|---|"]
    lines += [f"| {r['n']:,} | {r['seconds'] * 1e3:.2f} | {r['gflops']:.1f} | "
              f"{r['peak_fraction']:.1%} |" for r in report["score"]]
    lines += ["", f"Flops per point: {report['score'][0]['flops_per_point']} (analytic, "
              "`block_flops`).", "",
              f"## At the floor (N = {floor['n']:,}, {floor['steps']} steps)", "",
              f"- {floor['method']}: {floor['seconds']:.3f} s (median of {len(SEEDS)} draws: "
              f"{', '.join(f'{s:.3f}' for s in floor['all_seconds'])}), SW2 / floor "
              f"{floor['ratio']:.3f} (per draw {', '.join(f'{r:.3f}' for r in floor['ratios'])}"
              f"): {'at' if floor['at_floor'] else 'NOT at'} the floor (≤ {TARGET_RATIO}).",
              "", f"Total benchmark time {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="CUDA device (default cuda)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device is available (torch.cuda.is_available() is False); "
              "nothing measured", file=sys.stderr)
        return 2
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:
        print(f"bench_gpu: --device {args.device}: {' '.join(str(err).split())}",
              file=sys.stderr)
        return 2
    if device.type != "cuda":
        print(f"bench_gpu: --device {args.device} is not a CUDA device", file=sys.stderr)
        return 2
    start = time.perf_counter()
    info = machine(device)
    info["cuda"] = torch.version.cuda
    peak = matmul_peak(device, tf32=False)
    report = {"machine": info, "peak_gflops": peak,
              "peak_tf32_gflops": matmul_peak(device, tf32=True),
              "score": score_throughput(device, peak), "at_floor": at_floor(device)}
    report["seconds"] = time.perf_counter() - start
    if not all(math.isfinite(r["gflops"]) for r in report["score"]):
        print("bench_gpu: a timing came out non-finite; nothing written", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "gpu.json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_text(args.out / "gpu.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
