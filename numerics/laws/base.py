"""The contract every distribution with exact noisy scores honours (DESIGN.md, core objects).

Shapes: a distribution on ``R^n`` has ``event_shape = (n,)``. ``log_prob`` maps
``(..., n) -> (...)``, ``score`` maps ``(..., n) -> (..., n)``, ``sample(N)`` returns
``(N, n)``. Computation is in the distribution's own dtype and device (float64 by
default for exact checks); ``to(dtype, device)`` gives a copy in another one (float32 or a
GPU for fast sampling), its parameters rounded from the float64 ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from numerics.laws.processes import ForwardProcess
from numerics.tolerances import MAX_CONDITION

DEFAULT_DTYPE = torch.float64

# Largest number of mixture components an explicit expansion may create. Past it the
# caller gets ExpansionTooLarge rather than an exponential blow-up (issue 2: a factorized
# family with k conditionals is O(k) work, never K^k components).
MAX_COMPONENTS = 4096


class ExpansionTooLarge(ValueError):
    """An operation would need an explicit mixture with more than ``MAX_COMPONENTS``."""


class Distribution:
    """A probability distribution on ``R^dim`` with exact log-density and score."""

    dim: int
    dtype: torch.dtype
    device: torch.device

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)``: ``(..., n) -> (...)``."""
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """``∇_x log p(x)``: ``(..., n) -> (..., n)``."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent draws, shape ``(n, dim)``."""
        raise NotImplementedError(f"{type(self).__name__} has no exact sampler")

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> Distribution:
        """The same law computed in ``dtype`` on ``device`` (``None`` keeps the current one);
        ``self`` when nothing changes. Derived quantities (factorizations, inverses) are
        computed in the current dtype and then cast."""
        raise NotImplementedError

    def convolved(self, a: float, noise_cov: torch.Tensor | float) -> Distribution:
        """Law of ``a X + η`` with ``X ~ self`` and ``η ~ N(0, noise_cov)`` independent.

        ``noise_cov`` is a scalar ``s²`` (isotropic noise) or an ``(n, n)`` matrix.
        """
        raise NotImplementedError(f"{type(self).__name__} has no closed-form noised law")

    def noised(self, t: float, process: ForwardProcess) -> Distribution:
        """``N_t[p]``: law of ``a(t) X + s(t) ε`` (THEORY §0)."""
        a, s = process.coefficients(t)
        return self.convolved(a, s * s)

    def marginal(self, coords: Sequence[int]) -> Distribution:
        """Law of ``x|coords`` (in the order given)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form marginal")

    def pushforward(self, matrix: torch.Tensor, offset: torch.Tensor | None = None) -> Distribution:
        """``f♯p`` for the affine map ``f(x) = matrix @ x + offset``; ``matrix`` is ``(m, n)``."""
        raise NotImplementedError

    def to_mixture(self) -> Distribution:
        """The same distribution as an explicit Gaussian mixture (may raise ExpansionTooLarge)."""
        raise NotImplementedError

    @property
    def num_components(self) -> int:
        """Number of components of ``to_mixture()``, computed without expanding."""
        raise NotImplementedError

    # hooks: a law that knows more about itself than the generic routes -------------------
    def compose_with(self, members: Sequence[Distribution],
                     exponents: Sequence[float]) -> Distribution | None:
        """``∝ Π_m members[m]^{exponents[m]}`` (THEORY §2) when this law (``members[0]``)
        knows how to build it, else ``None`` ("I do not know how": the generic routes of
        ``numerics.composition.compose`` take over). An override returns an exact law or
        a composition that has decided ``Z < ∞`` itself, and raises
        ``numerics.laws.unnormalized.NonNormalizable`` where ``Z = ∞``."""
        return None

    def factorized(self) -> Distribution:
        """The same law in its most structured exact form: a law that is a product over
        blocks of coordinates returns its ``BlockProduct`` (the checks then get marginals
        and inner products block by block); ``self`` when there is nothing to expose."""
        return self

    @property
    def mean(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def covariance(self) -> torch.Tensor:
        raise NotImplementedError

    # helpers shared by subclasses -------------------------------------------------------
    def _as_tensor(self, value, name: str) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=self.dtype, device=self.device)
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf")
        return t

    def _check_points(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"points have last dimension {x.shape[-1]}, expected {self.dim}")
        return x.to(dtype=self.dtype, device=self.device)




def check_full_row_rank(matrix: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``matrix`` ``(m, n)`` has rank ``m`` (an invertible map
    when square); without it the image of a density has no density."""
    sv = torch.linalg.svdvals(matrix)
    if matrix.shape[0] > matrix.shape[1] or not bool(torch.isfinite(sv).all()) \
            or float(sv[-1]) * MAX_CONDITION <= float(sv[0]):
        kind = "singular" if matrix.shape[0] == matrix.shape[1] else "rank deficient"
        raise ValueError(f"pushforward matrix {tuple(matrix.shape)} is {kind}: "
                         "the image has no density")


def check_coords(coords: Sequence[int], n: int) -> list[int]:
    """``coords`` as a list, after checking they are distinct and in ``0..n-1``."""
    wanted = [int(c) for c in coords]
    if len(set(wanted)) != len(wanted) or any(not 0 <= c < n for c in wanted):
        raise ValueError(f"marginal coords {wanted} must be distinct and in 0..{n - 1}")
    return wanted


def conversion_target(dist: Distribution, dtype: torch.dtype | None,
                      device: torch.device | str | None) -> tuple[torch.dtype, torch.device]:
    """``(dtype, device)`` for ``dist.to(dtype, device)``: ``None`` keeps ``dist``'s own;
    raises ``ValueError`` for a dtype that is not floating point."""
    dtype = dist.dtype if dtype is None else dtype
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    return dtype, dist.device if device is None else torch.device(device)


def noise_matrix(noise_cov: torch.Tensor | float, n: int, like: torch.Tensor) -> torch.Tensor:
    """``noise_cov`` as an explicit ``(n, n)`` matrix in ``like``'s dtype and device."""
    if isinstance(noise_cov, torch.Tensor) and noise_cov.dim() == 2:
        return noise_cov.to(dtype=like.dtype, device=like.device)
    return float(noise_cov) * torch.eye(n, dtype=like.dtype, device=like.device)
