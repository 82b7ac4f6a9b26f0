"""C18 (§3): the simple product of "object at ℓ" laws puts each of the ``k`` objects at
brightness ``1/k`` (a mixture over templates with weights ``∝ exp(−(k − 1)|μ_τ|²/(2kv))``,
variance ``v/k``), while ``C`` with the empty background gives all ``k`` at full
brightness.

Checked here, over random scenes (grid sizes, cell sizes, channels, 1–4 templates of
unequal norms, pixel noise) and random requested cells, and on the clevr-lite scene for
every ``k``: the simple product's own exact log-density against the closed form; ``C``'s
law; the brightness 1/k of every template in the closed form; negative
controls (brightness ``1/(k+1)``, untilted template weights) that the check rejects.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims.exact import compare_pointwise, probe_points
from numerics.composition.compose import simple_product
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.scenes import clevr_scene
from projcomp.claims import spec
from projcomp.claims.c18_product_brightness import full_brightness, strategy
from projcomp.evidence import seeded
from theory import proofs
from theory.catalogue import claim

SEEDS = st.integers(0, 2**32 - 1)


@given(strategy(), SEEDS)
def test_simple_product_is_the_brightness_law(drawn, seed) -> None:
    scene, cells = drawn
    product, composed = ev.c18_instance(scene, cells, torch.Generator().manual_seed(seed))
    # same law up to a constant: spread of the log-ratio ≤ POINTWISE_RTOL (1e-9) relative
    assert product.same_law, product
    assert full_brightness(composed, scene, cells)


@pytest.mark.parametrize("k", range(1, 10))
def test_clevr_scene_every_k(k) -> None:
    scene = clevr_scene()
    cells = list(range(k))
    product, composed = ev.c18_instance(scene, cells, seeded())
    assert product.same_law and full_brightness(composed, scene, cells)
    wanted = ev.product_brightness_law(scene, cells).dists[cells[0]]
    mu = scene.templates
    # each component carries its template at brightness ⟨m_τ, μ_τ⟩/|μ_τ|² = 1/k
    along = (wanted.means * mu).sum(-1) / (mu * mu).sum(-1)
    assert torch.allclose(along, torch.full_like(along, 1.0 / k), rtol=1e-14, atol=0.0)
    # and the objects of C[p⃗] stay at brightness 1: its scale
    assert composed.scale == 1.0


def _wrong_law(scene, cells, brightness: float, tilt: bool) -> BlockProduct:
    """The closed form with another brightness, or with uniform template weights."""
    k, v, mu = len(cells), scene.noise**2, scene.templates
    d = scene.cell_dim
    logits = -(k - 1) * (mu * mu).sum(-1) / (2.0 * k * v) if tilt else torch.zeros(len(mu))
    covs = (v / k) * torch.eye(d, dtype=mu.dtype).expand(len(mu), d, d)
    wanted = GaussianMixture(torch.softmax(logits.to(mu.dtype), 0), brightness * mu, covs)
    empty = GaussianMixture.gaussian(torch.zeros(d, dtype=mu.dtype),
                                     (v / k) * torch.eye(d, dtype=mu.dtype))
    return BlockProduct([(scene.cells[j].tolist(), wanted if j in cells else empty)
                         for j in range(scene.locations)])


@pytest.mark.parametrize(("brightness", "tilt"), [(1 / 4, True), (1 / 3, False), (1.0, True)])
def test_wrong_brightness_laws_are_rejected(brightness, tilt) -> None:
    """k = 3 on the clevr scene (templates of unequal norms): only brightness 1/3 with the
    tilted weights is the simple product."""
    scene, cells = clevr_scene(), [0, 4, 8]
    family = ev.object_family(scene, cells)
    wrong = _wrong_law(scene, cells, brightness, tilt)
    points = probe_points([wrong, *family.members], seeded())
    assert not compare_pointwise(simple_product(family).log_prob, wrong.log_prob,
                                 points).same_law


def test_symbolic_proofs() -> None:
    results = proofs.c18_product_of_equal_variance_gaussians()
    assert {r.status for r in results} == {"proved"} and len(results) == 2


def test_registered_evidence_holds() -> None:
    c = claim("C18")
    assert c.expected == "holds" and set(c.active_methods) == {"symbolic", "exact"}
    evidence = spec("C18").exact()
    assert evidence.outcome == "holds" and evidence.instances == 20, evidence.details
