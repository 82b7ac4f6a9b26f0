"""Pushforwards through nonlinear diffeomorphisms (THEORY §5), evaluated pointwise."""

from __future__ import annotations

import torch

from numerics.laws.base import Distribution
from numerics.laws.diffeomorphisms import Diffeomorphism


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


class RememberedInverse(Diffeomorphism):
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
