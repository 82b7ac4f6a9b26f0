"""C13 (ext, THEORY §6): two repairs for a C9 failure, and only one works —
path-following samplers (annealed MALA/HMC correctors, SMC along ``q_t = C[p⃗^t]``) cannot
recover ``C[p⃗]`` when ``q_t`` puts the wrong mass on well-separated modes, while tempered
SMC at ``t = 0`` from a broad Gaussian reference can.

Evidence checked here, on ``numerics.claims.named_families.shear_family`` (its ``q_t`` leaves two
of the four modes with mass below 1e-4 while they are separated), 2000 samples each:

- the exact path itself: the needed modes' mass under ``q_t`` (an exact mixture) at
  ``s_t ≈ 0.1`` is below 1e-5, so a path-following sampler with N = 2000 particles keeps
  none there in expectation (N · mass ≪ 1);
- each path-following repair's composed run is rejected against exact draws by the
  calibrated test (level 1e-3), some mode's mass is off by more than 0.1 (the correctors
  leave about (0, ½, ½, 0); path SMC is erratic, as THEORY says), and it closes at most
  half of the plain reverse SDE's gap;
- tempered SMC's composed run passes the same test, puts 0.25 ± 0.05 on every mode and
  closes at least 80 % of the gap; its cost in score and density evaluations is reported
  beside the path samplers' and stays within ``COST_RATIO`` of the cheapest of them (its
  move phases sweep until the particles decorrelate, issue 11: measured 674 000 score
  evaluations against 600 000 for 100 predictor–corrector steps at N = 2000);
- ``projcomp verify`` reports C13 as ``holds``.
"""

from __future__ import annotations

import pytest
import torch

from numerics.claims.named_families import mode_masses, shear_family
from numerics.claims.sampled import PATH_REPAIRS, REPAIR, setup
from projcomp.verify import run_claim
from theory.catalogue import claim


@pytest.fixture(scope="module")
def verified():
    return run_claim(claim("C13"))


def test_catalogue_lists_sampled_evidence_as_active() -> None:
    c = claim("C13")
    assert c.expected == "holds" and c.active_methods == ("sampled",) and not c.pending


def test_the_noisy_path_empties_the_needed_modes() -> None:
    s = setup(shear_family())
    t = 0.03  # VP defaults: s_t ≈ 0.1
    a, s_t = s.family.process.coefficients(t)
    q = s.compose_at(s.family.noised(t))
    centers = q.means / a  # one component per mode, well separated at this noise
    masses = torch.zeros(4, dtype=torch.float64).index_add_(
        0, _quadrant(s.family, centers), q.weights)
    assert 0.05 < s_t < 0.2
    assert float(masses[0] + masses[3]) < 1e-5
    assert torch.allclose(mode_masses(s.family, s.result.sample(4000, torch.Generator()
                                                                .manual_seed(0))),
                          torch.full((4,), 0.25, dtype=torch.float64), atol=0.04)


def _quadrant(family, x: torch.Tensor) -> torch.Tensor:
    z = x @ family.feature_map.matrix.T
    return 2 * (z[:, 0] > 0).long() + (z[:, 1] > 0).long()


def test_path_following_repairs_fail(verified) -> None:
    _, evidence = verified
    runs = evidence.sampling["runs"]
    for name in PATH_REPAIRS:
        run = runs[name]
        assert not run["composed_reaches_target"], name
        assert run["oracle_reaches_target"], name  # the sampler works on the right path
        # some mode is off by far more than sampling noise (target 0.25 each; binomial sd
        # 0.01 at N = 2000): the PC correctors leave (0, ½, ½, 0), path SMC is erratic
        # (THEORY: anywhere between 0 and 0.51 per mode)
        assert max(abs(m - 0.25) for m in run["composed_masses"]) > 0.1, name
        assert run["gap_closed"] < 0.5, name


# The tempered SMC's cost may exceed the path-following repairs' (it sweeps until its
# particles decorrelate, they run a fixed 100 steps) but stays of their order.
COST_RATIO = 2.0


def test_tempered_smc_repairs_at_a_cost_of_the_path_samplers_order(verified) -> None:
    result, evidence = verified
    runs = evidence.sampling["runs"]
    smc = runs[REPAIR]
    assert smc["composed_reaches_target"]
    # 0.25 per mode: binomial sd at N = 2000 is 0.01, resampling inflates it a few times
    assert all(abs(m - 0.25) < 0.05 for m in smc["composed_masses"])
    assert smc["gap_closed"] > 0.8
    cheapest = min(runs[name]["cost"]["score_evals"] for name in PATH_REPAIRS)
    assert 0 < smc["cost"]["score_evals"] < COST_RATIO * cheapest
    assert smc["cost"]["density_evals"] == smc["cost"]["score_evals"]
    assert result.outcome == "holds" and result.as_predicted
