"""C19 (ext, THEORY §8): FC ⇔ a block-diagonal background Hessian and local score
differences ``d_j = ∇log p_j^t − ∇log p_b^t``, at every ``t``.

Checked with autograd Jacobians of the exact noisy scores (``numerics.checks.locality``):
the Jacobian helper against a closed form; FC families (coordinate blocks, and FC in the
features of an orthogonal map with an offset, scores pulled back) are local within
``LOCALITY_TOL`` at times spread over the checks' grid; every kind of FC violation is
non-local by ``MARGIN`` times the tolerance, more so for larger sizes. Families here are
drawn with other bounds than ``projcomp verify``'s (other dimensions and draws).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.checks.locality import LOCALITY_TOL, in_features, jacobians
from numerics.claims import exact as ev
from numerics.claims import strategies as pst
from numerics.laws import GaussianMixture
from numerics.sampling.times import time_grid
from projcomp.claims import MARGIN
from projcomp.claims.c19_local_scores import violating


def _times(family) -> list[float]:
    return time_grid(family.process, 12)[::3]


def test_jacobian_of_a_gaussian_score_is_minus_the_precision() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    cov = a @ a.T + torch.eye(4, dtype=torch.float64)
    law = GaussianMixture.gaussian(torch.zeros(4, dtype=torch.float64), cov)
    x = law.sample(5, gen)
    jac = jacobians(law.score, x)
    assert jac.shape == (5, 4, 4)
    assert torch.allclose(jac, -torch.linalg.inv(cov).expand(5, 4, 4), atol=1e-12)


@settings(max_examples=6)
@given(pst.fc_families(min_dim=3, max_dim=7, max_k=3), st.integers(1, 2**31))
def test_fc_families_have_local_scores_at_every_time(family, seed) -> None:
    blocks = [list(b) for b in family.projections]
    gen = torch.Generator().manual_seed(seed)
    assert ev.c19_instance(family, blocks, gen, _times(family)) <= LOCALITY_TOL


@settings(max_examples=5)
@given(pst.fc_families(min_dim=2, max_dim=6, max_k=3).flatmap(lambda f: st.tuples(
    st.just(f), pst.orthogonal_matrices(f.dim),
    st.lists(st.floats(-3.0, 3.0), min_size=f.dim, max_size=f.dim))))
def test_fc_in_orthogonal_features_is_local_in_feature_space(args) -> None:
    family, matrix, offset = args
    pixel = pst.families_in_feature_space(family, matrix, offset)
    blocks = [list(b) for b in family.projections]
    worst = ev.c19_instance(pixel, blocks, torch.Generator().manual_seed(7), _times(pixel))
    assert worst <= LOCALITY_TOL


def test_pulled_back_score_is_the_feature_law_score() -> None:
    gen = torch.Generator().manual_seed(11)
    law = GaussianMixture(torch.tensor([0.3, 0.7], dtype=torch.float64),
                          torch.randn(2, 3, generator=gen, dtype=torch.float64),
                          torch.eye(3, dtype=torch.float64).expand(2, 3, 3) * 0.5)
    q = pst.haar_orthogonal(3, gen)
    c = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    z = law.pushforward(q, c).sample(7, gen)
    assert torch.allclose(in_features(law.score, q, c)(z), law.pushforward(q, c).score(z),
                          atol=1e-12)


@pytest.mark.parametrize("kind", list(pst.VIOLATION_KINDS))
def test_violations_are_non_local_and_more_so_when_larger(kind: str) -> None:
    # max_dim 6: other families than verify's (max_dim 4)
    means = []
    for size in (0.2, 0.8):
        values = [ev.c19_instance(f, [list(b) for b in f.projections],
                                  torch.Generator().manual_seed(5), _times(f)[:1])
                  for f in violating(kind, size, 3, max_dim=6)]
        assert min(values) > MARGIN * LOCALITY_TOL
        means.append(sum(values) / len(values))
    assert means[0] < means[1]
