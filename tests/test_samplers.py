"""Samplers (numerics.sampling.samplers): calibrated sample-level accuracy on exact scores, MALA
invariance, determinism, dtype, callbacks, chunking and the shared signature.

Failure budget: every statistical assertion below is calibrated to fail with probability
below 1e-4 for a fresh seed (arguments inline), so the whole module stays below 1e-3; with
the fixed seeds the tests are deterministic.
"""

from __future__ import annotations

import inspect
import io
import math

import pytest
import torch

import numerics.checks.estimators as estimators
from numerics.checks.estimators import WeightedSample, relative_mmd
from numerics.laws import GaussianMixture
from numerics.laws.processes import VE, VP, ForwardProcess
from numerics.sampling import samplers as S
from numerics.sampling.times import geometric_times, uniform_times

T_MIN = 1e-3
# relative_mmd keeps GRAM_POINTS (2000) points: the statistic below is on that many.
N_MMD = estimators.GRAM_POINTS
NULL_SEEDS = 10
# Null runs give the threshold; with NULL_SEEDS = 10 a fresh null value exceeds
# mean + Z_NULL·sd (sample sd) with probability P(t_9 > 6/√1.1) ≈ 1.4e-4 if the statistic
# were Gaussian (a mean of ~2·10^6 kernel terms, close to it).
Z_NULL = 6.0
# MALA: mean and variance within 6 standard errors (two-sided Gaussian tail 2e-9 each).
Z_MOMENT = 6.0

BIMODAL = GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [[[0.01]], [[0.04]]])


def _uniform(x: torch.Tensor) -> WeightedSample:
    return WeightedSample(x, torch.full((len(x),), 1.0 / len(x), dtype=x.dtype))


@pytest.fixture(scope="module")
def mmd():
    """``x -> relative MMD² of x to p^{T_MIN}`` under VP; the bootstrap error bar of
    relative_mmd is unused (null runs calibrate instead), so it is cut to 2 draws."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(estimators, "BOOTSTRAP", 2)
        target = BIMODAL.noised(T_MIN, VP())
        gen = torch.Generator().manual_seed(12345)
        yield lambda x: relative_mmd(_uniform(x), target, gen).value


@pytest.fixture(scope="module")
def null_threshold(mmd) -> tuple[float, float]:
    """(threshold, sd) of the statistic for N_MMD exact draws of the target."""
    target = BIMODAL.noised(T_MIN, VP())
    vals = torch.tensor([mmd(target.sample(N_MMD, torch.Generator().manual_seed(100 + k)))
                         for k in range(NULL_SEEDS)])
    sd = float(vals.std())
    return float(vals.mean()) + Z_NULL * sd * math.sqrt(1 + 1 / NULL_SEEDS), sd


def _run(name: str, steps: int, seed: int = 1) -> torch.Tensor:
    vp = VP()
    g = torch.Generator().manual_seed(seed)
    x_t = S.prior_sample(N_MMD, 1, vp, g)
    times = uniform_times(vp, steps, T_MIN)
    score = S.exact_score(BIMODAL, vp)
    if name == "heun":
        return S.probability_flow_heun(score, x_t, times, vp)
    return S.reverse_sde_euler(score, x_t, times, vp, generator=g)


# (sampler, coarse steps, fine steps, weak order). Measured (seed 1): Heun 4 steps 1.3e-2,
# 32 steps −2.9e-4; Euler–Maruyama 8 steps 4.7e-2, 200 steps −1.5e-4; null sd ≈ 4.5e-4.
CASES = [("heun", 4, 32, 2), ("euler", 8, 200, 1)]


@pytest.mark.parametrize(("name", "coarse", "fine", "order"), CASES)
def test_sampling_error_falls_to_noise_floor(mmd, null_threshold, name, coarse, fine, order):
    threshold, sd = null_threshold
    err_coarse, err_fine = mmd(_run(name, coarse)), mmd(_run(name, fine))
    # Discretization allowance: a method of weak order p moves the law by O(h^p), and MMD²
    # is quadratic in that change, so the bias at `fine` is at most about
    # err_coarse·(coarse/fine)^{2p} (Heun: ×2.4e-4, Euler: ×1.6e-3; both < 1e-4 here,
    # far below the null sd, so the threshold is essentially the null one).
    allowance = max(err_coarse, 0.0) * (coarse / fine) ** (2 * order)
    assert err_coarse > threshold + Z_NULL * sd, (err_coarse, threshold)
    assert err_fine < err_coarse
    assert err_fine <= threshold + allowance, (err_fine, threshold, allowance)


CORRECTOR_CASES = {
    # (corrector, kwargs): MALA h = 0.01 (proposal std 0.14 against mode widths 0.11 and
    # 0.2 at t = 0.01); HMC ε = 0.05 with 5 leapfrog steps (trajectory 0.25).
    "mala": (S.mala_corrector, {"step_size": 0.01, "n_steps": 5}),
    "hmc": (S.hmc_corrector, {"step_size": 0.05, "n_leapfrog": 5, "n_steps": 5}),
}


@pytest.mark.parametrize("name", sorted(CORRECTOR_CASES))
def test_metropolis_corrector_leaves_target_invariant(name):
    """Started from exact draws of ``p_t``, a ``p_t``-invariant kernel keeps them exact and
    independent across particles, so the sample mean and variance obey the iid standard
    errors."""
    vp, t, n = VP(), 0.01, 100_000
    corrector, kwargs = CORRECTOR_CASES[name]
    target = BIMODAL.noised(t, vp)
    g = torch.Generator().manual_seed(7)
    x0 = target.sample(n, g)
    x, rate = corrector(S.exact_score(BIMODAL, vp), x0, t,
                        log_prob=S.exact_log_prob(BIMODAL, vp), generator=g, **kwargs)
    assert rate.shape == (n,) and bool(((rate > 0) & (rate <= 1)).all())
    assert 0.5 < float(rate.mean()) < 1.0
    assert not torch.equal(x, x0)
    mean, var = float(target.mean[0]), float(target.covariance[0, 0])
    # Exact fourth central moment of the mixture for the variance's standard error.
    d = target.means[:, 0] - mean
    v = target.covs[:, 0, 0]
    m4 = float(target.weights @ (d**4 + 6 * d**2 * v + 3 * v**2))
    assert abs(float(x.mean()) - mean) < Z_MOMENT * math.sqrt(var / n)
    assert abs(float(x.var()) - var) < Z_MOMENT * math.sqrt((m4 - var**2) / n)


def _bounded_target(x: torch.Tensor, t: float) -> torch.Tensor:
    """``log N(0, 1)`` on ``|x| < 1``, NaN outside (a model that breaks off its domain)."""
    lp = -0.5 * x.square().sum(-1)
    return torch.where(x.abs().amax(-1) < 1.0, lp, torch.nan)


@pytest.mark.parametrize("name", sorted(CORRECTOR_CASES))
def test_metropolis_corrector_rejects_nan_proposals(name):
    """Proposals where the log-density is NaN are rejected: no particle leaves ``|x| < 1``;
    steps of 0.5 reach it often, so the rejection path is exercised."""
    corrector, _ = CORRECTOR_CASES[name]
    kwargs = {"step_size": 0.5, "n_steps": 20} if name == "mala" else \
        {"step_size": 0.5, "n_leapfrog": 3, "n_steps": 20}
    g = torch.Generator().manual_seed(0)
    x0 = 0.5 * torch.rand(2000, 1, generator=g, dtype=torch.float64)
    x, rate = corrector(lambda y, t: -y, x0, 0.0, log_prob=_bounded_target, generator=g,
                        **kwargs)
    assert bool((x.abs() < 1.0).all())
    assert 0.0 < float(rate.mean()) < 1.0


# the shared signature ------------------------------------------------------------------
SAMPLERS = (S.reverse_sde_euler, S.ancestral, S.probability_flow_heun, S.predictor_corrector,
            S.dpm_solver_2m)
CORRECTORS = (S.langevin_corrector, S.mala_corrector, S.hmc_corrector)


def _keyword_only_none(params, name: str) -> bool:
    return params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None


def _positional(params) -> list[str]:
    return [p.name for p in params.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


@pytest.mark.parametrize("sampler", SAMPLERS + CORRECTORS, ids=lambda f: f.__name__)
def test_samplers_share_one_signature(sampler):
    """``(score, x, times, process, *, generator=None, callback=None, **options)``; the
    correctors, which move at one time, ``(score, x, t, *, generator=None, **options)``."""
    params = inspect.signature(sampler).parameters
    if sampler in CORRECTORS:
        assert _positional(params) == ["score", "x", "t"]
    else:
        assert _positional(params) == ["score", "x", "times", "process"]
        assert _keyword_only_none(params, "callback")
    assert _keyword_only_none(params, "generator")
    assert "log_prob" not in params or params["log_prob"].kind is inspect.Parameter.KEYWORD_ONLY


def test_random_samplers_need_a_generator_and_the_ode_ignores_it():
    vp = VP()
    score, times = S.exact_score(BIMODAL, vp), uniform_times(vp, 3, T_MIN)
    x_t = S.prior_sample(20, 1, vp, torch.Generator().manual_seed(0))
    for sampler in (S.reverse_sde_euler, S.ancestral, S.predictor_corrector):
        with pytest.raises(ValueError, match="generator"):
            sampler(score, x_t, times, vp)
    with pytest.raises(ValueError, match="generator"):
        S.langevin_corrector(score, x_t, 0.1, step_size=1e-3, n_steps=1)
    ode = S.probability_flow_heun(score, x_t, times, vp)
    assert torch.equal(ode, S.probability_flow_heun(
        score, x_t, times, vp, generator=torch.Generator().manual_seed(5)))


def test_same_generator_same_output():
    vp, score = VP(), S.exact_score(BIMODAL, VP())
    times = geometric_times(vp, 10, T_MIN)

    def once(sampler):
        g = torch.Generator().manual_seed(3)
        return sampler(score, S.prior_sample(500, 1, vp, g), times, vp, generator=g)

    def pc(score, x, times, vp, *, generator):
        return S.predictor_corrector(score, x, times, vp, generator=generator, corrector="hmc",
                                     log_prob=S.exact_log_prob(BIMODAL, vp)).x

    for sampler in (S.reverse_sde_euler, S.ancestral, pc):
        assert torch.equal(once(sampler), once(sampler))


@pytest.mark.parametrize("process", [VP(), VE()])
def test_dtype_follows_input(process):
    g = torch.Generator().manual_seed(0)
    x_t = S.prior_sample(300, 1, process, g, dtype=torch.float32)
    score, times = S.exact_score(BIMODAL, process), uniform_times(process, 5, T_MIN)
    log_prob = S.exact_log_prob(BIMODAL, process)
    outs = [S.reverse_sde_euler(score, x_t, times, process, generator=g),
            S.ancestral(score, x_t, times, process, generator=g),
            S.probability_flow_heun(score, x_t, times, process),
            S.langevin_corrector(score, x_t, 0.1, step_size=1e-3, n_steps=2, generator=g),
            *S.mala_corrector(score, x_t, 0.1, log_prob=log_prob, step_size=1e-3, n_steps=2,
                              generator=g),
            *S.hmc_corrector(score, x_t, 0.1, log_prob=log_prob, step_size=1e-2,
                             n_leapfrog=3, n_steps=2, generator=g),
            *[S.predictor_corrector(score, x_t, times, process, generator=g, predictor=p,
                                    corrector=c, log_prob=log_prob).x
              for p, c in (("sde", "langevin"), ("ancestral", "mala"))]]
    for out in outs:
        assert out.dtype == torch.float32 and out.device == x_t.device
        assert bool(torch.isfinite(out).all())


def test_callback_sees_every_step():
    vp, steps = VP(), 7
    seen: list[dict] = []
    score, times = S.exact_score(BIMODAL, vp), uniform_times(vp, steps, T_MIN)
    x_t = S.prior_sample(50, 1, vp, torch.Generator().manual_seed(0))
    S.probability_flow_heun(score, x_t, times, vp, callback=seen.append)
    assert [d["i"] for d in seen] == list(range(steps))
    assert all(tuple(d) == S.CALLBACK_KEYS for d in seen)
    assert [d["t"] for d in seen] == times[:-1].tolist()
    assert all(d["x"].shape == d["score"].shape == x_t.shape for d in seen)
    seen.clear()
    S.predictor_corrector(score, x_t, times, vp, generator=torch.Generator().manual_seed(1),
                          callback=seen.append, corrector="langevin")
    assert [d["i"] for d in seen] == list(range(steps))
    assert all(tuple(d) == S.CALLBACK_KEYS for d in seen)


def test_chunked_equals_unchunked():
    vp = VP()
    score, times = S.exact_score(BIMODAL, vp), uniform_times(vp, 6, T_MIN)
    x_t = S.prior_sample(1000, 1, vp, torch.Generator().manual_seed(0))
    whole = S.probability_flow_heun(score, x_t, times, vp)
    parts = S.in_chunks(lambda c: S.probability_flow_heun(score, c, times, vp), x_t, 300)
    assert torch.allclose(parts, whole, rtol=0, atol=1e-12)


class _Wrapped(ForwardProcess):
    """A process seen only through ``a(t)`` and ``s(t)``: forces the finite difference."""

    def __init__(self, inner: ForwardProcess) -> None:
        self.inner, self.T = inner, inner.T

    def a(self, t: float) -> float:
        return self.inner.a(t)

    def s(self, t: float) -> float:
        return self.inner.s(t)


@pytest.mark.parametrize("process", [VP(), VE()])
def test_sde_coefficients_closed_form_match_finite_difference(process):
    """Closed forms of ``f`` and ``g²`` against the generic fallback (truncation O(δ²),
    round-off ~1e-16/δ: agreement to 1e-6 relative)."""
    for t in (0.05, 0.5, 0.95):
        f, g2 = S.drift_diffusion(process, t)
        f_fd, g2_fd = S.drift_diffusion(_Wrapped(process), t)
        assert math.isclose(f, f_fd, rel_tol=1e-6, abs_tol=1e-9)
        assert math.isclose(g2, g2_fd, rel_tol=1e-6)


# predictor–corrector, costs, progress -------------------------------------------------
# PC on BIMODAL under VP, 40 geometric steps, two corrector moves per step, N_PC particles.
# Measured bias against p^{T_MIN} with 200,000 particles (seed 0): mass of x < 0 −0.0011
# (MALA) and +0.0012 (HMC), mean +0.0027 / −0.0028, i.e. at most 0.42 standard errors at
# N_PC = 20,000 (and 0.3 at 10,000). With Z_MOMENT = 6 standard errors a fresh seed fails
# with probability below P(|Z| > 5.5) ≈ 4e-8.
N_PC = 10_000
PC_STEPS = 40


@pytest.mark.parametrize("corrector", ["mala", "hmc"])
def test_predictor_corrector_reaches_target(corrector):
    vp = VP()
    g = torch.Generator().manual_seed(11)
    x_T = S.prior_sample(N_PC, 1, vp, g)
    result = S.predictor_corrector(S.exact_score(BIMODAL, vp), x_T,
                                   geometric_times(vp, PC_STEPS, T_MIN), vp, generator=g,
                                   corrector=corrector, log_prob=S.exact_log_prob(BIMODAL, vp),
                                   rule=S.CorrectorRule(steps=2))
    target = BIMODAL.noised(T_MIN, vp)
    mass = float((result.x < 0).double().mean())
    w = float(target.weights[0])
    assert abs(mass - w) < Z_MOMENT * math.sqrt(w * (1 - w) / N_PC)
    mean, var = float(target.mean[0]), float(target.covariance[0, 0])
    assert abs(float(result.x.mean()) - mean) < Z_MOMENT * math.sqrt(var / N_PC)
    assert result.acceptance is not None and result.acceptance.shape == (PC_STEPS,)
    assert bool(((result.acceptance > 0) & (result.acceptance <= 1)).all())


# (corrector, score evaluations per particle and step, density evaluations likewise) with
# k corrector moves and L leapfrog steps: the predictor's score, then MALA's initial
# evaluation and k moves; HMC's initial score and kL leapfrog scores; Langevin k scores.
def _pc_costs(corrector: str | None, k: int, leapfrog: int) -> tuple[int, int]:
    return {None: (1, 0), "langevin": (1 + k, 0), "mala": (2 + k, 1 + k),
            "hmc": (2 + k * leapfrog, 1 + k)}[corrector]


@pytest.mark.parametrize("corrector", [None, "langevin", "mala", "hmc"])
def test_predictor_corrector_counts_evaluations(corrector):
    vp, n, steps, rule = VP(), 7, 3, S.CorrectorRule(steps=2, n_leapfrog=4)
    score, log_prob = S.counted(S.exact_score(BIMODAL, vp)), S.counted(
        S.exact_log_prob(BIMODAL, vp))
    g = torch.Generator().manual_seed(0)
    result = S.predictor_corrector(score, S.prior_sample(n, 1, vp, g),
                                   uniform_times(vp, steps, T_MIN), vp, generator=g,
                                   corrector=corrector, log_prob=log_prob, rule=rule)
    per_score, per_density = _pc_costs(corrector, rule.steps, rule.n_leapfrog)
    assert (result.score_evals, result.density_evals) == (n * steps * per_score,
                                                          n * steps * per_density)
    assert (score.rows, log_prob.rows) == (result.score_evals, result.density_evals)
    assert (result.acceptance is None) == (corrector in (None, "langevin"))


def test_predictor_corrector_rejects_bad_arguments():
    vp = VP()
    args = (S.exact_score(BIMODAL, vp), torch.zeros(3, 1, dtype=torch.float64),
            uniform_times(vp, 2, T_MIN), vp)
    g = torch.Generator()
    with pytest.raises(ValueError, match="corrector 'mala' needs log_prob"):
        S.predictor_corrector(*args, generator=g, corrector="mala")
    with pytest.raises(ValueError, match="unknown corrector"):
        S.predictor_corrector(*args, generator=g, corrector="gibbs")
    with pytest.raises(ValueError, match="unknown predictor"):
        S.predictor_corrector(*args, generator=g, predictor="heun")


def test_counted_tallies_rows():
    calls = S.counted(lambda x, t: x.sum(-1))
    calls(torch.zeros(5, 2), 0.1)
    calls(torch.zeros(3, 2), 0.2)
    assert calls.rows == 8


def test_progress_prints_at_most_every_interval():
    out = io.StringIO()
    report = S.progress(50, "pc", stream=out, every_s=3600.0)
    for i in range(50):
        report({"i": i})
    lines = out.getvalue().splitlines()
    # an hour-long interval leaves only the first call and the last step
    assert len(lines) == 2
    assert lines[0].startswith("pc: step 1/50, ") and lines[1].startswith("pc: step 50/50, ")
    assert lines[1].endswith(" s")
    every = io.StringIO()
    report = S.progress(4, "smc", stream=every, every_s=0.0)
    for i in range(4):
        report({"i": i})
    assert len(every.getvalue().splitlines()) == 4
