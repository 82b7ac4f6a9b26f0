"""C15 (ext, THEORY §7): measure the predictive power of the Lemma 8.1 heuristic
(orthogonal concept mean-differences predict a successful composition) — ROC/AUC and
precision at fixed recall on random families where the truth is computable.

The measurement is a later issue's, so every method of the claim is pending. Checked
here: that nothing reports it as verified — no method is active and ``projcomp verify``
gives the outcome ``pending``. (The lemma itself, C10, is tested in
``test_c10_mean_differences``.)
"""

from __future__ import annotations

from projcomp.verify import run_claim
from theory.catalogue import claim


def test_catalogue_lists_every_method_as_pending() -> None:
    c = claim("C15")
    assert c.methods and set(c.methods) <= set(c.pending)
    assert c.active_methods == ()


def test_verify_reports_pending() -> None:
    result, evidence = run_claim(claim("C15"))
    assert result.outcome == "pending"
    assert evidence.outcome == "pending"
    assert not result.as_predicted  # pending is never counted as verified
