"""The law a composition operator defines, with exact draws, for the sampling section
(THEORY §1–§2, C3, C9, C13; issue 11 item 6).

A user who composes by ``C``, ``C_w``, the simple product or an operator of their own
asks two things of a sampler: does it reach the law the operator defines at ``t = 0``,
and which repair does? Both need the law ``q = op[p⃗]`` with

- exact draws of ``q`` and of ``N_t[q]`` (the reference the runs are tested against), and
- the exact noising path ``t ↦ N_t[q]`` (the oracle run's scores),

beside the *composed* path ``t ↦ op[p⃗^t]`` (the operator applied to the noised members:
what a user who combines noisy scores follows). ``composed_law`` builds them:

- exponent combinations ``∝ Π_m p_m^{e_m}`` (``C``, ``C_w``, the simple product and the
  shipped operators) in closed form by ``compose_exponents``: Gaussian mixtures are closed
  under products and under powers of single Gaussians, so ``q`` is a mixture (or a block
  product of them) with exact draws and exact ``N_t[q]``;
- anything else in 1–2-D on a grid (``numerics.laws.grid.GridLaw``): exact draws of the
  grid's interpolant, ``N_t[q]`` by FFT convolution, the interpolation error measured
  (``interpolation_tv``) and required to stay below ``RESOLUTION_TV``;
- otherwise ``NoExactDraws`` with the reason, which the report shows as a skipped section.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from numerics.composition.compose import (
    compose_exponents,
    product_exponents,
    weighted_exponents,
)
from numerics.composition.operators import CFG_WEIGHT, OPERATORS, exponent_combination
from numerics.laws import BlockProduct, Distribution, ExpansionTooLarge
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, GridLaw, default_bounds
from numerics.laws.processes import ForwardProcess
from numerics.laws.unnormalized import (
    Operator,
    OperatorComposition,
    Unnormalized,
    operator_name,
)

Composer = Callable[[Family], Distribution]

# Node counts per axis tried in turn for a grid law (1-D, 2-D): the first whose
# interpolation error is below RESOLUTION_TV is used.
GRID_POINTS = {1: (2001, 8001), 2: (201, 401, 801)}
# The grid law may differ from the operator's law by at most this total variation: it
# moves the probability of any event by at most 1e-3, below the binomial sd
# sqrt(p (1 − p) / N) ≥ 1e-3 of every event of probability p ≥ 0.01 at N ≤ 10⁴ samples
# (check's default N is 2000), so the runs' test cannot tell the grid from the law.
RESOLUTION_TV = 1e-3
# Nodes below this fraction of the peak density hold no mass float64 can see next to it
# (e⁻⁴¹): the grid's box is fitted to the nodes above it.
SUPPORT_RTOL = 1e-18


class NoExactDraws(ValueError):
    """The operator's law has neither a closed form with exact draws nor a grid (the
    message says why); the sampling section is skipped."""


@dataclass(frozen=True)
class ComposedLaw:
    """``q = op[p⃗]`` ready for the sampling section: ``name`` (which law, e.g.
    ``"C_w[p] (w = 2)"``), ``law`` (exact draws, ``noised``, score and log-density),
    ``composer`` (``p⃗^t ↦ op[p⃗^t]``: the composed run's scores), ``form`` (how ``law`` is
    represented) and ``resolution`` (the grid's total-variation error, ``None`` in closed
    form)."""

    name: str
    law: Distribution
    composer: Composer
    form: str
    resolution: float | None = None


@dataclass(frozen=True)
class ExponentOperator:
    """The pointwise operator ``Σ_m e_m log p_m``, score ``Σ_m e_m ∇log p_m``, on the
    rows of ``(m, N)`` log-densities and ``(m, N, n)`` scores."""

    exponents: tuple[float, ...]

    def __call__(self, log_densities: torch.Tensor, scores: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        return exponent_combination(self.exponents, log_densities, scores)


def pointwise(operator: Operator) -> Composer:
    """``p⃗^t ↦ op[p⃗^t]`` evaluated pointwise from the members (never normalized: the
    composed scores exist whether or not ``op[p⃗^t]`` is a law)."""
    def compose_at(family: Family) -> Distribution:
        return OperatorComposition(family.members, operator)
    return compose_at


def exponents_of(operator: Operator, family: Family) -> tuple[tuple[float, ...], str] | None:
    """The exponent vector and name of a shipped operator (``OPERATORS``), ``None`` for
    any other callable."""
    k = family.k
    if operator is OPERATORS["linear_combination"]:
        return tuple(weighted_exponents(family, [1.0] * k)), "C[p]"
    if operator is OPERATORS["cfg_weighted"]:
        return (tuple(weighted_exponents(family, [CFG_WEIGHT] * k)),
                f"C_w[p] (w = {CFG_WEIGHT:g})")
    if operator is OPERATORS["simple_product"]:
        return tuple(product_exponents(family)), "simple product"
    return None


def weights_name(weights: Sequence[float]) -> str:
    """``"C[p]"`` for all-one weights, else ``"C_w[p] (w = 2, 1)"``."""
    if all(w == 1.0 for w in weights):
        return "C[p]"
    return f"C_w[p] (w = {', '.join(f'{w:g}' for w in weights)})"


def composed_law(family: Family, operator: Operator | None = None,
                 result: Distribution | None = None) -> ComposedLaw:
    """The law ``family`` composes to under ``operator`` (``None``: ``C_w`` with the
    family's weights), with exact draws; ``result`` is that law when the caller has
    already composed it. Raises ``NoExactDraws`` otherwise (``NonNormalizable`` where ``Z = ∞``)."""
    if operator is None:
        exps = tuple(weighted_exponents(family))
        return exponent_law(family, exps, weights_name(family.effective_weights), result)
    shipped = exponents_of(operator, family)
    if shipped is not None:
        return exponent_law(family, *shipped)
    composer = pointwise(operator)
    return grid_law(family, composer(family), f"user operator {operator_name(operator)}",
                    composer)


def exponent_law(family: Family, exponents: Sequence[float], name: str,
                 result: Distribution | None = None) -> ComposedLaw:
    """``q ∝ Π_m p_m^{e_m}`` in closed form where it has one (``compose_exponents``; a
    block product whose blocks lack one gets those blocks on grids), else on a grid; the
    composed run follows ``Σ_m e_m ∇log p_m^t``."""
    composer = pointwise(ExponentOperator(tuple(float(e) for e in exponents)))
    try:
        law = result if result is not None else compose_exponents(family.members, exponents)
    except ExpansionTooLarge:
        law = composer(family)
    if isinstance(law, BlockProduct) and any(isinstance(d, Unnormalized) for d in law.dists):
        return _gridded_blocks(law, name, composer)
    if isinstance(law, Unnormalized) or not _samples_and_noises(law, family.process):
        return grid_law(family, composer(family), name, composer)
    return ComposedLaw(name=name, law=law, composer=composer,
                       form=f"closed form: {_describe(law)}")


def _samples_and_noises(law: Distribution, process: ForwardProcess) -> bool:
    """Whether ``law`` has exact draws and a closed-form ``N_t`` (probed on two draws and
    at ``t = T``): some exact laws (pushforwards, scene laws) have neither."""
    try:
        law.sample(2, torch.Generator(device=law.device).manual_seed(0))
        law.noised(process.T, process)
    except (NotImplementedError, ExpansionTooLarge):
        return False
    return True


def grid_law(family: Family, law: Unnormalized, name: str, composer: Composer
             ) -> ComposedLaw:
    """``law`` (known up to a constant) on a grid (``gridded``)."""
    if family.dim not in GRID_POINTS:
        raise NoExactDraws(f"{name} has no closed form in {family.dim} dimensions and the "
                           "grid backend covers 1-D and 2-D only: no exact draws to aim at")
    grid, error = gridded(law, name)
    shape = "×".join(str(len(ax)) for ax in grid.grid.axes)
    return ComposedLaw(name=f"{name} on a {shape} grid", law=grid, composer=composer,
                       resolution=error,
                       form=(f"grid {shape} over the law's support, exact draws of its "
                             f"interpolant, total-variation error {error:.1e}"))


def gridded(law: Unnormalized, name: str) -> tuple[GridLaw, float]:
    """``law`` on a grid, the coarsest of ``GRID_POINTS`` whose interpolation error (total
    variation) is at most ``RESOLUTION_TV``, and that error. The grid spans the law's
    support (``_support``) as seen on the finest grid over ``default_bounds`` of its
    members (8 sd beyond every component): a product of members is much narrower than the
    widest of them, and a box fitted to the members would waste most nodes."""
    if law.dim not in GRID_POINTS:
        raise NoExactDraws(f"{name} has a {law.dim}-D part with no closed form and the grid "
                           "backend covers 1-D and 2-D only: no exact draws to aim at")
    try:
        wide = GridDensity.from_log_density(law.log_prob, default_bounds(*law.members),
                                            GRID_POINTS[law.dim][-1])
    except ValueError as err:  # no finite density on the members' box
        raise NoExactDraws(f"{name}: no grid of it: {err}") from err
    edge = _edge_mass(wide)
    if edge > RESOLUTION_TV:
        raise NoExactDraws(f"{name}: {edge:.2g} of its mass lies on the edge of the members' "
                           "8-sd box (not normalizable, or far wider than its members): no "
                           "exact draws to aim at")
    bounds = _support(wide)
    error = math.inf
    for points in GRID_POINTS[law.dim]:
        grid = GridDensity.from_log_density(law.log_prob, bounds, points)
        error = grid.interpolation_tv(law.log_prob)
        if error <= RESOLUTION_TV:
            return GridLaw(grid), error
    raise NoExactDraws(f"{name}: a grid of {GRID_POINTS[law.dim][-1]} points per axis "
                       f"still differs from the law by {error:.2g} in total variation (limit "
                       f"{RESOLUTION_TV:g}): no exact draws to aim at")


def _support(grid: GridDensity) -> list[tuple[float, float]]:
    """The box around the nodes where ``grid`` exceeds ``SUPPORT_RTOL`` of its peak, two
    cells wider on each side (clipped to the grid)."""
    mask = grid.values > SUPPORT_RTOL * float(grid.values.max())
    box = []
    for k, (ax, h) in enumerate(zip(grid.axes, grid.spacing, strict=True)):
        other = tuple(j for j in range(grid.dim) if j != k)
        used = torch.nonzero(mask.any(dim=other) if other else mask)[:, 0]
        lo, hi = float(ax[used.min()]) - 2 * h, float(ax[used.max()]) + 2 * h
        box.append((max(lo, float(ax[0])), min(hi, float(ax[-1]))))
    return box


def _edge_mass(grid: GridDensity) -> float:
    """The grid's mass on its outermost nodes (a normalizable law inside the members' box
    has next to none there)."""
    inner = grid.values[tuple(slice(1, -1) for _ in range(grid.dim))]
    return 1.0 - float(inner.sum()) * grid.cell_volume


def _gridded_blocks(law: BlockProduct, name: str, composer: Composer) -> ComposedLaw:
    """A block product with the blocks that lack a closed form on grids; its total
    variation to the law is at most the sum of the blocks' (a coupling block by block)."""
    blocks, errors, on_grids = [], [], []
    for coords, block in zip(law.keys, law.dists, strict=True):
        if isinstance(block, Unnormalized):
            block, error = gridded(block, name)
            errors.append(error)
            on_grids.append(list(coords))
        blocks.append((coords, block))
    total = sum(errors)
    return ComposedLaw(name=name, law=BlockProduct(blocks), composer=composer,
                       resolution=total,
                       form=(f"block product; blocks {on_grids} on grids (exact draws of "
                             f"their interpolants), total-variation error ≤ {total:.1e}; "
                             "the other blocks in closed form"))


def _describe(law: Distribution) -> str:
    try:
        return f"{type(law).__name__}, {law.num_components} components"
    except (ExpansionTooLarge, NotImplementedError):
        return type(law).__name__

