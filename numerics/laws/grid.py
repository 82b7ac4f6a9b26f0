"""Grid backend: ground truth for 1-D and 2-D densities that are not Gaussian mixtures.

A density given pointwise (any callable ``log p``, possibly unnormalized) is sampled on a
uniform tensor-product grid and normalized by quadrature ``∫ p ≈ Σ_i p(x_i) · cell``.
Noising ``a X + sqrt(s²) ε`` rescales the grid by ``a`` and convolves with ``N(0, s² I)``
by zero-padded FFTs, one axis at a time (the kernel is separable). Nonlinear maps of
mixtures, which have no closed form, are checked against this backend (DESIGN.md).

Accuracy. For a smooth density with negligible mass beyond the bounds, the Riemann sum
is the trapezoid rule and converges faster than any power of the spacing ``h``: at the
default sizes normalizers, means, covariances, marginals and noised densities *at the
nodes* match closed forms to float64 round-off (tests/test_grid.py measures ≤ 1e-13).
Truncation loses the mass beyond the bounds (``default_bounds``: 8 sd out, ~e⁻³²).
Anything *between* nodes (``log_prob``, ``score``, ``resample``, distances between grids
on different axes) comes from (bi)linear interpolation, with error ``≈ h²/8 · |p''|``.
FFT round-off leaves ~1e-16 · max p, so log-densities deep in the tails are meaningless.

Draws. ``GridDensity.sample`` draws exactly from the (bi)linear interpolant of the nodes
(the law ``log_prob`` describes): a cell with probability proportional to the mean of its
corners, then each coordinate in turn by the inverse CDF of a linear density on the cell.
Its distance to the law the grid was made from is the interpolation error alone;
``interpolation_tv`` measures it (total variation, estimated at the cell midpoints).
``GridLaw`` wraps a grid as a ``Distribution`` (exact draws, FFT noising, a score that stays
finite off the grid) so that the sampling section can aim at a law with no closed form.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cached_property

import torch

from numerics.laws import Distribution
from numerics.laws.processes import ForwardProcess

DEFAULT_POINTS = {1: 2001, 2: 401}
# Gaussian kernels are cut this many standard deviations out (lost mass ~e⁻³², below the
# float64 round-off of the normalizer).
TAIL_SDS = 8.0
# Noising coarsens an axis rather than let it grow past MAX_GROWTH times its node count
# (large noise, or a ≪ 1), but never below MIN_CELLS_PER_SD cells per noise sd.
MAX_GROWTH = 2
MIN_CELLS_PER_SD = 4
# Uniform spacing is checked to this relative tolerance (linspace round-off is ~1e-15).
SPACING_RTOL = 1e-9


class GridDensity:
    """A density on a uniform grid in 1-D or 2-D.

    ``axes``: ``d`` increasing, uniformly spaced 1-D tensors of lengths ``n_k``;
    ``values``: ``(n_1,)`` or ``(n_1, n_2)``, density at the nodes, normalized so that
    ``Σ values · cell_volume = 1``. The input ``exp(log_scale) · values`` may be
    unnormalized: ``log_normalizer`` is the log of its quadrature integral.
    """

    def __init__(self, axes: Sequence[torch.Tensor], values: torch.Tensor,
                 log_scale: float = 0.0) -> None:
        self.axes = tuple(torch.as_tensor(ax) for ax in axes)
        if len(self.axes) not in (1, 2):
            raise ValueError(f"a grid density is 1-D or 2-D, got {len(self.axes)} axes")
        for k, ax in enumerate(self.axes):
            if ax.dim() != 1 or len(ax) < 2:
                raise ValueError(f"axes[{k}] must be 1-D with >= 2 points, got {tuple(ax.shape)}")
            step = torch.diff(ax)
            if not (step[0] > 0 and ((step - step[0]).abs() <= SPACING_RTOL * step[0]).all()):
                raise ValueError(f"axes[{k}] must be increasing with uniform spacing")
        shape = tuple(len(ax) for ax in self.axes)
        if tuple(values.shape) != shape:
            raise ValueError(f"values must have shape {shape}, got {tuple(values.shape)}")
        if not torch.isfinite(values).all() or (values < 0).any():
            raise ValueError("values must be finite and non-negative")
        self.dim = len(self.axes)
        self.dtype, self.device = values.dtype, values.device
        self.spacing = tuple(_step(ax) for ax in self.axes)
        self.cell_volume = math.prod(self.spacing)
        total = float(values.sum()) * self.cell_volume
        if not 0.0 < total < math.inf:
            raise ValueError(f"the density integrates to {total}; need a positive finite value")
        self.values = values / total
        self.log_normalizer = log_scale + math.log(total)

    @classmethod
    def from_log_density(cls, log_density: Callable[[torch.Tensor], torch.Tensor],
                         bounds: Sequence[tuple[float, float]], points: int | Sequence[int] |
                         None = None, *, device: torch.device | str | None = None
                         ) -> GridDensity:
        """Grid of ``exp(log_density)`` on ``Π_k [lo_k, hi_k]``, normalized by quadrature.

        ``log_density`` maps ``(..., d) -> (...)`` (``-inf`` allowed); ``points`` is the
        node count per axis (one int for all), default 2001 in 1-D and 401 in 2-D.
        """
        d = len(bounds)
        if d not in DEFAULT_POINTS:
            raise ValueError(f"the grid backend handles d = 1 or 2, got {d} bounds")
        if points is None or isinstance(points, int):
            counts = [points or DEFAULT_POINTS[d]] * d
        else:
            counts = list(points)
        if len(counts) != d:
            raise ValueError(f"points must give {d} counts, got {len(counts)}")
        for k, (lo, hi) in enumerate(bounds):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"bounds[{k}] = ({lo}, {hi}) must be finite with lo < hi")
        axes = [torch.linspace(lo, hi, n, dtype=torch.float64, device=device)
                for (lo, hi), n in zip(bounds, counts, strict=True)]
        mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
        logv = torch.as_tensor(log_density(mesh), dtype=torch.float64, device=mesh.device)
        if logv.shape != mesh.shape[:-1] or torch.isnan(logv).any():
            raise ValueError(f"log_density must map {tuple(mesh.shape)} to "
                             f"{tuple(mesh.shape[:-1])} without NaN")
        peak = float(logv.max())  # subtracted so that exp neither overflows nor underflows
        if not math.isfinite(peak):
            raise ValueError(f"log_density peaks at {peak} on the grid: integral is 0 or inf")
        return cls(axes, torch.exp(logv - peak), log_scale=peak)

    @classmethod
    def from_distribution(cls, dist: Distribution,
                          bounds: Sequence[tuple[float, float]] | None = None,
                          points: int | Sequence[int] | None = None) -> GridDensity:
        """Grid of ``dist.log_prob`` on ``bounds`` (default ``default_bounds(dist)``)."""
        bounds = default_bounds(dist) if bounds is None else bounds
        if len(bounds) != dist.dim:
            raise ValueError(f"{len(bounds)} bounds for a distribution of dim {dist.dim}")
        return cls.from_log_density(dist.log_prob, bounds, points, device=dist.device)

    @property
    def points(self) -> torch.Tensor:
        """The nodes, shape ``(n_1, [n_2,] d)``."""
        return torch.stack(torch.meshgrid(*self.axes, indexing="ij"), -1)

    # noising ----------------------------------------------------------------------------
    def convolved(self, a: float, s2: float) -> GridDensity:
        """Law of ``a X + sqrt(s2) ε``, ``ε ~ N(0, I)``: the grid scaled by ``a`` (density
        ``p(x/a)/|a|^d``), then FFT convolution with ``N(0, s2 I)``; axes grow by
        ``TAIL_SDS·sqrt(s2)`` per side, coarsened where that would more than double
        them (see ``_noise_axis``). ``s2 = 0`` gives the scaled density."""
        if a == 0 or not math.isfinite(a) or not 0.0 <= s2 < math.inf:
            raise ValueError(f"need a != 0 finite and 0 <= s2 < inf, got a={a}, s2={s2}")
        axes = [a * ax for ax in self.axes]
        values = self.values / abs(a) ** self.dim
        if a < 0:
            axes = [ax.flip(0) for ax in axes]
            values = values.flip(tuple(range(self.dim)))
        for k in range(self.dim):
            axes[k], values = _noise_axis(axes[k], values, k, s2)
        return GridDensity(axes, values.clamp_min(0.0))  # FFT round-off can dip below 0

    def noised(self, t: float, process: ForwardProcess) -> GridDensity:
        """``N_t[p]``: law of ``a(t) X + s(t) ε`` (THEORY §0)."""
        a, s = process.coefficients(t)
        return self.convolved(a, s * s)

    # pointwise evaluation ---------------------------------------------------------------
    def _interpolate(self, field: torch.Tensor, x: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Bi)linear interpolation of ``field`` (grid shape + trailing dims) at ``x``
        ``(..., d)``; returns ``(..., *trailing)`` and the mask ``(...)`` of points inside
        the grid (NaN points count as outside)."""
        x = torch.as_tensor(x).to(dtype=self.dtype, device=self.device)
        if x.shape[-1] != self.dim:
            raise ValueError(f"points have last dimension {x.shape[-1]}, expected {self.dim}")
        inside = torch.ones(x.shape[:-1], dtype=torch.bool, device=self.device)
        base, frac = [], []
        for k, (ax, h) in enumerate(zip(self.axes, self.spacing, strict=True)):
            f = torch.nan_to_num((x[..., k] - ax[0]) / h, nan=-1.0)
            inside &= (f >= -SPACING_RTOL) & (f <= len(ax) - 1 + SPACING_RTOL)
            i = f.floor().clamp(0, len(ax) - 2)
            base.append(i.long())
            frac.append((f - i).clamp(0.0, 1.0))
        out = torch.zeros(x.shape[:-1] + field.shape[self.dim:], dtype=self.dtype,
                          device=self.device)
        for corner in itertools.product((0, 1), repeat=self.dim):
            weight = math.prod(f if c else 1 - f for c, f in zip(corner, frac, strict=True))
            val = field[tuple(b + c for b, c in zip(base, corner, strict=True))]
            out += weight.reshape(weight.shape + (1,) * (val.dim() - weight.dim())) * val
        return out, inside

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` by interpolating the values: ``(..., d) -> (...)``; ``-inf``
        outside the grid. Error ``O(h²)`` between nodes."""
        vals, inside = self._interpolate(self.values, x)
        return torch.log(torch.where(inside, vals, 0.0))

    @cached_property
    def _score_nodes(self) -> torch.Tensor:
        """``∇ log p`` at the nodes by central differences (one-sided at the edges)."""
        grads = torch.gradient(torch.log(self.values), spacing=list(self.spacing))
        return torch.stack(grads, -1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Approximate ``∇ log p(x)``: central differences of ``log values`` (exact for a
        Gaussian, ``O(h²)`` otherwise), interpolated; ``(..., d) -> (..., d)``. NaN
        outside the grid and next to nodes where the density is 0."""
        vals, inside = self._interpolate(self._score_nodes, x)
        return torch.where(inside[..., None], vals, math.nan)

    # exact draws of the interpolant ----------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent draws ``(n, d)`` of the (bi)linear interpolant of the nodes.

        A cell is chosen with probability ``∝`` the mean of its ``2^d`` corner values (the
        interpolant's integral over it); inside it the interpolant is linear in each
        coordinate given the earlier ones, so ``u_1`` and then ``u_2 | u_1`` are drawn by
        the inverse CDF of a linear density ``a (1 − u) + b u`` on ``[0, 1]``
        (``_linear_inverse_cdf``). Exact for the interpolant: no error beyond the grid's own
        (``interpolation_tv``)."""
        corners = _cell_corners(self.values)
        mass = torch.stack(list(corners.values())).mean(0).reshape(-1)
        cdf = torch.cumsum(mass, 0)
        u = torch.rand(n, generator=generator, dtype=self.dtype, device=self.device)
        cell = torch.searchsorted(cdf, u * cdf[-1], right=True).clamp_max(len(mass) - 1)
        index = torch.unravel_index(cell, tuple(len(ax) - 1 for ax in self.axes))
        at = {c: v.reshape(-1)[cell] for c, v in corners.items()}
        offsets = []
        for k in range(self.dim):
            # the marginal of u_k given u_1..u_{k-1}: corners with c_k = 0 (a) and 1 (b),
            # the earlier coordinates interpolated at their drawn values, later ones averaged
            a, b = (sum(_weight(c, offsets) * v for c, v in at.items() if c[k] == side)
                    for side in (0, 1))
            r = torch.rand(n, generator=generator, dtype=self.dtype, device=self.device)
            offsets.append(_linear_inverse_cdf(a, b, r))
        return torch.stack([ax[i] + h * f for ax, i, h, f in
                            zip(self.axes, index, self.spacing, offsets, strict=True)], -1)

    def interpolation_tv(self, log_density: Callable[[torch.Tensor], torch.Tensor]) -> float:
        """Total variation between the grid's interpolant and the law ``∝ exp(log_density)``
        it was made from, both normalized by the grid's quadrature, estimated at the cell
        midpoints (where linear interpolation errs most; there ``p̃`` is the mean of the
        cell's corners): ``½ Σ_cells |p̃(m) − p(m)| · cell``.
        The error of the Riemann normalizer itself is far smaller (module docstring)."""
        mids = [ax[:-1] + 0.5 * h for ax, h in zip(self.axes, self.spacing, strict=True)]
        mesh = torch.stack(torch.meshgrid(*mids, indexing="ij"), -1)
        exact = torch.exp(torch.as_tensor(log_density(mesh), dtype=self.dtype,
                                          device=self.device) - self.log_normalizer)
        interpolated = torch.stack(list(_cell_corners(self.values).values())).mean(0)
        return 0.5 * float((interpolated - exact).abs().sum()) * self.cell_volume

    # derived grids and moments ----------------------------------------------------------
    def marginal(self, axis: int) -> GridDensity:
        """Law of coordinate ``axis`` of a 2-D grid: ``∫ p(x) dx_other`` by quadrature."""
        if self.dim != 2 or axis not in (0, 1):
            raise ValueError(f"marginal needs a 2-D grid and axis 0 or 1, got dim "
                             f"{self.dim}, axis {axis}")
        other = 1 - axis
        return GridDensity([self.axes[axis]], self.values.sum(other) * self.spacing[other])

    def resample(self, axes: Sequence[torch.Tensor]) -> GridDensity:
        """This density interpolated onto ``axes`` (0 outside this grid), renormalized;
        the result's ``log_normalizer`` is the log of the mass the new grid captured."""
        axes = [torch.as_tensor(ax).to(dtype=self.dtype, device=self.device) for ax in axes]
        mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
        vals, inside = self._interpolate(self.values, mesh)
        return GridDensity(axes, torch.where(inside, vals, 0.0))

    @property
    def mean(self) -> torch.Tensor:
        """``∫ x p(x) dx`` by quadrature, shape ``(d,)``."""
        return (self.values[..., None] * self.points).reshape(-1, self.dim).sum(0) \
            * self.cell_volume

    @property
    def covariance(self) -> torch.Tensor:
        """``∫ (x − μ)(x − μ)ᵀ p(x) dx`` by quadrature, shape ``(d, d)``."""
        centered = (self.points - self.mean).reshape(-1, self.dim)
        weights = self.values.reshape(-1, 1) * self.cell_volume
        return centered.T @ (weights * centered)


def default_bounds(*dists: Distribution, width: float = TAIL_SDS) -> list[tuple[float, float]]:
    """Per coordinate ``[min_j (μ_j − width·σ_j), max_j (μ_j + width·σ_j)]`` over every
    mixture component ``j`` of ``dists`` (a light, wide component would stick out of
    bounds taken from the total covariance), or over the laws themselves when they have
    no mixture form."""
    if not dists:
        raise ValueError("default_bounds needs at least one distribution")
    mus, sds = [], []
    for d in dists:
        try:
            mix = d.to_mixture()
            mus.append(mix.means)
            sds.append(torch.diagonal(mix.covs, dim1=-2, dim2=-1).sqrt())
        except ValueError:
            mus.append(d.mean[None])
            sds.append(torch.diagonal(d.covariance).sqrt()[None])
    mus, sds = torch.cat(mus), torch.cat(sds)
    lo, hi = (mus - width * sds).amin(0), (mus + width * sds).amax(0)
    return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]


class GridLaw(Distribution):
    """A ``GridDensity`` as a ``Distribution``: exact draws of its interpolant
    (``GridDensity.sample``), ``N_t`` by FFT convolution (``GridDensity.noised``), the
    interpolated log-density (``−inf`` off the grid: the law has no mass there) and score.

    Where the grid's score is not defined (off the grid, or next to nodes whose density
    underflowed to 0) the score is that of ``N(μ, Σ)`` with the grid's mean and
    covariance, so a sampler that strays beyond the bounds is pulled back instead of
    receiving NaN; inside, it is the grid's own."""

    def __init__(self, grid: GridDensity) -> None:
        self.grid = grid
        self.dim, self.dtype, self.device = grid.dim, grid.dtype, grid.device

    def __repr__(self) -> str:
        shape = "×".join(str(len(ax)) for ax in self.grid.axes)
        return f"GridLaw({shape})"

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid.log_prob(x)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        inside = self.grid.score(x)
        x = torch.as_tensor(x).to(dtype=self.dtype, device=self.device)
        outside = torch.linalg.solve(self.covariance, (self.mean - x)[..., None])[..., 0]
        return torch.where(torch.isfinite(inside).all(-1, keepdim=True), inside, outside)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.grid.sample(n, generator)

    def convolved(self, a: float, noise_cov: torch.Tensor | float) -> GridLaw:
        if isinstance(noise_cov, torch.Tensor) and noise_cov.dim() > 0:
            raise NotImplementedError("a grid law is noised isotropically only")
        return GridLaw(self.grid.convolved(a, float(noise_cov)))

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> GridLaw:
        if (dtype or self.dtype) == self.dtype and (device is None or
                                                    torch.device(device) == self.device):
            return self
        g = self.grid
        moved = GridDensity([ax.to(dtype=dtype, device=device) for ax in g.axes],
                            g.values.to(dtype=dtype, device=device))
        return GridLaw(moved)

    @cached_property
    def mean(self) -> torch.Tensor:
        return self.grid.mean

    @cached_property
    def covariance(self) -> torch.Tensor:
        return self.grid.covariance


def total_variation(p: GridDensity, q: GridDensity) -> float:
    """``½ ∫ |p − q|`` by quadrature on ``p``'s axes (``q`` resampled there if needed)."""
    q = _on_axes_of(p, q)
    return 0.5 * float((p.values - q.values).abs().sum()) * p.cell_volume


def grid_normalized_l2(p: GridDensity, q: GridDensity) -> float:
    """``∫ (p − q)² / (∫ p² + ∫ q²) ∈ [0, 1]`` on ``p``'s axes (``q`` resampled if needed)."""
    q = _on_axes_of(p, q)
    return float(((p.values - q.values) ** 2).sum()
                 / ((p.values ** 2).sum() + (q.values ** 2).sum()))


def _on_axes_of(p: GridDensity, q: GridDensity) -> GridDensity:
    """``q`` itself when it shares ``p``'s nodes, else ``q.resample(p.axes)``: mass of
    ``q`` outside ``p``'s grid is dropped, so ``p``'s grid should cover both."""
    if p.dim != q.dim:
        raise ValueError(f"cannot compare grids of dimension {p.dim} and {q.dim}")
    same = all(len(a) == len(b) and bool(((a - b.to(a)).abs() <= SPACING_RTOL * h).all())
               for a, b, h in zip(p.axes, q.axes, p.spacing, strict=True))
    return q if same else q.resample(p.axes)


def _cell_corners(values: torch.Tensor) -> dict[tuple[int, ...], torch.Tensor]:
    """Per corner offset ``c ∈ {0, 1}^d`` the values at that corner of every cell,
    each of shape ``(n_1 − 1, [n_2 − 1])``."""
    def corner(c: tuple[int, ...]) -> torch.Tensor:
        return values[tuple(slice(1, None) if ck else slice(None, -1) for ck in c)]
    return {c: corner(c) for c in itertools.product((0, 1), repeat=values.dim())}


def _weight(corner: tuple[int, ...], offsets: list[torch.Tensor]) -> torch.Tensor | float:
    """The bilinear weight of ``corner`` in the coordinates already drawn (``offsets``);
    later coordinates are integrated out (weight ½ each, a constant dropped here)."""
    return math.prod((u if c else 1 - u) for c, u in zip(corner, offsets, strict=False))


def _linear_inverse_cdf(a: torch.Tensor, b: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The ``r``-quantile of the density ``∝ a (1 − u) + b u`` on ``[0, 1]`` (``a, b ≥ 0``,
    not both 0): the root of ``a u + (b − a) u²/2 = r (a + b)/2`` in ``[0, 1]``, written
    ``r (a + b) / (a + sqrt(a² + r (b² − a²)))`` so that ``a = b`` (giving ``r``) needs no
    special case and no digits cancel."""
    a, b = a.clamp_min(0.0), b.clamp_min(0.0)
    root = torch.sqrt((a * a + r * (b * b - a * a)).clamp_min(0.0))
    u = r * (a + b) / (a + root)
    return torch.nan_to_num(u, nan=0.5).clamp(0.0, 1.0)


def _step(ax: torch.Tensor) -> float:
    return float(ax[-1] - ax[0]) / (len(ax) - 1)


def _noise_axis(ax: torch.Tensor, values: torch.Tensor, dim: int, s2: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolve ``values`` along ``dim`` (nodes ``ax``) with ``N(0, s2)``. If the padded
    axis would exceed ``MAX_GROWTH`` times its length, coarsen to spacing ``H = m h``:
    smooth with sd ``2H`` first, keep every ``m``-th node (the smoothed density has no
    detail at scale ``H``: aliasing ~exp(−8π²)), and add the remaining variance there."""
    h, sd = _step(ax), math.sqrt(s2)
    length = len(ax) + 2 * TAIL_SDS * sd / h
    m = min(math.ceil(length / (MAX_GROWTH * len(ax))), int(sd / (MIN_CELLS_PER_SD * h)))
    if m < 2:
        return _gaussian_fft(ax, values, dim, s2)
    pre = (2 * m * h) ** 2  # <= s2 / 4
    ax, values = _gaussian_fft(ax, values, dim, pre)
    keep = torch.arange(0, len(ax), m, device=ax.device)
    return _gaussian_fft(ax[keep], values.index_select(dim, keep), dim, s2 - pre)


def _gaussian_fft(ax: torch.Tensor, values: torch.Tensor, dim: int, s2: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Full linear convolution along ``dim`` with the sampled ``N(0, s2)`` kernel (weights
    normalized to sum 1, so a kernel narrower than a cell tends to the identity); the
    axis grows by ``pad = ceil(TAIL_SDS·sqrt(s2)/h)`` nodes per side."""
    h = _step(ax)
    pad = math.ceil(TAIL_SDS * math.sqrt(s2) / h)
    if pad == 0:
        return ax, values
    offsets = h * torch.arange(-pad, pad + 1, dtype=values.dtype, device=values.device)
    kernel = torch.exp(-0.5 * offsets ** 2 / s2)
    full = values.shape[dim] + 2 * pad  # zero padding to at least this: no wrap-around
    n = 1 << (full - 1).bit_length()  # a power of 2: fast FFT lengths
    shape = [1] * values.dim()
    shape[dim] = n // 2 + 1
    spectrum = torch.fft.rfft(kernel / kernel.sum(), n=n).reshape(shape)
    out = torch.fft.irfft(torch.fft.rfft(values, n=n, dim=dim) * spectrum, n=n, dim=dim)
    out = out.narrow(dim, 0, full)
    new_ax = ax[0] + h * torch.arange(-pad, len(ax) + pad, dtype=ax.dtype, device=ax.device)
    return new_ax, out

