"""Writes the bundled example family specs (run: ``python examples/make_examples.py``).

Each example targets one verdict of ``projcomp check`` (README, "Examples"):

- ``fc.json``: Factorized Conditionals in coordinate blocks (THEORY C1–C3) → works;
- ``fc_flat.json``: the same family as flat mixtures plus projections → works;
- ``fc_orthogonal.json``: FC in the features of a rotation (C6, C7) → works;
- ``fc_block_orthogonal.json``: FC under ``A = D Q``, ``D`` block-diagonal (C8) → works;
- ``shear_mixture.json``: FC under a shear with bimodal blocks (C9) → fails-in-sampling;
- ``bayes.json``: unconditional single-object background (C11) → fails-at-t0;
- ``non_normalizable.json``: combined precision not positive definite → non-normalizable;
- ``fc_weighted.json``: the FC family under ``C_w`` with weights (2, 1) (C14) → fails-at-t0.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from numerics.distributions import BlockProduct, GaussianMixture
from numerics.family import Family, FeatureMap
from projcomp.spec import family_to_dict

HERE = Path(__file__).parent
F64 = torch.float64


def gaussian(mean, cov) -> GaussianMixture:
    return GaussianMixture.gaussian(torch.tensor(mean, dtype=F64), torch.tensor(cov, dtype=F64))


def bimodal_2d(center: float) -> GaussianMixture:
    """Two modes at ``±(center, center/2)`` with a little correlation."""
    cov = [[0.05, 0.01], [0.01, 0.04]]
    return GaussianMixture(torch.tensor([0.4, 0.6], dtype=F64),
                           torch.tensor([[center, center / 2], [-center, -center / 2]], dtype=F64),
                           torch.tensor([cov, cov], dtype=F64))


def fc_family() -> Family:
    """``M_1 = {0, 1}``, ``M_2 = {2, 3}``, ``M_b = {4}``: Gaussian background blocks, each
    conditional replaces its own block by a two-mode mixture."""
    bg = {(0, 1): gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 0.8]]),
          (2, 3): gaussian([0.5, -0.5], [[0.7, -0.2], [-0.2, 1.2]]),
          (4,): gaussian([0.0], [[1.0]])}
    own = {(0, 1): bimodal_2d(1.0), (2, 3): bimodal_2d(-1.5)}

    def member(replaced: tuple[int, ...] | None) -> BlockProduct:
        return BlockProduct([(list(c), own[c] if c == replaced else d) for c, d in bg.items()])

    return Family(member(None), (member((0, 1)), member((2, 3))),
                  projections=((0, 1), (2, 3)), name="fc")


def in_features(family: Family, matrix: torch.Tensor, name: str) -> Family:
    """Pixel-space family ``x = A⁻¹ z`` whose features ``z = A x`` are ``family``."""
    inverse = torch.linalg.inv(matrix)
    members = [p.pushforward(inverse) for p in family.members]
    fm = FeatureMap(matrix, torch.zeros(len(matrix), dtype=F64), family.projections)
    return Family(members[0], tuple(members[1:]), feature_map=fm, name=name)


def rotation(n: int, seed: int) -> torch.Tensor:
    """A fixed orthogonal matrix: QR of a seeded Gaussian matrix, signs fixed."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))


def shear_family() -> Family:
    """2-D: background ``N(0, I)``; conditional ``i`` makes feature ``z_i`` bimodal
    (modes at ±0.5, width 0.15, THEORY C13's family); pixels ``x = S⁻¹ z`` with a shear."""
    n01 = gaussian([0.0], [[1.0]])
    two = GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                          torch.tensor([[-0.5], [0.5]], dtype=F64),
                          torch.tensor([[[0.0225]], [[0.0225]]], dtype=F64))
    feat = Family(BlockProduct([([0], n01), ([1], n01)]),
                  (BlockProduct([([0], two), ([1], n01)]), BlockProduct([([0], n01), ([1], two)])),
                  projections=((0,), (1,)))
    return in_features(feat, torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=F64), "shear_mixture")


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


def main() -> None:
    fc = fc_family()
    flat = Family(fc.background.to_mixture(), tuple(p.to_mixture() for p in fc.conditionals),
                  projections=fc.projections, name="fc_flat")
    q = rotation(5, seed=7)
    scale = torch.block_diag(torch.tensor([[2.0, 0.5], [0.0, 1.0]], dtype=F64),
                             torch.tensor([[0.5, 0.0], [1.0, 1.5]], dtype=F64),
                             torch.tensor([[3.0]], dtype=F64))
    # the blocks of D act on the partition's blocks in feature order (0, 1), (2, 3), (4,)
    examples = {
        "fc": fc,
        "fc_flat": flat,
        "fc_orthogonal": in_features(fc, q, "fc_orthogonal"),
        "fc_block_orthogonal": in_features(fc, scale @ q, "fc_block_orthogonal"),
        "shear_mixture": shear_family(),
        "bayes": bayes_family(),
        "non_normalizable": non_normalizable_family(),
        "fc_weighted": replace(fc, weights=(2.0, 1.0), name="fc_weighted"),
    }
    for name, family in examples.items():
        doc = family_to_dict(family)
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(examples)} examples to {HERE}")


if __name__ == "__main__":
    main()
