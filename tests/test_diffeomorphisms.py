"""Diffeomorphisms (numerics/laws/diffeomorphisms.py): inverses, log-Jacobians against autograd,
and the change-of-variables pushforward on grids (THEORY §5; used by C4, C5, C6).

Tolerances: inverses and log-determinants are float64 identities (measured ≤ 1e-14 at
points 3·N(0, I)); 1e-10 leaves four orders of margin for the Newton–bisection inverse, whose
error is ``ulp(x) / slope ≤ 5 ulp`` at the smallest slope 0.2.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.claims.strategies import diffeomorphisms, gaussian_mixtures
from numerics.laws import GaussianMixture
from numerics.laws.diffeomorphisms import (
    Affine,
    Composition,
    Coordinatewise,
    Diffeomorphism,
    MonotoneTanh,
    Triangular2D,
)
from numerics.laws.grid import GridDensity, default_bounds

F64 = torch.float64
IDENTITY_TOL = 1e-10
# Grid normalizers of pushed densities: quadrature of a smooth density converges faster
# than any power of h (numerics/laws/grid.py), and bounds 8 sd beyond every component (see
# ``component_bounds``) leave ~e⁻³² of tail mass. Measured max |log Z| over derandomized
# draws: 1.7e-15 (300 examples, 1-D, 2001 nodes) and 2.1e-12 (200 examples, 2-D, 801
# nodes; 401 nodes reach 6e-5 where a map squeezes a narrow component 13×). 1e-9 leaves a
# 500× margin and still catches a missing or doubled Jacobian factor (off by O(0.1-1)).
NORMALIZER_TOL = 1e-9
DRAWN_POINTS = {1: 2001, 2: 801}
DIMS = pytest.mark.parametrize("dim", [1, 2])

EXAMPLES = {
    "affine-1d": Affine(-1.7, [0.3]),
    "tanh-steep": MonotoneTanh(a=3.0, b=2.0, c=0.5),
    "tanh-flat": MonotoneTanh(a=-0.95, b=1.0, c=-1.0),  # slope down to 0.05
    "affine-2d": Affine([[2.0, 0.5], [-0.3, 0.8]], [1.0, -1.0]),
    "coordinatewise": Coordinatewise([MonotoneTanh(1.0, 1.5), Affine(0.5, [2.0])]),
    "triangular": Triangular2D(MonotoneTanh(-0.5, 1.0, 0.3), log_scale=-0.7, amplitude=1.2,
                               frequency=1.5),
    "composition": Composition([Triangular2D(MonotoneTanh(1.0, 1.0), 0.2, 0.8),
                                Affine([[0.0, 1.0], [1.0, 0.0]])]),
}
EXAMPLE = pytest.mark.parametrize("name", sorted(EXAMPLES))
# "tanh-flat" squeezes the density 20× where its slope is 0.05: at the default 2001 nodes
# the normalizer is off by 4.2e-6, at 8001 by 2e-16 (resolution, not a Jacobian error).
POINTS = {"tanh-flat": 8001}


def points(dim: int, seed: int = 0, n: int = 64, spread: float = 3.0) -> torch.Tensor:
    return spread * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed),
                                dtype=F64)


def autograd_log_det(f: Diffeomorphism, z: torch.Tensor) -> torch.Tensor:
    """``log|det J|`` of ``f.forward`` at each row of ``z`` by reverse-mode autograd."""
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(f.forward, p))[1]
                        for p in z])


def check_identities(f: Diffeomorphism) -> None:
    z = points(f.dim)
    x = f.forward(z)
    assert x.shape == z.shape and x.dtype == F64
    assert (f.inverse(x) - z).abs().max() <= IDENTITY_TOL
    assert (f.forward(f.inverse(z)) - z).abs().max() <= IDENTITY_TOL
    log_det = f.log_abs_det_jacobian(z)
    assert log_det.shape == z.shape[:-1]
    assert (log_det[:16] - autograd_log_det(f, z[:16])).abs().max() <= IDENTITY_TOL


@EXAMPLE
def test_examples_inverse_and_log_det(name: str) -> None:
    check_identities(EXAMPLES[name])


@EXAMPLE
def test_inverted_map(name: str) -> None:
    f = EXAMPLES[name]
    g = f.inverted()
    check_identities(g)
    assert g.inverted() is f


@settings(max_examples=10)
@given(f=diffeomorphisms(1))
def test_drawn_1d_inverse_and_log_det(f: Diffeomorphism) -> None:
    check_identities(f)


@settings(max_examples=15)
@given(f=diffeomorphisms(2))
def test_drawn_2d_inverse_and_log_det(f: Diffeomorphism) -> None:
    check_identities(f)


def test_batch_shapes() -> None:
    f = EXAMPLES["triangular"]
    z = torch.zeros(3, 4, 2, dtype=F64)
    assert f.forward(z).shape == (3, 4, 2)
    assert f.inverse(z).shape == (3, 4, 2)
    assert f.log_abs_det_jacobian(z).shape == (3, 4)
    assert f.pushforward_log_density(lambda x: -0.5 * (x * x).sum(-1))(z).shape == (3, 4)


def test_affine_pushforward_matches_closed_form() -> None:
    """Sign and placement of the Jacobian term: an affine pushforward of a Gaussian mixture
    equals ``GaussianMixture.pushforward`` (closed form) pointwise."""
    p = GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64),
                        torch.tensor([[-1.0, 0.5], [1.0, 0.0]], dtype=F64),
                        torch.tensor([[[0.5, 0.1], [0.1, 0.3]], [[1.0, 0.0], [0.0, 2.0]]],
                                     dtype=F64))
    f = EXAMPLES["affine-2d"]
    x = points(2, seed=1)
    exact = p.pushforward(f.matrix, f.offset).log_prob(x)
    assert (f.pushforward_log_density(p.log_prob)(x) - exact).abs().max() <= 1e-12
    back = f.pullback_log_density(f.pushforward_log_density(p.log_prob))
    assert (back(x) - p.log_prob(x)).abs().max() <= 1e-12


def component_bounds(p: GaussianMixture) -> list[tuple[float, float]]:
    """8 sd beyond every component: ``default_bounds(p)`` uses the total covariance and
    cuts off light, wide components (0.5% of the mass for weights 0.98/0.02)."""
    return default_bounds(*[GaussianMixture.gaussian(m, c) for m, c in zip(p.means, p.covs,
                                                                          strict=True)])


def pushed_normalizer(f: Diffeomorphism, p: GaussianMixture, points: int | None = None) -> float:
    """``log ∫ A♯p`` by grid quadrature over the image of ``p``'s bounds."""
    bounds = f.image_bounds(component_bounds(p))
    grid = GridDensity.from_log_density(f.pushforward_log_density(p.log_prob), bounds, points)
    return grid.log_normalizer


@EXAMPLE
def test_pushforward_integrates_to_one(name: str) -> None:
    f = EXAMPLES[name]
    p = GaussianMixture.gaussian(torch.full((f.dim,), 0.3, dtype=F64),
                                 0.5 * torch.eye(f.dim, dtype=F64))
    assert abs(pushed_normalizer(f, p, POINTS.get(name))) <= NORMALIZER_TOL


@DIMS
@settings(max_examples=6)
@given(data=st.data())
def test_drawn_pushforward_integrates_to_one(dim: int, data: st.DataObject) -> None:
    f = data.draw(diffeomorphisms(dim), label="f")
    p = data.draw(gaussian_mixtures(dim, max_components=2, max_condition=4.0, scale=0.5,
                                    max_mean=2.0), label="p")
    assert abs(pushed_normalizer(f, p, DRAWN_POINTS[dim])) <= NORMALIZER_TOL


def test_nonaffine_flags() -> None:
    assert EXAMPLES["affine-2d"].is_affine and EXAMPLES["affine-1d"].is_affine
    assert not EXAMPLES["triangular"].is_affine
    assert Triangular2D(Affine(2.0), log_scale=0.3).is_affine
    assert not EXAMPLES["composition"].is_affine


@pytest.mark.parametrize(("build", "match"), [
    (lambda: MonotoneTanh(a=-1.0, b=1.0), "a·b > -1"),
    (lambda: MonotoneTanh(a=math.nan, b=1.0), "a must be finite"),
    (lambda: Affine([[1.0, 2.0], [2.0, 4.0]]), "singular"),
    (lambda: Affine(1.0, [0.0, 1.0]), "offset"),
    (lambda: Triangular2D(Affine([[1.0, 0.0], [0.0, 1.0]])), "1-D map"),
    (lambda: Composition([Affine(1.0), EXAMPLES["affine-2d"]]), "different dims"),
    (lambda: EXAMPLES["triangular"].forward(torch.zeros(3, dtype=F64)), r"\(\.\.\., 2\)"),
])
def test_invalid_arguments(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()
