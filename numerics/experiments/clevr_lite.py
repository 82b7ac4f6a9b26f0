"""Length generalization in miniature (THEORY §8; paper Fig. 3, Table 1), exact.

Image model: :func:`numerics.laws.scenes.clevr_scene` (3×3 locations, four templates, pixel
noise 0.1). The conditional "an object at ``ℓ``" is composed over the first ``k``
locations of ``ORDER`` under four backgrounds (``numerics.laws.scenes`` for the laws):

- ``empty``: the empty scene; conditional ``ℓ``: one object at ``ℓ``. FC holds exactly
  with ``M_ℓ`` = cell ``ℓ`` (C1), so ``C[p⃗]`` is "objects at the ``k`` cells, nothing else".
- ``unconditional``: the single-object distribution (one object at a uniformly random
  cell) with the same conditionals: Bayes composition (C11), no FC.
- ``cluttered``: ``CLUTTER``-clutter, 0..3 objects at distinct random cells; conditional
  ``ℓ``: an object at ``ℓ`` plus 0..3 others at distinct random other cells. FC holds only
  approximately (drawing without replacement couples the cells; C16).
- ``independent``: the control: each cell occupied independently with the clutter's
  rate ``1.5 / 9``; conditional ``ℓ``: ``ℓ`` occupied, the others as in the background.
  FC holds exactly, and ``C[p⃗]`` is "objects at the ``k`` cells plus independent clutter".

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
CLUTTER = 3
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


def clutter_rate(scene: Scene) -> float:
    """Per-cell occupancy of the cluttered background: ``E[m] / L`` with ``m ~ U{0..3}``."""
    return CLUTTER / 2 / scene.locations


def scene_family(scene: Scene, background: str, cells: tuple[int, ...]) -> Family:
    """The family ``(p_b, p_ℓ for ℓ in cells)`` of ``background`` (module docstring)."""
    free = scene.locations - 1
    rate = clutter_rate(scene)
    bg_extra, cond_extra = {
        "empty": ((1.0,), (1.0,)),
        "unconditional": ((0.0, 1.0), (1.0,)),
        "cluttered": (uniform_counts(CLUTTER), uniform_counts(CLUTTER)),
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


def run(config: Config, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every (background, k) row; ``images`` keeps ``config.shown`` sampled images per row
    (``(shown, n)`` tensors keyed by ``(background, k)``) for the figures."""
    scene = clevr_scene()
    rows, images, violations = [], {}, {}
    for b_index, background in enumerate(BACKGROUNDS):
        violations[background] = occupancy_fc_violation(scene_family(scene, background, ORDER))
        for k in range(1, scene.locations + 1):
            cells = ORDER[:k]
            family = scene_family(scene, background, cells)
            x = sample_composition(family, config, seed=config.seed + 100 * b_index + k)
            row = {"background": background, "k": k, **count_row(scene, x, cells)}
            target = closed_form(family)
            row["exact_gap"] = exact_projective_gap(family)
            row["exact_draws_fraction"] = None if target is None else count_row(
                scene, target.sample(config.images, torch.Generator().manual_seed(k)),
                cells)["exact_fraction"]
            rows.append(row)
            images[background, k] = x[:config.shown]
            if progress is not None:
                progress(f"{background:13s} k={k}: exact fraction {row['exact_fraction']:.3f}, "
                         f"mean count {row['mean_count']:.2f}")
    return {"scene": scene, "rows": rows, "images": images, "fc_violation": violations}
