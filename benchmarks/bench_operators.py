"""Benchmark: what each ``--sampler`` does on a composition that is not ``C`` (issue 11,
items 6 and 4).

1. *Overlap product* (``examples/overlap_product.json`` under ``--operator
   simple_product``, Du et al. 2023): two 2-D Gaussian mixtures whose modes overlap in
   pairs; the product law ``q = p_1 p_2`` is a 4-component mixture in closed form
   (``numerics.composition.composed_law``). For every sampler, per seed, the sampling
   section aimed at ``q`` (what ``check --operator simple_product`` runs): the composed
   run follows the summed noisy scores ``∇log p_1^t + ∇log p_2^t``, the oracle run
   ``∇log N_t[q]``. Beside the calibrated test: the *mass on the wrong modes* — each draw
   is assigned to the component of ``q`` with the largest responsibility, and the number
   is the total-variation distance between the run's and the exact draws' component
   shares (exact-vs-exact it is a few 1e-3 at N = 2000) — and the cost in score and
   density evaluations per particle.
2. *C_w targets*: ``C_w`` with guidance weight 2 (``--operator cfg_weighted``) on the
   overlap family — a 2-D law with no closed form, on a grid — and ``C_w`` with the spec's
   weights (2, 1) on ``examples/fc_weighted.json`` (5-D; the weighted block on a grid, the
   others in closed form): for a few samplers, whether the composed run is rejected
   against its oracle, whether the oracle reaches the (grid) law, and the distances.
3. *Power kept on the shear families* (THEORY C9, C13; ``numerics.claims.sampled``
   ``SHEAR_VARIANTS``: 6 families varying mode width, separation, shear and background
   width): the plain ``ode`` and ``sde`` verdicts (``plain_failures``: composed run
   rejected against its oracle, level split over the two samplers) and the repairs
   (``repairs``: reverse SDE, pc-mala, pc-hmc, path-smc and tempered SMC at ``t = 0``
   against exact draws) with their costs in score and density evaluations.

Torch runs on one thread. Timings depend on the machine's load (the results file states
the load average at the start); the verdicts and distances do not.

Run: ``python benchmarks/bench_operators.py [--parts overlap weighted shear] [--seeds 3]
[--samples 2000]`` writes ``benchmarks/results/operators.json`` and ``operators.md``
(atomically). Parts not run are copied from the committed JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from numerics.claims.sampled import SHEAR_VARIANTS, plain_failures, repairs, shear_variant
from numerics.composition.composed_law import composed_law
from numerics.composition.operators import OPERATORS
from numerics.laws import GaussianMixture
from numerics.sampling.options import SAMPLERS
from numerics.sampling.section import SamplingOptions, sampling_section_with_draws
from projcomp.atomic import write_text
from projcomp.spec import load_family

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
OVERLAP = ROOT / "examples" / "overlap_product.json"
STEPS = 100
LEVEL = 1e-2


def component_shares(law: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """Share of the draws ``x (N, n)`` assigned to each component of ``law`` (largest
    responsibility ``log w_k + log N(x; μ_k, Σ_k)``)."""
    logs = torch.stack([
        law.log_weights[k] + torch.distributions.MultivariateNormal(
            law.means[k], law.covs[k]).log_prob(x.to(law.means)) for k in range(len(law.weights))
    ], -1)
    return torch.bincount(logs.argmax(-1), minlength=len(law.weights)).double() / len(x)


def wrong_mode_mass(law: GaussianMixture, x: torch.Tensor, exact: torch.Tensor) -> float:
    """Total variation between the component shares of ``x`` and of exact draws."""
    return 0.5 * float((component_shares(law, x) - component_shares(law, exact)).abs().sum())


def overlap_runs(seeds: int, samples: int) -> list[dict[str, Any]]:
    """Part 1: one row per sampler and seed."""
    family = load_family(OVERLAP)
    target = composed_law(family, OPERATORS["simple_product"])
    rows = []
    for seed in range(seeds):
        for sampler in SAMPLERS:
            start = time.perf_counter()
            options = SamplingOptions(samples, STEPS, sampler, level=LEVEL, repairs=False)
            section, draws = sampling_section_with_draws(
                family, target.law, [[0], [1]], options, seed=seed,
                composer=target.composer, law=target.name)
            rows.append({
                "sampler": sampler, "seed": seed, "target": section.target,
                "composed_rejected": not section.holds,
                "oracle_reaches_target": section.sampler_reaches_target,
                "composed_vs_oracle": section.test.value, "threshold": section.test.threshold,
                "composed_vs_exact": section.joint.composed,
                "oracle_vs_exact": section.joint.oracle, "floor": section.joint.floor,
                "wrong_mode_mass": wrong_mode_mass(target.law, draws.composed, draws.exact),
                "oracle_wrong_mode_mass": wrong_mode_mass(target.law, draws.oracle,
                                                          draws.exact),
                "score_evals_per_particle": section.cost.composed.score_evals / samples,
                "density_evals_per_particle": section.cost.composed.density_evals / samples,
                "info": section.composed_info,
                "seconds": time.perf_counter() - start})
            _log(rows[-1])
    return rows


WEIGHTED_SAMPLERS = ("ode", "sde", "pc-mala", "path-smc", "smc")


def weighted_runs(samples: int) -> list[dict[str, Any]]:
    """Part 2: one row per C_w target and sampler (seed 0)."""
    cases = {"overlap_product --operator cfg_weighted":
             (load_family(OVERLAP), OPERATORS["cfg_weighted"]),
             "fc_weighted (spec weights)":
             (load_family(ROOT / "examples" / "fc_weighted.json"), None)}
    rows = []
    for case, (family, operator) in cases.items():
        target = composed_law(family, operator)
        lenses = [[c] for c in range(family.dim)] if family.projections is None else \
            [list(b) for b in family.projections]
        for sampler in WEIGHTED_SAMPLERS:
            start = time.perf_counter()
            options = SamplingOptions(samples, STEPS, sampler, level=LEVEL, repairs=False)
            section = sampling_section_with_draws(
                family, target.law, lenses, options, seed=0, composer=target.composer,
                law=target.name)[0]
            rows.append({"case": case, "law": target.name, "form": target.form,
                         "sampler": sampler, "composed_rejected": not section.holds,
                         "oracle_reaches_target": section.sampler_reaches_target,
                         "composed_vs_exact": section.joint.composed,
                         "oracle_vs_exact": section.joint.oracle, "floor": section.joint.floor,
                         "threshold": section.test.threshold,
                         "seconds": time.perf_counter() - start})
            _log(rows[-1])
    return rows


def shear_runs(samples: int, level: float) -> list[dict[str, Any]]:
    """Part 3: per shear variant, the plain samplers' verdicts and the repairs' costs."""
    rows = []
    for knobs in SHEAR_VARIANTS:
        family = shear_variant(*knobs)
        start = time.perf_counter()
        plain = plain_failures(family, samples=samples, level=level)
        fixed = repairs(family, samples=samples, level=level)
        rows.append({
            "family": family.name, "knobs": dict(zip(("width", "separation", "shear",
                                                       "background"), knobs, strict=True)),
            "plain": {r["sampler"]: _slim(r) for r in plain},
            "repairs": {name: _slim(r) for name, r in fixed["runs"].items()},
            "c13_holds": fixed["holds"], "seconds": time.perf_counter() - start})
        _log({"family": family.name, **{s: r["composed_rejected"] for s, r in
                                        rows[-1]["plain"].items()}})
    return rows


def _slim(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "features"}


def _log(row: dict[str, Any]) -> None:
    print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}),
          file=sys.stderr, flush=True)


# the results file ------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    lines = ["# What each sampler does on compositions other than projective C",
             "", "Written by `benchmarks/bench_operators.py` (module docstring: definitions).",
             f"Machine: {report['machine']}.", ""]
    overlap = report.get("overlap")
    if overlap:
        lines += _overlap_table(overlap)
    weighted = report.get("weighted")
    if weighted:
        lines += _weighted_table(weighted)
    shear = report.get("shear")
    if shear:
        lines += _shear_tables(shear)
    return "\n".join(lines) + "\n"


def _overlap_table(part: dict[str, Any]) -> list[str]:
    rows = part["rows"]
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"## 1. Overlap product (`examples/overlap_product.json`, `--operator "
             f"simple_product`), N = {part['samples']}, {STEPS} steps, level {LEVEL:g}, "
             f"seeds {seeds[0]}–{seeds[-1]}", "",
             f"Target: {rows[0]['target'].replace('N_t[', '').split(']')[0]} — "
             f"{part['form']}. Wrong-mode mass: TV of component shares against exact draws "
             "(mean over seeds, range in brackets).", "",
             "| sampler | composed rejected | oracle reaches q | wrong-mode mass, composed "
             "| wrong-mode mass, oracle | composed vs exact (floor) | score / density evals "
             "per particle |",
             "|---|---|---|---|---|---|---|"]
    for sampler in SAMPLERS:
        mine = [r for r in rows if r["sampler"] == sampler]
        if not mine:
            continue
        wm = [r["wrong_mode_mass"] for r in mine]
        om = [r["oracle_wrong_mode_mass"] for r in mine]
        lines.append(
            f"| {sampler} | {sum(r['composed_rejected'] for r in mine)}/{len(mine)} "
            f"| {sum(r['oracle_reaches_target'] for r in mine)}/{len(mine)} "
            f"| {_mean(wm):.3f} [{min(wm):.3f}, {max(wm):.3f}] | {_mean(om):.3f} "
            f"| {_mean([r['composed_vs_exact'] for r in mine]):.3f} "
            f"({_mean([r['floor'] for r in mine]):.3f}) "
            f"| {_mean([r['score_evals_per_particle'] for r in mine]):.0f} / "
            f"{_mean([r['density_evals_per_particle'] for r in mine]):.0f} |")
    return [*lines, ""]


def _weighted_table(part: dict[str, Any]) -> list[str]:
    lines = [f"## 2. C_w targets, N = {part['samples']}, {STEPS} steps, level {LEVEL:g}, "
             "seed 0", ""]
    for case in dict.fromkeys(r["case"] for r in part["rows"]):
        mine = [r for r in part["rows"] if r["case"] == case]
        lines += [f"`{case}`: aimed at {mine[0]['law']} ({mine[0]['form']}).", "",
                  "| sampler | composed rejected | oracle reaches | composed vs exact | "
                  "oracle vs exact | floor | threshold |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['sampler']} | {r['composed_rejected']} | "
                  f"{r['oracle_reaches_target']} | {r['composed_vs_exact']:.3f} | "
                  f"{r['oracle_vs_exact']:.3f} | {r['floor']:.3f} | {r['threshold']:.3f} |"
                  for r in mine]
        lines.append("")
    return lines


def _shear_tables(part: dict[str, Any]) -> list[str]:
    rows = part["rows"]
    lines = [f"## 3. Power kept on the shear families (C9, C13), N = {part['samples']}, "
             f"level {part['level']:g}, seed 0", "",
             "Plain samplers: composed run against its oracle (`plain_failures`, level "
             "split over ode and sde). Mode masses: the composed run's share per mode "
             "(exact 0.25 each).", "",
             "| family | ode rejected | sde rejected | ode oracle reaches | sde oracle "
             "reaches | ode mode masses | sde mode masses |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        ode, sde = row["plain"]["ode"], row["plain"]["sde"]
        lines.append(f"| {row['family']} | {ode['composed_rejected']} | "
                     f"{sde['composed_rejected']} | {ode['oracle_reaches_target']} | "
                     f"{sde['oracle_reaches_target']} | {_masses(ode)} | {_masses(sde)} |")
    names = list(rows[0]["repairs"])
    lines += ["", "Repairs against exact draws (`repairs`): reaches the target? and cost in "
              "score / density evaluations per particle.", "",
              "| family | " + " | ".join(names) + " | C13 holds |",
              "|---|" + "---|" * (len(names) + 1)]
    n = part["samples"]
    for row in rows:
        cells = []
        for name in names:
            r = row["repairs"][name]
            cells.append(f"{'yes' if r['composed_reaches_target'] else 'no'}, "
                         f"{r['cost']['score_evals'] / n:.0f} / "
                         f"{r['cost']['density_evals'] / n:.0f}")
        lines.append(f"| {row['family']} | " + " | ".join(cells) + f" | {row['c13_holds']} |")
    return [*lines, ""]


def _masses(run: dict[str, Any]) -> str:
    return "[" + ", ".join(f"{m:.2f}" for m in run["composed_masses"]) + "]"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
            f"{torch.__version__}, one thread, load average {load:.1f} at the start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("overlap", "weighted", "shear"),
                        default=["overlap", "weighted", "shear"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    previous = args.out / "operators.json"
    report = json.loads(previous.read_text()) if previous.exists() else {}
    report["machine"] = machine()
    if "overlap" in args.parts:
        family = load_family(OVERLAP)
        report["overlap"] = {
            "samples": args.samples, "steps": STEPS, "level": LEVEL,
            "form": composed_law(family, OPERATORS["simple_product"]).form,
            "rows": overlap_runs(args.seeds, args.samples)}
    if "weighted" in args.parts:
        report["weighted"] = {"samples": args.samples, "rows": weighted_runs(args.samples)}
    if "shear" in args.parts:
        report["shear"] = {"samples": args.samples, "level": LEVEL,
                           "rows": shear_runs(args.samples, LEVEL)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "operators.json", json.dumps(report, indent=2) + "\n")
    write_text(args.out / "operators.md", markdown(report))


if __name__ == "__main__":
    main()
