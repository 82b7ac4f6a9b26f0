"""Factorized Conditionals (Definition 5.2): the exact check, partition inference, and the
factorized form of an FC family (THEORY §3, C1, C2).

- ``fc_violation``: Definition 5.2 for a given partition, as the largest of three exact
  discrepancies (own-block independence, background independence, off-block match);
- ``infer_partition``: where each conditional differs from the background, closed under
  the background's dependence;
- ``factorize`` / ``factorized_family``: an FC family rewritten as block products
  (exactly the same laws), so that composing it costs ``O(k)`` block compositions.

Every check works on the members' most structured exact form (``factorized_members``:
``Distribution.factorized``, e.g. a scene law whose cells are independent is its block
product over cells). Where a check needs a closed form that a member does not have (a
marginal of a law with dependent cells, an expansion past ``MAX_COMPONENTS``) it raises
``NotDecidable`` with the reason, rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from numerics.checks.dependence import (
    gaussian_pair_dependence,
    independent_pairs,
    marginal_differences,
    same_pair_marginals,
)
from numerics.checks.metrics import normalized_l2, normalized_l2_blocks
from numerics.composition.compose import same_distribution
from numerics.laws import BlockProduct, Distribution, ExpansionTooLarge, GaussianMixture
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL

Partition = list[list[int]]
# What a law raises for a closed form it does not have (a marginal, a mixture expansion).
MISSING_CLOSED_FORM = (NotImplementedError, ExpansionTooLarge)


class NotDecidable(ValueError):
    """A check needs a closed form (a marginal, an inner product, an expansion) that a
    member of the family does not have; the message says which and why."""


def not_decidable(what: str, err: Exception) -> NotDecidable:
    """``NotDecidable`` for ``what``, from the error a law raised for a missing closed form."""
    return NotDecidable(f"{what} is not decidable here: {str(err) or type(err).__name__}")


def factorized_members(family: Family) -> Family:
    """The family with each member in its most structured exact form
    (``Distribution.factorized``): the same laws, so every check's answer is unchanged."""
    return family.with_members([p.factorized() for p in family.members])


def _simplified(p: Distribution) -> Distribution:
    return p.merged() if isinstance(p, GaussianMixture) else p

def _complement(block: Sequence[int], n: int) -> list[int]:
    """``0..n-1`` without ``block``, increasing (set operations: FC checks ask it ``O(k)``
    times per family)."""
    return sorted(set(range(n)).difference(block))

def _split(p: Distribution, parts: Sequence[Sequence[int]]) -> BlockProduct:
    """``Π_j p|parts[j]``: the product of ``p``'s marginals on the given parts."""
    return BlockProduct([(list(c), _simplified(p.marginal(list(c)))) for c in parts if c])

def fc_violation(family: Family, partition: Partition) -> dict[str, float]:
    """The three FC conditions of Definition 5.2 as exact normalized L2 discrepancies:

    1. ``p_i = p_i|M_i ⊗ p_i|M_i^c``;  2. ``p_b = ⊗_j p_b|M_j`` (checked one block at a
    time: ``p_b|M_1..j = p_b|M_1..j−1 ⊗ p_b|M_j``);  3. ``p_i|M_i^c = p_b|M_i^c``.
    Returns the largest value of each condition; raises ``NotDecidable`` when a member
    lacks a marginal or inner product the conditions need.
    """
    try:
        return _fc_violation(factorized_members(family), partition)
    except MISSING_CLOSED_FORM as err:
        raise not_decidable("Factorized Conditionals (Definition 5.2)", err) from err


def _fc_violation(family: Family, partition: Partition) -> dict[str, float]:
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
    if (len(parts) == 2 and len(parts[0]) + len(parts[1]) == p.dim
            and set(parts[0]).isdisjoint(parts[1])):  # a block and its complement
        return _splits(p, parts[0])
    return isinstance(p, BlockProduct) and p.respects(parts)

def _splits(p: Distribution, block: Sequence[int]) -> bool:
    """``p`` is a block product each of whose blocks lies inside ``block`` or outside it
    (``BlockProduct.splits``: FC checks ask it ``O(k)`` times per family, of products of
    ``O(k)`` blocks)."""
    return isinstance(p, BlockProduct) and p.splits(block)

def _independence_gap(p: Distribution, parts: Sequence[Sequence[int]]) -> float:
    """``D(p, Π_j p|parts[j])``: zero by construction when ``p``'s own blocks respect
    the parts."""
    return 0.0 if _respects(p, parts) else _gap_if_different(p, _split(p, parts))

def _off_block_gap(p: Distribution, bg: Distribution, block: list[int],
                   comp: list[int]) -> float:
    """``D(p|M^c, p_b|M^c)``; blockwise, without building marginals, when ``p`` and
    ``p_b`` share a block structure that respects ``M``."""
    if (isinstance(p, BlockProduct) and isinstance(bg, BlockProduct)
            and set(p.keys) == set(bg.keys) and _splits(p, block)):
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
    Raises ``NotDecidable`` when a member has no closed-form marginals.
    """
    try:
        return _infer_partition(factorized_members(family))
    except MISSING_CLOSED_FORM as err:
        raise not_decidable("partition inference", err) from err


def _infer_partition(family: Family) -> tuple[Partition, bool]:
    bg = family.background
    groups = _background_groups(bg)
    group_of = {c: g for g, members in enumerate(groups) for c in members}
    partition = []
    for p in family.conditionals:
        differ = _differing_coords(bg, p, group_of)
        touched = {group_of[c] for c in differ}
        partition.append(sorted(c for g in sorted(touched) for c in groups[g]))
    seen: set[int] = set()
    disjoint = True
    for block in partition:
        disjoint &= not (seen & set(block))
        seen |= set(block)
    return partition, disjoint

def _background_groups(bg: Distribution) -> list[list[int]]:
    """Connected components of the background's (pairwise) dependence graph; a block
    product's blocks are independent, so only pairs inside a block are examined.

    A mixture's pairs are decided from its parameters first (``numerics.checks.dependence``:
    structural zeros; every pair at once for a single Gaussian); a pair is tested exactly
    only when neither decides it and its ends are not yet connected (an edge inside a
    component changes no component), so a dense background costs ``O(n)`` exact tests."""
    if isinstance(bg, BlockProduct):
        return [[c[i] for i in group] for c, d in zip(bg.keys, bg.dists, strict=True)
                for group in _background_groups(d)]
    n = bg.dim
    known = torch.zeros(n, n, dtype=torch.bool)
    dependent = torch.zeros(n, n, dtype=torch.bool)
    if isinstance(bg, GaussianMixture):
        independent = independent_pairs(bg)
        if bg.num_components == 1:
            known, dependent = gaussian_pair_dependence(bg)
        known, dependent = known | independent, dependent & ~independent
    parent = _components(dependent)

    def root(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    for i, j in torch.nonzero(torch.triu(~known, 1)).tolist():
        if root(i) != root(j) and _dependent(bg, [i, j]):
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for c in range(n):
        groups.setdefault(root(c), []).append(c)
    return list(groups.values())

def _components(adjacency: torch.Tensor) -> list[int]:
    """The smallest coordinate of each coordinate's connected component under the
    symmetric ``(n, n)`` ``adjacency``: min-label propagation with pointer jumping (a few
    ``O(n²)`` passes), so the labels are roots of a union-find forest."""
    n = adjacency.shape[0]
    linked = adjacency | torch.eye(n, dtype=torch.bool)
    labels = torch.arange(n)
    while True:
        spread = torch.where(linked, labels[None, :], n).amin(1)
        spread = spread[spread]
        if torch.equal(spread, labels):
            return labels.tolist()
        labels = spread

def _differing_coords(bg: Distribution, p: Distribution,
                      group_of: Mapping[int, int]) -> set[int]:
    """Coordinates that must lie in ``p``'s block: those whose block (in a shared block
    structure) or 1-D marginal differs, plus both ends of each pair whose 2-D marginal
    differs for a reason the 1-D marginals do not explain (both ends unchanged, or a
    dependence that ``p`` adds and the background lacks).

    Only the background groups the result touches matter (``group_of``: coordinate →
    its group): a pair whose two groups are already touched is not examined, nor a pair
    whose 2-D marginals have identical parameters; 1-D marginals of mixtures are compared
    all at once (``numerics.checks.dependence``)."""
    if isinstance(bg, BlockProduct) and isinstance(p, BlockProduct):
        table = dict(zip(p.keys, p.dists, strict=True))
        if set(table) == set(bg.keys):
            return {c[i] for c, d in zip(bg.keys, bg.dists, strict=True)
                    if not same_distribution(table[c], d)
                    for i in _differing_coords(d, table[c],
                                               {i: group_of[x] for i, x in enumerate(c)})}
    if same_distribution(bg, p):
        return set()
    n = bg.dim
    mixtures = isinstance(bg, GaussianMixture) and isinstance(p, GaussianMixture)
    single = _single_differences(bg, p, mixtures)
    out = set(single)
    touched = {group_of[c] for c in out}
    every_group = set(group_of.values())
    equal: list[list[bool]] | None = None
    for i in range(n):
        if touched >= every_group:
            break
        for j in range(i + 1, n):
            if group_of[i] in touched and group_of[j] in touched:
                continue
            if mixtures and equal is None:
                equal = same_pair_marginals(bg, p).tolist()
            if (equal is not None and equal[i][j]) or not _marginals_differ(bg, p, [i, j]):
                continue
            if not ({i, j} & single) or (_dependent(p, [i, j]) and not _dependent(bg, [i, j])):
                out |= {i, j}
                touched |= {group_of[i], group_of[j]}
    return out

def _single_differences(bg: Distribution, p: Distribution, mixtures: bool) -> set[int]:
    """Coordinates whose 1-D marginals differ: for two mixtures from the vectorized closed
    form where it decides, else by the exact test."""
    if mixtures:
        known, differ = marginal_differences(bg, p)
        return {i for i, (k, d) in enumerate(zip(known.tolist(), differ.tolist(), strict=True))
                if (d if k else _marginals_differ(bg, p, [i]))}
    return {i for i in range(bg.dim) if _marginals_differ(bg, p, [i])}

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
    family = factorized_members(family)
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

def fc_holds(family: Family, partition: Partition) -> bool:
    """FC verified for ``partition`` (every condition within ``EXACT_TOL``); ``False`` when
    it is not decidable (then it is not verified)."""
    try:
        return max(fc_violation(family, partition).values()) <= EXACT_TOL
    except NotDecidable:
        return False
