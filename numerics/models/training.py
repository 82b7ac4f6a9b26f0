"""Denoising score matching for label-conditioned denoisers (Vincent 2011; Karras et al.
2022 for the noise distribution and weighting).

A batch draws labels uniformly, clean points ``x_0`` of each label's law (``draw``), noise
levels ``σ = s_t / a_t`` log-uniform on ``[sigma_min, sigma_max]`` (the VP time ``t(σ)`` in
closed form, :func:`vp_time`) and ``ε ~ N(0, I)``; with ``x_t = a_t x_0 + s_t ε`` the loss is

    E ‖(D(x_t, t, label) − x_0) / c_out(σ)‖²  (per coordinate),

the denoising objective whose minimizer is ``D = E[x_0 | x_t]`` (Tweedie: the exact score),
weighted by ``1/c_out²`` so that every noise level has loss of order 1 (EDM, §5). Adam
updates the network; an exponential moving average of its weights (``ema``, warmed up as
``min(ema, (1 + step)/(10 + step))``) is what the run returns. Everything is seeded.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from numerics.models.networks import Preconditioned
from numerics.threads import single_threaded

#: ``(labels (N,) long, generator) -> x_0 (N, n)`` float32 draws of each label's law.
Draw = Callable[[Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Recipe:
    """Optimization settings of one training run. ``threads``: 1 runs torch on one thread
    (on a loaded 2-core machine two threads measured 6–40× slower per step than one, from
    contention); anything else keeps torch's setting."""

    steps: int
    batch: int
    lr: float = 1e-3
    ema: float = 0.999
    sigma_min: float = 0.005
    sigma_max: float = 200.0
    seed: int = 0
    threads: int = 1


@dataclass(frozen=True)
class TrainLog:
    """Mean loss over each block of ``every`` steps, and the wall time."""

    losses: list[float]
    every: int
    seconds: float
    parameters: int


def vp_time(sigma: Tensor, beta_min: float, beta_max: float) -> Tensor:
    """``t`` with ``s_t / a_t = σ`` under VP: ``B(t) = log(1 + σ²)`` solved as in
    ``numerics.sampling.times.time_of_sigma``, ``t = 2B / (β_min + sqrt(β_min² + 2 (β_max −
    β_min) B))``."""
    b = torch.log1p(sigma * sigma)
    return 2.0 * b / (beta_min + torch.sqrt(beta_min**2 + 2.0 * (beta_max - beta_min) * b))


def dsm_loss(network: Preconditioned, x0: Tensor, labels: Tensor, recipe: Recipe,
             generator: torch.Generator, device: torch.device | None = None) -> Tensor:
    """The weighted denoising loss of one batch (module docstring). Every random draw
    comes from the CPU ``generator`` (the same stream on every device); the batch then
    moves to ``device`` (default the CPU), where ``network`` lives."""
    n = x0.shape[0]
    u = torch.rand(n, generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    if device is not None:
        x0, labels, u, noise = (v.to(device) for v in (x0, labels, u, noise))
    sigma = recipe.sigma_min * (recipe.sigma_max / recipe.sigma_min) ** u
    t = vp_time(sigma, network.beta_min, network.beta_max).clamp(max=1.0)
    a, s = network.coefficients(t)
    xt = a[:, None] * x0 + s[:, None] * noise
    sigma = (s / a)[:, None]
    c_out = sigma * network.sigma_data / torch.sqrt(sigma**2 + network.sigma_data**2)
    return (((network(xt, t, labels) - x0) / c_out) ** 2).mean()


def train(network: Preconditioned, draw: Draw, recipe: Recipe, *,
          every: int = 50, device: torch.device | str = "cpu",
          progress: Callable[[int, float], None] | None = None) -> tuple[Preconditioned, TrainLog]:
    """Train ``network`` (float32, in place, moved to ``device``) on ``draw``'s laws for
    ``recipe.steps`` Adam steps; return its EMA copy (eval mode, on the CPU) and the loss
    log. ``progress(step, loss)`` is called every ``every`` steps with the block's mean
    loss. The batches are drawn on the CPU from the recipe's seed whatever the device, so
    a cuda run sees the same data and noise as a CPU run (its weights differ only by the
    device's floating-point round-off)."""
    with single_threaded() if recipe.threads == 1 else nullcontext():
        return _train(network.to(device), draw, recipe, every, progress, torch.device(device))


def _train(network: Preconditioned, draw: Draw, recipe: Recipe, every: int,
           progress: Callable[[int, float], None] | None,
           device: torch.device) -> tuple[Preconditioned, TrainLog]:
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    on_cpu = device.type == "cpu"
    ema = copy.deepcopy(network).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(network.parameters(), lr=recipe.lr)
    count = len(network.table)
    losses, running, start = [], 0.0, time.perf_counter()
    network.train()
    for step in range(recipe.steps):
        labels = torch.randint(count, (recipe.batch,), generator=generator)
        loss = dsm_loss(network, draw(labels, generator), labels, recipe, generator,
                        None if on_cpu else device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        decay = min(recipe.ema, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), network.parameters(), strict=True):
                e.lerp_(p, 1.0 - decay)
        running += loss.item()
        if (step + 1) % every == 0 or step + 1 == recipe.steps:
            block = (step % every) + 1
            losses.append(running / block)
            running = 0.0
            if progress is not None:
                progress(step + 1, losses[-1])
    network.eval()
    seconds = time.perf_counter() - start
    return ema.cpu(), TrainLog(losses=losses, every=every, seconds=seconds,
                         parameters=sum(p.numel() for p in network.parameters()))
