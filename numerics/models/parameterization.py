"""Exact conversions between a denoiser's prediction and the noisy score (THEORY §0).

For ``x = a x_0 + s ε`` (``a = a_t``, ``s = s_t``, ``ε ~ N(0, I)``) Tweedie's formula
gives the noisy score through the posterior means of ``ε`` and ``x_0``:

    ∇log p_t(x) = −E[ε | x] / s = (a E[x_0 | x] − x) / s².

With ``r = sqrt(a² + s²)`` (``r = 1`` under VP and for every ``alphas_cumprod`` schedule)
the velocity is ``v = (a ε − s x_0) / r`` — Salimans & Ho (2022, "Progressive distillation
for fast sampling of diffusion models", §4) for ``r = 1``, and the same quantity for the
rescaled input ``x / r`` under any other process. Then ``ε = (s x / r + a v) / r`` and

    ∇log p_t(x) = −x / r² − a v / (r s).

A network trained by denoising score matching predicts these posterior means, so the
conversions below are exact identities of the model's outputs (float64 round-off when
evaluated in float64).

Degenerate ends. No formula here divides by ``a``: at ``a = 0`` (a terminal
zero-SNR timestep, ``alphas_cumprod[-1] = 0``, or ``v`` at ``s → 1``) every
parameterization gives ``−x / s²``, the score of ``N(0, s² I)``, which is exact there
(the data are forgotten). Each divides by ``s`` (``s² ≤ r s``), as the score itself does:
it diverges like ``1/s²`` as ``s → 0``. At ``s = 0`` (``t = 0``) the noisy score is the
data score, which no denoiser output determines (``x_0`` predicts ``x`` itself and ``ε``
is ``0/0``), so :func:`to_score` raises ``ValueError`` there instead of returning
``inf`` or NaN; samplers stop at ``t_min > 0`` and never ask. Between, every quantity is
formed in the dtype of ``x`` (float64 in the checks), where ``s²`` underflows only for
``s < 1e-154``. The inverse :func:`from_score` divides by ``a`` for ``x_0`` and ``v``
and raises ``ValueError`` at ``a = 0``, where ``E[x_0 | x] = E[x_0]`` is not a function
of the score.
"""

from __future__ import annotations

import math

from torch import Tensor

PARAMETERIZATIONS = ("eps", "x0", "v", "score")


def check_parameterization(name: str) -> str:
    """``name`` if it is one of :data:`PARAMETERIZATIONS`, else ``ValueError``."""
    if name not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {name!r} (expected one of "
                         f"{', '.join(PARAMETERIZATIONS)})")
    return name


def _coefficients(a: float, s: float) -> tuple[float, float]:
    if not (math.isfinite(a) and math.isfinite(s) and a >= 0.0 and s >= 0.0):
        raise ValueError(f"need finite a >= 0 and s >= 0, got a={a}, s={s}")
    if s == 0.0:
        raise ValueError("s_t = 0: the noisy score at t = 0 is the data score, which no "
                         "eps/x0/v prediction determines; evaluate at t > 0")
    return a, s


def to_score(prediction: Tensor, x: Tensor, a: float, s: float, parameterization: str) -> Tensor:
    """``∇log p_t(x)`` from a prediction of ``parameterization`` at ``x`` (both ``(..., n)``)
    at coefficients ``(a, s)`` of the process (module docstring). ``ValueError`` at ``s = 0``."""
    check_parameterization(parameterization)
    if parameterization == "score":
        return prediction
    a, s = _coefficients(a, s)
    if parameterization == "eps":
        return -prediction / s
    if parameterization == "x0":
        return (a * prediction - x) / (s * s)
    r2 = a * a + s * s
    return -x / r2 - (a / (math.sqrt(r2) * s)) * prediction


def from_score(score: Tensor, x: Tensor, a: float, s: float, parameterization: str) -> Tensor:
    """The exact ``parameterization`` prediction (``E[ε|x]``, ``E[x_0|x]``, ``E[v|x]``) from
    the noisy score at ``x``: the inverse of :func:`to_score`. ``ValueError`` at ``s = 0``,
    and at ``a = 0`` for ``x0`` and ``v``."""
    check_parameterization(parameterization)
    if parameterization == "score":
        return score
    a, s = _coefficients(a, s)
    eps = -s * score
    if parameterization == "eps":
        return eps
    if a == 0.0:
        raise ValueError(f"a_t = 0: E[x_0 | x] is E[x_0], not a function of the score; no "
                         f"{parameterization} prediction follows from it")
    x0 = (x + s * s * score) / a
    if parameterization == "x0":
        return x0
    r = math.sqrt(a * a + s * s)
    return (a * eps - s * x0) / r
