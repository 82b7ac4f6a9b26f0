"""C3 (Theorem 5.3, THEORY §4): under Factorized Conditionals, a reverse-time sampler
(reverse SDE or probability-flow ODE) driven by ``∇log p_b^t + Σ_i (∇log p_i^t −
∇log p_b^t)`` samples ``C[p⃗]``, up to discretization error that vanishes as the step
count grows.

Its only evidence is sampled (it needs the samplers, a later issue), so the catalogue
lists it as pending. Checked here: that nothing reports it as verified — the sampled
method is not active and ``projcomp verify`` gives the outcome ``pending``. (The
distribution-level half of the argument, C2, is tested in ``test_c02_noise_commutes``.)
"""

from __future__ import annotations

from projcomp.verify import run_claim
from theory.catalogue import claim


def test_catalogue_lists_sampled_evidence_as_pending() -> None:
    c = claim("C3")
    assert c.expected == "holds"
    assert "sampled" in c.methods and "sampled" in c.pending
    assert "sampled" not in c.active_methods


def test_verify_reports_pending() -> None:
    result, evidence = run_claim(claim("C3"))
    assert result.outcome == "pending"
    assert evidence.outcome == "pending"
    assert not result.as_predicted  # pending is never counted as verified
