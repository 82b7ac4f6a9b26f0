"""The claim registry: every claim of THEORY.md declared once, in catalogue order.

Each module ``cNN_<name>.py`` declares one :class:`~projcomp.claims.base.ClaimSpec`
(``SPEC``): the catalogue entry (``theory.catalogue``), its exact and sampled evidence
runners, its counterexample search (negative claims) and its report figures; symbolic
evidence is every result of ``theory.proofs`` that names the claim. ``projcomp verify``
and ``projcomp counterexamples`` read :data:`REGISTRY` and nothing else.

Adding a claim: its entry in ``theory/catalogue.py``, one module here, and its ``SPEC``
in :data:`REGISTRY`; ``tests/test_registry.py`` checks the registry against the
catalogue (order, one runner per active method, a search for every negative claim).
"""

from __future__ import annotations

from projcomp.claims import (
    c01_product_form,
    c02_noise_commutes,
    c03_reverse_sampling,
    c04_equivariance,
    c05_simple_product,
    c06_feature_space,
    c07_orthogonal,
    c08_block_orthogonal,
    c09_non_orthogonal,
    c10_mean_differences,
    c11_bayes,
    c12_no_fc,
    c13_corrector_repair,
    c14_weighted,
    c15_heuristic_power,
    c16_robustness,
    c17_discontinuity,
    c18_product_brightness,
    c19_local_scores,
    c20_locality_statistic,
)
from projcomp.claims.base import MARGIN, ClaimSpec, ReportFigure, Search, Violation

REGISTRY: tuple[ClaimSpec, ...] = (
    c01_product_form.SPEC, c02_noise_commutes.SPEC, c03_reverse_sampling.SPEC,
    c04_equivariance.SPEC, c05_simple_product.SPEC, c06_feature_space.SPEC,
    c07_orthogonal.SPEC, c08_block_orthogonal.SPEC, c09_non_orthogonal.SPEC,
    c10_mean_differences.SPEC, c11_bayes.SPEC, c12_no_fc.SPEC, c13_corrector_repair.SPEC,
    c14_weighted.SPEC, c15_heuristic_power.SPEC, c16_robustness.SPEC,
    c17_discontinuity.SPEC, c18_product_brightness.SPEC,
    c19_local_scores.SPEC, c20_locality_statistic.SPEC,
)

__all__ = [
    "MARGIN",
    "REGISTRY",
    "ClaimSpec",
    "ReportFigure",
    "Search",
    "Violation",
    "searchable",
    "spec",
]


def spec(claim_id: str) -> ClaimSpec:
    """The registry entry of ``claim_id`` (e.g. ``"C9"``)."""
    for s in REGISTRY:
        if s.claim.id == claim_id:
            return s
    raise KeyError(f"no claim {claim_id!r} in the registry "
                   f"({', '.join(s.claim.id for s in REGISTRY)})")


def searchable() -> tuple[str, ...]:
    """The claims with a counterexample search (the negative claims), in order."""
    return tuple(s.claim.id for s in REGISTRY if s.search is not None)
