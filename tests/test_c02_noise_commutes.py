"""C2 (Theorem 5.3, THEORY §4): under Factorized Conditionals the forward process
preserves FC, so for every ``t``

    C[p⃗^t] = N_t[C[p⃗]]

— the linear combination of the *noisy* scores is exactly the score of the noised
composition.

Evidence checked here:

- exact, distribution level, over random FC families (dimension 1–8, k 1–4, mixture
  blocks), both forward processes of THEORY §0 (VP and VE) and times drawn in
  ``[0, T]`` as well as the runner's geometric time grid: the defining formula on the
  noised members equals ``N_t`` of C1's normalized product form at probe points, offset
  included (``numerics.claims.exact.c2_instance``, ``Pointwise.equal``);
- a negative control: for a family that is FC in rotated coordinates but not in pixel
  coordinates, the same check fails (the C2 identity is not vacuous);
- symbolic (``theory.proofs``): the Gaussian integral and noising lemmas, the Gaussian
  composition lemma, and ``log C[p⃗^t] = log N_t[C[p⃗]]`` for 1-D Gaussian FC blocks
  (k = 2, 3, all ``a, s > 0``), all ``proved``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from numerics.laws.processes import VE, VP
from numerics.sampling.times import time_grid
from theory import proofs
from theory.catalogue import claim

SEEDS = st.integers(0, 2**32 - 1)
PROCESSES = st.sampled_from([VP(), VE()])
# Times of the runner's grid (geometric, dense at small noise where C9-type errors live).
GRID_POINTS = 4


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def symbolic() -> dict[str, str]:
    results = [proofs.gaussian_composition_lemma(), *proofs.c2_noise_commutes_gaussian_fc()]
    return {r.label: r.status for r in results}


def test_catalogue_predicts_holds() -> None:
    assert claim("C2").expected == "holds"
    assert set(claim("C2").active_methods) == {"symbolic", "exact"}


@given(pst.fc_families(min_dim=1, max_dim=8, max_k=4), PROCESSES,
       st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False), SEEDS)
def test_noised_composition_equals_composition_of_noised(family, process, t, seed) -> None:
    family = dataclasses.replace(family, process=process)
    p = ev.c2_instance(family, t, _gen(seed))
    # Pointwise.equal: spread and offset within POINTWISE_RTOL = 1e-9 relative to the
    # largest |log-density| (float64 round-off is ~1e-15 relative): same law and Z = 1.
    assert p.equal, (f"{type(process).__name__} t={t:.4g}: spread {p.spread:.3g}, "
                     f"offset {p.offset:.3g} (scale {p.scale:.3g})")


@given(pst.fc_families(min_dim=1, max_dim=8, max_k=4), PROCESSES, SEEDS)
def test_on_the_time_grid(family, process, seed) -> None:
    family = dataclasses.replace(family, process=process)
    for t in time_grid(process, GRID_POINTS):
        p = ev.c2_instance(family, t, _gen(seed))
        # same tolerance and reason as above
        assert p.equal, f"t={t:.4g}: spread {p.spread:.3g}, offset {p.offset:.3g}"


def test_non_fc_family_fails_the_identity() -> None:
    """Negative control: an FC family rotated by 45° is not FC in pixel coordinates, and
    its mixture blocks make ``C[p⃗^t]`` differ from ``N_t`` of the pixel product form."""
    f64 = torch.float64
    bg = GaussianMixture.gaussian(torch.zeros(1, dtype=f64), torch.eye(1, dtype=f64))
    bimodal = GaussianMixture(torch.tensor([0.5, 0.5], dtype=f64),
                              torch.tensor([[-1.0], [1.0]], dtype=f64),
                              torch.full((2, 1, 1), 0.1, dtype=f64))
    feature = Family(BlockProduct([([0], bg), ([1], bg)]),
                     (BlockProduct([([0], bimodal), ([1], bg)]),
                      BlockProduct([([0], bg), ([1], bimodal)])),
                     projections=((0,), (1,)))
    c, s = 2**-0.5, 2**-0.5
    rotation = torch.tensor([[c, -s], [s, c]], dtype=f64)
    pixel = feature.with_members([m.pushforward(rotation) for m in feature.members])
    p = ev.c2_instance(pixel, 0.3, _gen(0))
    # O(1) spread of the log-ratio: far above the 1e-9 round-off tolerance
    assert not p.same_law and p.spread > 1e-2, f"spread {p.spread:.3g}"


@pytest.mark.parametrize("label", ["lemma.gaussian_integral", "lemma.gaussian_noising",
                                   "lemma.gaussian_composition", "C2.noise_commutes.k2",
                                   "C2.noise_commutes.k3"])
def test_symbolic_proved(symbolic, label: str) -> None:
    assert symbolic[label] == "proved"
