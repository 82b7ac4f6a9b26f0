"""Gaps between laws that the theory says are equal (THEORY §4–§7; DESIGN.md, checks).

- ``composed``: ``C_w[p⃗]``, factorized first when FC holds, in feature space when the
  family has a feature map; ``compose_c`` the same as a function of the family;
- ``discrepancy``: exact normalized L2 for closed forms, grid quadrature up to 2-D, an
  importance-sampling MMD with a bootstrap error bar above (``Gap`` carries the metric,
  whose tolerance and reason are in ``numerics.tolerances``);
- ``projective_gaps`` (Definition 4.1), ``noise_commutation_gaps`` (C2, C7–C9).

Exact laws are compared in their most structured form (``Distribution.factorized``: a scene
law with independent cells as its block product). A gap that needs a closed form no law
of the family has — a lens marginal of a law with dependent cells, or importance-sampling
proposals from members without a mixture form (scene laws are never expanded) — raises
``numerics.checks.fc.NotDecidable`` with the reason, rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from numerics.checks.estimators import (
    GRAM_POINTS,
    WeightedSample,
    exact_sample,
    importance_sample,
    relative_mmd,
)
from numerics.checks.fc import (
    MISSING_CLOSED_FORM,
    NotDecidable,
    Partition,
    factorize,
    fc_holds,
    not_decidable,
)
from numerics.checks.metrics import normalized_l2
from numerics.composition.compose import compose
from numerics.laws import BlockProduct, Distribution, ExpansionTooLarge
from numerics.laws.family import Family
from numerics.laws.grid import GridDensity, default_bounds, grid_normalized_l2
from numerics.laws.unnormalized import NonNormalizable, Unnormalized
from numerics.tolerances import CLOSED_FORM, GRID, IMPORTANCE, TOLERANCES


@dataclass(frozen=True)
class Gap:
    """A discrepancy with its metric and its uncertainty (0 for closed forms)."""

    value: float
    stderr: float
    metric: str
    ess: float | None = None
    note: str | None = None

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.value, self.stderr, self.ess or 0.0))

    def exceeds(self, tolerance: float) -> bool:
        """True when the gap is above ``tolerance`` by more than 3 standard errors
        (a one-sided 3σ rule: false alarm ≤ 0.13% if the bootstrap error is right)."""
        return self.value - 3.0 * self.stderr > tolerance


# composition and discrepancies --------------------------------------------------------
def composed(family: Family, partition: Partition | None, fc_holds: bool) -> Distribution:
    """``C_w[p⃗]`` in pixel space. With a feature map ``A`` the family is composed in
    feature space and pulled back (``C[A♯p⃗] = A♯C[p⃗]``, C4); when FC holds the family is
    factorized first, so an FC family costs ``O(k)`` block compositions (C1)."""
    work = family.in_feature_space()
    if fc_holds and partition is not None and not _blockwise(work):
        work = factorize(work, partition)
    result = compose(work)
    fm = family.feature_map
    if fm is None:
        return result
    inverse = torch.linalg.inv(fm.matrix)
    return result.pushforward(inverse, -inverse @ fm.offset)


def _blockwise(family: Family) -> bool:
    """Members already block products over one partition (``compose`` works blockwise)."""
    keys = {tuple(sorted(m.keys)) if isinstance(m, BlockProduct) else None
            for m in family.members}
    return None not in keys and len(keys) == 1


def discrepancy(p: Distribution, q: Distribution, generator: torch.Generator) -> Gap:
    """Exact normalized L2 when both sides have closed forms (in their factorized forms);
    else grid quadrature in 1-D and 2-D; else importance-sampling relative MMD² (either side
    may be unnormalized)."""
    if _exact(p) and _exact(q):
        try:
            return Gap(normalized_l2(p.factorized(), q.factorized()),
                       0.0, CLOSED_FORM)
        except ExpansionTooLarge:
            pass
    if p.dim <= 2:
        bounds = default_bounds(*_reference_laws(p), *_reference_laws(q))
        gp = GridDensity.from_log_density(p.log_prob, bounds)
        gq = GridDensity.from_log_density(q.log_prob, bounds)
        return Gap(grid_normalized_l2(gp, gq), 0.0, GRID)
    return sampled_discrepancy(_weighted(p, generator), q, generator)


def _exact(d: Distribution) -> bool:
    return not isinstance(d, Unnormalized)


def _reference_laws(d: Distribution) -> list[Distribution]:
    """Normalized laws whose moments bound where ``d`` lives (its members if unnormalized)."""
    return [d] if _exact(d) else list(d.members)


def _weighted(p: Distribution, generator: torch.Generator) -> WeightedSample:
    if _exact(p):
        return exact_sample(p, GRAM_POINTS, generator)
    return importance_sample(p, p.members, generator)


def sampled_discrepancy(sample: WeightedSample, q: Distribution,
                        generator: torch.Generator) -> Gap:
    """Relative MMD² between weighted points and ``q`` (exact, or weighted too)."""
    if _exact(q):
        est = relative_mmd(sample, q, generator)
    else:
        ref = importance_sample(q, q.members, generator)
        est = relative_mmd(sample, q.members[0], generator, reference=ref)
    return Gap(est.value, est.stderr, IMPORTANCE, est.ess)


def tolerance(gap: Gap) -> float:
    return TOLERANCES[gap.metric][0]


def tolerance_reason(gap: Gap) -> str:
    return TOLERANCES[gap.metric][1]


def projective_gaps(family: Family, result: Distribution, lenses: Partition,
                    generator: torch.Generator) -> list[Gap]:
    """``D(Π_i♯C[p⃗], Π_i♯p_i)`` per conditional (Definition 4.1) with
    ``Π_i(x) = (A x + c)|lenses[i]`` (``x|lenses[i]`` without a feature map). Raises
    ``NotDecidable`` when a lens marginal has no closed form and ``C[p⃗]`` cannot be
    importance-sampled from its members (module docstring)."""
    try:
        return _computed("the projective gap", _projective_gaps(family, result, lenses,
                                                                 generator))
    except MISSING_CLOSED_FORM as err:
        raise not_decidable("the projective gap (Definition 4.1; it needs the lens "
                            "marginals of C[p] and p_i in closed form, or importance "
                            "samples of C[p] from its members as mixtures)", err) from err


def _computed(what: str, gaps: list[Gap]) -> list[Gap]:
    """``gaps`` when every one is a finite number; else ``NotDecidable`` saying so: float64
    overflowed or cancelled (e.g. exponents ``1 − Σw`` and ``w_i`` of order 1e15 multiply
    densities far outside its range), and a NaN is no answer."""
    for gap in gaps:
        if not gap.finite:
            raise NotDecidable(f"{what} cannot be computed in float64 here: its {gap.metric} "
                               f"overflowed or cancelled to no number (the weights, "
                               f"precisions or means are too far apart in scale for double "
                               f"precision)")
    return gaps


def _projective_gaps(family: Family, result: Distribution, lenses: Partition,
                     generator: torch.Generator) -> list[Gap]:
    fm = family.feature_map
    full = fm.matrix if fm else torch.eye(family.dim, dtype=result.dtype)
    shift = fm.offset if fm else torch.zeros(family.dim, dtype=result.dtype)
    gaps = []
    sample = grid = None
    # Π_i♯C[p⃗] once per distinct lens: overlapping candidate blocks are often all equal
    # (every coordinate), and one law object lets ⟨Π♯C, Π♯C⟩ be computed once (metrics).
    views: dict[tuple[int, ...], Distribution | None] = {}
    for p, lens in zip(family.conditionals, lenses, strict=True):
        lens = list(lens)
        if not lens:
            gaps.append(Gap(0.0, 0.0, CLOSED_FORM))
            continue
        whole = fm is None and lens == list(range(family.dim))  # Π_i is the identity
        target = p if whole else p.marginal(lens) if fm is None \
            else p.pushforward(full[lens], shift[lens])
        if tuple(lens) not in views:
            try:
                views[tuple(lens)] = result if whole else result.marginal(lens) if fm is None \
                    else result.pushforward(full[lens], shift[lens])
            except (NotImplementedError, ExpansionTooLarge):
                views[tuple(lens)] = None
        lensed = views[tuple(lens)]
        if lensed is not None:
            gaps.append(discrepancy(lensed, target, generator))
        elif family.dim <= 2:
            grid = grid or _feature_grid(result, _covering_laws(result, family), full, shift)
            gaps.append(_grid_lens_gap(grid, lens, target))
        else:
            if sample is None:
                sample = importance_sample(result, _covering_laws(result, family), generator)
            pushed = sample.mapped(lambda x, m=full[lens], o=shift[lens]: x @ m.T + o)
            gaps.append(sampled_discrepancy(pushed, target, generator))
    return gaps


def _covering_laws(result: Distribution, family: Family) -> list[Distribution]:
    """Normalized laws whose mixture forms cover ``C_w[p⃗]`` (importance-sampling
    proposals, grid bounds): the members of an unnormalized composition, else the
    family's members in pixel space — ``C_w[p⃗] ∝ Π_m p_m^{e_m}`` lives where they do.
    The second case is a structured law with an unnormalized part (a block product with
    a block that has no closed form, or its pullback under a feature map), which has no
    ``members`` of its own."""
    return list(result.members) if isinstance(result, Unnormalized) else list(family.members)


def _feature_grid(result: Distribution, covering: list[Distribution], full: torch.Tensor,
                  shift: torch.Tensor) -> GridDensity:
    """Grid ground truth for a 1-D/2-D composition known up to a constant, in feature
    coordinates ``z = A x + c``: its density there is ``C(A⁻¹(z − c))`` up to a constant;
    ``covering`` (pixel space) sets the bounds."""
    inverse = torch.linalg.inv(full)
    members = [m.pushforward(full, shift) for m in covering]
    return GridDensity.from_log_density(lambda z: result.log_prob((z - shift) @ inverse.T),
                                        default_bounds(*members))


def _grid_lens_gap(grid: GridDensity, lens: list[int], target: Distribution) -> Gap:
    """The grid's marginal on the lens against the exact law ``target``."""
    if len(lens) < grid.dim:
        grid = grid.marginal(lens[0])
    exact = GridDensity.from_distribution(target, bounds=[(float(a[0]), float(a[-1]))
                                                          for a in grid.axes])
    return Gap(grid_normalized_l2(grid, exact), 0.0, GRID)


def compose_c(partition: Partition | None) -> Callable[[Family], Distribution]:
    """``p⃗ ↦ C_w[p⃗]`` as ``check`` computes it: factorized when FC holds exactly for
    ``partition`` (re-checked for every family it is given, never assumed)."""
    def compose_at(family: Family) -> Distribution:
        fc = partition is not None and fc_holds(family.in_feature_space(), partition)
        return composed(family, partition, fc)
    return compose_at


def noise_commutation_gaps(family: Family, result: Distribution, times: Sequence[float],
                           generator: torch.Generator,
                           compose_at: Callable[[Family], Distribution]) -> list[Gap]:
    """``D(C[p⃗^t], N_t[C[p⃗]])`` for each ``t`` (C2; C7–C9 under a feature map), for the
    composition ``compose_at`` (``compose_c`` or a user operator) and ``result`` its
    value at ``t = 0``.

    ``C[p⃗^t]`` composes the family noised in pixel space; ``N_t[C[p⃗]]`` noises the
    composition: in closed form when it has one, by FFT convolution of its grid in 1-D
    and 2-D, else by noising weighted importance samples of it. Noise can make
    ``C[p⃗^t]`` non-normalizable although ``C[p⃗]`` is not; such a ``t`` gets the largest
    normalized L2, 1, with a note (the composed scores then target no law at all). Raises
    ``NotDecidable`` where a side has neither a closed form nor importance-sampling
    proposals (module docstring).
    """
    try:
        return _computed("noise commutation (C2)", _noise_commutation_gaps(
            family, result, times, generator, compose_at))
    except MISSING_CLOSED_FORM as err:
        raise not_decidable("noise commutation (C2)", err) from err


def _noise_commutation_gaps(family: Family, result: Distribution, times: Sequence[float],
                            generator: torch.Generator,
                            compose_at: Callable[[Family], Distribution]) -> list[Gap]:
    gaps = []
    sample = grid = None
    for t in times:
        try:
            left = compose_at(family.noised(t))
        except NonNormalizable as err:
            gaps.append(Gap(1.0, 0.0, CLOSED_FORM,
                            note=f"C[p^t] is non-normalizable at t = {t:.4g}: {err}"))
            continue
        a, s = family.process.coefficients(t)
        if _exact(result):
            gaps.append(discrepancy(left, result.noised(t, family.process), generator))
            continue
        if family.dim <= 2:
            if grid is None:
                grid = GridDensity.from_log_density(
                    result.log_prob, default_bounds(*_covering_laws(result, family)))
            right = grid.convolved(a, s * s)
            left_grid = GridDensity.from_log_density(
                left.log_prob, [(float(x[0]), float(x[-1])) for x in right.axes])
            gaps.append(Gap(grid_normalized_l2(left_grid, right), 0.0,
                            GRID))
            continue
        if sample is None:
            sample = importance_sample(result, _covering_laws(result, family), generator)
        noise = torch.randn(sample.x.shape, generator=generator, dtype=sample.x.dtype)
        pushed = sample.mapped(lambda x, a=a, s=s, e=noise: a * x + s * e)
        gaps.append(sampled_discrepancy(pushed, left, generator))
    return gaps


