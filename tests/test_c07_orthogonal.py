"""C7 (THEORY §6, §7 of the paper): if ``A`` is orthogonal (``AᵀA = I``, plus any offset)
and ``A♯p⃗`` is FC, isotropic noise commutes with ``A`` (``A♯N_t[p] = N_t[A♯p]``), so
``C[p⃗^t] = N_t[C[p⃗]]`` for every ``t`` and sampling with the combined scores is exact.

Evidence checked here:

- exact, distribution level: ``A♯N_t[p] = N_t[A♯p]`` for random Gaussian mixtures and
  Haar-orthogonal ``A`` (closed-form normalized L2 ≤ ``EXACT_TOL``), VP and VE;
- with an offset, ``A x = Q x + b``, ``b ≠ 0``: ``A♯N_t[p]`` is ``N_t[A♯p]`` shifted by
  ``(1 − a_t) b`` (VP and VE), the shift is needed under VP and vanishes under VE, and a
  shear breaks the law (negative controls);
- exact, distribution level, over random FC feature families (dimension up to 8, k up
  to 4, mixture blocks), Haar-orthogonal maps and random offsets, at the runner's time
  grid: ``C[p⃗^t]`` (formula on the pixel-space noised members) equals ``N_t[C[p⃗]]``
  pointwise, normalization included (``numerics.claims.exact.commutation_instance``);
- a negative control: a fixed *shear* with mixture blocks gives ``C[p⃗^t] ≠ N_t[C[p⃗]]``
  at some ``t > 0`` (while they agree at ``t = 0``), so the check can fail;
- symbolic (``theory.proofs.c7_orthogonal_noise_commutes``): rotation by symbolic θ
  commutes with noise (means, covariances) and the heteroscedastic Gaussian composition
  commutes — all ``proved``;
- sampled (``projcomp.claims.spec("C7").sampled``): on ``fc_family`` in the features of a
  fixed rotation and of a block-orthogonal ``D Q`` (C8), the probability-flow ODE on the
  composed scores passes the calibrated test against its oracle run (level 1e-3 split
  over the two families) and approaches exact draws as the step count grows.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import find, given, settings
from hypothesis import strategies as st
from small_laws import bimodal_1d, gaussian_1d

from numerics.checks.metrics import normalized_l2
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import BlockProduct
from numerics.laws.family import Family
from numerics.laws.processes import VE, VP
from numerics.sampling.times import time_grid
from numerics.tolerances import EXACT_TOL
from projcomp.claims import spec
from projcomp.claims.c07_orthogonal import require_shifts, strategy
from projcomp.evidence import TIMES, InstanceFailed
from theory import proofs
from theory.catalogue import claim

F64 = torch.float64
SEEDS = st.integers(0, 2**32 - 1)
PROCESSES = st.sampled_from([VP(), VE()])
OFFSETS = st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
                   min_size=8, max_size=8)
# Times at which the negative control is checked: the judge's 12-point grid.
CONTROL_TIMES = 12


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    return {r.label: r.status for r in proofs.c7_orthogonal_noise_commutes()}


def test_catalogue_predicts_holds() -> None:
    c = claim("C7")
    assert c.expected == "holds"
    assert set(c.active_methods) == {"symbolic", "exact", "sampled"} and not c.pending


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(pst.gaussian_mixtures(n),
                                                     pst.orthogonal_matrices(n))),
       PROCESSES, st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False))
def test_orthogonal_map_commutes_with_noise(pair, process, t) -> None:
    p, q = pair
    left = p.noised(t, process).pushforward(q)
    right = p.pushforward(q).noised(t, process)
    # closed-form normalized L2; EXACT_TOL (1e-9) is a thousandfold above the ≤ 1e-12
    # round-off of Gaussian inner products
    assert normalized_l2(left, right) <= EXACT_TOL


@given(pst.fc_families(max_dim=8, max_k=4).flatmap(
    lambda f: st.tuples(st.just(f), pst.orthogonal_matrices(f.dim))), OFFSETS, PROCESSES,
       SEEDS)
def test_composition_commutes_with_noise(pair, offset, process, seed) -> None:
    family, matrix = pair
    family = dataclasses.replace(family, process=process)
    pixel = pst.families_in_feature_space(family, matrix, offset[:family.dim])
    for t in time_grid(process, TIMES):
        p = ev.commutation_instance(pixel, t, _gen(seed))
        # Pointwise.equal: spread and offset of the log-ratio within POINTWISE_RTOL
        # (1e-9 relative to the largest |log-density|; round-off is ~1e-14)
        assert p.equal, f"t={t:.4g}: spread {p.spread:.3g}, offset {p.offset:.3g}"


def mixture_feature_family() -> Family:
    """Features with ``N(0, 1)`` background blocks and a bimodal own block per conditional
    (modes of width 0.22 at distance 2): FC with ``M_1 = {0}``, ``M_2 = {1}``."""
    b0, b1 = gaussian_1d(0.0, 1.0), gaussian_1d(0.0, 1.0)
    return Family(BlockProduct([([0], b0), ([1], b1)]),
                  (BlockProduct([([0], bimodal_1d(0.0)), ([1], b1)]),
                   BlockProduct([([0], b0), ([1], bimodal_1d(0.5))])),
                  projections=((0,), (1,)))


SHEAR = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=F64)


def test_non_orthogonal_shear_is_caught() -> None:
    pixel = pst.families_in_feature_space(mixture_feature_family(), SHEAR)
    # at t = 0 both sides are C[p⃗] (C4): equal within POINTWISE_RTOL
    assert ev.commutation_instance(pixel, 0.0, _gen(0)).equal
    spreads = [ev.commutation_instance(pixel, t, _gen(0)).spread
               for t in time_grid(pixel.process, CONTROL_TIMES)]
    # some t breaks the law by far more than round-off (POINTWISE_RTOL ≈ 1e-9 relative)
    assert max(spreads) > 1e-2, spreads
    assert any(not ev.commutation_instance(pixel, t, _gen(0)).same_law
               for t in time_grid(pixel.process, CONTROL_TIMES))


def test_orthogonal_control_of_the_shear_family_commutes() -> None:
    """The same feature family under a rotation: every ``t`` commutes."""
    c, s = 0.6, 0.8
    pixel = pst.families_in_feature_space(mixture_feature_family(),
                                          torch.tensor([[c, -s], [s, c]], dtype=F64))
    for t in time_grid(pixel.process, CONTROL_TIMES):
        assert ev.commutation_instance(pixel, t, _gen(0)).equal  # POINTWISE_RTOL


@pytest.mark.parametrize("label", ["C7.mean_commutes", "C7.cov_commutes",
                                   "C7.composition_commutes_pixel"])
def test_symbolic_proved(symbolic, label: str) -> None:
    assert symbolic[label] == "proved"


def test_sampled_runs_match_the_oracle_under_orthogonal_and_block_orthogonal_maps() -> None:
    evidence = spec("C7").sampled()
    assert evidence.outcome == "holds", evidence.details
    names = [s["name"] for s in evidence.sampling["sweeps"]]
    assert names == ["fc_orthogonal", "fc_block_orthogonal"]
    for sweep in evidence.sampling["sweeps"]:
        assert sweep["level"] == 5e-4  # 1e-3 split over two families
        assert sweep["indistinguishable"] and sweep["falls"]


MAPS_WITH_OFFSETS = st.integers(1, 4).flatmap(lambda n: st.tuples(
    pst.gaussian_mixtures(n), pst.orthogonal_matrices(n), pst.offsets(n)))
# VP time where a_t ≈ 0.63: the shift (1 − a_t) b is at least 0.037 per coordinate
MID_T = 0.3


@given(MAPS_WITH_OFFSETS, PROCESSES, st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False))
def test_offset_map_shifts_noise_by_one_minus_a_t(drawn, process, t) -> None:
    p, q, b = drawn
    # closed-form normalized L2 ≤ EXACT_TOL (1e-9; round-off ≤ 1e-12)
    assert ev.offset_shift_gap(p, q, b, t, process) <= EXACT_TOL


@given(MAPS_WITH_OFFSETS)
def test_offset_shift_is_needed_under_vp_and_absent_under_ve(drawn) -> None:
    p, q, b = drawn
    # VE: a_t = 1, no shift; VP: without the shift the laws differ far above round-off
    assert ev.offset_shift_gap(p, q, b, MID_T, VE(), shifted=False) <= EXACT_TOL
    assert ev.offset_shift_gap(p, q, b, MID_T, VP(), shifted=False) > 1e3 * EXACT_TOL


@pytest.mark.parametrize("process", [VP(), VE()])
def test_shear_with_offset_breaks_the_shift_law(process) -> None:
    feature = dataclasses.replace(mixture_feature_family(), process=process)
    pixel = pst.families_in_feature_space(feature, SHEAR, [0.5, -1.0])
    with pytest.raises(InstanceFailed, match="shifted"):
        require_shifts(pixel)


@pytest.mark.parametrize("process", [VP(), VE()])
def test_processes_draw_each_process(process) -> None:
    assert find(pst.processes(), lambda p: p == process) == process


@settings(max_examples=5)
@given(strategy())
def test_exact_evidence_draws_nonzero_offsets(pixel) -> None:
    assert pixel.feature_map.offset.abs().min() >= 0.1  # offsets(min_abs=0.1)
    assert isinstance(pixel.process, VP | VE)


def test_registered_exact_evidence_holds_with_offsets() -> None:
    evidence = spec("C7").exact()
    assert evidence.outcome == "holds" and evidence.instances == 20, evidence.details
