"""Which of the theory's properties a composition operator keeps (THEORY §1–§6).

``operator_properties`` measures, on 2-D grids (``numerics.laws.grid``, the ground truth
for laws without closed form), each instance also available on its own
(``grid_projective_gaps``, ``grid_noise_commutation_gaps``, ``equivariance_gap``):

- "projective under FC" (C1, Definition 4.1): ``Π_i♯q = Π_i♯p_i`` with ``Π_i(x) = x_i``;
- "noise commutation under FC" (C2): ``q[p⃗^t] = N_t[q[p⃗]]``;
- "reparameterization equivariance" (C4, Lemma 6.2): ``q[A♯p⃗] = A♯q[p⃗]`` for a
  nonlinear diffeomorphism ``A`` (``numerics.laws.pushforward.Pushforward``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.diffeomorphisms import Coordinatewise, Diffeomorphism, MonotoneTanh, Triangular2D
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds, grid_normalized_l2
from numerics.laws.pushforward import Pushforward, RememberedInverse
from numerics.laws.unnormalized import (
    Operator,
    OperatorComposition,
    OperatorFailed,
    operator_name,
)
from numerics.records import optional
from numerics.threads import single_threaded
from numerics.tolerances import GRID, GRID_TOL, TOLERANCES

# Grid nodes per axis. Over the members' 8-sd bounds the suite's families get spacings
# h ≤ 0.19 (≤ 0.14 measured for seeds 0–2) against component sds σ ≥ 0.3 (≥ 0.21 after
# C_w's tilt p_i²/p_b), so the trapezoid rule's relative error ~2·exp(−2π²σ²/h²) is
# below 1e-10; the kept properties of the shipped operators measure ≤ 2e-21 against
# GRID_TOL = 1e-4.
GRID_POINTS = 201
FAMILIES = 4
# Noise levels of C2, as fractions of the process's horizon T (VP: s_t ≈ 0.17, 0.55, 0.97).
NOISE_TIME_FRACTIONS = (0.05, 0.2, 0.5)
# A composed grid whose density at the grid's edge exceeds this fraction of its peak has
# mass the grid does not hold (not normalizable, or wider than its members): the grid
# cannot judge it. Truncating a relative mass ε changes the normalized L2 by ~ε².
EDGE_RTOL = 1e-6


@dataclass(frozen=True, kw_only=True)
class Counterexample:
    """The instance with the largest gap of a lost property: its ``family`` (write it as a
    spec with ``projcomp.spec.family_to_dict``), where in it the gap is (C1: the
    ``conditional`` and its ``coordinates``; C2: the time ``t``; C4: the ``map``, its
    ``repr``) and the ``gap``."""

    family: Family
    conditional: int | None = optional()
    coordinates: Sequence[int] | None = optional()
    t: float | None = optional()
    map: str | None = optional()
    gap: float


@dataclass(frozen=True)
class PropertyResult:
    """One property of an operator over its instances: ``kept`` when every gap is at most
    ``tolerance``; ``counterexample`` is the instance with the largest gap when the
    property is lost, else ``None``."""

    name: str
    kept: bool
    max_gap: float
    tolerance: float
    metric: str
    instances: int
    counterexample: Counterexample | None
    claim: str
    tolerance_reason: str


def operator_properties(operator: Operator, *, seed: int = 0) -> list[PropertyResult]:
    """Which of C1, C2 and C4 ``operator`` keeps, measured on grids (module docstring).

    ``FAMILIES`` seeded random 2-D FC families (``suite_families(seed)``) carry the three
    properties: C1 per family, C2 at ``NOISE_TIME_FRACTIONS`` of the process's horizon, C4
    under each of two seeded nonlinear maps (``suite_diffeomorphisms(seed)``).
    """
    with single_threaded():
        families = suite_families(seed)
        maps = suite_diffeomorphisms(seed)
        projective, noise, equivariance = [], [], []
        for family in families:
            gaps = grid_projective_gaps(operator, family)
            i = max(range(len(gaps)), key=gaps.__getitem__)
            projective.append((gaps[i], family, {"conditional": i,
                                                 "coordinates": list(family.projections[i])}))
            times = [f * family.process.T for f in NOISE_TIME_FRACTIONS]
            noise += [(gap, family, {"t": t}) for t, gap in
                      zip(times, grid_noise_commutation_gaps(operator, family, times), strict=True)]
            equivariance += [(equivariance_gap(operator, family, a), family, {"map": repr(a)})
                             for a in maps]
        return [_summarize("projective under FC", "C1", projective),
                _summarize("noise commutation under FC", "C2", noise),
                _summarize("reparameterization equivariance", "C4", equivariance)]


def suite_families(seed: int, count: int = FAMILIES) -> list[Family]:
    """``count`` seeded 2-D FC families (Definition 5.2) with ``k = 2`` and 1-D blocks
    ``M_1 = {0}``, ``M_2 = {1}``: each background block is ``N(m, s²)`` (``s ∈ [1, 1.5]``)
    or a 2-component mixture (sds in ``[0.8, 1.2]``); conditional ``i`` replaces block
    ``i`` by a 1–3 component mixture (means in ``[−2, 2]``, sds in ``[0.3, 0.7]``).
    Conditionals narrower than the background keep ``C_w`` normalizable for ``w ≤ 2``
    (``w/σ_c² > (w − 1)/σ_b²``)."""
    gen = torch.Generator().manual_seed(seed)
    families = []
    for j in range(count):
        background = [_background_block(gen) for _ in range(2)]
        conditionals = []
        for i in range(2):
            blocks = list(background)
            blocks[i] = _mixture(gen, int(_uniform(gen, 1, 4)), (-2.0, 2.0), (0.3, 0.7))
            conditionals.append(BlockProduct([([0], blocks[0]), ([1], blocks[1])]))
        families.append(Family(BlockProduct([([0], background[0]), ([1], background[1])]),
                               tuple(conditionals), projections=((0,), (1,)),
                               name=f"operator-suite-{seed}-{j}"))
    return families


def suite_diffeomorphisms(seed: int) -> list[Diffeomorphism]:
    """Two seeded nonlinear maps of ``R²`` (C4): coordinatewise ``x_j = z_j + a_j
    tanh(b_j z_j + c_j)`` and triangular ``x_1 = z_1 + a tanh(b z_1 + c)``,
    ``x_2 = e^u z_2 + c' sin(ω z_1)``; ``a, b ∈ [0.5, 1.5]`` bend the map at the scale
    where the families have their mass."""
    gen = torch.Generator().manual_seed(seed + 1)

    def tanh_map() -> MonotoneTanh:
        return MonotoneTanh(_uniform(gen, 0.5, 1.5), _uniform(gen, 0.5, 1.5),
                            _uniform(gen, -0.5, 0.5))

    return [Coordinatewise([tanh_map(), tanh_map()]),
            Triangular2D(tanh_map(), log_scale=_uniform(gen, -0.3, 0.3),
                         amplitude=_uniform(gen, 0.3, 0.8), frequency=_uniform(gen, 0.5, 1.0))]


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _mixture(gen: torch.Generator, count: int, means: tuple[float, float],
             sds: tuple[float, float]) -> GaussianMixture:
    logits = torch.tensor([_uniform(gen, -1.0, 1.0) for _ in range(count)], dtype=torch.float64)
    mu = torch.tensor([[_uniform(gen, *means)] for _ in range(count)], dtype=torch.float64)
    var = torch.tensor([[[_uniform(gen, *sds) ** 2]] for _ in range(count)],
                       dtype=torch.float64)
    return GaussianMixture(torch.softmax(logits, 0), mu, var)


def _background_block(gen: torch.Generator) -> GaussianMixture:
    if _uniform(gen, 0.0, 1.0) < 0.5:
        return _mixture(gen, 1, (-0.5, 0.5), (1.0, 1.5))
    return _mixture(gen, 2, (-1.5, 1.5), (0.8, 1.2))


def _composed_grid(law: Distribution, bounds: Sequence[tuple[float, float]],
                   points: Sequence[int], context: str) -> GridDensity:
    """Grid of a composed law, refused when the grid does not hold its mass."""
    grid = GridDensity.from_log_density(law.log_prob, bounds, list(points))
    v = grid.values
    edge = max(float(v[0].max()), float(v[-1].max()), float(v[:, 0].max()),
               float(v[:, -1].max())) / float(v.max())
    if edge > EDGE_RTOL:
        raise OperatorFailed(f"{context}: the density at the grid's edge is {edge:.2g} of its "
                         "peak; the composition is not normalizable or wider than its "
                         "members, so the grid cannot judge it")
    return grid


def _context(operator: Operator, family: Family) -> str:
    return f"operator {operator_name(operator)} on family {family.name}"


def grid_projective_gaps(operator: Operator, family: Family) -> list[float]:
    """C1 / Definition 4.1 for a 2-D family with 1-D blocks ``family.projections``: per
    conditional ``i``, ``D(grid marginal of q[p⃗] on M_i, exact marginal of p_i on M_i)``."""
    grid = _composed_grid(OperatorComposition(family.members, operator),
                          default_bounds(*family.members), [GRID_POINTS] * 2,
                          _context(operator, family))
    gaps = []
    for p, block in zip(family.conditionals, family.projections, strict=True):
        marginal = grid.marginal(block[0])
        ax = marginal.axes[0]
        exact = GridDensity.from_distribution(p.marginal(list(block)),
                                              [(float(ax[0]), float(ax[-1]))], len(ax))
        gaps.append(grid_normalized_l2(marginal, exact))
    return gaps


def grid_noise_commutation_gaps(operator: Operator, family: Family, times: Sequence[float]
                           ) -> list[float]:
    """C2 for a 2-D family: per ``t``, ``D(q[p⃗^t], N_t[q[p⃗]])``; the left side applies
    the operator to the exactly noised members, the right side noises the t = 0 grid by
    FFT convolution (``GridDensity.convolved``)."""
    context = _context(operator, family)
    clean = _composed_grid(OperatorComposition(family.members, operator),
                           default_bounds(*family.members), [GRID_POINTS] * 2, context)
    gaps = []
    for t in times:
        a, s = family.process.coefficients(t)
        right = clean.convolved(a, s * s)
        left = _composed_grid(OperatorComposition(family.noised(t).members, operator),
                              [(float(ax[0]), float(ax[-1])) for ax in right.axes],
                              [len(ax) for ax in right.axes], f"{context} at t={t:g}")
        gaps.append(grid_normalized_l2(left, right))
    return gaps


def equivariance_gap(operator: Operator, family: Family, diffeomorphism: Diffeomorphism
                     ) -> float:
    """C4 / Lemma 6.2 for a 2-D family: ``D(q[A♯p⃗], A♯q[p⃗])`` on one grid covering the
    image under ``A`` of the members' bounds; both sides by change of variables
    (``Pushforward``), the left one with the pushed members' scores."""
    context = f"{_context(operator, family)} under {diffeomorphism!r}"
    bounds = diffeomorphism.image_bounds(default_bounds(*family.members))
    shared = RememberedInverse(diffeomorphism)
    pushed = [Pushforward(p, shared) for p in family.members]
    left = _composed_grid(OperatorComposition(pushed, operator), bounds, [GRID_POINTS] * 2,
                          context)
    right = _composed_grid(Pushforward(OperatorComposition(family.members, operator), shared),
                           bounds, [GRID_POINTS] * 2, context)
    return grid_normalized_l2(left, right)


def _summarize(name: str, claim: str, instances: list[tuple[float, Family, dict[str, Any]]]
               ) -> PropertyResult:
    """``kept`` iff the largest gap is at most ``GRID_TOL``; a lost property's
    counterexample is its largest-gap instance."""
    gap, family, where = max(instances, key=lambda item: item[0])
    kept = gap <= GRID_TOL
    counterexample = None if kept else Counterexample(family=family, **where, gap=gap)
    return PropertyResult(name=name, kept=kept, max_gap=gap, tolerance=GRID_TOL, metric=GRID,
                          instances=len(instances), counterexample=counterexample, claim=claim,
                          tolerance_reason=TOLERANCES[GRID][1])
