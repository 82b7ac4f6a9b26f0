"""Exact image models of objects on a grid of locations (THEORY §8; CLEVR in miniature).

An image has ``channels × H × W`` pixels, flattened channel-major to ``x ∈ R^n``. It is cut
into ``L = rows × cols`` cells of ``cell × cell`` pixels; ``x_j ∈ R^d`` (``d = channels ·
cell²``) are the coordinates of cell ``j``, and the cells partition the coordinates. An
object is one of ``T`` templates ``μ_τ ∈ R^d`` (a shape in a colour, drawn inside a cell);
the pixel noise is isotropic. At scale ``a`` and pixel variance ``v`` a cell is

    empty:     q0 = N(0, v I_d),          occupied:  q1 = (1/T) Σ_τ N(a μ_τ, v I_d).

A *scene law* is a mixture over occupancy patterns ``S ⊆ {0..L−1}``:

    p(x) = Σ_S π(S) Π_{j∈S} q1(x_j) Π_{j∉S} q0(x_j)
         = Π_j q0(x_j) · Π_{ℓ∈R} r_ℓ(x) · Σ_m c_m e_m(r|F),      r_j = q1(x_j) / q0(x_j),

where the *required* cells ``R`` always hold an object and ``m ~ w`` *extra* objects go to
distinct, uniformly random cells among the ``|F| = L − |R|`` free ones:
``π(S) = [R ⊆ S] w_{|S∖R|} / binom(|F|, |S∖R|)``, so ``c_m = w_m / binom(|F|, m)``, and
``e_m`` is the elementary symmetric polynomial of degree ``m``. It is computed by the
recursion ``e_m(r_1..r_i) = e_m(r_1..r_{i−1}) + r_i e_{m−1}(r_1..r_{i−1})`` in log space:
``O(L M)`` per point for at most ``M`` extras, never the ``Σ_m binom(L, m) T^m`` components.
With ``w = Binomial(|F|, ρ)`` the free cells are independent Bernoulli(ρ): the law is a
product over cells (:meth:`SceneLaw.as_block_product`).

The noisy law stays a scene law (THEORY §0, noise independent per pixel):
``N_t[p]`` has scale ``a_t a`` and variance ``a_t² v + s_t²``. Scores, with
``u_j = log r_j`` and ``γ_j = ∂ log p / ∂u_j = P(j ∈ S | x)``:

    ∇_{x_j} log p = (γ_j a μ̄_j − x_j) / v,     μ̄_j = Σ_τ ρ_jτ μ_τ,
    ρ_j = softmax_τ((a⟨x_j, μ_τ⟩ − ½ a²|μ_τ|²) / v)   (the template posterior),

and for ``log Π_g p_g^{e_g}`` over scene laws sharing ``(a, v)`` the same formula holds with
``γ_j`` replaced by ``Σ_g e_g γ_gj`` and ``x_j`` by ``(Σ_g e_g) x_j`` (:class:`SceneComposition`):
the composed score of ``k`` conditionals costs one pass over the cells, not ``k + 1``.

Scene laws compose themselves (the ``compose_with`` hook of ``numerics.laws.base``, which
``numerics.composition.compose`` consults first): where every member is a product over
cells and the exponents cancel cell by cell (C1 for an FC family in product form), the
composition is again a scene law (:func:`product_composition`); otherwise it is a
:class:`SceneComposition`, which decides ``Z < ∞`` from its Gaussian tails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.base import DEFAULT_DTYPE, conversion_target
from numerics.laws.unnormalized import PD_RTOL, NonNormalizable, Unnormalized

Tensor = torch.Tensor
# Stands for log 0 in the occupancy recursion: finite so that gradients stay finite, and
# so far below any reachable log-value (|u| ≤ 1e6 in every image model here) that adding
# it to one leaves it unchanged in float32 and float64.
LOG_ZERO = -1e30
# A cell counts as holding an object when its projection onto some template reaches half
# of that template (the counting rule of the length-generalization experiment).
COUNT_THRESHOLD = 0.5
# Occupation probabilities that agree within this are equal: a count law's rate
# ``E[m] / |F|`` (or its comparison with a binomial law) carries the round-off of a float64
# sum of at most L + 1 terms, ~1e-16 each (a background and its conditionals of the
# clevr-lite "independent" family differ by up to 2.3e-16 on 1×4 to 4×4 grids).
RATE_TOL = 1e-12

SHAPES = {
    # 3×3 masks drawn in the middle of a 5×5 cell (one pixel of margin)
    "square": ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    "plus": ((0, 1, 0), (1, 1, 1), (0, 1, 0)),
}
COLOURS = {"red": (0.9, 0.15, 0.1), "blue": (0.15, 0.35, 0.9)}


@dataclass(frozen=True)
class Scene:
    """Geometry, object templates and pixel noise of an image model.

    ``templates (T, d)`` are cell images (channel-major ``(channels, cell, cell)``
    flattened), ``names`` their labels, ``noise`` the pixel standard deviation.
    """

    rows: int
    cols: int
    cell: int
    channels: int
    templates: Tensor
    names: tuple[str, ...]
    noise: float

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1 or self.cell < 1 or self.channels < 1:
            raise ValueError("rows, cols, cell and channels must be positive")
        if self.templates.shape[1:] != (self.cell_dim,) or len(self.names) != len(self.templates):
            raise ValueError(f"templates must have shape (T, {self.cell_dim}) with one name each")
        if not self.noise > 0.0:
            raise ValueError(f"pixel noise must be positive, got {self.noise}")

    @property
    def locations(self) -> int:
        return self.rows * self.cols

    @property
    def cell_dim(self) -> int:
        return self.channels * self.cell * self.cell

    @property
    def dim(self) -> int:
        return self.locations * self.cell_dim

    @cached_property
    def cells(self) -> Tensor:
        """``(L, d)`` coordinates of each cell in the flattened image, row-major cells."""
        height, width = self.rows * self.cell, self.cols * self.cell
        pixel = torch.arange(self.dim).reshape(self.channels, height, width)
        blocks = pixel.reshape(self.channels, self.rows, self.cell, self.cols, self.cell)
        return blocks.permute(1, 3, 0, 2, 4).reshape(self.locations, self.cell_dim)

    @cached_property
    def order(self) -> tuple[Tensor, Tensor]:
        """``(perm, inverse)``: ``x[..., perm]`` lists the cells one after another."""
        perm = self.cells.reshape(-1)
        return perm, torch.argsort(perm)

    def split(self, x: Tensor) -> Tensor:
        """``(..., n) -> (..., L, d)``: the cells of each image."""
        return x[..., self.order[0].to(x.device)].reshape(
            *x.shape[:-1], self.locations, self.cell_dim)

    def join(self, cells: Tensor) -> Tensor:
        """Inverse of :meth:`split`: ``(..., L, d) -> (..., n)``."""
        flat = cells.reshape(*cells.shape[:-2], self.dim)
        return flat[..., self.order[1].to(cells.device)]

    def pictures(self, x: Tensor) -> Tensor:
        """``(..., n) -> (..., H, W, channels)`` for plotting."""
        h, w = self.rows * self.cell, self.cols * self.cell
        return x.reshape(*x.shape[:-1], self.channels, h, w).movedim(-3, -1)

    def brightness(self, x: Tensor) -> Tensor:
        """``(..., n) -> (..., L)``: ``max_τ ⟨x_j, μ_τ⟩ / |μ_τ|²``, how much of its best
        template each cell carries (1 for a clean object, 0 for an empty cell)."""
        mu = self.templates.to(x)
        return (self.split(x) @ mu.T / (mu * mu).sum(-1)).amax(-1)

    def occupied(self, x: Tensor) -> Tensor:
        """``(..., n) -> (..., L)`` bool: the counting rule, brightness ≥ ``COUNT_THRESHOLD``."""
        return self.brightness(x) >= COUNT_THRESHOLD


def clevr_scene(rows: int = 3, cols: int = 3, noise: float = 0.1) -> Scene:
    """RGB cells of 5×5 pixels; four templates: a square and a plus in red and in blue."""
    cell, templates, names = 5, [], []
    for shape, mask in SHAPES.items():
        m = torch.zeros(cell, cell, dtype=DEFAULT_DTYPE)
        m[1:4, 1:4] = torch.tensor(mask, dtype=DEFAULT_DTYPE)
        for colour, rgb in COLOURS.items():
            paint = torch.tensor(rgb, dtype=DEFAULT_DTYPE)[:, None, None]
            templates.append((paint * m).reshape(-1))
            names.append(f"{colour} {shape}")
    return Scene(rows, cols, cell, 3, torch.stack(templates), tuple(names), noise)


def uniform_counts(most: int, dtype: torch.dtype = DEFAULT_DTYPE, *, least: int = 0) -> Tensor:
    """``w`` of a number of extra objects uniform on ``least..most``: ``(most + 1,)``, zero
    below ``least`` (the paper's Fig. 3C background holds 1–5 objects: ``least = 1``)."""
    if not 0 <= least <= most:
        raise ValueError(f"need 0 <= least <= most, got least={least}, most={most}")
    w = torch.zeros(most + 1, dtype=dtype)
    w[least:] = 1.0 / (most + 1 - least)
    return w


def binomial_counts(free: int, rate: float, dtype: torch.dtype = DEFAULT_DTYPE) -> Tensor:
    """``w = Binomial(free, rate)``: each free cell independently occupied w.p. ``rate``."""
    m = torch.arange(free + 1, dtype=dtype)
    log_binom = torch.lgamma(torch.tensor(free + 1.0, dtype=dtype)) - torch.lgamma(m + 1) \
        - torch.lgamma(free - m + 1)
    return torch.exp(log_binom + m * math.log(rate) + (free - m) * math.log1p(-rate))


class SceneLaw(Distribution):
    """A mixture over occupancy patterns (module docstring): ``required`` cells always
    hold an object, ``extra[m]`` is the probability of ``m`` more at distinct uniformly
    random free cells. ``scale`` ``a`` multiplies the templates, ``variance`` ``v`` is the
    pixel variance (default ``scene.noise²``)."""

    def __init__(self, scene: Scene, required: Sequence[int] = (), extra: Sequence[float] |
                 Tensor = (1.0,), *, scale: float = 1.0, variance: float | None = None,
                 dtype: torch.dtype = DEFAULT_DTYPE,
                 device: torch.device | str = "cpu") -> None:
        self.scene, self.dtype, self.device = scene, dtype, torch.device(device)
        self.required = tuple(sorted(int(j) for j in required))
        if len(set(self.required)) != len(self.required) or \
                any(not 0 <= j < scene.locations for j in self.required):
            raise ValueError(f"required cells {self.required} must be distinct and in "
                             f"0..{scene.locations - 1}")
        self.extra = self._as_tensor(extra, "extra")
        free = scene.locations - len(self.required)
        if self.extra.dim() != 1 or len(self.extra) > free + 1 or (self.extra < 0).any() \
                or abs(float(self.extra.sum()) - 1.0) > 1e-9:
            raise ValueError(f"extra must be probabilities of 0..M extra objects with M <= "
                             f"{free} free cells, got {self.extra.tolist()}")
        self.scale = float(scale)
        self.variance = float(scene.noise**2 if variance is None else variance)
        if not self.variance > 0.0:
            raise ValueError(f"variance must be positive, got {self.variance}")
        self.dim = scene.dim
        self.templates = scene.templates.to(dtype=dtype, device=self.device)

    def __repr__(self) -> str:
        return (f"SceneLaw(required={list(self.required)}, extra={self.extra.tolist()}, "
                f"scale={self.scale:.4g}, variance={self.variance:.4g})")

    @cached_property
    def free(self) -> Tensor:
        """``(L,)`` bool: the cells extra objects may occupy."""
        mask = torch.ones(self.scene.locations, dtype=torch.bool, device=self.device)
        mask[list(self.required)] = False
        return mask

    @cached_property
    def log_count_weights(self) -> Tensor:
        """``log c_m = log w_m − log binom(|F|, m)``, ``(M + 1,)``; ``LOG_ZERO`` for ``w_m = 0``."""
        free = int(self.free.sum())
        m = torch.arange(len(self.extra), dtype=self.dtype, device=self.device)
        log_binom = math.lgamma(free + 1) - torch.lgamma(m + 1) - torch.lgamma(free - m + 1)
        logw = torch.where(self.extra > 0, torch.log(self.extra), LOG_ZERO)
        return logw - log_binom

    @cached_property
    def _alone(self) -> SceneComposition:
        """The law as a composition of itself with exponent 1 (one code path for both)."""
        return SceneComposition([self], [1.0])

    def log_prob(self, x: Tensor) -> Tensor:
        return self._alone.log_prob(x)

    def score(self, x: Tensor) -> Tensor:
        return self._alone.score(x)

    def occupancy_posterior(self, x: Tensor) -> Tensor:
        """``γ_j = P(j ∈ S | x)``: ``(..., n) -> (..., L)``."""
        return self._alone.occupancy(x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, dim)``: draw the number of extras, their cells (uniform among the free ones,
        by ranking uniform keys), a template per cell, then the pixel noise."""
        kw = {"generator": generator, "device": self.device}
        count = torch.multinomial(self.extra.expand(n, -1), 1, replacement=True,
                                  generator=generator).to(self.device)
        keys = torch.rand(n, self.scene.locations, dtype=self.dtype, **kw)
        keys = keys.masked_fill(~self.free, math.inf)
        rank = torch.argsort(torch.argsort(keys, dim=1), dim=1)
        occupied = (rank < count) | ~self.free
        which = torch.randint(len(self.templates), (n, self.scene.locations), **kw)
        objects = self.scale * self.templates[which] * occupied[..., None]
        noise = torch.randn(objects.shape, dtype=self.dtype, **kw)
        return self.scene.join(objects + math.sqrt(self.variance) * noise)

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> SceneLaw:
        dtype, device = conversion_target(self, dtype, device)
        if dtype == self.dtype and device == self.device:
            return self
        return SceneLaw(self.scene, self.required, self.extra.to(dtype=dtype, device=device),
                        scale=self.scale, variance=self.variance, dtype=dtype, device=device)

    def convolved(self, a: float, noise_cov: Tensor | float) -> SceneLaw:
        """``a X + η``, ``η ~ N(0, s² I)``: scale ``a·scale``, variance ``a² v + s²`` (isotropic
        noise only; a full noise matrix would couple the cells)."""
        if isinstance(noise_cov, Tensor) and noise_cov.dim() > 0:
            raise NotImplementedError("scene laws are closed under isotropic noise only")
        return SceneLaw(self.scene, self.required, self.extra, scale=a * self.scale,
                        variance=a * a * self.variance + float(noise_cov), dtype=self.dtype,
                        device=self.device)

    @property
    def free_rate(self) -> float:
        """``P(j ∈ S)`` of a free cell: ``E[m] / |F|`` (extras go to uniform random cells;
        0 without free cells)."""
        m = torch.arange(len(self.extra), dtype=self.dtype, device=self.device)
        return float((m * self.extra).sum()) / max(int(self.free.sum()), 1)

    @property
    def occupation(self) -> Tensor:
        """``(L,)``: ``P(j ∈ S)`` (required cells 1, free cells :attr:`free_rate`), in the
        law's dtype (python scalars in ``torch.where`` would round the rate to float32)."""
        rate = torch.tensor(self.free_rate, dtype=self.dtype, device=self.device)
        return torch.where(self.free, rate, torch.ones_like(rate))

    @property
    def mean(self) -> Tensor:
        """``E[x_j] = P(j ∈ S) · a · (1/T) Σ_τ μ_τ``, ``(n,)``."""
        cells = self.occupation[:, None] * self.scale * self.templates.mean(0)
        return self.scene.join(cells)

    @property
    def is_product(self) -> bool:
        """True when the cells are independent: no extras, or ``extra`` binomial."""
        free = int(self.free.sum())
        if len(self.extra) == 1:
            return True
        if len(self.extra) != free + 1:
            return False
        rate = self.free_rate
        return 0.0 < rate < 1.0 and bool(torch.allclose(
            self.extra, binomial_counts(free, rate, self.dtype).to(self.device), atol=RATE_TOL))

    def as_block_product(self) -> BlockProduct:
        """The same law as a product over cells of Gaussian mixtures (``is_product`` laws
        only): ``q1`` on required cells, ``(1 − ρ) q0 + ρ q1`` on free ones."""
        if not self.is_product:
            raise ValueError(f"{self!r}: the cells are dependent; no block-product form")
        occupation = self.occupation
        blocks = [(self.scene.cells[j].tolist(), self._cell_mixture(float(occupation[j])))
                  for j in range(self.scene.locations)]
        return BlockProduct(blocks)

    def factorized(self) -> Distribution:
        """:meth:`as_block_product` for a product law (independent cells), else ``self``."""
        return self.as_block_product() if self.is_product else self

    def marginal(self, coords: Sequence[int]) -> Distribution:
        """Law of ``x|coords`` for a product law (the block product's marginal); dependent
        cells have no closed-form marginal here (``NotImplementedError``)."""
        if not self.is_product:
            raise NotImplementedError(f"{self!r} has dependent cells: no closed-form marginal")
        return self.as_block_product().marginal(coords)

    def to_mixture(self) -> GaussianMixture:
        """Never built: the ``Σ_m binom(|F|, m) T^(|R|+m)`` components in image dimension
        put their inner products and importance weights out of reach (the occupancy
        recursion evaluates the law instead); raises ``NotImplementedError``."""
        raise NotImplementedError(f"{self!r} is not expanded into an explicit Gaussian "
                                  "mixture (it is evaluated through its occupancy recursion)")

    def compose_with(self, members: Sequence[Distribution],
                     exponents: Sequence[float]) -> Distribution | None:
        """``∝ Π_g p_g^{e_g}`` over scene laws (THEORY §2; the hook of ``Distribution``):
        a scene law where :func:`product_composition` finds one (C1), else a
        :class:`SceneComposition`; ``None`` unless every member is a scene law. Raises
        ``ValueError`` for laws of different scenes or noise levels and
        ``NonNormalizable`` when ``Σ_g e_g ≤ 0``."""
        if not all(isinstance(p, SceneLaw) for p in members):
            return None
        check_shared(members)
        closed = product_composition(members, exponents)
        return closed if closed is not None else SceneComposition(members, exponents)

    def _cell_mixture(self, rate: float) -> GaussianMixture:
        t, d = self.templates.shape
        means = torch.cat([torch.zeros(1, d, dtype=self.dtype, device=self.device),
                           self.scale * self.templates])
        weights = torch.cat([torch.tensor([1.0 - rate], dtype=self.dtype, device=self.device),
                             torch.full((t,), rate / t, dtype=self.dtype, device=self.device)])
        keep = weights > 0
        covs = self.variance * torch.eye(d, dtype=self.dtype, device=self.device)
        return GaussianMixture(weights[keep], means[keep], covs.expand(int(keep.sum()), d, d))


def check_shared(members: Sequence[SceneLaw]) -> None:
    """Raise ``ValueError`` unless the scene laws share scene, scale, variance and dtype
    (one ``q0`` and one ``q1`` per cell: what composing them cell by cell needs)."""
    first = members[0]
    if any(p.scene is not first.scene or p.scale != first.scale
           or p.variance != first.variance or p.dtype != first.dtype for p in members):
        raise ValueError("composed scene laws must share scene, scale, variance and dtype")


def product_composition(members: Sequence[SceneLaw],
                        exponents: Sequence[float]) -> SceneLaw | None:
    """``Π_g p_g^{e_g}`` as a scene law, where it is one; else ``None``.

    When every member is a product over cells, cell ``j`` of ``p_g`` is
    ``q_ρ = (1 − ρ) q0 + ρ q1`` with ``ρ = P_g(j ∈ S)`` (``q_1 = q1``), so
    ``Π_g p_g^{e_g} = Π_j Π_ρ q_ρ(x_j)^{E_jρ}``, ``E_jρ`` the summed exponents of the members
    whose cell ``j`` has rate ``ρ``. It is the normalized scene law with rate ``ρ_j`` on cell
    ``j`` when on every cell one rate carries exponent 1 and the others sum to 0 — C1: the
    background cancels wherever a conditional equals it — and the cells not occupied for
    sure share one rate. Rates are equal within ``RATE_TOL`` (the earliest member's value is
    kept: the background's); exponent sums are compared exactly, which ``C``'s integer
    exponents meet exactly (any other exponents give a :class:`SceneComposition`, exact too).
    """
    if not all(p.is_product for p in members):
        return None
    first = members[0]
    occupations = torch.stack([p.occupation for p in members]).T.tolist()  # (L, G)
    rates = [_cell_rate(cell, exponents) for cell in occupations]
    if any(r is None for r in rates):
        return None
    required = [j for j, r in enumerate(rates) if r == 1.0]
    free = [r for r in rates if r != 1.0]
    if any(abs(r - free[0]) > RATE_TOL for r in free):
        return None
    extra = (1.0,) if not free or free[0] == 0.0 else binomial_counts(len(free), free[0],
                                                                     first.dtype)
    return SceneLaw(first.scene, required, extra, scale=first.scale, variance=first.variance,
                    dtype=first.dtype, device=first.device)


def _cell_rate(rates: Sequence[float], exponents: Sequence[float]) -> float | None:
    """The rate ``ρ`` with ``Π_g q_{rates[g]}^{exponents[g]} = q_ρ`` on one cell (exponent 1
    on one rate, summed exponents 0 on the others), or ``None``."""
    totals: list[list[float]] = []  # [rate, summed exponent], rates in members' order
    for rate, e in zip(rates, exponents, strict=True):
        same = next((t for t in totals if abs(t[0] - rate) <= RATE_TOL), None)
        if same is None:
            totals.append([rate, float(e)])
        else:
            same[1] += float(e)
    carried = [(rate, e) for rate, e in totals if e != 0.0]
    return carried[0][0] if len(carried) == 1 and carried[0][1] == 1.0 else None


class SceneComposition(Unnormalized):
    """``q ∝ Π_g p_g^{e_g}`` over scene laws ``p_g`` with one scene, scale and variance
    (module docstring): ``log_prob`` up to an additive constant (exact for one law with
    exponent 1), ``score`` exact, both ``(..., n) -> (...)`` / ``(..., n)``.

    Construction decides ``Z < ∞`` (THEORY §2). Every scene law has
    ``log p_g(x) = −|x|²/(2v) + O(|x|)``: ``Σ_j log q0(x_j) = −|x|²/(2v) + const``, each
    ``u_j`` is a log-sum-exp of functions linear in ``x_j``, and the pattern sum lies between
    its largest term and that plus the log of its number of terms. So
    ``log q = −(Σ_g e_g)|x|²/(2v) + O(|x|)``: ``Z < ∞`` when ``Σ_g e_g > 0``, ``Z = ∞`` when
    ``Σ_g e_g < 0``. At ``Σ_g e_g = 0`` ``q`` depends on each cell only through its template
    projections, so it is constant along the rest of the cell and ``Z = ∞`` whenever the
    templates do not span a cell; that case is reported as non-normalizable, as
    ``UnnormalizedComposition`` reports a zero tail exponent. Raises ``NonNormalizable``.
    """

    def __init__(self, members: Sequence[SceneLaw], exponents: Sequence[float]) -> None:
        check_shared(members)
        first = members[0]
        self.members, self.exponents = list(members), [float(e) for e in exponents]
        # Σ_g e_g cancels numbers of size max|e_g|: below PD_RTOL of it, it is round-off
        total, largest = sum(self.exponents), max(abs(e) for e in self.exponents)
        if total <= PD_RTOL * largest:
            raise NonNormalizable(
                f"Σ e_g = {total:.4g} <= 0: the composed scene density has tails "
                f"exp(−(Σ e_g)|x|²/(2v) + O(|x|)) and does not decay")
        self.scene, self.dim = first.scene, first.dim
        self.dtype, self.device = first.dtype, first.device
        self.scale, self.variance = first.scale, first.variance
        self.templates = first.templates
        self.free = torch.stack([p.free for p in members])
        width = max(len(p.log_count_weights) for p in members)
        self.log_c = torch.stack([
            torch.cat([p.log_count_weights, p.log_count_weights.new_full(
                (width - len(p.log_count_weights),), LOG_ZERO)]) for p in members])
        self.weights = torch.tensor(self.exponents, dtype=self.dtype, device=self.device)
        # Σ_g e_g [j ∈ R_g]: the required cells' share of the occupancy weight, (L,)
        self.required_weight = self.weights @ (~self.free).to(self.dtype)

    def __repr__(self) -> str:
        return f"SceneComposition(members={len(self.members)}, dim={self.dim})"

    def _cell_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(Σ_j log q0(x_j) (...), u (..., L), μ̄ (..., L, d))`` for points ``(..., n)``."""
        cells = self.scene.split(x)
        v, a, mu = self.variance, self.scale, self.templates
        d = self.scene.cell_dim
        log_q0 = -0.5 * (cells * cells).sum((-1, -2)) / v \
            - 0.5 * self.scene.locations * d * math.log(2 * math.pi * v)
        logits = (a * cells @ mu.T - 0.5 * a * a * (mu * mu).sum(-1)) / v
        u = torch.logsumexp(logits, -1) - math.log(len(mu))
        return log_q0, u, torch.softmax(logits, -1) @ mu

    def _log_patterns(self, u: Tensor) -> Tensor:
        """``log Σ_m c_gm e_m(exp u|F_g)`` per member: ``u (..., L) -> (G, ...)``."""
        shape = (len(self.members), *u.shape[:-1], self.log_c.shape[1])
        e = u.new_full(shape, LOG_ZERO)
        e[..., 0] = 0.0
        lead = e.new_full((*shape[:-1], 1), LOG_ZERO)
        free = self.free.reshape(len(self.members), *([1] * (u.dim() - 1)), -1)
        for j in range(self.scene.locations):
            shifted = torch.cat([lead, e[..., :-1] + u[..., j, None]], -1)
            e = torch.where(free[..., j, None], torch.logaddexp(e, shifted), e)
        log_c = self.log_c.reshape(len(self.members), *([1] * (u.dim() - 1)), -1)
        return torch.logsumexp(e + log_c, -1)

    def log_prob(self, x: Tensor) -> Tensor:
        """``Σ_g e_g log p_g(x)``, ``(..., n) -> (...)``."""
        log_q0, u, _ = self._cell_terms(self._check_points(x))
        patterns = torch.einsum("g,g...->...", self.weights, self._log_patterns(u))
        return self.weights.sum() * log_q0 + u @ self.required_weight + patterns

    def occupancy(self, x: Tensor) -> Tensor:
        """``Σ_g e_g γ_gj``: ``(..., n) -> (..., L)``."""
        return self._occupancy(self._cell_terms(self._check_points(x))[1])

    def _occupancy(self, u: Tensor) -> Tensor:
        with torch.enable_grad():
            u = u.detach().requires_grad_(True)
            total = torch.einsum("g,g...->", self.weights, self._log_patterns(u))
            (grad,) = torch.autograd.grad(total, u)
        return grad + self.required_weight

    def score(self, x: Tensor) -> Tensor:
        """``((Σ_g e_g γ_gj) a μ̄_j − (Σ_g e_g) x_j) / v`` per cell, ``(..., n) -> (..., n)``."""
        x = self._check_points(x)
        _, u, mean_object = self._cell_terms(x)
        gamma = self._occupancy(u)
        cells = (gamma[..., None] * self.scale * mean_object
                 - self.weights.sum() * self.scene.split(x)) / self.variance
        return self.scene.join(cells)
