"""User-supplied composition operators and the theory's properties they keep (THEORY §1–§6).

An *operator* is a callable

    operator(log_densities: (m, N), scores: (m, N, n)) -> (log_density: (N,), score: (N, n))

that receives the log-densities and scores of ``p⃗ = (p_b, p_1, ..., p_k)`` (row 0 is the
background, ``m = k + 1``) at ``N`` points of ``R^n`` and returns the composed log-density,
up to an additive constant, and its score at those points. It is pointwise and does not
see the noise level: applied to the noised family ``p⃗^t`` it gives the operator's noisy
composition, the law whose score a reverse-time sampler would follow.

``OperatorComposition`` turns an operator and a family's members into an
``Unnormalized`` law; ``OPERATORS`` and ``load_operator`` choose operators by name or by
``module:function``; ``Pushforward`` is ``A♯p`` for a nonlinear diffeomorphism ``A``
(density and score by change of variables); ``operator_properties`` measures, on 2-D
grids (``numerics.grid``, the ground truth for laws without closed form), which of the
theory's properties an operator keeps, each instance also available on its own
(``projective_gaps``, ``noise_commutation_gaps``, ``equivariance_gap``):

- "projective under FC" (C1, Definition 4.1): ``Π_i♯q = Π_i♯p_i`` with ``Π_i(x) = x_i``;
- "noise commutation under FC" (C2): ``q[p⃗^t] = N_t[q[p⃗]]``;
- "reparameterization equivariance" (C4, Lemma 6.2): ``q[A♯p⃗] = A♯q[p⃗]`` for a
  nonlinear diffeomorphism ``A``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import torch

from numerics.checks import GRID_TOL, TOLERANCES
from numerics.composition import Unnormalized
from numerics.diffeomorphisms import Coordinatewise, Diffeomorphism, MonotoneTanh, Triangular2D
from numerics.distributions import BlockProduct, Distribution, GaussianMixture
from numerics.family import Family
from numerics.grid import GridDensity, default_bounds, normalized_l2
from numerics.threads import single_threaded

Operator = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# Guidance weight of ``cfg_weighted``: classifier-free guidance scale 2 on each conditional.
CFG_WEIGHT = 2.0


# shipped operators ------------------------------------------------------------------
def _exponent_combination(exponents: Sequence[float], log_densities: torch.Tensor,
                          scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Σ_m e_m log p_m`` and ``Σ_m e_m ∇ log p_m`` over the rows ``m``."""
    e = torch.as_tensor(exponents, dtype=log_densities.dtype, device=log_densities.device)
    return e @ log_densities, torch.einsum("m,mnd->nd", e, scores)


def linear_combination(log_densities: torch.Tensor, scores: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The operator ``C`` (THEORY §2, Definition 5.1):
    ``log p_b + Σ_i (log p_i − log p_b)``, score ``∇ log p_b + Σ_i (∇ log p_i − ∇ log p_b)``.
    Keeps C1, C2 (Theorem 5.3) and C4 (Lemma 6.2)."""
    return (log_densities[0] + (log_densities[1:] - log_densities[0]).sum(0),
            scores[0] + (scores[1:] - scores[0]).sum(0))


def cfg_weighted(log_densities: torch.Tensor, scores: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``C_w`` with ``w_i = 2`` for every conditional, as classifier-free guidance uses
    (THEORY §2): ``(1 − 2k) log p_b + Σ_i 2 log p_i``, score likewise. The exponents sum
    to 1, so the Jacobian of a reparameterization cancels (C4 holds); under FC block
    ``M_i`` is tilted to ``∝ p_i² / p_b`` and the composition is not projective (C14)."""
    k = log_densities.shape[0] - 1
    return _exponent_combination([1.0 - CFG_WEIGHT * k] + [CFG_WEIGHT] * k,
                                 log_densities, scores)


def simple_product(log_densities: torch.Tensor, scores: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The simple product ``Π_i p_i`` (THEORY §1): ``Σ_i log p_i``, score ``Σ_i ∇ log p_i``
    (the background is ignored). Not equivariant under non-affine maps (C5): the Jacobian
    appears ``k`` times."""
    return log_densities[1:].sum(0), scores[1:].sum(0)


OPERATORS: dict[str, Operator] = {
    "linear_combination": linear_combination,
    "cfg_weighted": cfg_weighted,
    "simple_product": simple_product,
}


def operator_name(operator: Operator) -> str:
    """``module:qualname`` of a function (what ``load_operator`` accepts), else its repr."""
    module = getattr(operator, "__module__", None)
    qualname = getattr(operator, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(operator)


def load_operator(spec: str) -> Operator:
    """The operator named ``spec``: a key of ``OPERATORS`` or ``module:function``
    (``function`` may be dotted, e.g. ``pkg.mod:Class.method``). Raises ``ValueError``
    with a one-line message naming ``spec`` when it cannot be loaded."""
    if spec in OPERATORS:
        return OPERATORS[spec]
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"operator {spec!r} is neither a registered name "
                         f"({', '.join(OPERATORS)}) nor of the form module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"operator {spec!r}: cannot import module {module_name!r} "
                         f"({type(err).__name__}: {err})".replace("\n", " ")) from err
    try:
        target = reduce(getattr, attribute.split("."), module)
    except AttributeError as err:
        raise ValueError(f"operator {spec!r}: module {module_name!r} has no attribute "
                         f"{attribute!r}") from err
    if not callable(target):
        raise ValueError(f"operator {spec!r}: {attribute!r} is a {type(target).__name__}, "
                         "not callable")
    return target


# the composed law -------------------------------------------------------------------
class OperatorComposition(Unnormalized):
    """The law an operator makes of ``members = (p_b, p_1, ..., p_k)``: at points ``x``
    ``(..., n)`` the members' log-densities ``(m, N)`` and scores ``(m, N, n)`` are
    evaluated on the flattened points and handed to the operator; ``log_prob`` returns
    its log-density ``(...)`` (up to a constant), ``score`` its score ``(..., n)``.

    The operator's output is checked at every call: shapes ``(N,)`` and ``(N, n)``, a
    log-density without NaN or ``+inf`` (``−inf`` is a zero density) and a finite
    score; a violation raises ``ValueError`` naming the operator.
    """

    def __init__(self, members: Sequence[Distribution], operator: Operator) -> None:
        if not members:
            raise ValueError("an operator composition needs at least the background")
        self.members = list(members)
        first = self.members[0]
        for i, p in enumerate(self.members):
            if p.dim != first.dim:
                raise ValueError(f"members[{i}] has dimension {p.dim}, members[0] has "
                                 f"{first.dim}")
        self.dim, self.dtype, self.device = first.dim, first.dtype, first.device
        self.operator = operator
        self.name = operator_name(operator)

    def __repr__(self) -> str:
        return f"OperatorComposition({self.name}, members={len(self.members)}, dim={self.dim})"

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-density ``(...)`` (up to a constant) and score ``(..., n)`` at ``x``."""
        x = self._check_points(torch.as_tensor(x))
        batch = x.shape[:-1]
        flat = x.reshape(-1, self.dim)
        logs = torch.stack([p.log_prob(flat) for p in self.members])
        scores = torch.stack([p.score(flat) for p in self.members])
        out = self.operator(logs, scores)
        log_density, score = self._checked(out, flat.shape[0])
        return log_density.reshape(batch), score.reshape(*batch, self.dim)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.evaluate(x)[0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.evaluate(x)[1]

    def _checked(self, out: Any, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not (isinstance(out, tuple | list) and len(out) == 2
                and all(isinstance(v, torch.Tensor) for v in out)):
            raise ValueError(f"operator {self.name} must return a pair of tensors "
                             f"(log_density, score), got {type(out).__name__}")
        log_density, score = out
        if tuple(log_density.shape) != (count,):
            raise ValueError(f"operator {self.name} returned a log-density of shape "
                             f"{tuple(log_density.shape)}, expected ({count},)")
        if tuple(score.shape) != (count, self.dim):
            raise ValueError(f"operator {self.name} returned a score of shape "
                             f"{tuple(score.shape)}, expected ({count}, {self.dim})")
        bad = torch.isnan(log_density) | (log_density == math.inf)
        if bad.any():
            raise ValueError(f"operator {self.name} returned NaN or +inf log-densities at "
                             f"{int(bad.sum())} of {count} points")
        bad = ~torch.isfinite(score).all(-1)
        if bad.any():
            raise ValueError(f"operator {self.name} returned NaN or inf scores at "
                             f"{int(bad.sum())} of {count} points")
        return log_density.to(self.dtype), score.to(self.dtype)


class Pushforward(Distribution):
    """``A♯p`` for a diffeomorphism ``A`` (THEORY §5), evaluated pointwise:

        log (A♯p)(x) = log p(z) − log|det DA(z)|,                    z = A⁻¹(x)
        ∇ log (A♯p)(x) = DA(z)^{−T} (∇ log p(z) − ∇_z log|det DA(z)|)   (chain rule)

    ``DA`` and ``∇_z log|det DA|`` by autograd through ``A.forward`` and
    ``A.log_abs_det_jacobian``. ``p`` may be unnormalized (the constant is kept)."""

    def __init__(self, base: Distribution, diffeomorphism: Diffeomorphism) -> None:
        if base.dim != diffeomorphism.dim:
            raise ValueError(f"the map acts on dimension {diffeomorphism.dim}, the law has "
                             f"{base.dim}")
        self.base, self.diffeomorphism = base, diffeomorphism
        self.dim, self.dtype, self.device = base.dim, base.dtype, base.device
        self._log_density = diffeomorphism.pushforward_log_density(base.log_prob)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._log_density(self._check_points(torch.as_tensor(x)))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        z = self.diffeomorphism.inverse(self._check_points(torch.as_tensor(x))).detach()
        with torch.enable_grad():
            z.requires_grad_(True)
            image = self.diffeomorphism.forward(z)
            rows = [torch.autograd.grad(image[..., i].sum(), z, retain_graph=True)[0]
                    for i in range(self.dim)]
            log_det = self.diffeomorphism.log_abs_det_jacobian(z).sum()
            grad_log_det = torch.autograd.grad(log_det, z)[0] if log_det.requires_grad \
                else torch.zeros_like(z)  # a constant Jacobian (affine map)
        jacobian = torch.stack(rows, -2)  # [..., i, j] = ∂x_i/∂z_j
        rhs = self.base.score(z.detach()) - grad_log_det
        return torch.linalg.solve(jacobian.transpose(-1, -2), rhs[..., None])[..., 0]


class _RememberedInverse(Diffeomorphism):
    """``A`` itself, keeping ``A⁻¹`` of the last batch of points: the members of ``A♯p⃗``
    are evaluated at the same points, and the inverse (a bisection) is the costly step."""

    def __init__(self, base: Diffeomorphism) -> None:
        self.base, self.dim, self.is_affine = base, base.dim, base.is_affine
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.base.forward(z)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        if self._last is None or self._last[0] is not x:
            self._last = (x, self.base.inverse(x))
        return self._last[1]

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return self.base.log_abs_det_jacobian(z)


# the property suite -----------------------------------------------------------------
METRIC = "normalized L2 (grid quadrature)"
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


@dataclass(frozen=True)
class PropertyResult:
    """One property of an operator over its instances: ``kept`` when every gap is at most
    ``tolerance``; ``counterexample`` describes the instance with the largest
    gap when the property is lost (its ``"family"`` is a ``Family``), else ``None``."""

    name: str
    kept: bool
    max_gap: float
    tolerance: float
    metric: str
    instances: int
    counterexample: dict[str, Any] | None
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
            gaps = projective_gaps(operator, family)
            i = max(range(len(gaps)), key=gaps.__getitem__)
            projective.append((gaps[i], family, {"conditional": i,
                                                 "coordinates": list(family.projections[i])}))
            times = [f * family.process.T for f in NOISE_TIME_FRACTIONS]
            noise += [(gap, family, {"t": t}) for t, gap in
                      zip(times, noise_commutation_gaps(operator, family, times), strict=True)]
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
        raise ValueError(f"{context}: the density at the grid's edge is {edge:.2g} of its "
                         "peak; the composition is not normalizable or wider than its "
                         "members, so the grid cannot judge it")
    return grid


def _context(operator: Operator, family: Family) -> str:
    return f"operator {operator_name(operator)} on family {family.name}"


def projective_gaps(operator: Operator, family: Family) -> list[float]:
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
        gaps.append(normalized_l2(marginal, exact))
    return gaps


def noise_commutation_gaps(operator: Operator, family: Family, times: Sequence[float]
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
        gaps.append(normalized_l2(left, right))
    return gaps


def equivariance_gap(operator: Operator, family: Family, diffeomorphism: Diffeomorphism
                     ) -> float:
    """C4 / Lemma 6.2 for a 2-D family: ``D(q[A♯p⃗], A♯q[p⃗])`` on one grid covering the
    image under ``A`` of the members' bounds; both sides by change of variables
    (``Pushforward``), the left one with the pushed members' scores."""
    context = f"{_context(operator, family)} under {diffeomorphism!r}"
    bounds = diffeomorphism.image_bounds(default_bounds(*family.members))
    shared = _RememberedInverse(diffeomorphism)
    pushed = [Pushforward(p, shared) for p in family.members]
    left = _composed_grid(OperatorComposition(pushed, operator), bounds, [GRID_POINTS] * 2,
                          context)
    right = _composed_grid(Pushforward(OperatorComposition(family.members, operator), shared),
                           bounds, [GRID_POINTS] * 2, context)
    return normalized_l2(left, right)


def _summarize(name: str, claim: str, instances: list[tuple[float, Family, dict[str, Any]]]
               ) -> PropertyResult:
    """``kept`` iff the largest gap is at most ``GRID_TOL``; a lost property's
    counterexample is its largest-gap instance (the ``Family`` under ``"family"``; write
    it as a spec with ``projcomp.spec.family_to_dict``)."""
    gap, family, where = max(instances, key=lambda item: item[0])
    kept = gap <= GRID_TOL
    counterexample = None if kept else {"family": family, **where, "gap": gap}
    return PropertyResult(name=name, kept=kept, max_gap=gap, tolerance=GRID_TOL, metric=METRIC,
                          instances=len(instances), counterexample=counterexample, claim=claim,
                          tolerance_reason=TOLERANCES[METRIC][1])
