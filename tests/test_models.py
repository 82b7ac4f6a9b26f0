"""The model plug-in layer (issue 12): exact conversions between eps/x0/v/score
predictions and the noisy score, under VP, VE and a discrete ``alphas_cumprod`` schedule,
and no NaN or infinity where a parameterization degenerates."""

from __future__ import annotations

import math

import pytest
import torch

from numerics.laws import GaussianMixture
from numerics.laws.processes import VE, VP
from numerics.models.family import ModelFamily, law_score
from numerics.models.parameterization import PARAMETERIZATIONS, from_score, to_score
from numerics.models.schedules import DiscreteSchedule
from numerics.models.score_model import ScoreModel

# Conversions are a few float64 operations on numbers of the size of the score (~1/s²)
# and of x: relative error ≤ ~10 ulp of the largest term; 1e-12 of the score's scale
# leaves a margin of ~50× and fails for any wrong coefficient (those err by O(1)).
ROUNDOFF = 1e-12


def random_mixture(dim: int, components: int, seed: int) -> GaussianMixture:
    g = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(components, dim, generator=g, dtype=torch.float64)
    factors = torch.randn(components, dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    covs = factors @ factors.transpose(1, 2) + 0.1 * torch.eye(dim, dtype=torch.float64)
    weights = torch.rand(components, generator=g, dtype=torch.float64) + 0.2
    return GaussianMixture(weights / weights.sum(), means, covs)


def posterior_mean(law: GaussianMixture, x: torch.Tensor, a: float, s: float) -> torch.Tensor:
    """``E[x_0 | x_t = x]`` for a Gaussian mixture, independently of any score:
    ``Σ_k r_k(x) (μ_k + a Σ_k (a² Σ_k + s² I)⁻¹ (x − a μ_k))``, ``r`` the component
    posteriors under the noisy mixture."""
    n = law.dim
    noisy_covs = a * a * law.covs + s * s * torch.eye(n, dtype=torch.float64)
    comps = torch.distributions.MultivariateNormal(a * law.means, noisy_covs)
    logr = torch.log(law.weights) + comps.log_prob(x[:, None, :])
    r = torch.softmax(logr, dim=1)                                          # (N, K)
    resid = x[:, None, :] - a * law.means                                   # (N, K, n)
    gain = a * law.covs @ torch.linalg.inv(noisy_covs)                      # (K, n, n)
    means = law.means + torch.einsum("kij,nkj->nki", gain, resid)
    return (r[..., None] * means).sum(1)


def exact_prediction(law: GaussianMixture, x: torch.Tensor, a: float, s: float,
                     kind: str) -> torch.Tensor:
    """The exact prediction of ``kind`` from Tweedie's posterior mean (never from the
    score), with ``v = (a ε − s x_0)/r`` (numerics.models.parameterization)."""
    if kind == "score":
        return law.convolved(a, s * s).score(x)
    x0 = posterior_mean(law, x, a, s)
    eps = (x - a * x0) / s
    r = math.hypot(a, s)
    return {"x0": x0, "eps": eps, "v": (a * eps - s * x0) / r}[kind]


PROCESSES = [VP(), VP(0.5, 10.0), VE(), VE(0.05, 20.0)]


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
@pytest.mark.parametrize("kind", PARAMETERIZATIONS)
@pytest.mark.parametrize(("dim", "components", "seed"), [(1, 2, 0), (3, 3, 1), (6, 4, 2)])
def test_score_model_recovers_the_exact_score(process, kind, dim, components, seed):
    law = random_mixture(dim, components, seed)
    g = torch.Generator().manual_seed(seed + 10)
    for t in (1e-3, 0.05, 0.3, 0.7, 1.0):
        a, s = process.coefficients(t)
        x = a * law.sample(64, g) + s * torch.randn(64, dim, generator=g, dtype=torch.float64)
        predictor = lambda y, tau, a=a, s=s: exact_prediction(law, y, a, s, kind)  # noqa: E731
        got = ScoreModel(predictor, kind, process)(x, t)
        want = law.convolved(a, s * s).score(x)
        scale = float(want.abs().max()) + float(x.abs().max()) / s**2
        assert got.dtype == torch.float64
        assert float((got - want).abs().max()) <= ROUNDOFF * scale, (t, kind)


@pytest.mark.parametrize("kind", PARAMETERIZATIONS)
def test_from_score_inverts_to_score(kind):
    g = torch.Generator().manual_seed(3)
    x, score = torch.randn(2, 50, 5, generator=g, dtype=torch.float64)
    for a, s in ((0.999, 0.04), (0.6, 0.8), (1e-3, 1.0), (1.0, 30.0)):
        back = to_score(from_score(score, x, a, s, kind), x, a, s, kind)
        assert float((back - score).abs().max()) <= ROUNDOFF * (1 + float(x.abs().max()) / s**2)


def linear_schedule(steps: int = 1000, zero_terminal: bool = False) -> torch.Tensor:
    """diffusers' DDPMScheduler default (linear betas 1e-4..0.02); with
    ``zero_terminal`` the last ``alphas_cumprod`` is set to 0 (zero terminal SNR)."""
    betas = torch.linspace(1e-4, 0.02, steps, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    if zero_terminal:
        abar[-1] = 0.0
    return abar


@pytest.mark.parametrize("kind", PARAMETERIZATIONS)
@pytest.mark.parametrize("zero_terminal", [False, True])
def test_discrete_schedule_recovers_the_exact_score_at_every_end(kind, zero_terminal):
    """First and last timesteps included; at ``ᾱ = 0`` (v at s → 1) the exact score is
    ``−x``: the data are forgotten, and every parameterization gives it, finite."""
    schedule = DiscreteSchedule(linear_schedule(zero_terminal=zero_terminal))
    law = random_mixture(4, 3, 7)
    g = torch.Generator().manual_seed(8)
    for t in (0, 1, 500, 998, 999):
        a, s = schedule.coefficients(t)
        x = a * law.sample(32, g) + s * torch.randn(32, 4, generator=g, dtype=torch.float64)
        seen = []

        def predictor(y, tau, a=a, s=s, seen=seen):
            seen.append(tau)
            if a == 0.0:  # E[x_0 | x] = E[x_0]: no posterior to compute
                x0 = law.mean.expand_as(y)
                return {"x0": x0, "eps": y / s, "v": -x0, "score": -y / s**2}[kind]
            return exact_prediction(law, y, a, s, kind)

        got = ScoreModel(predictor, kind, schedule)(x, float(t))
        want = -x / s**2 if a == 0.0 else law.convolved(a, s * s).score(x)
        assert bool(torch.isfinite(got).all())
        assert float((got - want).abs().max()) <= ROUNDOFF * (1 + float(x.abs().max()) / s**2)
        assert bool((seen[0] == t).all())


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_small_noise_is_finite_and_zero_noise_is_refused(kind):
    """x0 at s → 0: the score grows like 1/s² and stays finite in float64 down to
    s = 1e-150; at s = 0 the score is not determined and ValueError says so."""
    x = torch.ones(3, 2, dtype=torch.float64)
    prediction = torch.full_like(x, 0.5)
    for s in (1e-3, 1e-30, 1e-150):
        a = math.sqrt(1 - s * s)
        assert bool(torch.isfinite(to_score(prediction, x, a, s, kind)).all())
    with pytest.raises(ValueError, match="s_t = 0"):
        to_score(prediction, x, 1.0, 0.0, kind)
    with pytest.raises(ValueError, match="s_t = 0"):
        ScoreModel(lambda y, tau: prediction, kind, VP())(x, 0.0)


def test_discrete_schedule_refuses_fractional_timesteps_and_gives_integer_grids():
    schedule = DiscreteSchedule(linear_schedule(100))
    model = ScoreModel(lambda y, tau: y, "eps", schedule)
    with pytest.raises(ValueError, match="integer timesteps"):
        model(torch.zeros(1, 2, dtype=torch.float64), 3.5)
    times = schedule.times(10)
    assert times[0] == 99 and times[-1] == 0 and bool((times == times.round()).all())
    with pytest.raises(ValueError):
        DiscreteSchedule([0.5, 0.9])


def test_predictor_runs_in_its_own_dtype():
    """A float32 network: the conversion still runs in the caller's float64."""
    seen = []

    def predictor(y, tau):
        seen.append((y.dtype, tau.dtype))
        return torch.zeros_like(y)

    x = torch.randn(4, 3, dtype=torch.float64)
    out = ScoreModel(predictor, "x0", VP(), dtype=torch.float32)(x, 0.5)
    assert seen == [(torch.float32, torch.float32)] and out.dtype == torch.float64
    _a, s = VP().coefficients(0.5)
    assert torch.allclose(out, -x / s**2, rtol=0, atol=1e-12)


def test_model_family_composes_member_scores_with_their_exponents():
    law_b, law_1, law_2 = (random_mixture(3, 2, seed) for seed in (20, 21, 22))
    process = VP()
    members = [law_score(p, process) for p in (law_b, law_1, law_2)]
    family = ModelFamily(members[0], tuple(members[1:]), 3, ("exact",) * 3,
                         weights=(2.0, 0.5))
    x = torch.randn(10, 3, dtype=torch.float64)
    want = -1.5 * members[0](x, 0.2) + 2.0 * members[1](x, 0.2) + 0.5 * members[2](x, 0.2)
    assert torch.allclose(family.composed_score(x, 0.2), want, rtol=1e-14, atol=0)


def readme_example() -> str:
    """The five-line example of README's "Plugging in your own trained models"."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    section = text.split("## Plugging in your own trained models", 1)[1]
    block = section.split("\n\n")[2]
    lines = [line[4:] for line in block.splitlines()]
    assert all(line.strip() for line in lines) and len(lines) == 5, block
    return "\n".join(lines)


def test_readme_example_runs_as_written_and_samples_the_composition():
    """README's example with three eps-predicting "networks": the exact noise predictors
    of N(0, I) (background) and N(3 e_j, I) (conditional j = 1, 2) in 2-D, an FC family
    (C1) whose composition is N(3 e_1 + 3 e_2, I). 1000 draws: every coordinate's mean
    within 0.2 of 3 (5 standard errors of 1/sqrt(1000) is 0.16, plus the 100-step ODE's
    discretization) and variance within 0.25 of 1."""
    process = VP()

    def eps_net(mean: list[float]):
        m = torch.tensor(mean, dtype=torch.float64)

        def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            a, s = process.coefficients(float(t[0]))
            return s * (x - a * m) / (a * a + s * s)   # E[ε | x_t] of N(m, I)

        return net

    names = {"net_b": eps_net([0.0, 0.0]), "net_1": eps_net([3.0, 0.0]),
             "net_2": eps_net([0.0, 3.0]), "n": 2}
    torch.manual_seed(0)
    exec(readme_example(), names)  # the README's own example
    x = names["x"]
    assert x.shape == (1000, 2) and bool(torch.isfinite(x).all())
    assert float((x.mean(0) - 3.0).abs().max()) < 0.2, x.mean(0)
    assert float((x.var(0) - 1.0).abs().max()) < 0.25, x.var(0)
