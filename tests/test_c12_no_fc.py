"""C12 (negative, THEORY §4 and §5 of the paper): without Factorized Conditionals,
``C[p⃗]`` is in general *not* a projective composition (``Π_i♯C[p⃗] ≠ Π_i♯p_i`` for
``Π_i = x|M_i``).

Evidence checked here:

- Hypothesis *finds* a counterexample in the runner's search space
  (``projcomp.claims.spec("C12").search``: families that break FC in one named way —
  cross-block dependence, off-block mismatch or background dependence — between two
  conditionals' blocks, dimension ≤ 2), *shrinks* it, and the shrunk instance is small
  (dimension ≤ 2, k = 2, single-Gaussian members), really violates Definition 5.2 for its
  partition, and has a projective gap above ``GRID_TOL`` and ``MARGIN × EXACT_TOL``;
- written as a family spec, ``projcomp check --json`` reports ``fails-at-t0``;
- positive control with the hypothesis restored: each kind of violation at size 0 is FC
  (violation ≤ ``EXACT_TOL``) and projective (gap ≤ ``EXACT_TOL``), for random families.
"""

from __future__ import annotations

import pytest
from counterexample_tools import SEARCH, check_verdict, seeded
from hypothesis import find, given
from hypothesis import strategies as st

from numerics.checks.fc import fc_violation
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL, GRID_TOL
from projcomp.claims import MARGIN, spec
from theory.catalogue import claim

# The kinds the runner's search draws from (overlapping blocks have no FC partition).
KINDS = [k for k in pst.VIOLATION_KINDS if k != "overlapping_blocks"]

@pytest.fixture(scope="module")
def counterexample() -> Family:
    search = spec("C12").search
    return search.family(find(search.strategy(), search.breaks, settings=SEARCH))


def test_catalogue_predicts_fails() -> None:
    assert claim("C12").expected == "fails"


def test_counterexample_is_small(counterexample) -> None:
    assert counterexample.dim <= 2
    assert counterexample.k == 2  # a break between two conditionals' blocks needs k ≥ 2
    assert all(m.num_components == 1 for m in counterexample.members)


def test_counterexample_violates_fc(counterexample) -> None:
    violation = fc_violation(counterexample, [list(b) for b in counterexample.projections])
    # exact normalized L2 of Definition 5.2's conditions; EXACT_TOL is the round-off bound
    assert max(violation.values()) > EXACT_TOL, violation


def test_counterexample_is_not_projective_by_the_margin(counterexample) -> None:
    gap = ev.projective_gap(counterexample, seeded())
    # GRID_TOL (1e-4) is the loosest exact tolerance; MARGIN × EXACT_TOL (1e-7) makes
    # the failure reproducible by `projcomp check` with room to spare
    assert gap > GRID_TOL and gap > MARGIN * EXACT_TOL, f"projective gap {gap:.3g}"


def test_cli_reports_fails_at_t0(counterexample, tmp_path_factory) -> None:
    assert check_verdict(counterexample, tmp_path_factory) == "fails-at-t0"


def _size_zero(kind: str):
    return pst.fc_violating_families(kind, size=0.0, max_dim=2).map(lambda pair: pair[0])


@given(st.sampled_from(KINDS).flatmap(_size_zero))
def test_control_size_zero_is_fc_and_projective(family: Family) -> None:
    violation = fc_violation(family, [list(b) for b in family.projections])
    # EXACT_TOL: round-off of closed-form inner products (flat mixtures at size 0)
    assert max(violation.values()) <= EXACT_TOL, violation
    gap = ev.projective_gap(family, seeded())
    assert gap <= EXACT_TOL, f"{family.name}: projective gap {gap:.3g}"
