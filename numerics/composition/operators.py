"""User-supplied composition operators: the shipped ones and how to load one (THEORY §1–§2).

An *operator* (``numerics.laws.unnormalized.Operator``) is a callable

    operator(log_densities: (m, N), scores: (m, N, n)) -> (log_density: (N,), score: (N, n))

that receives the log-densities and scores of ``p⃗ = (p_b, p_1, ..., p_k)`` (row 0 is the
background, ``m = k + 1``) at ``N`` points of ``R^n`` and returns the composed log-density,
up to an additive constant, and its score at those points. It is pointwise and does not
see the noise level: applied to the noised family ``p⃗^t`` it gives the operator's noisy
composition, the law whose score a reverse-time sampler would follow
(``numerics.laws.unnormalized.OperatorComposition``). ``OPERATORS`` and
``load_operator`` choose operators by name or by ``module:function``;
``numerics.composition.properties`` measures which of the theory's properties one keeps.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import reduce

import torch

from numerics.laws.unnormalized import Operator

# Guidance weight of ``cfg_weighted``: classifier-free guidance scale 2 on each conditional.
CFG_WEIGHT = 2.0


# shipped operators ------------------------------------------------------------------
def exponent_combination(exponents: Sequence[float], log_densities: torch.Tensor,
                          scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Σ_m e_m log p_m`` and ``Σ_m e_m ∇ log p_m`` over the rows ``m``."""
    e = torch.as_tensor(exponents, dtype=log_densities.dtype, device=log_densities.device)
    return e @ log_densities, torch.einsum("m,mnd->nd", e, scores)


def linear_combination(log_densities: torch.Tensor, scores: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The operator ``C`` (THEORY §2, Definition 5.1):
    ``log p_b + Σ_i (log p_i − log p_b)``, score ``∇ log p_b + Σ_i (∇ log p_i − ∇ log p_b)``.
    Keeps C1, C2 (Theorem 5.3) and C4 (Lemma 6.2)."""
    return (log_densities[0] + (log_densities[1:] - log_densities[0]).sum(0),
            scores[0] + (scores[1:] - scores[0]).sum(0))


def cfg_weighted(log_densities: torch.Tensor, scores: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``C_w`` with ``w_i = 2`` for every conditional, as classifier-free guidance uses
    (THEORY §2): ``(1 − 2k) log p_b + Σ_i 2 log p_i``, score likewise. The exponents sum
    to 1, so the Jacobian of a reparameterization cancels (C4 holds); under FC block
    ``M_i`` is tilted to ``∝ p_i² / p_b`` and the composition is not projective (C14)."""
    k = log_densities.shape[0] - 1
    return exponent_combination([1.0 - CFG_WEIGHT * k] + [CFG_WEIGHT] * k,
                                 log_densities, scores)


def simple_product_operator(log_densities: torch.Tensor, scores: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The simple product ``Π_i p_i`` (THEORY §1): ``Σ_i log p_i``, score ``Σ_i ∇ log p_i``
    (the background is ignored). Not equivariant under non-affine maps (C5): the Jacobian
    appears ``k`` times."""
    return log_densities[1:].sum(0), scores[1:].sum(0)


OPERATORS: dict[str, Operator] = {
    "linear_combination": linear_combination,
    "cfg_weighted": cfg_weighted,
    "simple_product": simple_product_operator,
}


def load_operator(spec: str) -> Operator:
    """The operator named ``spec``: a key of ``OPERATORS`` or ``module:function``
    (``function`` may be dotted, e.g. ``pkg.mod:Class.method``). Raises ``ValueError``
    with a one-line message naming ``spec`` when it cannot be loaded."""
    if spec in OPERATORS:
        return OPERATORS[spec]
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"operator {spec!r} is neither a registered name "
                         f"({', '.join(OPERATORS)}) nor of the form module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"operator {spec!r}: cannot import module {module_name!r} "
                         f"({type(err).__name__}: {err})".replace("\n", " ")) from err
    try:
        target = reduce(getattr, attribute.split("."), module)
    except AttributeError as err:
        raise ValueError(f"operator {spec!r}: module {module_name!r} has no attribute "
                         f"{attribute!r}") from err
    if not callable(target):
        raise ValueError(f"operator {spec!r}: {attribute!r} is a {type(target).__name__}, "
                         "not callable")
    return target


