"""Exact evidence for the claims of THEORY.md, one instance at a time.

Each function takes one instance (a family, a map, a time) and returns the measured
discrepancy; the property tests (``tests/test_c*.py``) and ``projcomp verify`` draw the
instances from ``numerics.claims.strategies`` and compare the numbers with the tolerances here.

Most identities are checked *pointwise*: two unnormalized log-densities of the same law
differ by a constant, so ``spread = max − min`` of their difference over many points must
vanish up to float64 round-off; when one side is normalized (a product of normalized
factors) the constant itself must be 0 as well, which checks ``Z = 1``. The composed side
is always evaluated from the members by the pointwise formula
``Σ_m e_m log p_m(x)`` — never by the structural shortcuts that the claims justify.

For the negative claims (C5, C9, C11, C12, C14) there are also the predicates that say
whether an instance breaks the claim (by a ``margin`` over the tolerance, for the
counterexample searches of ``projcomp.claims``) and the two laws that the claim says
agree, for the counterexample reports' figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from numerics.checks.gaps import (
    Gap,
    compose_c,
    composed,
    noise_commutation_gaps,
    projective_gaps,
    tolerance,
)
from numerics.checks.heuristic import ROUNDOFF, cosine_matrix, largest_off_diagonal
from numerics.checks.judge import TIME_POINTS
from numerics.composition.compose import product_exponents, weighted_exponents
from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.diffeomorphisms import Diffeomorphism
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds, grid_normalized_l2
from numerics.laws.unnormalized import NonNormalizable
from numerics.sampling.times import time_grid
from numerics.tolerances import EXACT_TOL, GRID_TOL

LogDensity = Callable[[torch.Tensor], torch.Tensor]

# Pointwise identities: two float64 sums of O(L) log-density terms agree to ~L·1e-16
# relative; 1e-9 relative to the largest |term| leaves a millionfold margin.
POINTWISE_RTOL = 1e-9
POINTS = 256


@dataclass(frozen=True)
class Pointwise:
    """``log f − log g`` over the probe points: its spread and its mean, and the scale
    (largest |log f|, |log g|) that the round-off tolerance is relative to."""

    spread: float
    offset: float
    scale: float

    @property
    def same_law(self) -> bool:
        return self.spread <= POINTWISE_RTOL * (1.0 + self.scale)

    @property
    def equal(self) -> bool:
        """Same law and the same normalization."""
        return self.same_law and abs(self.offset) <= POINTWISE_RTOL * (1.0 + self.scale)


def compare_pointwise(log_f: LogDensity, log_g: LogDensity, points: torch.Tensor) -> Pointwise:
    lf, lg = log_f(points), log_g(points)
    diff = lf - lg
    scale = float(torch.maximum(lf.abs().max(), lg.abs().max()))
    return Pointwise(float(diff.max() - diff.min()), float(diff.mean()), scale)


def pointwise_composition(members: Sequence[Distribution], exponents: Sequence[float]
                          ) -> LogDensity:
    """``x ↦ Σ_m e_m log p_m(x)``: the composition by its defining formula (THEORY §2)."""
    return lambda x: sum(e * p.log_prob(x) for p, e in zip(members, exponents, strict=True))


def probe_points(laws: Sequence[Distribution], generator: torch.Generator,
                 n: int = POINTS) -> torch.Tensor:
    """Points where every law has mass: ``n`` draws from each, stacked."""
    return torch.cat([p.sample(n, generator) for p in laws])


def product_form(family: Family, partition: Sequence[Sequence[int]]) -> BlockProduct:
    """``p_b(x|M_b) Π_i p_i(x|M_i)`` (C1's right-hand side), from marginals."""
    n = family.dim
    used = {c for block in partition for c in block}
    rest = [c for c in range(n) if c not in used]
    blocks = [(list(b), p.marginal(list(b))) for p, b in zip(family.conditionals, partition,
                                                               strict=True) if b]
    if rest:
        blocks.append((rest, family.background.marginal(rest)))
    return BlockProduct(blocks)


# C1, C2 -------------------------------------------------------------------------------
def c1_instance(family: Family, generator: torch.Generator) -> Pointwise:
    """C1: ``Σ e_m log p_m(x) = log[p_b(x|M_b) Π p_i(x|M_i)]`` exactly (offset 0 is Z = 1)."""
    target = product_form(family, family.projections)
    formula = pointwise_composition(family.members, weighted_exponents(family))
    points = probe_points([target, *family.members], generator)
    return compare_pointwise(formula, target.log_prob, points)


def c2_instance(family: Family, t: float, generator: torch.Generator) -> Pointwise:
    """C2: the formula on the noised members equals ``N_t`` of C1's product form."""
    noisy = family.noised(t)
    target = product_form(family, family.projections).noised(t, family.process)
    formula = pointwise_composition(noisy.members, weighted_exponents(family))
    points = probe_points([target, *noisy.members], generator)
    return compare_pointwise(formula, target.log_prob, points)


# C4, C5 -------------------------------------------------------------------------------
def equivariance_instance(family: Family, exponents: Sequence[float], diffeo: Diffeomorphism,
                          generator: torch.Generator) -> Pointwise:
    """``Π_m (A♯p_m)^{e_m}`` versus ``A♯Π_m p_m^{e_m}`` as unnormalized log-densities.

    Their log-ratio is ``(1 − Σ e_m) log|det DA(A⁻¹x)|``: constant for every ``A`` when
    the exponents sum to 1 (C4: ``C`` and ``C_w``), and non-constant for nonlinear ``A``
    otherwise (C5: the simple product, ``Σ e_m = k``)."""
    pushed = [diffeo.pushforward_log_density(p.log_prob) for p in family.members]

    def left(x: torch.Tensor) -> torch.Tensor:
        return sum(e * f(x) for f, e in zip(pushed, exponents, strict=True))

    right = diffeo.pushforward_log_density(pointwise_composition(family.members, exponents))
    points = diffeo.forward(probe_points(family.members, generator))
    return compare_pointwise(left, right, points)


def simple_product_breaks(family: Family, diffeo: Diffeomorphism, generator: torch.Generator,
                          margin: float = 1.0) -> bool:
    """C5: the simple product's two sides (:func:`equivariance_instance` with every
    exponent 1) are not the same law by ``margin`` times the pointwise tolerance: their
    log-ratio ``(1 − k) log|det DA(A⁻¹x)|`` varies. ``margin = 1`` is ``not same_law``."""
    p = equivariance_instance(family, product_exponents(family), diffeo, generator)
    return p.spread > margin * POINTWISE_RTOL * (1.0 + p.scale)


def simple_product_laws(family: Family, diffeo: Diffeomorphism
                        ) -> tuple[GridDensity, GridDensity]:
    """C5's two laws ``Π_m A♯p_m`` and ``A♯Π_m p_m``, each normalized on a grid over the
    image of the members' bounds; for a 2-D family their first-coordinate marginals."""
    exps = product_exponents(family)
    pushed = [diffeo.pushforward_log_density(p.log_prob) for p in family.members]
    bounds = diffeo.image_bounds(default_bounds(*family.members))

    def left(x: torch.Tensor) -> torch.Tensor:
        return sum(e * f(x) for f, e in zip(pushed, exps, strict=True))

    right = diffeo.pushforward_log_density(pointwise_composition(family.members, exps))
    grids = [GridDensity.from_log_density(fn, bounds) for fn in (left, right)]
    first, second = (g.marginal(0) if g.dim == 2 else g for g in grids)
    return first, second


def c6_instance(feature_family: Family, diffeo: Diffeomorphism) -> float:
    """C6 on a grid: pixels ``x = B(z)`` of an FC family in features ``z`` (``B`` a
    nonlinear diffeomorphism, so the feature map is ``A = B⁻¹``). ``C[p⃗]`` is evaluated in
    pixel space by the pointwise formula on ``p_m = B♯q_m``; the law of ``A(x)`` under it
    has log-density ``log C[p⃗](B(z)) + log|det DB(z)|`` up to a constant, gridded in ``z``.
    Returns the largest grid normalized L2 between its marginal on ``M_i`` and ``q_i``'s.
    """
    pixel = [diffeo.pushforward_log_density(q.log_prob) for q in feature_family.members]
    exponents = weighted_exponents(feature_family)

    def formula(x: torch.Tensor) -> torch.Tensor:
        return sum(e * f(x) for f, e in zip(pixel, exponents, strict=True))

    grid = GridDensity.from_log_density(diffeo.pullback_log_density(formula),
                                        default_bounds(*feature_family.members))
    gaps = []
    for q, block in zip(feature_family.conditionals, feature_family.projections, strict=True):
        lens = grid.marginal(block[0]) if grid.dim == 2 and len(block) == 1 else grid
        exact = GridDensity.from_distribution(q.marginal(list(block)),
                                              bounds=[(float(a[0]), float(a[-1]))
                                                      for a in lens.axes])
        gaps.append(grid_normalized_l2(lens, exact))
    return max(gaps)


# C7, C8, C9 ---------------------------------------------------------------------------
def commutation_instance(family: Family, t: float, generator: torch.Generator) -> Pointwise:
    """``C[p⃗^t]`` (the formula on the pixel-space noised members) versus ``N_t[C[p⃗]]``
    (C composed exactly in feature space, pulled back, then noised in pixel space).
    Equal for orthogonal (C7) and block-orthogonal (C8) maps; C9 finds maps for which
    they differ."""
    partition = [list(b) for b in family.feature_map.blocks]
    target = composed(family, partition, True).noised(t, family.process)
    noisy = family.noised(t)
    formula = pointwise_composition(noisy.members, weighted_exponents(family))
    points = probe_points([target, *noisy.members], generator)
    return compare_pointwise(formula, target.log_prob, points)


def check_commutation_gap(pixel: Family) -> tuple[Gap, float]:
    """C9 as ``projcomp check`` measures it: the largest ``D(C[p⃗^t], N_t[C[p⃗]])`` over the
    judge's time grid (closed form, or grid quadrature for 2-D unnormalized laws) and its
    ``t``, for a family with a feature map. Times where ``C[p⃗^t]`` is non-normalizable
    count only when no other time fails."""
    partition = [list(b) for b in pixel.feature_map.blocks]
    times = time_grid(pixel.process, TIME_POINTS)
    gaps = noise_commutation_gaps(pixel, composed(pixel, partition, True), times,
                                  torch.Generator().manual_seed(0), compose_c(partition))
    return max(zip(gaps, times, strict=True), key=lambda pair: (pair[0].note is None,
                                                                pair[0].value))


def commutation_breaks(pixel: Family, margin: float) -> bool:
    """C9 by ``check``'s measure: the largest gap exceeds ``margin`` times its metric's
    tolerance."""
    gap = check_commutation_gap(pixel)[0]
    return gap.value > margin * tolerance(gap)


def commutation_laws(pixel: Family, t: float) -> tuple[Distribution, Distribution]:
    """C9's two laws at time ``t``: ``C[p⃗^t]`` (composed from the noised members) and
    ``N_t[C[p⃗]]`` (composed in feature space, pulled back, then noised)."""
    partition = [list(b) for b in pixel.feature_map.blocks]
    return (compose_c(partition)(pixel.noised(t)),
            composed(pixel, partition, True).noised(t, pixel.process))


# C10 ----------------------------------------------------------------------------------
# C10's cosines are an exact identity, checked to ORTHOGONALITY_TOL relative to the
# lengths (float64 round-off of the inner products, with heuristic.ROUNDOFF's floor).
ORTHOGONALITY_TOL = 1e-9


def c10_instance(family: Family) -> float:
    """C10: the largest ``|δ_iᵀδ_j| / ((|δ_i| + r)(|δ_j| + r))`` over ``i ≠ j``, with ``r``
    the resolution floor of the differences (``numerics.checks.heuristic``), so that a tiny
    ``δ_i`` known only to round-off cannot fake a cosine. 0 for ``k = 1``."""
    return largest_off_diagonal(cosine_matrix(family, ROUNDOFF / ORTHOGONALITY_TOL))


# C11, C12, C14, C16 -------------------------------------------------------------------
def projective_gap(family: Family, generator: torch.Generator) -> float:
    """The largest ``D(Π_i♯C_w[p⃗], Π_i♯p_i)`` over conditionals, with ``Π_i = x|M_i`` for
    the family's projections (Definition 4.1). Exact for mixtures and block products,
    grid quadrature in 1-D/2-D otherwise."""
    result = composed(family, None, False)
    lenses = [list(b) for b in family.projections]
    return max(g.value for g in projective_gaps(family, result, lenses, generator))


def projective_gap_or_none(family: Family, generator: torch.Generator) -> float | None:
    """:func:`projective_gap`, or None when ``C_w[p⃗]`` is non-normalizable (no law)."""
    try:
        return projective_gap(family, generator)
    except NonNormalizable:
        return None


def not_projective(family: Family, generator: torch.Generator, margin: float = 1.0) -> bool:
    """C11, C12, C14: ``C_w[p⃗]`` is normalizable and its projective gap exceeds the grid
    tolerance (the loosest exact one) and ``margin`` times the exact one. A
    non-normalizable instance is no counterexample: it has no law."""
    gap = projective_gap_or_none(family, generator)
    return gap is not None and gap > max(GRID_TOL, margin * EXACT_TOL)


def first_lens_laws(family: Family) -> tuple[GridDensity, Distribution]:
    """The laws that projectivity says agree, on the first coordinate of the first lens:
    ``Π_1♯C_w[p⃗]`` (gridded when ``C_w[p⃗]`` has no closed-form marginal) and
    ``Π_1♯p_1``."""
    coord = family.projections[0][0]
    return (marginal_grid(composed(family, None, False), coord),
            family.conditionals[0].marginal([coord]))


def marginal_grid(law: Distribution, coord: int) -> GridDensity:
    """1-D marginal on ``coord`` of an exact law, or of a 1-D/2-D unnormalized one (its
    log-density normalized on the members' default grid)."""
    try:
        return GridDensity.from_distribution(law.marginal([coord]))
    except (NotImplementedError, ValueError):
        bounds = default_bounds(*law.members)
        grid = GridDensity.from_log_density(law.log_prob, bounds)
        return grid.marginal(coord) if grid.dim == 2 else grid


def bayes_family(family: Family) -> Family:
    """The same conditionals over the unconditional background ``p_b = (1/k) Σ_ℓ p_ℓ``
    (Bayes composition, THEORY §1, C11)."""
    mixes = [p.to_mixture() for p in family.conditionals]
    k = len(mixes)
    background = GaussianMixture(torch.cat([m.weights / k for m in mixes]),
                                 torch.cat([m.means for m in mixes]),
                                 torch.cat([m.covs for m in mixes]), validate=False)
    return replace(family.with_members([background, *family.conditionals]),
                   name=f"bayes-{family.name}")


def reweighted(family: Family, weights: Sequence[float]) -> Family:
    """The family composed by ``C_w`` with the given weights (C14)."""
    return replace(family, weights=tuple(float(w) for w in weights))


def with_gaussian_background(family: Family) -> Family:
    """The family with each background block replaced by the Gaussian of the same mean
    and covariance, in the background and in every conditional that shares the block.
    With a Gaussian background, ``C`` of mixture conditionals is an exact mixture at
    every noise level (the C9 setting of THEORY §6 and its C13 example)."""
    swap = {id(d): GaussianMixture.gaussian(d.mean, d.covariance)
            for d in family.background.dists}

    def rebuilt(p: BlockProduct) -> BlockProduct:
        return BlockProduct([(c, swap.get(id(d), d)) for c, d in zip(p.keys, p.dists,
                                                                      strict=True)])

    return family.with_members([rebuilt(p) for p in family.members])
