"""Writes the bundled example family specs (run: ``python examples/make_examples.py``).

Each example targets one verdict of ``projcomp check`` (README, "Examples"):

- ``fc.json``: Factorized Conditionals in coordinate blocks (THEORY C1–C3) → works;
- ``fc_flat.json``: the same family as flat mixtures plus projections → works;
- ``fc_orthogonal.json``: FC in the features of a rotation (C6, C7) → works;
- ``fc_block_orthogonal.json``: FC under ``A = D Q``, ``D`` block-diagonal (C8) → works;
- ``shear_mixture.json``: FC under a shear with bimodal blocks (C9) → fails-in-sampling;
- ``bayes.json``: unconditional single-object background (C11) → fails-at-t0;
- ``non_normalizable.json``: combined precision not positive definite → non-normalizable;
- ``fc_weighted.json``: the FC family under ``C_w`` with weights (2, 1) (C14) → fails-at-t0;
- ``overlap_product.json``: two 2-D Gaussian mixtures whose modes partly overlap, meant for
  ``--operator simple_product`` (Du et al. 2023): not projective (→ fails-at-t0 under ``C``
  and under the product), and reverse diffusion on the summed noisy scores misses the
  product law (README, "Your own composition operator"; benchmarks/bench_operators.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from numerics.claims.named_families import (
    fc_block_orthogonal,
    fc_family,
    fc_orthogonal,
    shear_family,
)
from numerics.laws import GaussianMixture
from numerics.laws.family import Family
from projcomp.spec import family_to_dict

HERE = Path(__file__).parent
F64 = torch.float64
# overlap_product.json: mode centres of p_1 and p_2, and the modes' standard deviations
# (the same for both): a narrow pair overlapping at (-1, 0.15) and a wide pair at (1, -0.3).
OVERLAP_MODES = ([[-1.0, 0.0], [1.0, 0.0]], [[-1.0, 0.3], [1.0, -0.6]])
OVERLAP_SDS = [0.25, 0.5]


def gaussian(mean, cov) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor(mean, dtype=F64), torch.tensor(cov, dtype=F64))


def bayes_family() -> Family:
    """Three locations; "object at ℓ" puts intensity 1 at coordinate ℓ; the background is
    the unconditional single-object distribution (uniform mixture over ℓ)."""
    sd2 = 0.1**2
    eye = torch.eye(3, dtype=F64)
    conditionals = tuple(gaussian(eye[i].tolist(), (sd2 * eye).tolist()) for i in range(3))
    bg = GaussianMixture(torch.full((3,), 1.0 / 3, dtype=F64), eye, sd2 * eye.expand(3, 3, 3))
    return Family(bg, conditionals, projections=((0,), (1,), (2,)), name="bayes")


def non_normalizable_family() -> Family:
    """``Λ_1 + Λ_2 − Λ_b = 0.5 + 0.5 − 1.5 < 0`` along the first axis."""
    bg = gaussian([0.0, 0.0], [[1 / 1.5, 0.0], [0.0, 1.0]])
    p = gaussian([0.0, 0.0], [[2.0, 0.0], [0.0, 0.5]])
    return Family(bg, (p, p), projections=((0,), (1,)), name="non_normalizable")


def overlap_product_family() -> Family:
    """``p_1``, ``p_2``: equal-weight mixtures of two isotropic Gaussians in 2-D (sd 0.25
    and 0.5) whose modes overlap in pairs; the product ``p_1 p_2`` keeps a mode where a
    mode of ``p_1`` meets one of ``p_2`` (weights 0.8 on the narrow pair, 0.2 on the wide
    one). Noise widens every mode, so the noisy product ``p_1^t p_2^t`` weighs the pairs
    differently from ``N_t[p_1 p_2]``: the summed noisy scores lead reverse diffusion to
    the wrong modes (benchmarks/results/operators.md). The background (a broad Gaussian)
    does not enter the simple product."""
    eye = torch.eye(2, dtype=F64)
    variances = torch.tensor(OVERLAP_SDS, dtype=F64) ** 2

    def mixture(means: list[list[float]]) -> GaussianMixture:
        k = len(means)
        return GaussianMixture(torch.full((k,), 1.0 / k, dtype=F64),
                               torch.tensor(means, dtype=F64), variances[:, None, None] * eye)

    p1 = mixture(OVERLAP_MODES[0])
    p2 = mixture(OVERLAP_MODES[1])
    return Family(gaussian([0.0, 0.0], (2.0 * eye).tolist()), (p1, p2), name="overlap_product")


def main() -> None:
    fc = fc_family()
    flat = Family(fc.background.to_mixture(), tuple(p.to_mixture() for p in fc.conditionals),
                  projections=fc.projections, name="fc_flat")
    examples = {
        "fc": fc,
        "fc_flat": flat,
        "fc_orthogonal": fc_orthogonal(),
        "fc_block_orthogonal": fc_block_orthogonal(),
        "shear_mixture": shear_family(),
        "bayes": bayes_family(),
        "non_normalizable": non_normalizable_family(),
        "fc_weighted": replace(fc, weights=(2.0, 1.0), name="fc_weighted"),
        "overlap_product": overlap_product_family(),
    }
    for name, family in examples.items():
        doc = family_to_dict(family)
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(examples)} examples to {HERE}")


if __name__ == "__main__":
    main()
