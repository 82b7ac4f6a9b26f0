"""C18 (§3): the simple product cannot length-generalize. On the length-generalization
family (the empty scene as background; "one object at ``ℓ``, empty elsewhere" with
Gaussian pixel noise of variance ``v`` as conditionals, ``numerics.laws.scenes``) the
simple product ``Π_{ℓ∈cells} p_ℓ`` of ``k`` conditionals is, exactly
(``numerics.claims.exact.product_brightness_law``),

    each requested cell   Σ_τ w_τ N(μ_τ/k, (v/k) I),   w_τ ∝ exp(−(k − 1)|μ_τ|²/(2kv)),
    every other cell      N(0, (v/k) I):

one law wants an object where the ``k − 1`` others want the cell empty, and equal-variance
Gaussians multiply to the average of their means — every object at brightness ``1/k``,
dimmer templates favoured. ``C`` with the empty background gives the scene law with all
``k`` requested cells occupied at full brightness (C1).

Exact: random scenes (``numerics.claims.strategies.scenes``: grid sizes, cell sizes,
channels, 1–4 templates of unequal norms, pixel noise) and random sets of requested cells:
the simple product's own exact log-density equals the closed form's up to a constant
(pointwise, ``POINTWISE_RTOL``), and ``C[p⃗]`` is the scene law with exactly the requested
cells occupied, scale 1 and the pixel variance. Symbolic: the product of ``k`` Gaussians
of one variance (``theory.proofs.c18_product_of_equal_variance_gaussians``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.scenes import Scene, SceneLaw
from projcomp.claims.base import ClaimSpec
from projcomp.evidence import Evidence, holds_for_all, require, require_same_law, seeded
from theory.catalogue import claim


def strategy() -> st.SearchStrategy[tuple[Scene, list[int]]]:
    """``(scene, cells)``: a random scene and ``1 ≤ k ≤ L`` distinct requested cells."""
    return pst.scenes().flatmap(lambda s: st.tuples(st.just(s), st.lists(
        st.integers(0, s.locations - 1), min_size=1, max_size=s.locations, unique=True)))


def full_brightness(law: Any, scene: Scene, cells: list[int]) -> bool:
    """``law`` is the scene law with exactly ``cells`` occupied at full brightness: objects
    at scale 1 with the scene's pixel variance, no extras."""
    return (isinstance(law, SceneLaw) and law.scene is scene and law.required == tuple(
        sorted(cells)) and law.extra.tolist() == [1.0] and law.scale == 1.0
        and law.variance == scene.noise**2)


def _check(args: Any) -> None:
    scene, cells = args
    where = f"{scene.rows}×{scene.cols} cells, d={scene.cell_dim}, T={len(scene.templates)}, " \
            f"k={len(cells)}"
    product, composed = ev.c18_instance(scene, cells, seeded())
    require_same_law(product, f"{where}: simple product vs brightness-1/k law")
    require(full_brightness(composed, scene, cells), f"{where}: C[p⃗] is {composed!r}")


def exact() -> Evidence:
    return holds_for_all(strategy(), _check)


SPEC = ClaimSpec(claim("C18"), exact=exact)
