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

import math
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
from numerics.checks.locality import (
    exact_locality,
    exact_share,
    family_points,
    member_scores,
)
from numerics.checks.metrics import normalized_l2
from numerics.composition.compose import (
    compose,
    product_exponents,
    simple_product,
    weighted_exponents,
)
from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.diffeomorphisms import Diffeomorphism
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds, grid_normalized_l2
from numerics.laws.processes import ForwardProcess
from numerics.laws.scenes import Scene, SceneLaw
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


# C7 with an offset --------------------------------------------------------------------
def offset_shift_gap(law: Distribution, matrix: torch.Tensor, offset: torch.Tensor, t: float,
                     process: ForwardProcess, shifted: bool = True) -> float:
    """C7 with an offset, ``A x = Q x + b``: ``D(A♯N_t[p], τ♯N_t[A♯p])`` in closed-form
    normalized L2, ``τ(y) = y + (1 − a_t) b`` (``shifted``) or ``τ = id``.

    ``A♯N_t[p]`` is the law of ``Q(a_t X + s_t ε) + b`` and ``N_t[A♯p]`` that of
    ``a_t(Q X + b) + s_t ε'``; with ``Qε ~ ε'`` (``QᵀQ = I``) they differ by the shift
    ``(1 − a_t) b``: 0 for VE (``a_t = 1``) and at ``t = 0``. ``law`` on ``R^n``,
    ``matrix`` ``(n, n)``, ``offset`` ``(n,)``."""
    eye = torch.eye(law.dim, dtype=law.dtype, device=law.device)
    shift = (1.0 - process.a(t)) * offset if shifted else torch.zeros_like(offset)
    left = law.noised(t, process).pushforward(matrix, offset)
    right = law.pushforward(matrix, offset).noised(t, process).pushforward(eye, shift)
    return normalized_l2(left, right)


# C17 ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Discontinuity:
    """One C17 construction at ``eps``: the largest member TV ``max_m TV(p_m, q_m)`` and
    ``TV(C[p⃗], C[q⃗])``, both exact (:func:`isotropic_tv`)."""

    eps: float
    member_tv: float
    composition_tv: float

    @property
    def holds(self) -> bool:
        """Members ``eps``-close, compositions at least ``1 − eps`` apart."""
        return self.member_tv <= self.eps and self.composition_tv >= 1.0 - self.eps


def isotropic_tv(var_a: float, var_b: float, n: int) -> float:
    """``TV(N(0, a I_n), N(0, b I_n))`` in closed form, ``a ≤ b``.

    The densities cross on the sphere ``|x|² = r² = n ρ ln ρ (a / (ρ − 1))``, ``ρ = b/a``;
    the first is larger inside, so ``TV = P_a(|x|² < r²) − P_b(|x|² < r²)
    = P(n/2, r²/(2a)) − P(n/2, r²/(2b))``, ``P`` the regularized lower incomplete gamma
    function (the χ²_n distribution function). ``ρ − 1`` is formed as ``(b − a)/a``."""
    a, b = sorted((float(var_a), float(var_b)))
    if a == b:
        return 0.0
    rho = b / a
    log_ratio = math.log(rho) / ((b - a) / a)  # ln ρ / (ρ − 1)
    half = torch.tensor(n / 2.0, dtype=torch.float64)
    inside = torch.tensor([n * rho * log_ratio / 2.0, n * log_ratio / 2.0], dtype=torch.float64)
    upper, lower = torch.special.gammainc(half, inside).tolist()
    return upper - lower


def critical_family(k: int, n: int, delta: float) -> Family:
    """C17's family on ``R^n``: ``k ≥ 2`` conditionals ``N(0, I_n)`` over the background
    ``N(0, b I_n)``, ``b = (1 + δ)(k − 1)/k``. ``C[p⃗] = N(0, v I_n)`` with precision
    ``1/v = k − (k − 1)/b = k δ/(1 + δ)``: normalizable for ``δ > 0``, and ever wider as
    ``δ → 0`` (the background's tails, where it has little mass, divide every ratio)."""
    def gaussian(var: float) -> GaussianMixture:
        return GaussianMixture.gaussian(torch.zeros(n, dtype=torch.float64),
                                        var * torch.eye(n, dtype=torch.float64))

    background = gaussian((1.0 + delta) * (k - 1) / k)
    return Family(background, tuple(gaussian(1.0) for _ in range(k)),
                  name=f"c17(k={k}, n={n}, δ={delta:.3g})")


def c17_deltas(eps: float, n: int) -> tuple[float, float]:
    """``(δ_p, δ_q)`` of C17's pair at ``eps``: ``δ_q = 2 eps/√n``, ``δ_p = eps³ δ_q``.

    Why they work: the backgrounds' variances differ by the factor
    ``(1 + δ_q)/(1 + δ_p) ≤ 1 + δ_q``, so Pinsker's inequality with
    ``KL ≤ n δ_q²/4`` gives member TV ``≤ δ_q √n / (2√2) < eps`` (the conditionals are
    equal); the compositions' variances differ by ``ρ ≈ eps⁻³``, and the TV of the first
    coordinates alone, ``≥ 1 − 2Q(√ln ρ) − √(2 ln ρ/(π(ρ − 1)))``, is ``≥ 1 − eps`` for
    ``eps ≤ 0.1``. The measured TVs, not these bounds, decide."""
    delta_q = 2.0 * eps / math.sqrt(n)
    return eps**3 * delta_q, delta_q


def c17_pair(eps: float, k: int, n: int) -> tuple[Family, Family]:
    """C17's pair ``(p⃗, q⃗)`` at ``eps`` (:func:`critical_family`, :func:`c17_deltas`)."""
    delta_p, delta_q = c17_deltas(eps, n)
    return critical_family(k, n, delta_p), critical_family(k, n, delta_q)


def isotropic_variance(law: Distribution) -> float:
    """``v`` of a law ``N(0, v I)`` (a one-component mixture); ``ValueError`` otherwise."""
    mix = law.to_mixture()
    v = float(mix.covs[0, 0, 0])
    eye = torch.eye(mix.dim, dtype=mix.dtype)
    if mix.num_components != 1 or mix.means.abs().max() > 0.0 or \
            not torch.equal(mix.covs[0], v * eye):
        raise ValueError(f"{law!r} is not a centered isotropic Gaussian")
    return v


def c17_instance(eps: float, k: int, n: int) -> Discontinuity:
    """C17 at ``eps``: the exact TVs of :func:`c17_pair`, the compositions by
    ``numerics.composition.compose`` (closed-form Gaussians).

    Round-off: ``compose`` forms the precision ``k − (k − 1)/b ≈ k δ_p`` by cancellation,
    relative error ``≲ 2^-52/δ_p`` (≤ 1e-4 at ``eps = 1e-3``, ``δ_p = 2e-12``) in
    ``C[p⃗]``'s variance; at a variance ratio ``≥ 1e8`` the TV moves by less than ``1e-8``
    per unit of relative variance error, far below every margin here."""
    p, q = c17_pair(eps, k, n)
    members = max(isotropic_tv(isotropic_variance(a), isotropic_variance(b), n)
                  for a, b in zip(p.members, q.members, strict=True))
    apart = isotropic_tv(isotropic_variance(compose(p)), isotropic_variance(compose(q)), n)
    return Discontinuity(eps, members, apart)


# C18 ----------------------------------------------------------------------------------
def object_family(scene: Scene, cells: Sequence[int]) -> Family:
    """The length-generalization family: the empty scene as background and, per cell
    ``ℓ`` of ``cells``, "one object at ``ℓ``, empty elsewhere" (scene laws, THEORY §1, §9)."""
    return Family(SceneLaw(scene), tuple(SceneLaw(scene, [c]) for c in cells),
                  projections=tuple(tuple(scene.cells[c].tolist()) for c in cells),
                  name=f"objects at {list(cells)}")


def product_brightness_law(scene: Scene, cells: Sequence[int]) -> BlockProduct:
    """C18's closed form of the simple product ``Π_{ℓ∈cells} p_ℓ`` (``k = |cells|``).

    Per cell, ``k`` Gaussian factors of one variance ``v`` multiply to
    ``Π_i N(x; m_i, v) = N(x; m̄, v/k) · exp(−(Σ|m_i|² − k|m̄|²)/(2v)) · const``. On a
    requested cell one law wants template ``τ`` (``m = μ_τ``) and ``k − 1`` want it empty
    (``m = 0``): the cell law is ``Σ_τ w_τ N(μ_τ/k, (v/k) I)`` with
    ``w_τ ∝ exp(−(k − 1)|μ_τ|²/(2kv))``, every object at brightness ``1/k``, dimmer
    templates favoured; every other cell is ``N(0, (v/k) I)``. ``(n,)`` points."""
    k, v = len(cells), scene.noise**2
    d, mu = scene.cell_dim, scene.templates
    logits = -(k - 1) * (mu * mu).sum(-1) / (2.0 * k * v)
    covs = (v / k) * torch.eye(d, dtype=mu.dtype).expand(len(mu), d, d)
    wanted = GaussianMixture(torch.softmax(logits, 0), mu / k, covs)
    empty = GaussianMixture.gaussian(torch.zeros(d, dtype=mu.dtype), (v / k) * torch.eye(
        d, dtype=mu.dtype))
    return BlockProduct([(scene.cells[j].tolist(), wanted if j in cells else empty)
                         for j in range(scene.locations)])


def c18_instance(scene: Scene, cells: Sequence[int], generator: torch.Generator
                 ) -> tuple[Pointwise, Distribution]:
    """C18: the simple product (``numerics.composition.compose.simple_product``, its own
    exact log-density up to a constant) against :func:`product_brightness_law`, at
    points drawn from the closed form and from every member; and ``C[p⃗]`` of the same
    family (a scene law: C1 gives all ``k`` objects at full brightness)."""
    family = object_family(scene, cells)
    closed = product_brightness_law(scene, cells)
    points = probe_points([closed, *family.members], generator)
    return (compare_pointwise(simple_product(family).log_prob, closed.log_prob, points),
            compose(family))


# C19, C20 -----------------------------------------------------------------------------
# Points per member at which C19's Jacobians are taken (each conditional's and the
# background's draws), per noise level.
LOCALITY_POINTS = 16


def c19_instance(family: Family, blocks: Sequence[Sequence[int]], generator: torch.Generator,
                 times: Sequence[float]) -> float:
    """C19: the largest exact non-locality (``ExactLocality.worst``: background Hessian
    across parts, ``∇d_j`` outside ``M_j × M_j``, ``d_j`` off ``M_j``) over ``times``, from
    autograd Jacobians of the noisy members' scores (pulled back to features when the
    family has a feature map), at draws of ``p_b^t`` and every ``p_j^t``."""
    worst = 0.0
    for t in times:
        noisy = family.noised(t)
        feature = noisy.in_feature_space()
        scores = member_scores(noisy)
        x = torch.cat([family_points(feature, j, LOCALITY_POINTS, generator)
                       for j in range(family.k)])
        worst = max(worst, exact_locality(scores[0], scores[1:], blocks, x).worst)
    return worst


def c20_statistic(family: Family, t: float, generator: torch.Generator) -> float:
    """C20: the largest locality statistic ``L_j`` over conditionals at ``t``, on the
    family's projections, at ``LOCALITY_POINTS`` draws of ``p_b^t`` and of ``p_j^t``: the
    value its JVP estimate (``numerics.checks.locality.family_locality``) estimates, from
    exact Jacobians (noise-free, and cheaper for small ``n``)."""
    noisy = family.noised(t)
    scores = member_scores(noisy)
    return max(exact_share(scores[j + 1], scores[0],
                           family_points(noisy, j, LOCALITY_POINTS, generator), block)
               for j, block in enumerate(family.projections))
