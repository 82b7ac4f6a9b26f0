"""C17 (Lemma 7.2): ``C`` is not continuous — ε-close families whose compositions are
``≥ 1 − ε`` apart, by construction with exact TVs.

Checked here: the closed-form TV of centered isotropic Gaussians against an independent
1-D quadrature and its limits; the construction at every ε of the decreasing sequence for
random ``k`` and ``n`` (member TV ``≤ ε``, composition TV ``≥ 1 − ε``); the compositions
from ``compose`` against their closed form ``N(0, (1 + δ)/(k δ) I)``; the symbolic proofs;
the registered evidence and that a continuous-looking pair (both backgrounds far from
critical) is not mistaken for a witness.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.composition.compose import compose
from projcomp.claims import spec
from projcomp.claims.c17_discontinuity import EPS, MAX_DIM, MAX_K, sequence
from theory import proofs
from theory.catalogue import claim

# 1-D trapezoid quadrature of ½∫|p − q| on 2e5 points over ±40 sd of the wider law: the
# integrands are smooth except at two kinks, error ≪ 1e-6.
QUADRATURE_TOL = 1e-6
# Round-off of the closed form: differences of two incomplete-gamma values (~1e-15) and the
# crossing radius from (b − a)/a.
TV_ROUNDOFF = 1e-12


def _quadrature_tv(a: float, b: float) -> float:
    x = torch.linspace(-40 * math.sqrt(max(a, b)), 40 * math.sqrt(max(a, b)), 200_001,
                       dtype=torch.float64)
    p = torch.exp(-x * x / (2 * a)) / math.sqrt(2 * math.pi * a)
    q = torch.exp(-x * x / (2 * b)) / math.sqrt(2 * math.pi * b)
    return 0.5 * float(torch.trapezoid((p - q).abs(), x))


@given(st.floats(0.05, 20.0), st.floats(1.01, 50.0))
def test_isotropic_tv_matches_quadrature_in_one_dimension(a, ratio) -> None:
    assert abs(ev.isotropic_tv(a, a * ratio, 1) - _quadrature_tv(a, a * ratio)) <= QUADRATURE_TOL


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_isotropic_tv_limits_and_symmetry(n) -> None:
    assert ev.isotropic_tv(0.7, 0.7, n) == 0.0
    assert ev.isotropic_tv(1.0, 3.0, n) == ev.isotropic_tv(3.0, 1.0, n)
    assert ev.isotropic_tv(1.0, 1e12, n) > 1.0 - 1e-4
    # TV of products grows with n (marginalization never increases TV)
    assert ev.isotropic_tv(1.0, 1.5, n + 1) > ev.isotropic_tv(1.0, 1.5, n)


@given(st.integers(2, MAX_K), st.integers(1, MAX_DIM))
def test_construction_at_every_eps(k, n) -> None:
    for d in sequence(k, n):
        assert d.member_tv <= d.eps and d.composition_tv >= 1.0 - d.eps, d


@given(st.integers(2, MAX_K), st.integers(1, MAX_DIM), st.sampled_from(EPS))
def test_compose_gives_the_closed_form_variance(k, n, eps) -> None:
    for delta in ev.c17_deltas(eps, n):
        law = compose(ev.critical_family(k, n, delta))
        exact = (1.0 + delta) / (k * delta)
        # compose forms the precision k δ/(1 + δ) by cancellation: relative error ≲ 2^-52/δ,
        # δ ≥ 2e-12/√8 here, so 1e-3 bounds it with a margin of about 10
        assert ev.isotropic_variance(law) == pytest.approx(exact, rel=1e-3)


def test_tv_of_far_from_critical_backgrounds_is_small() -> None:
    """The same TVs on a pair far from the critical variance: compositions stay close, so
    the witness comes from the construction, not from the measure."""
    p, q = ev.critical_family(2, 1, 1.0), ev.critical_family(2, 1, 1.01)
    members = ev.isotropic_tv(ev.isotropic_variance(p.background),
                              ev.isotropic_variance(q.background), 1)
    apart = ev.isotropic_tv(ev.isotropic_variance(compose(p)), ev.isotropic_variance(compose(q)),
                            1)
    assert members < 0.01 and apart < 0.01 and not ev.Discontinuity(0.01, members, apart).holds


def test_sequence_decreases_and_tightens() -> None:
    assert list(EPS) == sorted(EPS, reverse=True) and len(EPS) >= 4
    curve = sequence(2, 1)
    assert [d.composition_tv for d in curve] == sorted(d.composition_tv for d in curve)


def test_symbolic_proofs() -> None:
    results = proofs.c17_critical_precision()
    assert {r.status for r in results} == {"proved"} and len(results) == 3


def test_registered_evidence_holds() -> None:
    c = claim("C17")
    assert c.expected == "holds" and set(c.active_methods) == {"symbolic", "exact"}
    evidence = spec("C17").exact()
    assert evidence.outcome == "holds" and evidence.instances == 20, evidence.details
    assert [d.eps for d in evidence.curve] == list(EPS)
