"""Laws: every distribution, the forward processes, families and maps (DESIGN.md, core objects).

The bottom layer of ``numerics``: it imports nothing of the other folders. Distributions
with exact noisy scores (``base.Distribution``: ``mixture``, ``product``, ``pushforward``,
``grid``, ``scenes``; laws known up to a constant in ``unnormalized``), forward processes
(``processes``), families ``(p_b, p_1, ..., p_k)`` (``family``) and diffeomorphisms
(``diffeomorphisms``). A new distribution goes here, as a subclass of ``Distribution``.
"""

from numerics.laws.base import (
    DEFAULT_DTYPE,
    MAX_COMPONENTS,
    Distribution,
    ExpansionTooLarge,
)
from numerics.laws.mixture import GaussianMixture
from numerics.laws.product import BlockProduct, LinearPushforward, is_block_diagonal

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
