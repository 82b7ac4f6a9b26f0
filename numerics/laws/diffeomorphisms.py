"""Smooth diffeomorphisms of ``R^1`` and ``R^2`` with tractable Jacobians (THEORY §5).

They reparameterize families for the grid checks of C4 (``C[A♯p⃗] = A♯C[p⃗]``), C5 (the
simple product is not equivariant under non-affine ``A``) and C6 (FC in feature space).
A map ``A : R^d → R^d`` sends latent points ``z`` to points ``x = A(z)``; shapes are
``(..., d) -> (..., d)`` for points and ``(..., d) -> (...)`` for log-determinants, in
float64 by default.

Change of variables (Lemma 6.2, C4): if ``Z ~ p`` then ``X = A(Z)`` has density

    (A♯p)(x) = p(A⁻¹(x)) · |det D A⁻¹(x)| = p(z) / |det D A(z)|,   z = A⁻¹(x),

so ``log (A♯p)(x) = log p(z) − log|det D A(z)|``. The Jacobian term is subtracted in one
place, ``Diffeomorphism.pushforward_log_density``; an unnormalized ``p`` gives an
``A♯p`` with the same normalizing constant.

Families:

- ``Affine``: ``x = M z + t`` (``d = 1``: ``x = s z + t``), constant log-determinant;
- ``MonotoneTanh`` (``d = 1``): ``x = z + a·tanh(b z + c)``, strictly increasing when
  ``a·b > −1`` (``dx/dz = 1 + a b sech²(b z + c) ≥ min(1, 1 + a b) > 0``);
- ``Coordinatewise``: one 1-D map per coordinate;
- ``Triangular2D``: ``x1 = f(z1)``, ``x2 = z2·e^u + c·sin(ω z1)`` with ``f`` a 1-D map
  (``log|det| = log f'(z1) + u``);
- ``Composition``: ``A_m ∘ ... ∘ A_1`` (log-determinants add along the way).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from numerics.tolerances import MAX_CONDITION

LogDensity = Callable[[torch.Tensor], torch.Tensor]

# Inverting MonotoneTanh: Newton steps safeguarded by bisection (Numerical Recipes' rtsafe):
# the bracket [x − |a|, x + |a|] shrinks at every step, a Newton step that leaves it or
# converges too slowly is replaced by bisection, and iteration stops once no point moves by
# more than INVERSE_RTOL·(1 + |z|).
# Newton converges quadratically from ~1e-2 (C = max|f''|/(2 min f') ≤ 16 for the maps drawn
# in numerics.claims.strategies: 7-11 steps measured); MAX_INVERSE_STEPS bounds the pure-bisection
# worst case (2|a|·2^-200 is far below float64 resolution).
MAX_INVERSE_STEPS = 200
INVERSE_RTOL = 4e-16


class Diffeomorphism:
    """A smooth bijection ``A : R^dim → R^dim`` with a smooth inverse, ``x = A(z)``."""

    dim: int
    #: True when ``A`` is affine, so ``log|det DA|`` is constant (C5's exception).
    is_affine: bool = False
    dtype: torch.dtype = torch.float64

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``x = A(z)``: ``(..., dim) -> (..., dim)``."""
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """``z = A⁻¹(x)``: ``(..., dim) -> (..., dim)``."""
        raise NotImplementedError

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """``log|det D A(z)|`` of the forward map at ``z``: ``(..., dim) -> (...)``."""
        raise NotImplementedError

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z)

    # densities ------------------------------------------------------------------------
    def pushforward_log_density(self, log_p: LogDensity) -> LogDensity:
        """``log (A♯p)``: ``x ↦ log p(z) − log|det D A(z)|`` with ``z = A⁻¹(x)``.

        ``log_p`` maps ``(..., dim) -> (...)`` and may be unnormalized; the result has
        the same normalizing constant (change of variables, THEORY §5, Lemma 6.2).
        """

        def log_q(x: torch.Tensor) -> torch.Tensor:
            z = self.inverse(x)
            return log_p(z) - self.log_abs_det_jacobian(z)

        return log_q

    def pullback_log_density(self, log_q: LogDensity) -> LogDensity:
        """``log ((A⁻¹)♯q)``: ``z ↦ log q(A(z)) + log|det D A(z)|``, the density of
        ``A⁻¹(X)`` for ``X ~ q`` (the inverse of ``pushforward_log_density``)."""

        def log_p(z: torch.Tensor) -> torch.Tensor:
            return log_q(self.forward(z)) + self.log_abs_det_jacobian(z)

        return log_p

    # helpers --------------------------------------------------------------------------
    def inverted(self) -> Diffeomorphism:
        """``A⁻¹`` as a diffeomorphism of its own."""
        return _Inverse(self)

    def image_bounds(self, bounds: Sequence[tuple[float, float]], points: int | None = None,
                     margin: float = 0.02) -> list[tuple[float, float]]:
        """Bounding box of ``A(box)`` for ``box = Π_k [lo_k, hi_k]``, for grids of ``A♯p``.

        The images of a ``points^dim`` mesh of the box (default 2001 in 1-D, 257 in 2-D),
        widened by ``margin`` times each side's width; exact up to the margin for maps
        monotone in each coordinate, and a close cover for ``Triangular2D``.
        """
        if len(bounds) != self.dim:
            raise ValueError(f"bounds has {len(bounds)} entries, the map has dim {self.dim}")
        count = points or (2001 if self.dim == 1 else 257)
        axes = [torch.linspace(lo, hi, count, dtype=self.dtype) for lo, hi in bounds]
        mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dim)
        image = self.forward(mesh)
        lo, hi = image.amin(0), image.amax(0)
        pad = margin * (hi - lo)
        return [(float(a), float(b)) for a, b in zip(lo - pad, hi + pad, strict=True)]

    def _points(self, z: torch.Tensor) -> torch.Tensor:
        z = torch.as_tensor(z)
        if z.dim() == 0 or z.shape[-1] != self.dim:
            raise ValueError(f"points must have shape (..., {self.dim}), got {tuple(z.shape)}")
        return z.to(self.dtype)


def _scalar(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


class Affine(Diffeomorphism):
    """``x = M z + t`` with ``M`` ``(d, d)`` invertible and ``t`` ``(d,)``.

    ``matrix`` may be a number (``d = 1``: ``x = s z + t``, ``s ≠ 0``).
    ``log|det DA| = log|det M|`` everywhere.
    """

    is_affine = True

    def __init__(self, matrix, offset=None) -> None:
        m = torch.as_tensor(matrix, dtype=self.dtype)
        if m.dim() == 0:
            m = m.reshape(1, 1)
        if m.dim() != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"matrix must be square (d, d), got shape {tuple(m.shape)}")
        if not torch.isfinite(m).all():
            raise ValueError("matrix contains NaN or inf")
        cond = float(torch.linalg.cond(m))
        if not cond <= MAX_CONDITION:
            raise ValueError(f"matrix is singular (condition number {cond:.3g})")
        self.dim = m.shape[0]
        t = torch.zeros(self.dim, dtype=self.dtype) if offset is None \
            else torch.as_tensor(offset, dtype=self.dtype).reshape(-1)
        if t.shape != (self.dim,) or not torch.isfinite(t).all():
            raise ValueError(f"offset must be finite with shape ({self.dim},), got "
                             f"{tuple(t.shape)}")
        self.matrix, self.offset = m, t
        self.matrix_inverse = torch.linalg.inv(m)
        self.log_abs_det = float(torch.linalg.slogdet(m)[1])

    def __repr__(self) -> str:
        return f"Affine(matrix={self.matrix.tolist()}, offset={self.offset.tolist()})"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._points(z) @ self.matrix.T + self.offset

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return (self._points(x) - self.offset) @ self.matrix_inverse.T

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        return torch.full(z.shape[:-1], self.log_abs_det, dtype=self.dtype)


class MonotoneTanh(Diffeomorphism):
    """``x = z + a·tanh(b z + c)`` on ``R``, with ``a·b > −1``.

    ``dx/dz = 1 + a b sech²(b z + c) ∈ [min(1, 1 + ab), max(1, 1 + ab)]``, so the map is
    strictly increasing with ``|x − z| ≤ |a|``; the inverse brackets ``z`` in
    ``[x − |a|, x + |a|]`` and takes Newton steps safeguarded by bisection (vectorized,
    without autograd), then one last Newton step that makes ``inverse`` differentiable
    in ``x`` (``dz/dx = 1/f'(z)``).
    """

    dim = 1

    def __init__(self, a: float, b: float, c: float = 0.0) -> None:
        self.a, self.b, self.c = _scalar(a, "a"), _scalar(b, "b"), _scalar(c, "c")
        if not self.a * self.b > -1.0:
            raise ValueError(f"need a·b > -1 for a strictly increasing map, got "
                             f"a={self.a}, b={self.b} (a·b = {self.a * self.b})")

    def __repr__(self) -> str:
        return f"MonotoneTanh(a={self.a!r}, b={self.b!r}, c={self.c!r})"

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.a * torch.tanh(self.b * z + self.c)

    def _derivative(self, z: torch.Tensor) -> torch.Tensor:
        return 1.0 + self.a * self.b * torch.cosh(self.b * z + self.c).pow(-2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._map(self._points(z))

    def _solve(self, t: torch.Tensor) -> torch.Tensor:
        """``z`` with ``f(z) = t`` for a flat ``t``; each point leaves the iteration as soon
        as it has converged, so a few slow points cost little."""
        out = torch.empty_like(t)
        idx = torch.arange(t.numel())
        lo, hi = t - abs(self.a), t + abs(self.a)
        z = t - self.a * torch.tanh(self.b * t + self.c)  # inside [lo, hi]
        step_before = step = hi - lo
        for _ in range(MAX_INVERSE_STEPS):
            g, slope = self._map(z) - t, self._derivative(z)
            lo, hi = torch.where(g < 0, z, lo), torch.where(g > 0, z, hi)
            newton = z - g / slope
            # bisect when Newton leaves the bracket, or when it does not at least halve the
            # step before last (it would bounce between the ends of the bracket)
            bisect = (newton < lo) | (newton > hi) | (2 * g.abs() > (step_before * slope).abs())
            new = torch.where(bisect, 0.5 * (lo + hi), newton)
            step_before, step, z = step, (new - z).abs(), new
            done = step <= INVERSE_RTOL * (1.0 + z.abs())
            out[idx[done]] = z[done]
            keep = ~done
            if not bool(keep.any()):
                return out
            idx, t, z, lo, hi = idx[keep], t[keep], z[keep], lo[keep], hi[keep]
            step, step_before = step[keep], step_before[keep]
        out[idx] = z  # not converged in MAX_INVERSE_STEPS: the best estimate
        return out

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        x = self._points(x)
        with torch.no_grad():
            z = self._solve(x.detach().reshape(-1)).reshape(x.shape)
        # A last Newton step outside no_grad: it polishes the last ulp and carries the
        # derivative dz/dx = 1/f'(z) for autograd (implicit function theorem).
        return z - (self._map(z) - x) / self._derivative(z)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        return torch.log(self._derivative(z[..., 0]))


class Coordinatewise(Diffeomorphism):
    """``x_k = f_k(z_k)``: one 1-D map per coordinate; ``log|det| = Σ_k log|f_k'(z_k)|``."""

    def __init__(self, maps: Sequence[Diffeomorphism]) -> None:
        if not maps:
            raise ValueError("maps must be non-empty")
        for k, f in enumerate(maps):
            if f.dim != 1:
                raise ValueError(f"maps[{k}] has dim {f.dim}, expected 1")
        self.maps = tuple(maps)
        self.dim = len(self.maps)
        self.is_affine = all(f.is_affine for f in self.maps)

    def __repr__(self) -> str:
        return f"Coordinatewise({list(self.maps)!r})"

    def _apply(self, method: str, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        return torch.cat([getattr(f, method)(z[..., k:k + 1])
                          for k, f in enumerate(self.maps)], -1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._apply("forward", z)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply("inverse", x)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        return sum(f.log_abs_det_jacobian(z[..., k:k + 1]) for k, f in enumerate(self.maps))


class Triangular2D(Diffeomorphism):
    """``x1 = f(z1)``, ``x2 = z2·e^u + c·sin(ω z1)`` (a lower-triangular Jacobian).

    ``D A = [[f'(z1), 0], [c ω cos(ω z1), e^u]]``, so ``log|det DA(z)| = log|f'(z1)| + u``;
    inverse ``z1 = f⁻¹(x1)``, ``z2 = (x2 − c·sin(ω z1))·e^{−u}``. ``f`` is any 1-D
    diffeomorphism (e.g. ``MonotoneTanh``). Non-affine whenever ``c ≠ 0`` or ``f`` is.
    """

    dim = 2

    def __init__(self, f: Diffeomorphism, log_scale: float = 0.0, amplitude: float = 0.0,
                 frequency: float = 1.0) -> None:
        if f.dim != 1:
            raise ValueError(f"f must be a 1-D map, got dim {f.dim}")
        self.f = f
        self.log_scale = _scalar(log_scale, "log_scale")
        self.amplitude = _scalar(amplitude, "amplitude")
        self.frequency = _scalar(frequency, "frequency")
        self.is_affine = f.is_affine and (self.amplitude == 0.0 or self.frequency == 0.0)

    def __repr__(self) -> str:
        return (f"Triangular2D(f={self.f!r}, log_scale={self.log_scale!r}, "
                f"amplitude={self.amplitude!r}, frequency={self.frequency!r})")

    def _shear(self, z1: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.sin(self.frequency * z1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        x1 = self.f.forward(z[..., :1])
        x2 = z[..., 1:] * math.exp(self.log_scale) + self._shear(z[..., :1])
        return torch.cat([x1, x2], -1)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        x = self._points(x)
        z1 = self.f.inverse(x[..., :1])
        z2 = (x[..., 1:] - self._shear(z1)) * math.exp(-self.log_scale)
        return torch.cat([z1, z2], -1)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        return self.f.log_abs_det_jacobian(z[..., :1]) + self.log_scale


class Composition(Diffeomorphism):
    """``A = A_m ∘ ... ∘ A_1`` (``maps[0]`` acts first); the chain rule adds the
    log-determinants: ``log|det DA(z)| = Σ_j log|det DA_j(z_{j−1})|``, ``z_j = A_j(z_{j−1})``."""

    def __init__(self, maps: Sequence[Diffeomorphism]) -> None:
        if not maps:
            raise ValueError("maps must be non-empty")
        dims = {f.dim for f in maps}
        if len(dims) != 1:
            raise ValueError(f"maps have different dims {sorted(dims)}")
        self.maps = tuple(maps)
        self.dim = dims.pop()
        self.is_affine = all(f.is_affine for f in self.maps)

    def __repr__(self) -> str:
        return f"Composition({list(self.maps)!r})"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        for f in self.maps:
            z = f.forward(z)
        return z

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        x = self._points(x)
        for f in reversed(self.maps):
            x = f.inverse(x)
        return x

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        z = self._points(z)
        total = torch.zeros(z.shape[:-1], dtype=self.dtype)
        for f in self.maps:
            total = total + f.log_abs_det_jacobian(z)
            z = f.forward(z)
        return total


class _Inverse(Diffeomorphism):
    """``A⁻¹``: ``log|det DA⁻¹(x)| = −log|det DA(A⁻¹(x))|``."""

    def __init__(self, base: Diffeomorphism) -> None:
        self.base, self.dim, self.is_affine = base, base.dim, base.is_affine

    def __repr__(self) -> str:
        return f"{self.base!r}.inverted()"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.base.inverse(z)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.forward(x)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return -self.base.log_abs_det_jacobian(self.base.inverse(z))

    def inverted(self) -> Diffeomorphism:
        return self.base
