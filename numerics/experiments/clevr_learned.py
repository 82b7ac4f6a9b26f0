"""Length generalization with learned scores beside exact ones (issue 12; THEORY §8, C20).

The laws of :mod:`numerics.experiments.clevr_lite` (the 3×3 scene of 15×15 RGB pixels) are
learned by denoising score matching (:mod:`numerics.models.training`) with two
architectures (:mod:`numerics.models.networks`): ``mlp`` (global) and ``cnn`` (local, a
receptive field of the cell and 2 pixels of each neighbour). One network per architecture
learns every label: "object at ℓ", the empty scene, the unconditional single-object law,
clutter and "object at ℓ plus clutter" (:func:`label_law`).

For each background (``empty``, ``unconditional``, ``cluttered``), ``k = 1..9`` and
architecture, the learned members are composed exactly as the exact ones
(``s_b + Σ_ℓ (s_ℓ − s_b)``), sampled by the same DPM-Solver++(2M) schedule as the exact
experiment with the exact rows' seeds (``QUICK`` / ``FULL`` below), and counted by the same rule
(``clevr_lite.count_row``). Each learned row gets an ``attribution`` against the exact row
of the same background and ``k`` (both judged at ``WORKS``, the issue's bar;
``ATTRIBUTIONS``):

- ``works``: both work;
- ``learning``: the exact composition works and the learned one does not — the failure
  is the learning's;
- ``theory``: both fail — the exact composition fails too, so the failure is the
  composition's (the theory predicts it), whatever the learning adds;
- ``beyond-exact``: the exact composition fails and the learned one works. The learned
  members are not the exact laws, and their composition is a different one: under the
  Fig. 3C clutter the exact members' count cap (at most 5 objects) breaks FC past 5
  objects (C16), and a network that does not learn the cap (the local ``cnn``) composes
  as if FC held. Neither "theory" (the learned composition does not fail) nor "works"
  (it does not reproduce the exact composition) says this.

Beside it,
the relative score error ``E‖s_learned − s_exact‖² / E‖s_exact‖²`` per noise level

- ``in_distribution``: the background's and the first conditional's score on noisy draws
  of their own training laws (the other conditionals differ from the first only in the
  cell);
- ``out_of_distribution``: the composed score on noisy draws of the ``k``-object target
  (``SceneLaw(scene, cells, extra)`` with the background's clutter), which no member was
  trained on for ``k ≥ 2``;
- ``trajectory``: the composed score along the learned sampler's own path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from numerics.experiments import clevr_lite
from numerics.laws.processes import VP
from numerics.laws.scenes import Scene, SceneLaw, binomial_counts, clevr_scene
from numerics.models.networks import Label, Preconditioned, build, label_index, labels
from numerics.models.score_model import ScoreModel
from numerics.models.training import Recipe, TrainLog, train
from numerics.sampling.samplers import dpm_solver_2m, prior_sample
from numerics.sampling.section import composed_target
from numerics.sampling.times import time_of_sigma, two_phase_times

Tensor = torch.Tensor
ATTRIBUTIONS = ("works", "learning", "theory", "beyond-exact")
BACKGROUNDS = clevr_lite.BACKGROUNDS
# The labels (background kind, conditional kind) of each background's family.
FAMILY_KINDS = {"empty": ("empty", "at"), "unconditional": ("single", "at"),
                "cluttered": ("clutter", "clutter-at"),
                "independent": ("independent", "independent-at")}
# The bar: a composition "works" at k when at least this share of its images has
# an object at each of the k requested cells (Done when: ≥ 0.9 for every k = 1..9).
WORKS = 0.9
# Noise levels σ = s/a of the score-error curves: the range where objects form (an
# object's template has norm ~2.6 per cell against pixel noise 0.1).
ERROR_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# Images per noise level in the score errors (relative MSE over 675 coordinates: 64
# images resolve it to a few per cent).
ERROR_IMAGES = 64
# Measure the trajectory error at every this-many sampler steps.
TRAJECTORY_EVERY = 4
# σ_d of the EDM preconditioning: the scenes' per-pixel standard deviation is ~0.1 (pixel
# noise) to ~0.35 (every cell occupied: template values 0.1..0.9 on 9 of 25 pixels).
SIGMA_DATA = 0.25


@dataclass(frozen=True)
class Architecture:
    """An architecture's sizes and its training recipe."""

    name: str
    sizes: dict[str, int]
    recipe: Recipe


# Sampling of the learned rows: the exact experiment's samplers and steps (QUICK: 200
# images, 30 ODE steps; FULL: 100 ODE steps) with FULL at 200 images per row rather than
# the exact rows' 1000. One step of a composed learned score is k + 1 network calls per
# image (~1.6M multiply-adds each for the full mlp): 1000 images would take hours of
# single-threaded CPU for 4 backgrounds × 9 k × 2 networks; 200 resolve an exact fraction of
# 0.9 to a binomial standard error of 0.021 and the bar WORKS = 0.9 against 0.8 or 1.0.
QUICK = clevr_lite.QUICK
FULL = clevr_lite.Config(images=200, ode_steps=clevr_lite.FULL.ode_steps)

QUICK_ARCHITECTURES = (
    Architecture("mlp", {"width": 256, "blocks": 2}, Recipe(steps=600, batch=256)),
    Architecture("cnn", {"width": 64, "blocks": 2}, Recipe(steps=600, batch=256)),
)
FULL_ARCHITECTURES = (
    Architecture("mlp", {"width": 384, "blocks": 3}, Recipe(steps=3000, batch=512)),
    Architecture("cnn", {"width": 96, "blocks": 3}, Recipe(steps=3000, batch=512)),
)


def label_law(scene: Scene, label: Label) -> SceneLaw:
    """The scene law of ``label`` (``numerics.models.networks.KINDS``), as
    ``clevr_lite.scene_family`` builds it for its backgrounds and conditionals (the paper's
    Fig. 3C clutter: a background of ``BACKGROUND_OBJECTS`` objects, a conditional's
    object plus ``OTHERS`` others, capped at the free cells on grids smaller than 3×3;
    independent clutter at the cluttered background's per-cell rate)."""
    rate = clevr_lite.clutter_rate(scene)
    free = scene.locations - 1
    return {
        "at": lambda: SceneLaw(scene, [label.cell]),
        "empty": lambda: SceneLaw(scene, ()),
        "single": lambda: SceneLaw(scene, (), (0.0, 1.0)),
        "clutter": lambda: SceneLaw(scene, (), clevr_lite.clutter_counts(
            clevr_lite.BACKGROUND_OBJECTS, scene.locations)),
        "clutter-at": lambda: SceneLaw(scene, [label.cell], clevr_lite.clutter_counts(
            clevr_lite.OTHERS, free)),
        "independent": lambda: SceneLaw(scene, (), binomial_counts(scene.locations, rate)),
        "independent-at": lambda: SceneLaw(scene, [label.cell], binomial_counts(free, rate)),
    }[label.kind]()


def scene_draw(scene: Scene) -> Callable[[Tensor, torch.Generator], Tensor]:
    """``(labels (N,), generator) -> x_0 (N, n)`` float32 draws of each label's law
    (:func:`label_law`), all labels in one vectorized pass with ``SceneLaw.sample``'s
    algorithm: the number of extra objects from the label's count law, their cells by
    ranking uniform keys over the free cells, a uniform template per cell, pixel noise."""
    table = labels(scene.locations)
    laws = [label_law(scene, lab) for lab in table]
    width = scene.locations + 1
    counts = torch.stack([torch.nn.functional.pad(law.extra.float(), (0, width - len(law.extra)))
                          for law in laws])                                  # (labels, L + 1)
    required = torch.stack([~law.free for law in laws])                      # (labels, L)
    templates = scene.templates.float()
    sd = scene.noise

    def draw(which: Tensor, generator: torch.Generator) -> Tensor:
        n = len(which)
        count = torch.multinomial(counts[which], 1, generator=generator)      # (N, 1)
        keys = torch.rand(n, scene.locations, generator=generator)
        keys = keys.masked_fill(required[which], math.inf)
        rank = torch.argsort(torch.argsort(keys, dim=1), dim=1)
        occupied = (rank < count) | required[which]
        kind = torch.randint(len(templates), (n, scene.locations), generator=generator)
        cells = templates[kind] * occupied[..., None]
        cells = cells + sd * torch.randn(cells.shape, generator=generator)
        return scene.join(cells)

    return draw


def network_config(arch: Architecture, scene: Scene, process: VP) -> dict[str, Any]:
    """The ``config`` of ``numerics.models.networks.build`` for ``arch`` on ``scene``."""
    return {"arch": arch.name, "rows": scene.rows, "cols": scene.cols, "cell": scene.cell,
            "channels": scene.channels, "sigma_data": SIGMA_DATA,
            "beta_min": process.beta_min, "beta_max": process.beta_max, **arch.sizes}


def train_architecture(arch: Architecture, scene: Scene, process: VP, *,
                       device: torch.device | str = "cpu",
                       progress: Callable[[int, float], None] | None = None
                       ) -> tuple[Preconditioned, TrainLog]:
    """Train ``arch`` on every label of ``scene`` (float32, on ``device``); its EMA network
    (on the CPU) and log."""
    torch.manual_seed(arch.recipe.seed)
    network = build(**network_config(arch, scene, process))
    return train(network, scene_draw(scene), arch.recipe, device=device, progress=progress)


def member_score(network: Preconditioned, label: int, process: VP) -> ScoreModel:
    """The score callable of ``network`` at ``label`` (parameterization ``x0``; the network
    runs on its own device)."""
    def predict(x: Tensor, t: Tensor) -> Tensor:
        with torch.no_grad():
            return network(x, t, torch.full(x.shape[:1], label, dtype=torch.long,
                                            device=x.device))

    return ScoreModel(predict, "x0", process, dtype=torch.float32, device=device_of(network))


def device_of(network: Preconditioned) -> torch.device:
    """The device of ``network``'s parameters."""
    return next(network.parameters()).device


def family_labels(scene: Scene, background: str, cells: tuple[int, ...]) -> list[int]:
    """``[background, conditional ℓ for ℓ in cells]`` label indices of a family."""
    n = scene.locations
    bg, cond = FAMILY_KINDS[background]
    return [label_index(n, bg), *(label_index(n, cond, c) for c in cells)]


def composed_score(network: Preconditioned, members: list[int],
                   process: VP) -> Callable[[Tensor, float], Tensor]:
    """``s_b + Σ_ℓ (s_ℓ − s_b)`` of the learned members (``members[0]`` the background),
    one network call on all members' copies of ``x`` (on the network's device; the sum in
    ``x``'s dtype and device)."""
    k = len(members) - 1
    exponents = torch.tensor([1.0 - k] + [1.0] * k, dtype=torch.float64)
    label_column = torch.tensor(members, dtype=torch.long)

    device = device_of(network)
    label_column = label_column.to(device)

    def predict(x: Tensor, t: Tensor) -> Tensor:
        n = x.shape[0]
        with torch.no_grad():
            out = network(x.repeat(len(members), 1), t.repeat(len(members)),
                          label_column.repeat_interleave(n))
        return out.reshape(len(members), n, -1)

    def score(x: Tensor, t: float) -> Tensor:
        a, s = process.coefficients(float(t))
        tau = torch.full(x.shape[:1], float(t), dtype=torch.float32, device=device)
        x0 = predict(x.to(device, torch.float32), tau).to(x.device, x.dtype)   # (m, N, n)
        scores = (a * x0 - x) / (s * s)
        return torch.einsum("m,mnd->nd", exponents.to(x.dtype), scores)

    return score


def relative_error(learned: Tensor, exact: Tensor) -> float:
    """``E‖s_L − s_E‖² / E‖s_E‖²`` over the rows."""
    return float((learned - exact).square().sum() / exact.square().sum())


def noisy_draws(law: SceneLaw, sigma: float, process: VP, n: int,
                generator: torch.Generator) -> tuple[Tensor, float]:
    """``n`` draws of ``N_t[law]`` at ``σ(t) = sigma`` and that ``t``."""
    t = time_of_sigma(process, sigma)
    a, s = process.coefficients(t)
    return a * law.sample(n, generator) + s * torch.randn(n, law.dim, generator=generator,
                                                          dtype=torch.float64), t


def composition_target(scene: Scene, background: str, cells: tuple[int, ...]) -> SceneLaw:
    """The ``k``-object law the composition is asked for: objects at ``cells`` and, on the
    free cells, the conditionals' clutter (Fig. 3C: ``clevr_lite.OTHERS`` others, capped
    at the free cells; independent: the background's per-cell rate; else none). For the
    ``empty`` and ``independent`` backgrounds it is ``C[p⃗]`` itself (FC, C1)."""
    free = scene.locations - len(cells)
    others = {"cluttered": lambda: clevr_lite.clutter_counts(clevr_lite.OTHERS, free),
              "independent": lambda: binomial_counts(free, clevr_lite.clutter_rate(scene))}
    return SceneLaw(scene, cells, others[background]() if background in others else (1.0,))


def score_errors(network: Preconditioned, scene: Scene, background: str,
                 cells: tuple[int, ...], process: VP,
                 generator: torch.Generator) -> dict[str, list[float]]:
    """In- and out-of-distribution relative score errors per ``ERROR_SIGMAS`` (module
    docstring); the out-of-distribution target is :func:`composition_target`."""
    members = family_labels(scene, background, cells)
    table = labels(scene.locations)
    family = clevr_lite.scene_family(scene, background, cells)
    exact = composed_target(family).score
    learned = composed_score(network, members, process)
    target = composition_target(scene, background, cells)
    inside, outside = [], []
    for sigma in ERROR_SIGMAS:
        errs = []
        for j in members[:2]:
            law = label_law(scene, table[j])
            x, t = noisy_draws(law, sigma, process, ERROR_IMAGES, generator)
            a, s = process.coefficients(t)
            errs.append(relative_error(member_score(network, j, process)(x, t),
                                       law.convolved(a, s * s).score(x)))
        inside.append(sum(errs) / len(errs))
        x, t = noisy_draws(target, sigma, process, ERROR_IMAGES, generator)
        outside.append(relative_error(learned(x, t), exact(x, t)))
    return {"sigmas": list(ERROR_SIGMAS), "in_distribution": inside,
            "out_of_distribution": outside}


def sample_learned(network: Preconditioned, scene: Scene, background: str,
                   cells: tuple[int, ...], config: clevr_lite.Config, seed: int,
                   process: VP) -> tuple[Tensor, dict[str, list[float]]]:
    """``config.images`` images by the exact experiment's sampler on the learned composed
    score, and the trajectory error (composed learned against composed exact score at
    the sampler's own points, every ``TRAJECTORY_EVERY`` steps)."""
    family = clevr_lite.scene_family(scene, background, cells)
    exact = composed_target(family).score
    learned = composed_score(network, family_labels(scene, background, cells), process)
    g = torch.Generator().manual_seed(seed)
    x_T = prior_sample(config.images, scene.dim, process, g)
    times = two_phase_times(process, clevr_lite.STOCHASTIC_STEPS, config.ode_steps,
                            clevr_lite.SIGMA_SWITCH, clevr_lite.SIGMA_MIN)
    trajectory: dict[str, list[float]] = {"sigmas": [], "trajectory": []}

    def record(state: dict[str, Any]) -> None:
        if state["i"] % TRAJECTORY_EVERY == 0:
            a, s = process.coefficients(state["t"])
            x = state["x"][:ERROR_IMAGES]
            trajectory["sigmas"].append(s / a)
            trajectory["trajectory"].append(relative_error(state["score"][:ERROR_IMAGES],
                                                           exact(x, state["t"])))

    x = dpm_solver_2m(learned, x_T, times, process, stochastic_steps=clevr_lite.STOCHASTIC_STEPS,
                      generator=g, callback=record)
    return x, trajectory


def attribution(exact_fraction: float, learned_fraction: float) -> str:
    """The cause of a learned row's outcome, against the exact row of the same background
    and ``k`` (both judged at ``WORKS``; ``ATTRIBUTIONS``)."""
    exact_works, learned_works = exact_fraction >= WORKS, learned_fraction >= WORKS
    if exact_works:
        return "works" if learned_works else "learning"
    return "beyond-exact" if learned_works else "theory"


def exact_attribution(exact_fraction: float) -> str:
    """An exact row's own label: ``works``, or ``theory`` when it fails."""
    return "works" if exact_fraction >= WORKS else "theory"


def learned_rows(network: Preconditioned, name: str, scene: Scene, background: str,
                 k: int, exact_fraction: float, config: clevr_lite.Config,
                 process: VP) -> tuple[dict[str, Any], Tensor, dict[str, Any]]:
    """One learned row (counts, ``model``, ``attribution`` against ``exact_fraction``),
    its images and its score errors; the sampler's seed is the exact row's."""
    cells = clevr_lite.ORDER[:k]
    seed = config.seed + 100 * clevr_lite.BACKGROUNDS.index(background) + k
    x, trajectory = sample_learned(network, scene, background, cells, config, seed, process)
    row = {"model": name, "background": background, "k": k,
           **clevr_lite.count_row(scene, x, cells)}
    row["attribution"] = attribution(exact_fraction, row["exact_fraction"])
    errs = score_errors(network, scene, background, cells, process,
                        torch.Generator().manual_seed(seed))
    return row, x, {"background": background, "k": k, "model": name, **errs,
                    "trajectory": trajectory}


def run(networks: dict[str, Preconditioned], config: clevr_lite.Config,
        exact_rows: list[dict[str, Any]], backgrounds: tuple[str, ...] = BACKGROUNDS,
        ks: tuple[int, ...] | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Learned rows for every background, ``k`` and architecture, sampled with ``config``,
    beside the ``exact_rows`` of ``clevr_lite.run`` (read for the attribution; one per
    background and ``k`` run), with score errors; ``images[(background, k, model)]``
    keeps ``config.shown`` images per row."""
    scene, process = clevr_scene(), VP()
    ks = tuple(range(1, scene.locations + 1)) if ks is None else ks
    exact = {(r["background"], r["k"]): r["exact_fraction"] for r in exact_rows}
    missing = [(b, k) for b in backgrounds for k in ks if (b, k) not in exact]
    if missing:
        raise ValueError(f"no exact row for (background, k) = {missing[0]}")
    rows, images, errors = [], {}, []
    for background in backgrounds:
        for k in ks:
            for name, network in networks.items():
                row, x, errs = learned_rows(network, name, scene, background, k,
                                            exact[background, k], config, process)
                rows.append(row)
                errors.append(errs)
                images[background, k, name] = x[:config.shown]
                if progress is not None:
                    progress(f"{background:13s} k={k} {name}: exact fraction "
                             f"{row['exact_fraction']:.3f} (exact scores "
                             f"{exact[background, k]:.3f}), brightness "
                             f"{row['brightness']:.2f}, {row['attribution']}")
    return {"scene": scene, "rows": rows, "images": images, "score_errors": errors,
            "works": WORKS}
