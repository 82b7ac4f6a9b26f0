"""C13 (ext, THEORY §6): two repairs for a C9 failure, and only one works —
path-following samplers (annealed MCMC correctors, SMC along ``q_t = C[p⃗^t]``) cannot
recover ``C[p⃗]`` when ``q_t`` puts the wrong mass on well-separated modes, while samplers
that need only the ``t = 0`` target (tempered SMC from a broad reference, parallel
tempering) can.

Its only evidence is sampled (it needs the samplers, a later issue), so the catalogue
lists it as pending. Checked here: that nothing reports it as verified — the sampled
method is not active and ``projcomp verify`` gives the outcome ``pending``.
"""

from __future__ import annotations

from projcomp.verify import run_claim
from theory.catalogue import claim


def test_catalogue_lists_sampled_evidence_as_pending() -> None:
    c = claim("C13")
    assert c.expected == "holds"
    assert "sampled" in c.methods and "sampled" in c.pending
    assert "sampled" not in c.active_methods


def test_verify_reports_pending() -> None:
    result, evidence = run_claim(claim("C13"))
    assert result.outcome == "pending"
    assert evidence.outcome == "pending"
    assert not result.as_predicted  # pending is never counted as verified
