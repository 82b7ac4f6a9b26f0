"""Distribution-level checks of a family (THEORY §3–§7; DESIGN.md, checks).

- ``fc_violation``: Definition 5.2 for a given partition, as the largest of three exact
  discrepancies (own-block independence, background independence, off-block match);
- ``infer_partition``: where each conditional differs from the background, closed under
  the background's dependence;
- ``factorize``: an FC family rewritten as block products (exactly the same laws);
- ``composed``: ``C_w[p⃗]``, factorized first when FC holds, in feature space when the
  family has a feature map;
- ``discrepancy``: exact normalized L2 for closed forms, grid quadrature up to 2-D, an
  importance-sampling MMD with a bootstrap error bar above;
- ``projective_gaps`` (Definition 4.1), ``noise_commutation_gaps`` (C2, C7–C9),
  ``mean_difference_cosines`` (Lemma 8.1, C10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from numerics.composition import NonNormalizable, Unnormalized, compose, same_distribution
from numerics.distributions import BlockProduct, Distribution, ExpansionTooLarge, GaussianMixture
from numerics.estimators import (
    GRAM_POINTS,
    WeightedSample,
    exact_sample,
    importance_sample,
    relative_mmd,
)
from numerics.family import Family
from numerics.grid import GridDensity, default_bounds
from numerics.grid import normalized_l2 as grid_normalized_l2
from numerics.metrics import EXACT_TOL, normalized_l2, normalized_l2_blocks

Partition = list[list[int]]


@dataclass(frozen=True)
class Gap:
    """A discrepancy with its metric and its uncertainty (0 for closed forms)."""

    value: float
    stderr: float
    metric: str
    ess: float | None = None
    note: str | None = None

    def exceeds(self, tolerance: float) -> bool:
        """True when the gap is above ``tolerance`` by more than 3 standard errors
        (a one-sided 3σ rule: false alarm ≤ 0.13% if the bootstrap error is right)."""
        return self.value - 3.0 * self.stderr > tolerance


# Tolerances, one per metric, with the reason reported beside every verdict.
# Grid quadrature: two grids of one smooth 2-D law on different nodes differ by ≤ 4.5e-8
# in normalized L2 (tests/test_grid.py), grid vs closed-form gaps by ≤ 5e-6
# (tests/test_checks.py); 1e-4 keeps a twentyfold margin over the latter.
GRID_TOL = 1e-4
# Importance-sampling MMD: relative MMD² below 0.01 is not resolved by 2,000 weighted points
# (its bootstrap error is ~1e-3 at ESS ≈ 1,000); failures of interest are ≳ 0.1.
ESTIMATE_TOL = 1e-2
TOLERANCES = {
    "normalized L2 (closed form)": (
        EXACT_TOL, "float64 round-off of closed-form inner products (≤ 1e-12 measured)"),
    "normalized L2 (grid quadrature)": (
        GRID_TOL, "quadrature and interpolation error of the grid (≤ 5e-6 measured)"),
    "relative MMD² (importance sampling)": (
        ESTIMATE_TOL, "resolution of 2,000 weighted points; a gap must exceed it by 3 "
                      "bootstrap standard errors"),
}


def _simplified(p: Distribution) -> Distribution:
    return p.merged() if isinstance(p, GaussianMixture) else p


def _complement(block: Sequence[int], n: int) -> list[int]:
    inside = set(block)
    return [c for c in range(n) if c not in inside]


def _split(p: Distribution, parts: Sequence[Sequence[int]]) -> BlockProduct:
    """``Π_j p|parts[j]``: the product of ``p``'s marginals on the given parts."""
    return BlockProduct([(list(c), _simplified(p.marginal(list(c)))) for c in parts if c])


# Definition 5.2 ---------------------------------------------------------------------
def fc_violation(family: Family, partition: Partition) -> dict[str, float]:
    """The three FC conditions of Definition 5.2 as exact normalized L2 discrepancies:

    1. ``p_i = p_i|M_i ⊗ p_i|M_i^c``;  2. ``p_b = ⊗_j p_b|M_j`` (checked one block at a
    time: ``p_b|M_1..j = p_b|M_1..j−1 ⊗ p_b|M_j``);  3. ``p_i|M_i^c = p_b|M_i^c``.
    Returns the largest value of each condition.
    """
    n = family.dim
    bg = family.background
    blocks = [list(b) for b in partition if b]
    rest = _complement([c for b in blocks for c in b], n)
    parts = [*blocks, rest] if rest else blocks
    own = cross = 0.0
    for p, block in zip(family.conditionals, partition, strict=True):
        comp = _complement(block, n)
        if block and comp:
            own = max(own, _independence_gap(p, [block, comp]))
            cross = max(cross, _off_block_gap(p, bg, block, comp))
        elif not block:
            cross = max(cross, _gap_if_different(p, bg))
    independence = 0.0
    if not _respects(bg, parts):
        for j in range(1, len(parts)):
            head = [c for part in parts[:j] for c in part]
            joint = _simplified(bg.marginal(head + parts[j]))
            split = [list(range(len(head))), list(range(len(head), len(head) + len(parts[j])))]
            independence = max(independence, _independence_gap(joint, split))
    return {"conditional_independence": own, "background_independence": independence,
            "off_block_mismatch": cross}


def _respects(p: Distribution, parts: Sequence[Sequence[int]]) -> bool:
    return isinstance(p, BlockProduct) and p.respects(parts)


def _independence_gap(p: Distribution, parts: Sequence[Sequence[int]]) -> float:
    """``D(p, Π_j p|parts[j])``: zero by construction when ``p``'s own blocks respect
    the parts."""
    return 0.0 if _respects(p, parts) else _gap_if_different(p, _split(p, parts))


def _off_block_gap(p: Distribution, bg: Distribution, block: list[int],
                   comp: list[int]) -> float:
    """``D(p|M^c, p_b|M^c)``; blockwise, without building marginals, when ``p`` and
    ``p_b`` share a block structure that respects ``M``."""
    if (isinstance(p, BlockProduct) and isinstance(bg, BlockProduct)
            and set(p.keys) == set(bg.keys) and p.respects([block, comp])):
        inside = set(block)
        table = dict(zip(bg.keys, bg.dists, strict=True))
        return normalized_l2_blocks([(d, table[c]) for c, d in zip(p.keys, p.dists, strict=True)
                                     if c[0] not in inside])
    return _gap_if_different(_simplified(p.marginal(comp)), _simplified(bg.marginal(comp)))


def _gap_if_different(p: Distribution, q: Distribution) -> float:
    return 0.0 if same_distribution(p, q) else normalized_l2(p, q)


def infer_partition(family: Family) -> tuple[Partition, bool]:
    """Candidate blocks ``M_i`` and whether they are disjoint.

    ``M_i`` starts from the coordinates where ``p_i`` differs from ``p_b`` (in a block
    of a shared block-product structure, else in a 1-D or 2-D marginal) and is closed
    under the background's dependence (coordinates in one background block, or with a
    dependent 2-D marginal, must share a block). Both are necessary for FC; differences
    visible only in 3-way marginals are missed, which the exact FC check then reports.
    """
    groups = _background_groups(family.background)
    partition = []
    for p in family.conditionals:
        differ = _differing_coords(family.background, p)
        partition.append(sorted({c for g in groups if differ & set(g) for c in g}))
    seen: set[int] = set()
    disjoint = True
    for block in partition:
        disjoint &= not (seen & set(block))
        seen |= set(block)
    return partition, disjoint


def _background_groups(bg: Distribution) -> list[list[int]]:
    """Connected components of the background's (pairwise) dependence graph; a block
    product's blocks are independent, so only pairs inside a block are examined."""
    if isinstance(bg, BlockProduct):
        return [[c[i] for i in group] for c, d in zip(bg.keys, bg.dists, strict=True)
                for group in _background_groups(d)]
    n = bg.dim
    parent = list(range(n))

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    for i in range(n):
        for j in range(i + 1, n):
            if _dependent(bg, [i, j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for c in range(n):
        groups.setdefault(root(c), []).append(c)
    return list(groups.values())


def _differing_coords(bg: Distribution, p: Distribution) -> set[int]:
    """Coordinates that must lie in ``p``'s block: those whose block (in a shared block
    structure) or 1-D marginal differs, plus both ends of each pair whose 2-D marginal
    differs for a reason the 1-D marginals do not explain (both ends unchanged, or a
    dependence that ``p`` adds and the background lacks)."""
    if isinstance(bg, BlockProduct) and isinstance(p, BlockProduct):
        table = dict(zip(p.keys, p.dists, strict=True))
        if set(table) == set(bg.keys):
            return {c[i] for c, d in zip(bg.keys, bg.dists, strict=True)
                    if not same_distribution(table[c], d)
                    for i in _differing_coords(d, table[c])}
    n = bg.dim
    single = {i for i in range(n) if _marginals_differ(bg, p, [i])}
    out = set(single)
    for i in range(n):
        for j in range(i + 1, n):
            if not _marginals_differ(bg, p, [i, j]):
                continue
            if not ({i, j} & single) or (_dependent(p, [i, j]) and not _dependent(bg, [i, j])):
                out |= {i, j}
    return out


def _dependent(p: Distribution, pair: list[int]) -> bool:
    joint = _simplified(p.marginal(pair))
    return normalized_l2(joint, _split(joint, [[0], [1]])) > EXACT_TOL


def _marginals_differ(bg: Distribution, p: Distribution, coords: list[int]) -> bool:
    return normalized_l2(_simplified(bg.marginal(coords)),
                         _simplified(p.marginal(coords))) > EXACT_TOL


def factorize(family: Family, partition: Partition) -> Family:
    """An FC family (Definition 5.2 verified) as block products over ``M_b, M_1..M_k``:
    ``p_b = p_b|M_b Π_j p_b|M_j`` and ``p_i = p_i|M_i Π_{j≠i} p_b|M_j``. Equal in law to
    the input, so only valid after ``fc_violation`` found every condition below tolerance."""
    n = family.dim
    rest = _complement([c for b in partition for c in b], n)
    parts = [list(b) for b in partition if b] + ([rest] if rest else [])
    bg_blocks = {tuple(c): _simplified(family.background.marginal(c)) for c in parts}
    members = [BlockProduct([(list(c), d) for c, d in bg_blocks.items()])]
    for p, block in zip(family.conditionals, partition, strict=True):
        blocks = [(list(c), _simplified(p.marginal(list(c))) if list(c) == list(block) else d)
                  for c, d in bg_blocks.items()]
        members.append(BlockProduct(blocks))
    return family.with_members(members)


def factorized_family(family: Family, partition: Partition) -> Family:
    """The family in a canonical FC form, equal in law (valid only once FC is verified):
    factorized in feature space, members sharing the background's block objects, and
    pulled back to pixel space through ``A⁻¹`` when there is a feature map."""
    fact = factorize(family.in_feature_space(), partition)
    fm = family.feature_map
    if fm is None:
        return fact
    inverse = torch.linalg.inv(fm.matrix)
    return family.with_members([m.pushforward(inverse, -inverse @ fm.offset)
                                for m in fact.members])


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
    """Exact normalized L2 when both sides have closed forms; else grid quadrature in 1-D
    and 2-D; else importance-sampling relative MMD² (either side may be unnormalized)."""
    if _exact(p) and _exact(q):
        try:
            return Gap(normalized_l2(p, q), 0.0, "normalized L2 (closed form)")
        except ExpansionTooLarge:
            pass
    if p.dim <= 2:
        bounds = default_bounds(*_reference_laws(p), *_reference_laws(q))
        gp = GridDensity.from_log_density(p.log_prob, bounds)
        gq = GridDensity.from_log_density(q.log_prob, bounds)
        return Gap(grid_normalized_l2(gp, gq), 0.0, "normalized L2 (grid quadrature)")
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
    return Gap(est.value, est.stderr, "relative MMD² (importance sampling)", est.ess)


def tolerance(gap: Gap) -> float:
    return TOLERANCES[gap.metric][0]


def tolerance_reason(gap: Gap) -> str:
    return TOLERANCES[gap.metric][1]


def mean_difference_cosines(family: Family) -> list[list[float]]:
    """``cos(δ_i, δ_j)`` for ``δ_i = E_{p_i}[x] − E_{p_b}[x]`` (Lemma 8.1, C10); a zero
    ``δ_i`` gives cosines of 0."""
    deltas = torch.stack([p.mean - family.background.mean for p in family.conditionals])
    norms = deltas.norm(dim=1).clamp_min(1e-300)
    unit = deltas / norms[:, None]
    return [[round(float(v), 12) for v in row] for row in unit @ unit.T]


def projective_gaps(family: Family, result: Distribution, lenses: Partition,
                    generator: torch.Generator) -> list[Gap]:
    """``D(Π_i♯C[p⃗], Π_i♯p_i)`` per conditional (Definition 4.1) with
    ``Π_i(x) = (A x + c)|lenses[i]`` (``x|lenses[i]`` without a feature map)."""
    fm = family.feature_map
    full = fm.matrix if fm else torch.eye(family.dim, dtype=result.dtype)
    shift = fm.offset if fm else torch.zeros(family.dim, dtype=result.dtype)
    gaps = []
    sample = grid = None
    for p, lens in zip(family.conditionals, lenses, strict=True):
        lens = list(lens)
        if not lens:
            gaps.append(Gap(0.0, 0.0, "normalized L2 (closed form)"))
            continue
        target = p.marginal(lens) if fm is None else p.pushforward(full[lens], shift[lens])
        try:
            lensed = result.marginal(lens) if fm is None \
                else result.pushforward(full[lens], shift[lens])
        except (NotImplementedError, ExpansionTooLarge):
            lensed = None
        if lensed is not None:
            gaps.append(discrepancy(lensed, target, generator))
        elif family.dim <= 2:
            grid = grid or _feature_grid(result, full, shift)
            gaps.append(_grid_lens_gap(grid, lens, target))
        else:
            if sample is None:
                sample = importance_sample(result, result.members, generator)
            pushed = sample.mapped(lambda x, m=full[lens], o=shift[lens]: x @ m.T + o)
            gaps.append(sampled_discrepancy(pushed, target, generator))
    return gaps


def _feature_grid(result: Unnormalized, full: torch.Tensor, shift: torch.Tensor
                  ) -> GridDensity:
    """Grid ground truth for a 1-D/2-D unnormalized composition in feature coordinates
    ``z = A x + c``: its density there is ``C(A⁻¹(z − c))`` up to a constant."""
    inverse = torch.linalg.inv(full)
    members = [m.pushforward(full, shift) for m in result.members]
    return GridDensity.from_log_density(lambda z: result.log_prob((z - shift) @ inverse.T),
                                        default_bounds(*members))


def _grid_lens_gap(grid: GridDensity, lens: list[int], target: Distribution) -> Gap:
    """The grid's marginal on the lens against the exact law ``target``."""
    if len(lens) < grid.dim:
        grid = grid.marginal(lens[0])
    exact = GridDensity.from_distribution(target, bounds=[(float(a[0]), float(a[-1]))
                                                          for a in grid.axes])
    return Gap(grid_normalized_l2(grid, exact), 0.0, "normalized L2 (grid quadrature)")


def compose_c(partition: Partition | None) -> Callable[[Family], Distribution]:
    """``p⃗ ↦ C_w[p⃗]`` as ``check`` computes it: factorized when FC holds exactly for
    ``partition`` (re-checked for every family it is given, never assumed)."""
    def compose_at(family: Family) -> Distribution:
        fc = partition is not None and _fc_holds(family.in_feature_space(), partition)
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
    normalized L2, 1, with a note (the composed scores then target no law at all).
    """
    gaps = []
    sample = grid = None
    for t in times:
        try:
            left = compose_at(family.noised(t))
        except NonNormalizable as err:
            gaps.append(Gap(1.0, 0.0, "normalized L2 (closed form)",
                            note=f"C[p^t] is non-normalizable at t = {t:.4g}: {err}"))
            continue
        a, s = family.process.coefficients(t)
        if _exact(result):
            gaps.append(discrepancy(left, result.noised(t, family.process), generator))
            continue
        if family.dim <= 2:
            if grid is None:
                grid = GridDensity.from_log_density(result.log_prob,
                                                    default_bounds(*result.members))
            right = grid.convolved(a, s * s)
            left_grid = GridDensity.from_log_density(
                left.log_prob, [(float(x[0]), float(x[-1])) for x in right.axes])
            gaps.append(Gap(grid_normalized_l2(left_grid, right), 0.0,
                            "normalized L2 (grid quadrature)"))
            continue
        if sample is None:
            sample = importance_sample(result, result.members, generator)
        noise = torch.randn(sample.x.shape, generator=generator, dtype=sample.x.dtype)
        pushed = sample.mapped(lambda x, a=a, s=s, e=noise: a * x + s * e)
        gaps.append(sampled_discrepancy(pushed, left, generator))
    return gaps


def _fc_holds(family: Family, partition: Partition) -> bool:
    return max(fc_violation(family, partition).values()) <= EXACT_TOL
