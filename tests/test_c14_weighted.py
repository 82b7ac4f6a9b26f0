"""C14 (negative, ext, THEORY §4): under Factorized Conditionals, the weighted composition
``C_w ∝ p_b Π_i (p_i/p_b)^{w_i}`` with some ``w_i ≠ 1`` is not projective: it tilts block
``M_i`` to ``∝ p_i(x|M_i)^{w_i} p_b(x|M_i)^{1−w_i}`` instead of ``p_i``'s block law.

Evidence checked here:

- Hypothesis *finds* a counterexample in the runner's search space
  (``projcomp.claims.spec("C14").search``: FC families of dimension ≤ 2 with
  weights in ``[0.25, 3]``), *shrinks* it, and the shrunk instance is small (dimension
  ≤ 2, k ≤ 2, single-Gaussian members), is FC, has a weight ≠ 1 and a projective gap above
  ``GRID_TOL`` and ``MARGIN × EXACT_TOL``; its tilted block matches the closed-form
  Gaussian tilt (precision ``wΛ_i + (1−w)Λ_b``) exactly;
- written as a family spec, ``projcomp check --json`` reports ``fails-at-t0``;
- positive control with the hypothesis restored: the same family with every weight 1
  has projective gap 0 (≤ ``EXACT_TOL``) and is reported ``works``;
- symbolic (``theory.proofs.c14_weighted_tilt``): the tilt form, its block marginal and
  the Gaussian tilt (proved), the solution sets ``{w : block law = p_i's} = {1}``
  (precision and mean cases), and the exact refutation at ``w = 1/2``.
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from counterexample_tools import SEARCH, check_verdict, seeded
from hypothesis import find

from numerics.checks.fc import fc_violation
from numerics.checks.gaps import composed
from numerics.checks.metrics import normalized_l2
from numerics.claims import exact as ev
from numerics.laws import GaussianMixture
from numerics.laws.family import Family
from numerics.tolerances import EXACT_TOL, GRID_TOL
from projcomp.claims import MARGIN, spec
from theory import proofs
from theory.catalogue import claim


@pytest.fixture(scope="module")
def counterexample() -> Family:
    search = spec("C14").search
    return search.family(find(search.strategy(), search.breaks, settings=SEARCH))


@pytest.fixture(scope="module")
def symbolic():
    return {r.label: r for r in proofs.c14_weighted_tilt()}


def test_catalogue_predicts_fails() -> None:
    assert claim("C14").expected == "fails"


def test_counterexample_is_small(counterexample) -> None:
    assert counterexample.dim <= 2 and counterexample.k <= 2
    assert all(m.num_components == 1 for m in counterexample.members)


def test_counterexample_is_fc_with_a_weight_not_one(counterexample) -> None:
    violation = fc_violation(counterexample, [list(b) for b in counterexample.projections])
    # exact normalized L2 of Definition 5.2's conditions, within round-off (EXACT_TOL)
    assert max(violation.values()) <= EXACT_TOL, violation
    assert any(w != 1.0 for w in counterexample.weights)


def test_counterexample_is_not_projective_by_the_margin(counterexample) -> None:
    gap = ev.projective_gap(counterexample, seeded())
    # GRID_TOL (1e-4) is the loosest exact tolerance; MARGIN × EXACT_TOL (1e-7) makes
    # the failure reproducible by `projcomp check` with room to spare
    assert gap > GRID_TOL and gap > MARGIN * EXACT_TOL, f"projective gap {gap:.3g}"


def test_tilted_block_is_the_gaussian_tilt(counterexample) -> None:
    """Block ``M_i`` of ``C_w`` is ``N(Λ_w⁻¹η_w, Λ_w⁻¹)`` with ``Λ_w = wΛ_i + (1−w)Λ_b``,
    ``η_w = wΛ_iμ_i + (1−w)Λ_bμ_b`` (single-Gaussian blocks), computed independently of
    the library's composition routes."""
    result = composed(counterexample, None, False)
    bg = counterexample.background
    for p, w, block in zip(counterexample.conditionals, counterexample.weights,
                           counterexample.projections, strict=True):
        cols = list(block)
        own, base = p.marginal(cols).to_mixture(), bg.marginal(cols).to_mixture()
        lam_i, lam_b = torch.linalg.inv(own.covs[0]), torch.linalg.inv(base.covs[0])
        lam = w * lam_i + (1.0 - w) * lam_b
        eta = w * lam_i @ own.means[0] + (1.0 - w) * lam_b @ base.means[0]
        cov = torch.linalg.inv(lam)
        tilt = GaussianMixture.gaussian(cov @ eta, 0.5 * (cov + cov.T))
        # closed-form normalized L2, EXACT_TOL: round-off only
        assert normalized_l2(result.marginal(cols), tilt) <= EXACT_TOL


def test_cli_reports_fails_at_t0(counterexample, tmp_path_factory) -> None:
    assert check_verdict(counterexample, tmp_path_factory) == "fails-at-t0"


def test_control_unit_weights_are_projective(counterexample, tmp_path_factory) -> None:
    unit = ev.reweighted(counterexample, [1.0] * counterexample.k)
    gap = ev.projective_gap(unit, seeded())
    # closed-form normalized L2; EXACT_TOL (1e-9) is a thousandfold above round-off
    assert gap <= EXACT_TOL, f"projective gap {gap:.3g}"
    assert check_verdict(unit, tmp_path_factory) == "works"


SETTLED = {"C14.tilt_form": "proved", "C14.block_marginal": "proved",
           "C14.gaussian_tilt": "proved", "C14.precision_matches_iff_w1": "proved",
           "C14.mean_matches_iff_w1": "proved", "C14.not_projective_w_half": "refuted"}


@pytest.mark.parametrize("label", sorted(SETTLED))
def test_symbolic_status(symbolic, label: str) -> None:
    assert symbolic[label].status == SETTLED[label], symbolic[label].detail


@pytest.mark.parametrize("label", ["C14.precision_matches_iff_w1", "C14.mean_matches_iff_w1"])
def test_symbolic_solution_set_is_w_equals_1(symbolic, label: str) -> None:
    assert symbolic[label].solution == sp.FiniteSet(1)
