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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.base import DEFAULT_DTYPE, conversion_target
from numerics.laws.unnormalized import Unnormalized

Tensor = torch.Tensor
# Stands for log 0 in the occupancy recursion: finite so that gradients stay finite, and
# so far below any reachable log-value (|u| ≤ 1e6 in every image model here) that adding
# it to one leaves it unchanged in float32 and float64.
LOG_ZERO = -1e30
# A cell counts as holding an object when its projection onto some template reaches half
# of that template (the counting rule of the length-generalization experiment).
COUNT_THRESHOLD = 0.5

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


def uniform_counts(most: int, dtype: torch.dtype = DEFAULT_DTYPE) -> Tensor:
    """``w`` of a number of extra objects uniform on ``0..most``: ``(most + 1,)``."""
    return torch.full((most + 1,), 1.0 / (most + 1), dtype=dtype)


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
        """``(L,)``: ``P(j ∈ S)`` (required cells 1, free cells :attr:`free_rate`)."""
        return torch.where(self.free, self.free_rate, 1.0).to(self.dtype)

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
            self.extra, binomial_counts(free, rate, self.dtype).to(self.device), atol=1e-12))

    def as_block_product(self) -> BlockProduct:
        """The same law as a product over cells of Gaussian mixtures (``is_product`` laws
        only): ``q1`` on required cells, ``(1 − ρ) q0 + ρ q1`` on free ones."""
        if not self.is_product:
            raise ValueError(f"{self!r}: the cells are dependent; no block-product form")
        occupation = self.occupation
        blocks = [(self.scene.cells[j].tolist(), self._cell_mixture(float(occupation[j])))
                  for j in range(self.scene.locations)]
        return BlockProduct(blocks)

    def _cell_mixture(self, rate: float) -> GaussianMixture:
        t, d = self.templates.shape
        means = torch.cat([torch.zeros(1, d, dtype=self.dtype, device=self.device),
                           self.scale * self.templates])
        weights = torch.cat([torch.tensor([1.0 - rate], dtype=self.dtype, device=self.device),
                             torch.full((t,), rate / t, dtype=self.dtype, device=self.device)])
        keep = weights > 0
        covs = self.variance * torch.eye(d, dtype=self.dtype, device=self.device)
        return GaussianMixture(weights[keep], means[keep], covs.expand(int(keep.sum()), d, d))


class SceneComposition(Unnormalized):
    """``q ∝ Π_g p_g^{e_g}`` over scene laws ``p_g`` with one scene, scale and variance
    (module docstring): ``log_prob`` up to an additive constant (exact for one law with
    exponent 1), ``score`` exact, both ``(..., n) -> (...)`` / ``(..., n)``."""

    def __init__(self, members: Sequence[SceneLaw], exponents: Sequence[float]) -> None:
        first = members[0]
        if any(p.scene is not first.scene or p.scale != first.scale
               or p.variance != first.variance or p.dtype != first.dtype for p in members):
            raise ValueError("composed scene laws must share scene, scale, variance and dtype")
        self.members, self.exponents = list(members), [float(e) for e in exponents]
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
