"""Sampling benchmark (issue 4, items 5–6): the composed sampler against a diffusers loop.

Family (THEORY §3). ``n = 16`` in four 4-D blocks ``M_1 = 0..3``, ``M_2 = 4..7``,
``M_3 = 8..11`` and ``M_b = 12..15``; the background is a product of four 8-component
full-covariance Gaussian mixtures and conditional ``i`` replaces block ``M_i`` by its own
8-component mixture (the other block objects are shared), so the family is FC and
``C[p⃗] = p_1|M_1 ⊗ p_2|M_2 ⊗ p_3|M_3 ⊗ p_b|M_b`` (C1; 8⁴ components if expanded). Component
means are uniform on ``[−2, 2]⁴``, covariances ``Q diag(sd²) Qᵀ`` with ``Q`` random
orthogonal and ``sd ∈ [0.15, 0.84]``, weights ``softmax(N(0, ¼))``. Process: default VP.

Score. ``∇log C[p⃗^t] = compose(family.noised(t)).score``: the composition of the noisy
members, which for this FC family is again a product of the four noisy blocks, each
evaluated once (C2). The law is built in float64 once per time, converted with
``Distribution.to`` and cached; every sampler calls the same callable, and the time
spent inside it is measured.

Samplers, all from ``N(0, s_T² I)`` (diffusers: ``N(0, I)``, the same up to ``a_T²``), same
``N``, same score callable and dtype:

- diffusers ``DDPMScheduler``, ``DDIMScheduler`` (``clip_sample=False``, "leading"
  spacing) and ``DPMSolverMultistepScheduler`` (``algorithm_type="sde-dpmsolver++"``),
  1000 training steps, ``prediction_type="epsilon"``, the model output being
  ``ε̂ = −s_t ∇log p_t``. Betas match the VP process exactly: timestep ``i`` is
  ``t_i = (i + 1)/1000`` and ``β_i = 1 − a(t_i)²/a(t_{i−1})²``, so ``ᾱ_i = a(t_i)²`` (the
  default linear betas ``1e-4..0.02`` are the same schedule to first order in ``β``).
- ours: DPM-Solver++(2M) (numerics/sampling/samplers.py) on ``two_phase_times``: ``k₁`` SDE steps
  uniform in ``log σ`` (``σ = s_t/a_t``) from ``t = T`` (``σ = 152``) to ``σ = 7``, then
  ``k₂`` ODE steps uniform in ``log σ`` down to ``σ_min = 0.01`` (diffusers' last
  timestep is at ``s = 0.01`` too) and ``t = 0``. The ODE alone (and DDIM) stays above
  the floor however many steps it takes (measured at 80 steps over 8 prior draws: 1.10×
  on average, 0.995–1.28× per draw; the two-phase sampler at 38 steps: 1.03×,
  0.995–1.05×): it carries the prior's error (``a_T x_0`` neglected) to ``t = 0``
  unchanged, while the SDE steps contract it by ``e^{−Δλ}`` (``Δλ = log(152/7) = 3.1``);
  below ``σ = 7`` the ODE is the more accurate per step. Rows "ours without SDE steps"
  show it.

Accuracy: sliced Wasserstein-2 (``DIRECTIONS`` random directions) to independent exact
samples of ``C[p⃗]``, divided by the noise floor, the same distance between two exact sets
of the same size; each sample is compared with ``REFERENCES`` exact sets, the floor is
the mean over their pairs. Also measured: the share of sampling time spent in the score,
the score's arithmetic rate against this machine's float32 matmul peak, and the cost of
the composed score against the target's own score and against ``Σ_m e_m ∇log p_m^t``.

Run: ``python benchmarks/bench_sampling.py [--quick] [--device cuda] [--threads 2]``;
results go to ``benchmarks/results/sampling.json`` and ``sampling.md``. With
``--score-only`` only the score's cost and fraction of peak are measured, and our sampler
in the configuration that reached the floor (``OURS_AT_FLOOR``, its runs only: about a
minute), into ``score.json`` and ``score.md``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from numerics.composition.compose import compose, weighted_exponents
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from numerics.laws.fused import fused_available
from numerics.laws.processes import ForwardProcess
from numerics.sampling.sample_metrics import random_directions, sliced_wasserstein2
from numerics.sampling.samplers import dpm_solver_2m, prior_sample
from numerics.sampling.times import karras_times, two_phase_times
from projcomp.atomic import write_text
from projcomp.campaigns import SchedulerError, mapper_for, parse_scheduler

RESULTS = Path(__file__).parent / "results"
DIM, BLOCK, COMPONENTS, CONDITIONALS = 16, 4, 8, 3
DIRECTIONS = 256
REFERENCES = 4
TRAIN_STEPS = 1000
SIGMA_MIN = 0.01
SIGMA_SWITCH = 7.0
TARGET_RATIO = 1.05
Tensor = torch.Tensor


# the family --------------------------------------------------------------------------------
def random_block(g: torch.Generator) -> GaussianMixture:
    """An 8-component mixture on ``R^4`` (module docstring), float64."""
    f64 = torch.float64
    q = torch.linalg.qr(torch.randn(COMPONENTS, BLOCK, BLOCK, generator=g, dtype=f64)).Q
    scale = 0.25 + 0.35 * torch.rand(COMPONENTS, 1, 1, generator=g, dtype=f64)
    sd = scale * (0.6 + 0.8 * torch.rand(COMPONENTS, 1, BLOCK, generator=g, dtype=f64))
    covs = (q * sd**2) @ q.transpose(-1, -2)
    means = 4.0 * torch.rand(COMPONENTS, BLOCK, generator=g, dtype=f64) - 2.0
    weights = torch.softmax(0.5 * torch.randn(COMPONENTS, generator=g, dtype=f64), 0)
    return GaussianMixture(weights, means, 0.5 * (covs + covs.transpose(-1, -2)))


def benchmark_family(seed: int = 0) -> Family:
    """The FC family of the module docstring."""
    g = torch.Generator().manual_seed(seed)
    coords = [list(range(j * BLOCK, (j + 1) * BLOCK)) for j in range(DIM // BLOCK)]
    background_blocks = [random_block(g) for _ in coords]
    own = [random_block(g) for _ in range(CONDITIONALS)]
    background = BlockProduct(list(zip(coords, background_blocks, strict=True)))
    conditionals = tuple(
        BlockProduct([(c, own[i] if j == i else background_blocks[j])
                      for j, c in enumerate(coords)]) for i in range(CONDITIONALS))
    return Family(background, conditionals, projections=tuple(map(tuple, coords[:-1])),
                  name="bench-fc-16d")


class TimedScore:
    """``(x, t) ↦ ∇log law(t)(x)`` for ``law(t) = build(t).to(dtype, device)``, built once per
    ``t``; ``seconds`` accumulates the time spent inside (law building included),
    ``calls`` the evaluations. ``reset()`` empties the cache and the counters."""

    def __init__(self, build: Callable[[float], BlockProduct], dtype: torch.dtype,
                 device: torch.device) -> None:
        self.build, self.dtype, self.device = build, dtype, device
        self.reset()

    def reset(self) -> None:
        self.laws: dict[float, BlockProduct] = {}
        self.seconds, self.calls = 0.0, 0

    def __call__(self, x: Tensor, t: float) -> Tensor:
        start = time.perf_counter()
        t = float(t)
        if t not in self.laws:
            self.laws[t] = self.build(t).to(self.dtype, self.device)
        out = self.laws[t].score(x)
        _sync(self.device)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# samplers ----------------------------------------------------------------------------------
def matched_betas(process: ForwardProcess) -> np.ndarray:
    """``β_i = 1 − a(t_i)²/a(t_{i−1})²`` at ``t_i = (i + 1)/TRAIN_STEPS`` (``t_{−1} = 0``)."""
    a2 = np.array([process.a(i / TRAIN_STEPS) ** 2 for i in range(TRAIN_STEPS + 1)])
    return 1.0 - a2[1:] / a2[:-1]


def diffusers_sample(kind: str, score: TimedScore, process: ForwardProcess, n: int,
                     steps: int, seed: int) -> Tensor:
    """The loop a user writes around a diffusers scheduler, on the exact score."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    common = {"num_train_timesteps": TRAIN_STEPS, "trained_betas": matched_betas(process),
              "prediction_type": "epsilon"}
    scheduler = {
        "DDPM": lambda: DDPMScheduler(clip_sample=False, **common),
        "DDIM": lambda: DDIMScheduler(clip_sample=False, **common),
        "DPM-Solver++(2M) SDE": lambda: DPMSolverMultistepScheduler(
            algorithm_type="sde-dpmsolver++", **common),
    }[kind]()
    scheduler.set_timesteps(steps, device=score.device)
    generator = torch.Generator(device=score.device).manual_seed(seed)
    x = torch.randn(n, DIM, generator=generator, dtype=score.dtype, device=score.device)
    x = x * scheduler.init_noise_sigma
    noise_scale = (1.0 - scheduler.alphas_cumprod).sqrt().tolist()
    for timestep in scheduler.timesteps:
        i = int(timestep)
        eps = -noise_scale[i] * score(x, (i + 1) / TRAIN_STEPS)
        x = scheduler.step(eps, timestep, x, generator=generator).prev_sample
    return x


def ours_sample(score: TimedScore, process: ForwardProcess, n: int, stochastic_steps: int,
                ode_steps: int, seed: int) -> Tensor:
    """DPM-Solver++(2M): ``stochastic_steps`` SDE steps down to ``SIGMA_SWITCH``, then
    ``ode_steps`` ODE steps (module docstring); without SDE steps, ``ode_steps`` ODE steps
    from ``t = T``, uniform in ``log σ``."""
    generator = torch.Generator(device=score.device).manual_seed(seed)
    x_T = prior_sample(n, DIM, process, generator, dtype=score.dtype, device=score.device)
    if stochastic_steps:
        times = two_phase_times(process, stochastic_steps, ode_steps, SIGMA_SWITCH, SIGMA_MIN)
    else:
        times = karras_times(process, ode_steps, SIGMA_MIN, rho=math.inf)
    return dpm_solver_2m(score, x_T, times, process, stochastic_steps=stochastic_steps,
                         generator=generator)


# measurements ------------------------------------------------------------------------------
@dataclass
class Run:
    method: str
    steps: int
    dtype: str
    seconds: float
    score_seconds: float
    score_calls: int
    ratios: list[float]
    all_seconds: list[float]

    @property
    def ratio(self) -> float:
        return statistics.fmean(self.ratios)


class Accuracy:
    """Sliced W2 to ``REFERENCES`` exact sets, divided by the exact-vs-exact floor.

    The floor is ``sliced_wasserstein2`` over all pairs of reference sets; a sample's
    distance to each reference reuses the reference's sorted projections (the same
    formula, ``sqrt(mean((sort(x θ) − sort(y θ))²))``, checked against
    ``sliced_wasserstein2`` on the first pair)."""

    def __init__(self, target: BlockProduct, n: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        g = torch.Generator().manual_seed(1234)
        refs = [target.sample(n, g).to(dtype=dtype, device=device) for _ in range(REFERENCES)]
        self.directions = random_directions(DIM, DIRECTIONS, g).to(dtype=dtype, device=device)
        self.pairs = [sliced_wasserstein2(a, b, self.directions)
                      for a, b in itertools.combinations(refs, 2)]
        self.floor = statistics.fmean(self.pairs)
        self.sorted_refs = [self._sorted(r) for r in refs]
        if not math.isclose(self._distance(refs[1], 0), self.pairs[0], rel_tol=1e-4):
            raise AssertionError("cached sliced W2 disagrees with sliced_wasserstein2")
        # one more exact set: the ratio a perfect sampler gets
        self.exact_ratio = self.ratio(target.sample(n, g).to(dtype=dtype, device=device))

    def _sorted(self, x: Tensor) -> np.ndarray:
        """Sorted projections ``(DIRECTIONS, N)``, float64, sorted by numpy along contiguous
        rows (torch's CPU sort of the same array measured 8–20× slower)."""
        projected = (self.directions @ x.to(self.directions).T).to(device="cpu",
                                                                  dtype=torch.float64)
        return np.sort(projected.numpy(), axis=1)

    @staticmethod
    def _rms(a: np.ndarray, b: np.ndarray) -> float:
        """Sliced W2 from two arrays of sorted projections."""
        return float(np.sqrt(np.mean(np.square(a - b))))

    def _distance(self, x: Tensor, j: int) -> float:
        return self._rms(self._sorted(x), self.sorted_refs[j])

    def ratio(self, x: Tensor) -> float:
        mine = self._sorted(x)
        return statistics.fmean(self._rms(mine, ref) for ref in self.sorted_refs) / self.floor


@dataclass(frozen=True)
class RunTask:
    """One sampling run, a campaign task (``--scheduler``): ``sampler`` is ``ours``
    (``stochastic`` SDE steps, then ``steps − stochastic`` ODE steps) or a diffusers
    scheduler name; ``seed`` draws the prior and the noise."""

    method: str
    sampler: str
    steps: int
    stochastic: int
    seed: int
    n: int
    dtype: str
    device: str
    threads: int


# Per process (this one, or a Dask worker's): the family and the accuracy reference.
_SETUP: dict[tuple[int, str], tuple[Family, Accuracy]] = {}


def setup(n: int, device: str) -> tuple[Family, Accuracy]:
    """The benchmark family and its ``Accuracy`` (exact reference sets) for ``n`` points,
    built once per process."""
    if (n, device) not in _SETUP:
        family = benchmark_family()
        _SETUP[n, device] = family, Accuracy(compose(family), n, torch.float32,
                                             torch.device(device))
    return _SETUP[n, device]


def run_task(task: RunTask) -> tuple[float, float, int, float]:
    """Wall seconds, seconds in the score, score calls and SW2 ratio of one run."""
    torch.set_num_threads(task.threads)
    family, accuracy = setup(task.n, task.device)
    score = TimedScore(lambda t: compose(family.noised(t)), getattr(torch, task.dtype),
                       torch.device(task.device))
    start = time.perf_counter()
    if task.sampler == "ours":
        x = ours_sample(score, family.process, task.n, task.stochastic,
                        task.steps - task.stochastic, task.seed)
    else:
        x = diffusers_sample(task.sampler, score, family.process, task.n, task.steps,
                             task.seed)
    _sync(score.device)
    return time.perf_counter() - start, score.seconds, score.calls, accuracy.ratio(x)


def timed_runs(tasks: list[RunTask], records: list[tuple[float, float, int, float]]) -> Run:
    """The runs of one row (its tasks, one per seed, and their records): the run with the
    median wall time (upper median) gives ``seconds`` and its score time; ``ratios`` and
    ``all_seconds`` in seed order."""
    wall, in_score, calls, _ = sorted(records)[len(records) // 2]
    first = tasks[0]
    return Run(first.method, first.steps, first.dtype, wall, in_score, calls,
               [r[3] for r in records], [r[0] for r in records])


def matmul_peak(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of a ``size × size`` matrix product (``2 size³`` flops)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def block_flops(n: int, k: int) -> int:
    """Arithmetic of ``GaussianMixture.score`` per point, full covariances: the two matrix
    products ``2 K n (n + 1)`` (whitening, bias included) and ``2 K n²`` (back through
    ``L_k⁻ᵀ``); ``|z_k|²`` ``2 K n``; the logits' scale and offset ``2K``; max, shift,
    clamp and ``exp`` ``4K`` (``exp`` counted as one); ``e_k z_k`` ``K n``; ``Σ e_k`` ``K``;
    centring and the final division ``2n``."""
    return 2 * k * n * (n + 1) + 2 * k * n * n + 2 * k * n + 2 * k + 4 * k + k * n + k + 2 * n


def score_costs(family: Family, dtype: torch.dtype, device: torch.device, n: int,
                repeats: int = 3) -> dict[str, float]:
    """Seconds per evaluation at ``t = 0.3`` on ``n`` points (best of ``repeats``): the
    composed score, the target's own noisy score, and the naive sum over members."""
    t = 0.3
    composed = compose(family.noised(t)).to(dtype, device)
    own = compose(family).noised(t, family.process).to(dtype, device)
    members = [p.to(dtype, device) for p in family.noised(t).members]
    exps = weighted_exponents(family)
    x = torch.randn(n, DIM, generator=torch.Generator().manual_seed(5)).to(dtype=dtype,
                                                                          device=device)

    def best(fn: Callable[[], Tensor]) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
        return min(times)

    start = time.perf_counter()
    for _ in range(repeats):
        compose(family.noised(t)).to(dtype, device)
    build = (time.perf_counter() - start) / repeats
    return {"composed": best(lambda: composed.score(x)), "target": best(lambda: own.score(x)),
            "sum_over_members": best(lambda: sum(e * p.score(x)
                                                 for p, e in zip(members, exps, strict=True))),
            "law_build_per_t": build}


def machine(device: torch.device) -> dict[str, object]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, object] = {
        "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__,
        "device": str(device), "load_average_start": list(os.getloadavg()),
        "fused_kernel": fused_available()}
    try:
        import diffusers
        info["diffusers"] = diffusers.__version__
    except ImportError:
        info["diffusers"] = None
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


# report ------------------------------------------------------------------------------------
def first_at_floor(runs: list[Run], method: str) -> Run | None:
    ok = [r for r in runs if r.method == method and r.ratio <= TARGET_RATIO]
    return min(ok, key=lambda r: r.seconds) if ok else None


def kernel_line(m: dict) -> str:
    """Which path the benchmark's mixture scores took (numerics.laws.fused)."""
    if m.get("fused_kernel"):
        return ("Mixture scores of this size run in the fused numba kernel "
                "(`numerics/laws/fused.py`).")
    return "numba is not installed: mixture scores run on the torch path."


def markdown(report: dict) -> str:
    m, acc, costs = report["machine"], report["accuracy"], report["score_costs"]
    lines = [
        "# Sampling benchmark: composed sampler vs diffusers loops", "",
        f"Machine: {m['cpu']}, {m['torch_threads']} torch threads, torch {m['torch']}, "
        f"diffusers {m['diffusers']}, device `{m['device']}`"
        + (f" ({m['device_name']})" if "device_name" in m else "")
        + f"; load average at start {m['load_average_start'][0]:.2f}, at end "
          f"{m['load_average_end'][0]:.2f} (other processes share the cores).", "",
        kernel_line(m), "",
        f"Family: FC, n = {DIM}, {CONDITIONALS} conditionals, 4-D blocks of "
        f"{COMPONENTS}-component mixtures (see the script's docstring); N = {report['n']} "
        f"samples; each row averages several runs (prior draws), listed under 'per run'.",
        "",
        f"Noise floor (sliced W2, {DIRECTIONS} directions, exact vs exact, mean over "
        f"{len(acc['floor_pairs'])} pairs): **{acc['floor']:.5f}** (pairs "
        f"{min(acc['floor_pairs']):.5f}–{max(acc['floor_pairs']):.5f}); a further exact set "
        f"scores {acc['exact_ratio']:.3f}× the floor.", "",
        "Seconds: median over the runs of the wall time of the sampling loop (prior draw and "
        "law building included); in score: share of it inside the score callable.", "",
        "SW2 / floor: mean over the runs ± its standard error.", "",
        "| method | dtype | steps | score calls | seconds | in score | SW2 / floor | "
        "per run |", "|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        ratios = r["ratios"]
        spread = (f" ± {statistics.stdev(ratios) / math.sqrt(len(ratios)):.3f}"
                  if len(ratios) > 1 else " (one run)")
        lines.append(
            f"| {r['method']} | {r['dtype']} | {r['steps']} | {r['score_calls']} | "
            f"{r['seconds']:.2f} | {r['score_seconds'] / r['seconds']:.0%} | "
            f"{statistics.fmean(ratios):.3f}{spread} | "
            f"{', '.join(f'{v:.3f}' for v in ratios)} |")
    s = report["summary"]
    lines += ["", f"## At the floor (mean SW2 ratio ≤ {TARGET_RATIO:.2f})", ""]
    for method, row in s["fastest_at_floor"].items():
        lines.append(f"- {method}: " + ("not reached at the step counts tried" if row is None
                                        else f"{row['steps']} steps, {row['seconds']:.2f} s, "
                                             f"ratio {statistics.fmean(row['ratios']):.3f}"))
    for name, value in s["speedups"].items():
        lines.append(f"- {name} at the floor takes **{value:.1f}×** the time of ours")
    ours = s["fastest_at_floor"].get(f"{OURS} (float32)")
    lines += ["", "Target (floor in at most 6 s): " + (
        "not met" if ours is None else
        f"{'met' if ours['seconds'] <= 6.0 else 'not met'}: {ours['seconds']:.2f} s with "
        f"{ours['steps']} float32 score evaluations (median of the runs)") + "."]
    c = m["campaign"]
    lines += ["", f"Campaign: {c['tasks']} runs as tasks, scheduler {c['scheduler']} "
              f"(`--scheduler`); wall time {c['wall_seconds']:.0f} s for "
              f"{c['task_seconds']:.0f} s of runs."]
    lines += ["", "## Score evaluation", "",
              f"- composed score {costs['composed'] * 1e3:.1f} ms per call on N points, the "
              f"target's own noisy score {costs['target'] * 1e3:.1f} ms, the naive sum "
              f"Σ_m e_m ∇log p_m^t {costs['sum_over_members'] * 1e3:.1f} ms; building the "
              f"composed law for a new t {costs['law_build_per_t'] * 1e3:.1f} ms.",
              f"- arithmetic: {report['flops_per_point']} flops per point per call "
              f"(analytic count, `block_flops`); {report['score_gflops']:.2f} GFLOP/s against "
              f"a float32 matmul peak of {report['matmul_peak_gflops']:.1f} GFLOP/s: "
              f"**{report['peak_fraction']:.1%}** of peak."]
    return "\n".join(lines) + "\n"


def score_report(family: Family, device: torch.device, n: int, info: dict, threads: int,
                 seeds: list[int]) -> dict:
    """The "Score evaluation" numbers alone (``--score-only``): seconds per call (best of
    ``SCORE_REPEATS``), the analytic arithmetic and the fraction of the matmul peak; and
    ``OURS_AT_FLOOR``'s runs, one per seed, with their median time and SW2 ratios."""
    k1, k2 = OURS_AT_FLOOR
    tasks = [RunTask(OURS, "ours", k1 + k2, k1, seed, n, "float32", str(device), threads)
             for seed in seeds]
    at_floor = timed_runs(tasks, [run_task(t) for t in tasks])
    costs = score_costs(family, torch.float32, device, n, repeats=SCORE_REPEATS)
    flops = sum(block_flops(d.dim, d.num_components)
                for d in compose(family.noised(0.3)).dists)
    gflops = flops * n / costs["composed"] / 1e9
    peak = matmul_peak(device)
    info["load_average_end"] = list(os.getloadavg())
    return {"machine": info, "n": n, "score_costs": costs, "flops_per_point": flops,
            "score_gflops": gflops, "matmul_peak_gflops": peak, "peak_fraction": gflops / peak,
            "at_floor": asdict(at_floor)}


def score_markdown(report: dict) -> str:
    m, costs, run = report["machine"], report["score_costs"], report["at_floor"]
    ok = statistics.fmean(run["ratios"]) <= TARGET_RATIO and run["seconds"] <= 6.0
    return "\n".join([
        "# The composed score against the float32 matmul peak (`--score-only`)", "",
        f"Machine: {m['cpu']}, {m['torch_threads']} torch threads, torch {m['torch']}, device "
        f"`{m['device']}`; load average at start {m['load_average_start'][0]:.2f}, at end "
        f"{m['load_average_end'][0]:.2f} (other processes share the cores).", "",
        kernel_line(m), "",
        f"- composed score (the benchmark family at t = 0.3, float32, N = {report['n']}): "
        f"{costs['composed'] * 1e3:.1f} ms per call (best of {SCORE_REPEATS}); the "
        f"target's own noisy score {costs['target'] * 1e3:.1f} ms; the naive sum "
        f"{costs['sum_over_members'] * 1e3:.1f} ms.",
        f"- arithmetic: {report['flops_per_point']} flops per point per call "
        f"(`block_flops`); {report['score_gflops']:.2f} GFLOP/s against a float32 matmul "
        f"peak of {report['matmul_peak_gflops']:.1f} GFLOP/s: "
        f"**{report['peak_fraction']:.1%}** of peak.",
        f"- our sampler at the floor ({run['steps']} float32 score evaluations: "
        f"{OURS_AT_FLOOR[0]} SDE steps, then ODE steps), {len(run['ratios'])} runs: median "
        f"**{run['seconds']:.2f} s** (of which {run['score_seconds']:.2f} s in the score), "
        f"SW2 ratio {statistics.fmean(run['ratios']):.3f} (runs "
        f"{', '.join(f'{v:.3f}' for v in run['ratios'])}). Target (ratio ≤ "
        f"{TARGET_RATIO:.2f} in at most 6 s): "
        f"{'met' if ok else 'not met'}."]) + "\n"


SCORE_REPEATS = 10
OURS = "ours: DPM-Solver++(2M), SDE to σ = 7, ODE below"
OURS_ODE = "ours without SDE steps: DPM-Solver++(2M) ODE"
# (stochastic steps, ODE steps) of our sampler; diffusers step counts per scheduler
OURS_FULL = [(8, 20), (8, 25), (8, 30), (10, 35)]
OURS_QUICK = [(8, 25)]
# the configuration that reached the floor fastest in the full run (sampling.md: 38 steps);
# --score-only times it alone
OURS_AT_FLOOR = (8, 30)
OURS_ODE_STEPS = [40, 80]
DIFFUSERS_FULL = {"DDPM": [25, 50, 100, 200, 500, 1000], "DDIM": [25, 100, 500],
                  "DPM-Solver++(2M) SDE": [25, 50, 100, 200]}
DIFFUSERS_QUICK = {"DDPM": [100, 500], "DDIM": [100], "DPM-Solver++(2M) SDE": [100]}
FLOAT64_DDPM_STEPS = [100, 500]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N = 20,000, one run per row, fewer step counts")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--score-only", action="store_true",
                        help="only the composed score's time per call and its fraction of "
                             "the float32 matmul peak, and our at-floor configuration's runs "
                             "(about a minute, not the 30-minute run); results in "
                             "score.json and score.md")
    parser.add_argument("--scheduler", metavar="local:N|ADDRESS",
                        help="run the sampling runs as Dask tasks (projcomp.campaigns): "
                             "local:N worker processes here, or a scheduler address; each "
                             "run's times are then those of its worker, meaningful only when "
                             "every worker has its own cores (default: serial)")
    args = parser.parse_args(argv)
    try:
        parse_scheduler(args.scheduler)
    except SchedulerError as err:
        parser.exit(2, f"bench_sampling: error: {err}\n")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    f32 = torch.float32
    n = 20_000 if args.quick else 100_000
    seeds = [0] if args.quick else [0, 1, 2, 3]
    our_seeds = [0] if args.quick else list(range(8))
    info = machine(device)

    family = benchmark_family()
    if args.score_only:
        report = score_report(family, device, n, info, args.threads, our_seeds)
        args.out.mkdir(parents=True, exist_ok=True)
        write_text(args.out / "score.json", json.dumps(report, indent=2) + "\n")
        text = score_markdown(report)
        write_text(args.out / "score.md", text)
        print(text)
        return

    def build(t: float) -> BlockProduct:
        return compose(family.noised(t))

    def make_row(method: str, sampler: str, steps: int, stochastic: int, dtype: str,
                 row_seeds: list[int]) -> list[RunTask]:
        return [RunTask(method, sampler, steps, stochastic, seed, n, dtype, str(device),
                        args.threads) for seed in row_seeds]

    rows = [make_row(OURS, "ours", k1 + k2, k1, "float32", our_seeds)
            for k1, k2 in (OURS_QUICK if args.quick else OURS_FULL)]
    rows += [make_row(OURS_ODE, "ours", steps, 0, "float32", our_seeds)
             for steps in ([] if args.quick else OURS_ODE_STEPS)]
    rows += [make_row(f"diffusers {kind}", kind, steps, 0, "float32", seeds)
             for kind, counts in (DIFFUSERS_QUICK if args.quick else DIFFUSERS_FULL).items()
             for steps in counts]
    rows += [make_row("diffusers DDPM", "DDPM", steps, 0, "float64", seeds[:1])
             for steps in ([] if args.quick else FLOAT64_DDPM_STEPS)]
    # the task function by module name, so that Dask workers import it (and keep their
    # family and references between tasks) instead of unpickling a copy from __main__
    module = importlib.import_module("bench_sampling")
    tasks = [t for r in rows for t in r]
    campaign_start = time.perf_counter()
    try:
        with mapper_for(args.scheduler) as mapper:
            records = mapper(module.run_task, tasks)
    except SchedulerError as err:
        parser.exit(2, f"bench_sampling: error: {err}\n")
    info["campaign"] = {"scheduler": args.scheduler or "serial", "tasks": len(tasks),
                        "wall_seconds": time.perf_counter() - campaign_start,
                        "task_seconds": sum(r[0] for r in records)}
    runs: list[Run] = []
    done = 0
    for r in rows:
        run = timed_runs(r, records[done:done + len(r)])
        done += len(r)
        runs.append(run)
        print(f"{run.method:40s} {run.dtype:8s} {run.steps:4d} steps {run.seconds:7.2f} s "
              f"ratio {run.ratio:.3f}", flush=True)
    accuracy = module.setup(n, str(device))[1]

    costs = score_costs(family, f32, device, n)
    flops = sum(block_flops(d.dim, d.num_components) for d in build(0.3).dists)
    gflops = flops * n / costs["composed"] / 1e9
    peak = matmul_peak(device)
    methods = list(dict.fromkeys(r.method for r in runs))
    fastest = {f"{m} ({d})": first_at_floor([r for r in runs if r.dtype == d], m)
               for m in methods for d in ("float32", "float64")
               if any(r.method == m and r.dtype == d for r in runs)}
    ours = fastest[f"{OURS} (float32)"]
    speedups = {name: row.seconds / ours.seconds for name, row in fastest.items()
                if ours is not None and row is not None and not name.startswith("ours")}
    info["load_average_end"] = list(os.getloadavg())
    report = {
        "machine": info, "n": n, "sigma_min": SIGMA_MIN,
        "sigma_switch": SIGMA_SWITCH, "target_ratio": TARGET_RATIO,
        "accuracy": {"floor": accuracy.floor, "floor_pairs": accuracy.pairs,
                     "exact_ratio": accuracy.exact_ratio, "directions": DIRECTIONS,
                     "references": REFERENCES},
        "runs": [asdict(r) for r in runs],
        "score_costs": costs, "flops_per_point": flops, "score_gflops": gflops,
        "matmul_peak_gflops": peak, "peak_fraction": gflops / peak,
        "summary": {"fastest_at_floor": {m: None if r is None else asdict(r)
                                         for m, r in fastest.items()},
                    "speedups": speedups},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "sampling.json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_text(args.out / "sampling.md", text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
