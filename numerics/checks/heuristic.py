"""The mean-difference heuristic of Lemma 8.1 (THEORY §7, C10, C15).

Under FC in an orthogonal feature space the mean differences ``δ_i = E_{p_i}[x] −
E_{p_b}[x]`` are pairwise orthogonal; the heuristic reads cosines far from 0 as a
predicted failure. The paper gives no threshold: ``MAX_COSINE`` is the project's choice,
with its measured operating point (C15) written next to it.
"""

from __future__ import annotations

import torch

from numerics.laws.family import Family

# The heuristic predicts success when every |cos(δ_i, δ_j)| is at most this. The paper
# (§8, Fig. 8) reads CLIP cosines qualitatively and gives no cut-off: 0.1 is this
# project's choice, not derived from a measurement. Its measured operating point (C15,
# `projcomp verify` default profile: 100 random families of 10 named classes,
# numerics.claims.power) flags 35 % of the non-projective families and 30 % of the
# projective ones (0 % on coordinate families: the 30 % are FC under shears and general
# linear maps, projective by C6), and 36 % of the families that fail in sampling against
# 9 % of those that work. On a 200-family sweep the best cut by Youden's J is any cosine > 0
# (FC under orthogonal maps gives exactly 0, C10), which no estimated cosine — an
# embedding's, a learned model's — can use; the heuristic's errors are whole classes
# (blind to correlation-type FC violations and to C9 with symmetric modes), which no
# threshold fixes.
MAX_COSINE = 0.1


# A mean difference δ = μ_i − μ_b cancels O(max|μ|) numbers, so it carries an error
# e ≈ 1e-15·max|μ| (float64), and δ_iᵀδ_j carries |e|·|δ_j|: the direction of a difference
# shorter than ROUNDOFF·max|μ| / tol is not resolved to a cosine tolerance ``tol``.
ROUNDOFF = 1e-15


def mean_differences(family: Family) -> torch.Tensor:
    """``δ_i = E_{p_i}[x] − E_{p_b}[x]``, shape ``(k, n)`` (Lemma 8.1)."""
    return _differences(_member_means(family))


def _member_means(family: Family) -> torch.Tensor:
    """``E_{p_m}[x]`` of ``(p_b, p_1, ..., p_k)``, shape ``(k + 1, n)``, each computed once."""
    return torch.stack([p.mean for p in family.members])


def _differences(means: torch.Tensor) -> torch.Tensor:
    """``δ_i = means[i] − means[0]`` from the members' means ``(k + 1, n)``: ``(k, n)``."""
    return means[1:] - means[0]


def cosine_matrix(family: Family, resolution: float = 0.0) -> torch.Tensor:
    """``δ_iᵀδ_j / ((|δ_i| + r)(|δ_j| + r))``, shape ``(k, k)`` (C10), with ``r =
    resolution · max|μ|`` over the members' means: ``r > 0`` keeps a tiny ``δ_i`` known
    only to round-off from faking a cosine; a zero ``δ_i`` gives cosines of 0."""
    means = _member_means(family)
    deltas = _differences(means)
    scale = float(means.abs().max())
    norms = deltas.norm(dim=1) + resolution * scale
    return (deltas @ deltas.T) / (norms[:, None] * norms[None, :]).clamp_min(1e-300)


def largest_off_diagonal(cosines: torch.Tensor) -> float:
    """``max_{i≠j} |cos(δ_i, δ_j)|`` of a ``(k, k)`` cosine matrix; 0 when ``k = 1``."""
    k = cosines.shape[0]
    if k < 2:
        return 0.0
    i, j = torch.triu_indices(k, k, 1)
    return float(cosines[i, j].abs().max())


def reported(cosines: torch.Tensor) -> list[list[float]]:
    """A cosine matrix as ``check`` reports it: nested lists rounded to 12 digits."""
    return [[round(float(v), 12) for v in row] for row in cosines]


def mean_difference_cosines(family: Family) -> list[list[float]]:
    """``cos(δ_i, δ_j)`` as ``check`` reports them."""
    return reported(cosine_matrix(family))


def predicts_success(cosines: torch.Tensor, max_cosine: float = MAX_COSINE) -> bool:
    """The heuristic's prediction: every off-diagonal ``|cos|`` at most ``max_cosine``."""
    return largest_off_diagonal(cosines) <= max_cosine
