"""Distributions with exact noisy scores: Gaussian mixtures, block products, pushforwards."""

from numerics.distributions.base import (
    DEFAULT_DTYPE,
    MAX_COMPONENTS,
    Distribution,
    ExpansionTooLarge,
)
from numerics.distributions.mixture import GaussianMixture
from numerics.distributions.product import BlockProduct, LinearPushforward, is_block_diagonal

__all__ = [
    "DEFAULT_DTYPE",
    "MAX_COMPONENTS",
    "BlockProduct",
    "Distribution",
    "ExpansionTooLarge",
    "GaussianMixture",
    "LinearPushforward",
    "is_block_diagonal",
]
