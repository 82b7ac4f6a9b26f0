"""C11 (negative, THEORY §1 and §8, paper §3 and Fig. 3): Bayes composition — ``C`` with
the *unconditional* distribution ``p_b = Σ_ℓ π_ℓ p_ℓ`` as background — is not a
projective composition in general (it loses objects in the length-generalization
experiment), although the same conditionals over an FC background compose projectively.

Evidence checked here:

- Hypothesis *finds* a counterexample in the runner's search space (FC families,
  k ≥ 2, dimension ≤ 2, recomposed over ``p_b = (1/k) Σ_ℓ p_ℓ`` by
  ``numerics.claims.exact.bayes_family``; predicate ``spec("C11").search.breaks``), *shrinks* it,
  and the shrunk instance is small (dimension ≤ 2, k = 2, single-Gaussian conditionals)
  with a projective gap above ``GRID_TOL`` and ``MARGIN × EXACT_TOL``;
- written as a family spec, ``projcomp check --json`` reports ``fails-at-t0``;
- positive control with the hypothesis restored: the same conditionals over their FC
  background (the family before ``bayes_family``) have projective gap 0 (≤ ``EXACT_TOL``)
  and are reported ``works``.
"""

from __future__ import annotations

import pytest
from counterexample_tools import SEARCH, check_verdict, seeded
from hypothesis import find

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL, GRID_TOL
from projcomp.claims import MARGIN, spec
from theory.catalogue import claim


@pytest.fixture(scope="module")
def fc_family() -> Family:
    """The FC family whose Bayes recomposition breaks C11. The search's strategy is
    ``fc_families(min_k=2, max_dim=2).map(bayes_family)``; searching the unmapped
    strategy with the mapped predicate draws and shrinks the same choices, and keeps the
    FC background for the control."""
    breaks = spec("C11").search.breaks
    return find(pst.fc_families(min_k=2, max_dim=2), lambda f: breaks(ev.bayes_family(f)),
                settings=SEARCH)


@pytest.fixture(scope="module")
def bayes(fc_family) -> Family:
    return ev.bayes_family(fc_family)


def test_catalogue_predicts_fails() -> None:
    assert claim("C11").expected == "fails"


def test_counterexample_is_small(bayes) -> None:
    assert bayes.dim <= 2
    assert bayes.k == 2  # the strategy's minimum: Bayes with k = 1 is p_1 itself
    assert all(p.num_components == 1 for p in bayes.conditionals)


def test_counterexample_is_not_projective_by_the_margin(bayes) -> None:
    gap = ev.projective_gap(bayes, seeded())
    # GRID_TOL (1e-4) is the loosest exact tolerance; MARGIN × EXACT_TOL (1e-7) makes
    # the failure reproducible by `projcomp check` with room to spare
    assert gap > GRID_TOL and gap > MARGIN * EXACT_TOL, f"projective gap {gap:.3g}"


def test_cli_reports_fails_at_t0(bayes, tmp_path_factory) -> None:
    assert check_verdict(bayes, tmp_path_factory) == "fails-at-t0"


def test_control_fc_background_is_projective(fc_family, tmp_path_factory) -> None:
    gap = ev.projective_gap(fc_family, seeded())
    # closed-form normalized L2; EXACT_TOL (1e-9) is a thousandfold above round-off
    assert gap <= EXACT_TOL, f"projective gap {gap:.3g}"
    assert check_verdict(fc_family, tmp_path_factory) == "works"
