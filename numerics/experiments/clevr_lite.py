"""Length generalization in miniature (THEORY §9; paper Fig. 3, Table 1), exact.

Image model: :func:`numerics.laws.scenes.clevr_scene` (3×3 locations, four templates, pixel
noise 0.1). The conditional "an object at ``ℓ``" is composed over the first ``k``
locations of ``ORDER`` under four backgrounds (``numerics.laws.scenes`` for the laws):

- ``empty``: the empty scene; conditional ``ℓ``: one object at ``ℓ``. FC holds exactly
  with ``M_ℓ`` = cell ``ℓ`` (C1), so ``C[p⃗]`` is "objects at the ``k`` cells, nothing else".
- ``unconditional``: the single-object distribution (one object at a uniformly random
  cell) with the same conditionals: Bayes composition (C11), no FC.
- ``cluttered``: the paper's Fig. 3C clutter. Background: 1–5 objects (count uniform) at
  distinct uniformly random cells; conditional ``ℓ``: an object at ``ℓ`` plus 0–4 others
  (count uniform) at distinct uniformly random other cells. FC holds only approximately
  (drawing without replacement couples the cells; C16). Every member shows at most 5
  objects, so the rows k > 5 ask for more objects than any member ever shows: the
  length-generalization rows. (On grids of fewer than 6 cells the counts are capped at the
  free cells; the experiment's 3×3 grid needs no cap.)
- ``independent``: the control: each cell occupied independently with the cluttered
  background's per-cell rate ``E[m] / L = 3 / 9``; conditional ``ℓ``: ``ℓ`` occupied, the
  others as in the background. FC holds exactly, and ``C[p⃗]`` is "objects at the ``k``
  cells plus independent clutter".

Every row records the count laws it used (:func:`count_law`, read off the members) and
the model whose scores were sampled (``"exact"`` here; a learned model's rows can sit
beside them with their own ``model``).

Sampling: DPM-Solver++(2M) (``numerics.sampling.samplers``) with ``STOCHASTIC_STEPS`` SDE steps
down to ``σ = SIGMA_SWITCH``, then ODE steps, on the exact composed noisy scores
``Σ_m e_m ∇log p_m^t``, taken from ``numerics.sampling.section.composed_target`` as ``check``'s
sampling section takes them: ``C[p⃗^t]`` is built once per ``t`` by ``compose``, which the
scene laws answer themselves (a scene law where FC gives the product form, else a
:class:`numerics.laws.scenes.SceneComposition`). Counting: a cell holds an object when it
carries at least half of some template (``numerics.laws.scenes.COUNT_THRESHOLD``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from numerics.checks.fc import fc_holds
from numerics.checks.gaps import projective_gaps
from numerics.composition.compose import compose
from numerics.laws import Distribution
from numerics.laws.family import Family
from numerics.laws.scenes import (
    Scene,
    SceneLaw,
    binomial_counts,
    clevr_scene,
    uniform_counts,
)
from numerics.sampling.samplers import dpm_solver_2m, prior_sample
from numerics.sampling.section import composed_target
from numerics.sampling.times import two_phase_times

Tensor = torch.Tensor
BACKGROUNDS = ("empty", "unconditional", "cluttered", "independent")
# centre, corners, then edges: requested cells are spread over the grid for every k
ORDER = (4, 0, 8, 2, 6, 1, 7, 3, 5)
# Fig. 3C: the background holds BACKGROUND_OBJECTS = 1..5 objects, a conditional its
# object plus OTHERS = 0..4 others (uniform counts, distinct uniformly random cells).
BACKGROUND_OBJECTS = (1, 5)
OTHERS = (0, 4)
MODEL = "exact"
# Brightness grid of the exact peak (:func:`peak_brightness`): steps of 0.005 resolve 1/k
# for every k ≤ 9 to within 5 %.
PEAK_GRID = torch.linspace(0.0, 1.3, 261, dtype=torch.float64)
STOCHASTIC_STEPS = 10
SIGMA_SWITCH = 7.0
SIGMA_MIN = 0.01


@dataclass(frozen=True)
class Config:
    """Sizes of a run: ``images`` per (background, k) row, ``ode_steps`` after the
    stochastic ones, ``shown`` images per row in the figures."""

    images: int
    ode_steps: int
    shown: int = 8
    seed: int = 0


FULL = Config(images=1000, ode_steps=100)
QUICK = Config(images=200, ode_steps=30)


def clutter_counts(bounds: tuple[int, int], free: int) -> Tensor:
    """Counts uniform on ``bounds`` (inclusive), capped at the ``free`` cells available."""
    least, most = bounds
    return uniform_counts(min(most, free), least=min(least, free))


def clutter_rate(scene: Scene) -> float:
    """Per-cell occupancy of the cluttered background: ``E[m] / L``, ``m ~ U{1..5}``."""
    return SceneLaw(scene, (), clutter_counts(BACKGROUND_OBJECTS, scene.locations)).free_rate


def scene_family(scene: Scene, background: str, cells: tuple[int, ...]) -> Family:
    """The family ``(p_b, p_ℓ for ℓ in cells)`` of ``background`` (module docstring)."""
    free = scene.locations - 1
    rate = clutter_rate(scene)
    bg_extra, cond_extra = {
        "empty": ((1.0,), (1.0,)),
        "unconditional": ((0.0, 1.0), (1.0,)),
        "cluttered": (clutter_counts(BACKGROUND_OBJECTS, scene.locations),
                      clutter_counts(OTHERS, free)),
        "independent": (binomial_counts(scene.locations, rate), binomial_counts(free, rate)),
    }[background]
    conditionals = tuple(SceneLaw(scene, [c], cond_extra) for c in cells)
    return Family(SceneLaw(scene, (), bg_extra), conditionals,
                  projections=tuple(tuple(scene.cells[c].tolist()) for c in cells),
                  name=f"clevr-lite {background} k={len(cells)}")


def closed_form(family: Family) -> Distribution | None:
    """``C[p⃗]`` where FC gives it in closed form (C1): ``compose``'s scene law with the
    requested cells occupied and the others as in the background, when FC holds exactly for
    the family's cells (``empty``, ``independent``); else ``None``."""
    if not fc_holds(family, [list(b) for b in family.projections]):
        return None
    return compose(family)


def exact_projective_gap(family: Family) -> float | None:
    """``max_ℓ D(Π_ℓ♯C[p⃗], Π_ℓ♯p_ℓ)`` (normalized L2, closed form, ``numerics.checks.gaps``)
    where FC gives ``C[p⃗]`` in closed form (:func:`closed_form`), else ``None``."""
    result = closed_form(family)
    if result is None:
        return None
    gaps = projective_gaps(family, result, family.projections, torch.Generator().manual_seed(0))
    return max(g.value for g in gaps)


def occupancy_fc_violation(family: Family) -> dict[str, float]:
    """FC (Definition 5.2) measured on the occupancy patterns, exactly over all ``2^L``:
    ``independence`` = TV(π_b, Π_j π_b(j)) (condition 2), ``off_block`` =
    ``max_ℓ TV(π_ℓ|ℓ^c, π_b|ℓ^c)`` (condition 3; condition 1 holds since ``ℓ`` is always
    occupied under ``p_ℓ``). The templates are separated by 20 pixel standard deviations,
    so the image laws' violations equal these up to ~1e-20."""
    scene = family.background.scene
    patterns = list(itertools.product((0, 1), repeat=scene.locations))
    bg = torch.tensor([pattern_probability(family.background, s) for s in patterns],
                      dtype=torch.float64)
    occ = torch.tensor(patterns, dtype=torch.float64)
    marg = occ.T @ bg
    product = torch.prod(torch.where(occ > 0, marg, 1 - marg), dim=1)
    off = 0.0
    for p in family.conditionals:
        (cell,) = p.required
        cond = torch.tensor([pattern_probability(p, s) for s in patterns], dtype=torch.float64)
        rest = [j for j in range(scene.locations) if j != cell]
        off = max(off, _tv_marginal(cond, bg, occ, rest))
    return {"independence": 0.5 * float((bg - product).abs().sum()), "off_block": off}


def pattern_probability(law: SceneLaw, pattern: tuple[int, ...]) -> float:
    """``π(S) = [R ⊆ S] w_{|S∖R|} / binom(|F|, |S∖R|)`` for the pattern's set ``S``."""
    occupied = {j for j, o in enumerate(pattern) if o}
    if not set(law.required) <= occupied:
        return 0.0
    m, free = len(occupied) - len(law.required), int(law.free.sum())
    return float(law.extra[m]) / math.comb(free, m) if m < len(law.extra) else 0.0


def _tv_marginal(p: Tensor, q: Tensor, occ: Tensor, coords: list[int]) -> float:
    """TV of the marginals of two pattern laws ``(2^L,)`` on ``coords``."""
    keys = (occ[:, coords] * 2 ** torch.arange(len(coords), dtype=torch.float64)).sum(1).long()
    size = 2 ** len(coords)
    diff = torch.bincount(keys, p, size) - torch.bincount(keys, q, size)
    return 0.5 * float(diff.abs().sum())


def sample_composition(family: Family, config: Config, seed: int) -> Tensor:
    """``config.images`` images ``(N, n)`` by reverse diffusion on the composed scores
    ``∇log C[p⃗^t]`` (``composed_target``, the path of ``check``'s sampling section)."""
    process = family.process
    g = torch.Generator().manual_seed(seed)
    x_T = prior_sample(config.images, family.dim, process, g)
    times = two_phase_times(process, STOCHASTIC_STEPS, config.ode_steps, SIGMA_SWITCH,
                            SIGMA_MIN)
    return dpm_solver_2m(composed_target(family).score, x_T, times, process,
                         stochastic_steps=STOCHASTIC_STEPS, generator=g)


def count_row(scene: Scene, x: Tensor, cells: tuple[int, ...]) -> dict[str, float]:
    """Counts of images ``x (N, n)`` with objects requested at ``cells``: the fraction with
    every requested cell occupied (exactly ``k`` correctly placed objects), the fraction
    with nothing else either, mean object count, mean spurious (unrequested) objects,
    mean requested cells left empty, and the mean brightness of the requested cells."""
    occupied = scene.occupied(x)
    wanted = torch.zeros(scene.locations, dtype=torch.bool)
    wanted[list(cells)] = True
    placed = occupied[:, wanted].sum(1)
    spurious = occupied[:, ~wanted].sum(1)
    return {
        "exact_fraction": float((placed == len(cells)).double().mean()),
        "clean_fraction": float(((placed == len(cells)) & (spurious == 0)).double().mean()),
        "mean_count": float(occupied.sum(1).double().mean()),
        "spurious": float(spurious.double().mean()),
        "missing": float((len(cells) - placed).double().mean()),
        "brightness": float(scene.brightness(x)[:, wanted].mean()),
    }


def count_law(law: SceneLaw) -> str:
    """The law's occupancy in words, read off its parameters: the required cells, then the
    law of the number of others (independent cells when it is binomial)."""
    required = f"an object at cell {law.required[0]}" if len(law.required) == 1 else (
        f"objects at cells {list(law.required)}" if law.required else "")
    support = [m for m, w in enumerate(law.extra.tolist()) if w > 0]
    free = int(law.free.sum())
    if support == [0]:
        others = "no other objects" if required else "no objects"
    elif law.is_product:
        others = (f"each free cell occupied independently with probability "
                  f"{law.free_rate:.4g}")
    else:
        weights = law.extra[support]
        noun = "others" if required else "objects"
        if len(support) == 1:
            count = f"{support[0]} {noun[:-1] if support[0] == 1 else noun}"
        else:
            shape = "uniform" if bool(torch.allclose(weights, weights[0].expand_as(weights))) \
                else "non-uniform"
            count = f"{support[0]}..{support[-1]} {noun} ({shape} count)"
        others = f"{count} at distinct uniformly random cells among {free}"
    return f"{required} plus {others}" if required else others


def most_objects(law: SceneLaw) -> int:
    """The most objects an image of the law shows: required cells plus the largest count."""
    support = [m for m, w in enumerate(law.extra.tolist()) if w > 0]
    return len(law.required) + support[-1]


def clutter_law(family: Family) -> dict[str, str]:
    """What a row's members draw (:func:`count_law`): the background and the first
    conditional (the others differ only in their required cell)."""
    return {"background": count_law(family.background),
            "conditional": count_law(family.conditionals[0])}


def peak_brightness(family: Family, cells: tuple[int, ...]) -> float:
    """The brightness ``b`` in ``PEAK_GRID`` that maximizes ``log C[p⃗]`` (exact, up to its
    constant) along the images whose requested ``cells`` hold the first template at
    brightness ``b`` and whose other cells are empty: 1 where the composition keeps the
    objects whole (FC), near ``1/k`` where it dims them (Bayes composition, C11)."""
    scene = family.background.scene
    objects = torch.zeros(scene.locations, scene.cell_dim, dtype=torch.float64)
    objects[list(cells)] = scene.templates[0].to(torch.float64)
    log_density = compose(family).log_prob(scene.join(PEAK_GRID[:, None, None] * objects))
    return float(PEAK_GRID[int(log_density.argmax())])


def exact_row(scene: Scene, background: str, family: Family, cells: tuple[int, ...],
              x: Tensor, config: Config) -> dict[str, Any]:
    """One results row for images ``x (N, n)`` sampled with the exact composed scores:
    the counts (:func:`count_row`), the clutter law, whether it is a length-generalization
    row (more objects requested than any member shows) and the exact evidence: the peak
    brightness of ``C[p⃗]`` (:func:`peak_brightness`), and the projective gap and exact
    draws where FC gives ``C[p⃗]`` in closed form."""
    k = len(cells)
    shown = max(most_objects(p) for p in family.members)
    row = {"model": MODEL, "background": background, "k": k, **count_row(scene, x, cells),
           "clutter_law": clutter_law(family), "most_objects_per_member": shown,
           "length_generalization": k > shown}
    target = closed_form(family)
    row["exact_gap"] = exact_projective_gap(family)
    row["exact_peak_brightness"] = peak_brightness(family, cells)
    row["exact_draws_fraction"] = None if target is None else count_row(
        scene, target.sample(config.images, torch.Generator().manual_seed(k)),
        cells)["exact_fraction"]
    return row


def run(config: Config, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every (background, k) row with the exact composed scores; ``images`` keeps
    ``config.shown`` sampled images per row (``(shown, n)`` tensors keyed by
    ``(background, k)``) for the figures."""
    scene = clevr_scene()
    rows, images, violations = [], {}, {}
    for b_index, background in enumerate(BACKGROUNDS):
        violations[background] = occupancy_fc_violation(scene_family(scene, background, ORDER))
        for k in range(1, scene.locations + 1):
            cells = ORDER[:k]
            family = scene_family(scene, background, cells)
            x = sample_composition(family, config, seed=config.seed + 100 * b_index + k)
            row = exact_row(scene, background, family, cells, x, config)
            rows.append(row)
            images[background, k] = x[:config.shown]
            if progress is not None:
                progress(f"{background:13s} k={k}: exact fraction {row['exact_fraction']:.3f}, "
                         f"mean count {row['mean_count']:.2f}")
    return {"scene": scene, "rows": rows, "images": images, "fc_violation": violations}
