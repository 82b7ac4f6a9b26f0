"""Label-conditioned denoisers for the CLEVR-lite scenes: a global MLP and a local CNN.

Both map ``x (N, n)`` (a noisy image at VP time ``t``, flattened channel-major) and
``t (N,)`` to ``E[x_0 | x_t]`` — parameterization ``x0`` — through the preconditioning of
Karras et al. (2022, "Elucidating the design space of diffusion-based generative models",
Table 1, "EDM"): with ``σ = s_t / a_t`` and ``x̃ = x / a_t`` (``x̃ = x_0 + σ ε``),

    D(x̃; σ) = c_skip x̃ + c_out F(c_in x̃, c_noise),   c_skip = σ_d² / (σ² + σ_d²),
    c_out = σ σ_d / sqrt(σ² + σ_d²),   c_in = 1 / sqrt(σ² + σ_d²),   c_noise = log(σ) / 4,

so that ``F``'s input and target have unit variance at every noise level (``σ_d``: the
data's standard deviation per pixel). Each ``F`` ends with a per-noise-level gain times its
input, ``F = F_net + g(σ) c_in x̃``: the posterior mean of the pixel noise is linear,
``E[x_0 | x̃] = (v x̃ + σ² m(x̃)) / (v + σ²)`` for pixel variance ``v`` and template
posterior mean ``m``, and a network narrower than the image could not pass ``n``
independent pixels through (measured: without it the relative score error of the empty
scene stayed at 0.65 at σ = 0.05). The VP coefficients are computed in torch from
``beta_min``/``beta_max`` (:class:`numerics.laws.processes.VP`). A *label* picks the law:
``LABELS`` below; a network built with ``label=j`` uses it whenever ``forward`` gets none,
so one weights file serves every member of a family spec (``config: {"label": j}``).

- :class:`GlobalMLP` ("mlp"): ``F`` is a residual MLP over the whole image, with the
  noise level and the label added as embeddings in every block: every output pixel sees
  every input pixel.
- :class:`LocalCNN` ("cnn"): ``F`` sees, for each cell, a window of ``cell + 2·margin``
  pixels centred on it (the cell and ``margin`` pixels of each neighbour): a convolution
  of that kernel with stride ``cell``, then per-cell (1×1) residual layers conditioned on
  the noise level, the label's background kind and a per-cell flag "object requested
  here", then a linear map back to the cell's pixels. A cell's output depends on its
  neighbourhood and its own flag only: the receptive field is local (THEORY §8, C20),
  and the conditioning too. The unconditional single-object law is not local — whether a cell
  holds the one object depends on every other cell — which is what this net cannot
  represent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

# One label per law the networks learn (numerics.experiments.clevr_learned builds them):
# kind "at" (an object at ℓ, nothing else), "empty", "single" (one object at a uniformly
# random cell), "clutter" (the Fig. 3C background: 1..5 objects at distinct random cells),
# "clutter-at" (an object at ℓ plus 0..4 at distinct random other cells), "independent"
# (each cell occupied independently) and "independent-at" (ℓ occupied, the other cells
# as under "independent").
KINDS = ("at", "empty", "single", "clutter", "clutter-at", "independent", "independent-at")
# The background kind of each conditional kind (the CNN conditions each cell on it).
BACKGROUND_KIND = {"at": "empty", "clutter-at": "clutter", "independent-at": "independent"}


@dataclass(frozen=True)
class Label:
    """A law: ``kind`` and, for ``at``/``clutter-at``, the requested cell."""

    kind: str
    cell: int | None = None


def labels(locations: int) -> tuple[Label, ...]:
    """Every label for a grid of ``locations`` cells, in index order: ``at ℓ`` for each
    ``ℓ``, then ``empty``, ``single``, ``clutter``, ``clutter-at ℓ`` for each ``ℓ``, then
    ``independent`` and ``independent-at ℓ`` for each ``ℓ``."""
    return (*(Label("at", c) for c in range(locations)), Label("empty"), Label("single"),
            Label("clutter"), *(Label("clutter-at", c) for c in range(locations)),
            Label("independent"), *(Label("independent-at", c) for c in range(locations)))


def label_index(locations: int, kind: str, cell: int | None = None) -> int:
    """The index of ``Label(kind, cell)`` in :func:`labels`."""
    return labels(locations).index(Label(kind, cell))


class Preconditioned(nn.Module):
    """The shared EDM preconditioning around a network ``F`` (module docstring)."""

    def __init__(self, *, rows: int, cols: int, cell: int, channels: int, sigma_data: float,
                 beta_min: float, beta_max: float, label: int | None) -> None:
        super().__init__()
        self.rows, self.cols, self.cell, self.channels = rows, cols, cell, channels
        self.dim = channels * rows * cell * cols * cell
        self.locations = rows * cols
        self.sigma_data, self.beta_min, self.beta_max = sigma_data, beta_min, beta_max
        self.label = label
        self.table = labels(self.locations)

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """VP ``(a_t, s_t)`` for times ``t (N,)``, as :class:`numerics.laws.processes.VP`."""
        integral = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t
        return torch.exp(-0.5 * integral), torch.sqrt(-torch.expm1(-integral))

    def forward(self, x: Tensor, t: Tensor, label: Tensor | None = None) -> Tensor:
        """``E[x_0 | x_t = x]``: ``(N, n), (N,) -> (N, n)``; ``label (N,)`` long, default
        the built-in label."""
        if label is None:
            if self.label is None:
                raise ValueError("this network has no built-in label: pass label=")
            label = torch.full(x.shape[:1], self.label, dtype=torch.long, device=x.device)
        a, s = self.coefficients(t.to(x.dtype))
        sigma = (s / a)[:, None]
        sd2 = self.sigma_data**2
        scaled = x / a[:, None]
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / torch.sqrt(sigma**2 + sd2)
        c_in = 1.0 / torch.sqrt(sigma**2 + sd2)
        return c_skip * scaled + c_out * self.inner(c_in * scaled, torch.log(sigma[:, 0]) / 4,
                                                    label)

    def inner(self, x: Tensor, noise: Tensor, label: Tensor) -> Tensor:
        raise NotImplementedError


def fourier_features(noise: Tensor, width: int) -> Tensor:
    """``(N,) -> (N, width)``: sines and cosines of the noise level at fixed
    frequencies ``1..width/2`` (an embedding of a scalar a layer can read)."""
    freqs = torch.arange(1, width // 2 + 1, dtype=noise.dtype, device=noise.device)
    angles = noise[:, None] * freqs * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def zero_linear(width: int, out: int) -> nn.Linear:
    """A linear layer that starts at 0 (the net starts as the skip connection alone)."""
    layer = nn.Linear(width, out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class GlobalMLP(Preconditioned):
    """A residual MLP over the whole image (module docstring): ``width`` hidden units,
    ``blocks`` residual blocks ``h + W₂ SiLU(W₁ LN(h) + emb)``."""

    def __init__(self, *, width: int = 256, blocks: int = 3, **geometry) -> None:
        super().__init__(**geometry)
        self.embed_noise = nn.Sequential(nn.Linear(32, width), nn.SiLU(), nn.Linear(width, width))
        self.embed_label = nn.Embedding(len(self.table), width)
        self.inp = nn.Linear(self.dim, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(blocks))
        self.first = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.second = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.out = nn.Linear(width, self.dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.gain = zero_linear(width, 1)

    def inner(self, x: Tensor, noise: Tensor, label: Tensor) -> Tensor:
        level = self.embed_noise(fourier_features(noise, 32))
        emb = level + self.embed_label(label)
        h = self.inp(x)
        for norm, first, second in zip(self.norms, self.first, self.second, strict=True):
            h = h + second(torch.nn.functional.silu(first(norm(h)) + emb))
        return self.out(torch.nn.functional.silu(h)) + self.gain(level) * x


class LocalCNN(Preconditioned):
    """Per-cell features from a ``(cell + 2 margin)``-pixel window (module docstring):
    ``width`` channels, ``blocks`` residual 1×1 blocks conditioned per cell on the noise
    level, the label's background kind and whether the label requests an object in that
    cell."""

    def __init__(self, *, width: int = 128, blocks: int = 3, margin: int = 2,
                 **geometry) -> None:
        super().__init__(**geometry)
        self.margin = margin
        kinds = torch.tensor([KINDS.index(BACKGROUND_KIND.get(lab.kind, lab.kind))
                              for lab in self.table])
        cells = torch.tensor([-1 if lab.cell is None else lab.cell for lab in self.table])
        self.register_buffer("kinds", kinds, persistent=False)
        self.register_buffer("cells", cells, persistent=False)
        self.embed_noise = nn.Sequential(nn.Linear(32, width), nn.SiLU(), nn.Linear(width, width))
        self.embed_kind = nn.Embedding(len(KINDS), width)
        self.embed_requested = nn.Parameter(torch.zeros(width))
        k = self.cell + 2 * margin
        self.inp = nn.Conv2d(self.channels, width, k, stride=self.cell, padding=margin)
        # LayerNorm over the channels of each cell (a GroupNorm over the image would
        # couple the cells through its statistics)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(blocks))
        self.first = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(blocks))
        self.second = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(blocks))
        self.out = nn.Conv2d(width, self.channels * self.cell * self.cell, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.gain = zero_linear(width, 1)

    def inner(self, x: Tensor, noise: Tensor, label: Tensor) -> Tensor:
        """Each cell's output depends on its window's pixels, the noise level, the label's
        background kind (``BACKGROUND_KIND``: "object at ℓ" has the empty scene's, "ℓ plus
        clutter" the clutter's) and the flag "an object is requested here": under "object
        at ℓ" every cell but ℓ is computed exactly as under the empty scene, so the learned
        score differences are local by construction (FC in the networks, C19/C20)."""
        n, c, r, q, p = x.shape[0], self.channels, self.rows, self.cols, self.cell
        image = x.reshape(n, c, r * p, q * p)
        requested = (self.cells[label][:, None] ==
                     torch.arange(r * q, device=x.device)).to(x.dtype)       # (N, L)
        level = self.embed_noise(fourier_features(noise, 32))
        emb = (level + self.embed_kind(self.kinds[label]))[:, :, None] \
            + self.embed_requested[None, :, None] * requested[:, None, :]   # (N, W, L)
        emb = emb.reshape(n, -1, r, q)
        h = self.inp(image)                                                 # (N, W, r, q)
        for norm, first, second in zip(self.norms, self.first, self.second, strict=True):
            normed = norm(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            h = h + second(torch.nn.functional.silu(first(normed) + emb))
        out = self.out(torch.nn.functional.silu(h))                        # (N, c·p·p, r, q)
        out = out.reshape(n, c, p, p, r, q).permute(0, 1, 4, 2, 5, 3)      # (N, c, r, p, q, p)
        return out.reshape(n, self.dim) + self.gain(level) * x


ARCHITECTURES = {"mlp": GlobalMLP, "cnn": LocalCNN}


def build(arch: str = "mlp", *, rows: int = 3, cols: int = 3, cell: int = 5,
          channels: int = 3, sigma_data: float = 0.25, beta_min: float = 0.1,
          beta_max: float = 20.0, label: int | None = None, **sizes: int) -> Preconditioned:
    """The entry point of family specs (``"entry": "numerics.models.networks:build"``):
    a network of architecture ``arch`` (``mlp`` or ``cnn``) for the given scene geometry,
    data scale, VP schedule and built-in ``label``; ``sizes``: ``width``, ``blocks``
    (and ``margin`` for ``cnn``)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r} (expected {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[arch](rows=rows, cols=cols, cell=cell, channels=channels,
                               sigma_data=sigma_data, beta_min=beta_min, beta_max=beta_max,
                               label=label, **sizes)
