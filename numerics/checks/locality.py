"""Locality of score differences (THEORY §8, C19 and C20; after Bradley 2025b).

For a family ``p⃗`` at noise level ``t``, write ``s_m = ∇log p_m^t`` (``(N, n) -> (N, n)``)
and the score differences ``d_j = s_j − s_b``. With a partition ``M_1..M_k`` (and the
background block ``M_b`` of the coordinates in no block):

- **C19, exact.** FC holds iff (i) the background's Hessian ``∇s_b`` is block-diagonal
  for the parts ``M_b, M_1, .., M_k``, and (ii) ``d_j`` vanishes off ``M_j`` and its
  Jacobian ``∇d_j`` is zero outside ``M_j × M_j``. :func:`exact_locality` measures the
  three with autograd Jacobians (:func:`jacobians`, ``(N, n, n)``) at given points, each
  relative to the size of the terms it is a difference of, so that float64 round-off is
  the only thing left on an FC family (:data:`LOCALITY_TOL`).
- **C20, scores only.** The off-block mass of ``∇d_j`` relative to the Jacobian mass of
  the two scores it is the difference of,

      L_j = E_x ‖∇d_j(x)‖²_{off M_j×M_j} / E_x (‖∇s_j(x)‖²_F + ‖∇s_b(x)‖²_F)   ∈ [0, 2],

  scale free (the same for ``c x`` and for scores multiplied by a constant). Normalizing
  by ``‖∇d_j‖²`` instead would make a tiny violation read as 1 wherever ``d_j`` is nearly
  constant on ``M_j`` (a conditional that only translates a Gaussian block), so the share
  would not grow with the violation; this ratio grows with it (like size² for small
  sizes) and, since ``∇s_m ≈ −I/s_t²`` at high noise while ``∇d_j = O(a_t²/s_t⁴)``,
  shrinks like ``(a_t/s_t)⁴`` as noise grows. It

  needs no density and no full Jacobian: :func:`locality_statistic` estimates it by
  Jacobian–vector products with Gaussian probes ``v_in`` supported on ``M_j`` and
  ``v_out`` on its complement (Hutchinson: ``E‖P J v_in‖² = ‖P J P_in‖²_F`` for any
  projection ``P``), so for any score callable (an exact law, a network, a user model).
  For exact scores ``∇d_j`` is symmetric and ``L_j = 0`` exactly under FC.

A Jacobian test cannot see an *exponential tilt*: ``p_j ∝ p_b · e^{cᵀx|M_j^c} · f(x|M_j)``
(e.g. a Gaussian block of ``p_b`` translated in ``p_j``) has ``∇d_j`` zero outside
``M_j × M_j`` but ``d_j = c ≠ 0`` off ``M_j``; C19 measures the values of ``d_j`` too
(``ExactLocality.value``), the statistic of C20 does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from numerics.laws import GaussianMixture
from numerics.laws.family import Family

#: A score at one noise level: ``x (N, n) -> (N, n)``.
Score = Callable[[Tensor], Tensor]

# C19's exact locality on an FC family is float64 round-off of autograd through mixture
# scores (logsumexp responsibilities, Cholesky solves) and, in feature space, of the
# pullback A^{-T} s(A^{-1} z): relative to the size of the two Jacobians it subtracts, the
# off-block mass measured on FC families is ≤ 1e-15 (coordinate blocks give exact zeros:
# a block's score does not depend on the other blocks). 1e-11 leaves a ten-thousandfold margin.
LOCALITY_TOL = 1e-11
# Points per member and Gaussian probes per point of the C20 estimate (check's defaults).
POINTS = 32
PROBES = 4


def jacobians(score: Score, x: Tensor) -> Tensor:
    """``J[i, a, b] = ∂ score(x)_a / ∂ x_b`` at each row ``x_i``: ``(N, n) -> (N, n, n)``,
    by ``n`` backward passes (a score acts row by row)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        s = score(x)
        rows = [torch.autograd.grad(s[:, a].sum(), x, retain_graph=a + 1 < s.shape[1])[0]
                for a in range(s.shape[1])]
    return torch.stack(rows, 1)


def difference(score_j: Score, score_b: Score) -> Score:
    """``d_j = s_j − s_b``."""
    return lambda x: score_j(x) - score_b(x)


def in_features(score: Score, matrix: Tensor, offset: Tensor) -> Score:
    """The score of ``z = A x + c`` from the score of ``x``: ``∇_z log p_z(z) =
    A^{-T} ∇_x log p(A^{-1}(z − c))`` (``|det A|`` is a constant); for orthogonal ``A = Q``
    it is ``Q ∇_x log p``."""
    inverse = torch.linalg.inv(matrix)
    return lambda z: score((z - offset) @ inverse.T) @ inverse


def outside_block(n: int, block: Sequence[int]) -> Tensor:
    """``(n, n)`` mask, True outside ``block × block``."""
    inside = torch.zeros(n, dtype=torch.bool)
    inside[list(block)] = True
    return ~(inside[:, None] & inside[None, :])


def across_parts(n: int, blocks: Sequence[Sequence[int]]) -> Tensor:
    """``(n, n)`` mask, True where ``a`` and ``b`` lie in different parts of ``M_b, M_1,
    .., M_k`` (``M_b``: the coordinates in no block)."""
    owner = torch.full((n,), len(blocks), dtype=torch.long)
    for i, block in enumerate(blocks):
        owner[list(block)] = i
    return owner[:, None] != owner[None, :]


def _norm(t: Tensor) -> float:
    return float(t.square().sum().sqrt())


@dataclass(frozen=True)
class ExactLocality:
    """C19 at one ``t``, over the probe points: ``background`` = ``‖∇s_b‖`` across parts
    over ``‖∇s_b‖``; per conditional, ``jacobian[j]`` = ``‖∇d_j‖`` outside ``M_j × M_j``
    and ``value[j]`` = ``‖d_j‖`` off ``M_j``, each over ``‖·_j‖ + ‖·_b‖`` (Frobenius norms
    summed over the points). All vanish under FC (up to :data:`LOCALITY_TOL`)."""

    background: float
    jacobian: list[float]
    value: list[float]

    @property
    def worst(self) -> float:
        return max(self.background, *self.jacobian, *self.value)


def exact_locality(score_b: Score, scores: Sequence[Score], blocks: Sequence[Sequence[int]],
                   x: Tensor) -> ExactLocality:
    """C19's three measures (:class:`ExactLocality`) of the scores ``s_b`` and ``s_j`` (one
    per block ``M_j``) at the points ``x`` ``(N, n)``, from exact autograd Jacobians."""
    n = x.shape[1]
    jb, sb = jacobians(score_b, x), score_b(x).detach()
    background = _norm(jb[:, across_parts(n, blocks)]) / max(_norm(jb), math.ulp(0.0))
    jac, val = [], []
    for score, block in zip(scores, blocks, strict=True):
        jj, sj = jacobians(score, x), score(x).detach()
        off_rows = torch.ones(n, dtype=torch.bool)
        off_rows[list(block)] = False
        jac.append(_norm((jj - jb)[:, outside_block(n, block)])
                   / max(_norm(jj) + _norm(jb), math.ulp(0.0)))
        val.append(_norm((sj - sb)[:, off_rows]) / max(_norm(sj) + _norm(sb), math.ulp(0.0)))
    return ExactLocality(background, jac, val)


def exact_share(score_j: Score, score_b: Score, x: Tensor, block: Sequence[int]) -> float:
    """C20's ``L_j`` at the points ``x`` from the full Jacobians (the quantity that
    :func:`locality_statistic` estimates): ``Σ_x ‖∇d_j‖²`` outside ``M_j × M_j`` over
    ``Σ_x (‖∇s_j‖²_F + ‖∇s_b‖²_F)``."""
    jj, jb = jacobians(score_j, x), jacobians(score_b, x)
    off = float((jj - jb)[:, outside_block(x.shape[1], block)].square().sum())
    return off / float(jj.square().sum() + jb.square().sum())


@dataclass(frozen=True, kw_only=True)
class LocalityEstimate:
    """C20's ``L_j`` estimated at ``points`` points with ``probes`` probe pairs each, and
    its standard error (ratio estimator over points, delta method)."""

    statistic: float
    stderr: float
    points: int
    probes: int


def locality_statistic(score_j: Score, score_b: Score, x: Tensor, block: Sequence[int],
                       generator: torch.Generator, probes: int = PROBES) -> LocalityEstimate:
    """``L_j`` of the scores ``s_j``, ``s_b`` on ``block`` at the points ``x`` ``(N, n)``,
    by Jacobian–vector products only.

    Per point and probe pair, ``v_in``, ``v_out`` standard Gaussian on ``M_j`` and on its
    complement, and ``w_m = ∇s_m v`` for both: with ``u = w_j − w_b`` (``= ∇d_j v``),
    ``off = ‖u_in|M_j^c‖² + ‖u_out‖²`` has mean ``‖∇d_j‖²`` outside ``M_j × M_j``, and
    ``tot = Σ_m ‖w_m,in‖² + ‖w_m,out‖²`` has mean ``‖∇s_j‖²_F + ‖∇s_b‖²_F``
    (Hutchinson). ``L̂ = Σ off / Σ tot`` (per-point sums over the probes); its standard
    error is ``sd(off_i − L̂ tot_i) / (√N · mean tot)``, which covers the spread over points
    and over probes (each probe's ``‖Bv‖²`` has relative sd at most ``√2``).
    """
    n = x.shape[1]
    inside = torch.zeros(n, dtype=torch.bool, device=x.device)
    inside[list(block)] = True
    off = x.new_zeros(x.shape[0])
    tot = x.new_zeros(x.shape[0])
    for _ in range(probes):
        v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        for probe, read in ((v * inside, ~inside), (v * ~inside, None)):
            wj, wb = _jvp(score_j, x, probe), _jvp(score_b, x, probe)
            u = wj - wb if read is None else (wj - wb)[:, read]
            off += u.square().sum(1)
            tot += wj.square().sum(1) + wb.square().sum(1)
    ratio = float(off.sum() / tot.sum())
    spread = float((off - ratio * tot).std()) if x.shape[0] > 1 else math.inf
    stderr = spread / (math.sqrt(x.shape[0]) * float(tot.mean()))
    return LocalityEstimate(statistic=ratio, stderr=stderr, points=x.shape[0], probes=probes)


def _jvp(score: Score, x: Tensor, v: Tensor) -> Tensor:
    """``∇score(x_i) v_i`` for every row (double-backward JVP: works for any
    differentiable callable, forward-mode support not needed): ``g(u) = ∇_x ⟨score(x),
    u⟩ = Jᵀu`` is linear in ``u``, so ``J v = ∇_u ⟨g(u), v⟩`` (at any ``u``; 0 here).
    Both gradients are of scalars: autograd given explicit output gradients imports
    torch's symbolic-shape machinery (sympy, ~2 s), which ``check`` does not need."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        u = torch.zeros_like(x, requires_grad=True)
        out = (score(x) * u).sum()
        if not out.requires_grad:  # a score that ignores x: J = 0
            return torch.zeros_like(v)
        (g,) = torch.autograd.grad(out, x, create_graph=True, materialize_grads=True)
        if not g.requires_grad:  # constant in u: J = 0
            return torch.zeros_like(v)
        (jv,) = torch.autograd.grad((g * v).sum(), u, materialize_grads=True)
    return jv.detach()


def family_points(family: Family, j: int, n: int, generator: torch.Generator) -> Tensor:
    """``n`` exact draws of ``p_b`` and ``n`` of ``p_j`` (of ``family``, e.g. a noised one),
    stacked ``(2n, dim)``: where ``d_j`` matters."""
    return torch.cat([family.background.sample(n, generator),
                      family.conditionals[j].sample(n, generator)])


def member_scores(family: Family) -> list[Score]:
    """The members' score callables ``(s_b, s_1, .., s_k)`` in the space where FC is
    judged: pulled back to features (:func:`in_features`) when ``family`` has a feature
    map, else as they are."""
    fm = family.feature_map
    if fm is None:
        return [p.score for p in family.members]
    return [in_features(p.score, fm.matrix, fm.offset) for p in family.members]


def family_locality(family: Family, t: float, blocks: Sequence[Sequence[int]],
                    generator: torch.Generator, points: int = POINTS,
                    probes: int = PROBES) -> list[LocalityEstimate]:
    """C20's ``L_j`` of ``family`` at time ``t`` for each conditional ``j`` on ``blocks[j]``
    (feature blocks when the family has a feature map), from the noisy members' score
    callables only, at ``points`` exact draws of ``p_b^t`` and of ``p_j^t`` (in features:
    the draws mapped by ``A x + c``)."""
    noisy = family.noised(t)
    feature = noisy.in_feature_space()
    scores = member_scores(noisy)
    return [locality_statistic(scores[j + 1], scores[0],
                               family_points(feature, j, points, generator), blocks[j],
                               generator, probes)
            for j in range(family.k)]


def gaussian_locality(family: Family, t: float,
                      blocks: Sequence[Sequence[int]]) -> list[float] | None:
    """C20's ``L_j`` in closed form when every noisy member is a single Gaussian in the
    space where FC is judged: its score's Jacobian is the constant ``−Λ_m`` (precision of
    ``A♯p_m^t``), so ``L_j = ‖Λ_j − Λ_b‖²_{off M_j×M_j} / (‖Λ_j‖²_F + ‖Λ_b‖²_F)`` — what
    :func:`family_locality` estimates, exactly and at ``O(k n³)`` (no probes, no draws).
    ``None`` when a member is not a single Gaussian."""
    members = family.noised(t).in_feature_space().members
    if not all(isinstance(m, GaussianMixture) and m.num_components == 1 for m in members):
        return None
    precisions = [torch.cholesky_inverse(m.scale_tril[0]) if not m.is_diagonal
                  else torch.diag(1.0 / m.variances[0]) for m in members]
    background = precisions[0]
    out = []
    for precision, block in zip(precisions[1:], blocks, strict=True):
        diff = precision - background
        inner = torch.tensor(list(block), dtype=torch.long)
        off = diff.square().sum() - diff[inner[:, None], inner[None, :]].square().sum()
        out.append(float(off / (precision.square().sum() + background.square().sum())))
    return out

