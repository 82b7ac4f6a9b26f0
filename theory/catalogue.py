"""The claim catalogue: one entry per claim C1–C20 of THEORY.md.

Each ``Claim`` says what is claimed, where the paper says it, under which hypotheses,
what THEORY.md predicts (``holds``, or ``fails``: a counterexample exists), and which
kinds of evidence the suite brings: ``symbolic`` (sympy, ``theory.proofs``), ``exact``
(closed forms or grids over random families, ``numerics``) and ``sampled`` (samplers).
Evidence that needs what is not built yet is listed in ``pending`` with the reason;
a claim whose only evidence is pending is reported as pending, never as verified.

The code behind each claim is declared once, in ``projcomp.claims`` (one module per claim,
listed in its ``REGISTRY`` in this catalogue's order; ``tests/test_registry.py`` checks
that the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Expected = Literal["holds", "fails"]
Method = Literal["symbolic", "exact", "sampled"]


@dataclass(frozen=True)
class Claim:
    """One claim of THEORY.md's index."""

    id: str
    statement: str
    paper: str
    hypotheses: tuple[str, ...]
    expected: Expected
    methods: tuple[Method, ...]
    pending: dict[Method, str] = field(default_factory=dict)

    @property
    def active_methods(self) -> tuple[Method, ...]:
        """The kinds of evidence that can run now."""
        return tuple(m for m in self.methods if m not in self.pending)


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "FC ⇒ C[p⃗] = p_b(x|M_b) Π p_i(x|M_i), a projective composition",
          "Thm 5.3", ("FC with partition M",), "holds", ("symbolic", "exact")),
    Claim("C2", "FC ⇒ C[p⃗^t] = N_t[C[p⃗]] for every t", "Thm 5.3",
          ("FC with partition M", "forward process x_t = a_t x + s_t ε"), "holds",
          ("symbolic", "exact")),
    Claim("C3", "FC ⇒ reverse diffusion with the combined scores samples C[p⃗]", "Thm 5.3",
          ("FC", "step count → ∞"), "holds", ("sampled",)),
    Claim("C4", "C[A♯p⃗] = A♯C[p⃗] for every diffeomorphism A", "Lemma 6.2",
          ("A a C¹-diffeomorphism",), "holds", ("symbolic", "exact")),
    Claim("C5", "the simple product is not equivariant under nonlinear A", "§6",
          ("A nonlinear",), "fails", ("symbolic", "exact")),
    Claim("C6", "FC in feature space ⇒ projective w.r.t. Π_i(x) = A(x)|M_i", "Thm 6.1",
          ("A♯p⃗ FC with partition M",), "holds", ("exact",)),
    Claim("C7", "orthogonal A ⇒ noise commutes and sampling is exact", "§7",
          ("A orthogonal", "A♯p⃗ FC"), "holds", ("symbolic", "exact", "sampled")),
    Claim("C8", "block-orthogonal linear A (A Aᵀ block-diagonal) suffices", "ext",
          ("A = D Q, D block-diagonal, Q orthogonal", "A♯p⃗ FC"), "holds",
          ("symbolic", "exact")),
    Claim("C9", "non-orthogonal A ⇒ noise commutation and sampling can fail", "Lemma 7.2",
          ("A linear, not block-orthogonal", "mixture or heteroscedastic blocks"), "fails",
          ("symbolic", "exact", "sampled")),
    Claim("C10", "orthogonal-FC ⇒ mean differences are orthogonal", "Lemma 8.1",
          ("A orthogonal", "A♯p⃗ FC"), "holds", ("symbolic", "exact")),
    Claim("C11", "Bayes composition (unconditional background) is not projective", "§3, Fig. 3",
          ("p_b = Σ_ℓ π_ℓ p_ℓ",), "fails", ("exact",)),
    Claim("C12", "without FC, C[p⃗] is in general not projective", "§5",
          ("FC dropped",), "fails", ("exact",)),
    Claim("C13", "path-following correctors cannot repair a C9 failure; t = 0 tempered SMC can",
          "ext", ("C9 family with separated modes",), "holds", ("sampled",)),
    Claim("C14", "weighted C_w with some w_i ≠ 1 is not projective", "ext",
          ("FC", "w_i ≠ 1"), "fails", ("symbolic", "exact")),
    # C15 is a measurement (ROC/AUC over random families of named classes); what THEORY
    # predicts of it, and what "holds" records: the heuristic's AUC for "projective at
    # t = 0" is above 0.5 (lower end of its 95 % interval), and the heuristic is blind to
    # C9 (projective families with every cosine 0 whose sampling fails).
    Claim("C15", "the Lemma 8.1 heuristic predicts projectivity better than chance and is "
          "blind to C9", "ext",
          ("random families of named classes with computable truth",), "holds", ("exact",)),
    Claim("C16", "projective gap grows continuously from 0 with the size of an FC violation",
          "ext", ("FC violated by a named kind of perturbation",), "holds", ("exact",)),
    # C17 is THEORY's negative claim "C is not continuous", recorded as the existence it
    # asserts: for each ε a constructed pair of families (exact TVs) witnesses it.
    Claim("C17", "C is not continuous: ε-close families whose compositions are ≥ 1 − ε apart",
          "Lemma 7.2", ("k ≥ 2", "background perturbed where it has little mass"), "holds",
          ("symbolic", "exact")),
    Claim("C18", "the simple product puts each of k objects at brightness 1/k; C at full "
          "brightness", "§3", ("one object at ℓ, empty elsewhere", "Gaussian pixel noise"),
          "holds", ("symbolic", "exact")),
    Claim("C19", "FC ⇔ block-diagonal background Hessian and local score differences, "
          "at every t", "Bradley 2025b", ("positive smooth densities", "partition M"),
          "holds", ("exact",)),
    Claim("C20", "the off-block Jacobian mass of score differences grows with an FC "
          "violation and shrinks with noise", "Bradley 2025b",
          ("FC violated by a named kind of perturbation", "scores only"), "holds",
          ("exact",)),
)


def claim(claim_id: str) -> Claim:
    """The catalogue entry for ``claim_id`` (e.g. ``"C9"``)."""
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise KeyError(f"unknown claim {claim_id!r} (expected one of C1..C{len(CLAIMS)})")
