"""Gaussian mixtures: closed under noising, marginals and affine maps (THEORY §0).

``p(x) = Σ_k w_k N(x; μ_k, Σ_k)`` with ``w`` of shape ``(K,)``, ``μ`` ``(K, n)`` and
``Σ`` ``(K, n, n)``. Densities and scores go through the whitened residuals
``z_k = L_k⁻¹ (x − μ_k)`` (``Σ_k = L_k L_kᵀ``, Cholesky): with ``W`` the ``(n, K n)``
matrix whose block ``k`` is ``L_k⁻ᵀ``, all ``K`` of them are one matrix product
``z = (x − c) W − b`` (``c`` the mixture's mean, subtracted first so that points near the
law lose no digits to cancellation; ``b_k = L_k⁻¹ (μ_k − c)``), and

    log p(x) = logsumexp_k ℓ_k,    ℓ_k = log w_k − ½ log det Σ_k − (n/2) log 2π − ½|z_k|²,
    ∇log p(x) = −Σ_k r_k Σ_k⁻¹ (x − μ_k) = −(Σ_k r_k z_k) ⋅ Wᵀ,    r = softmax(ℓ),

a second matrix product. The work is done in chunks of points small enough that the
``(K, n, rows)`` arrays stay in cache, with the weighting by ``r_k`` and the softmax in
place (unless autograd differentiates through the score): the benchmark's composed score
(benchmarks/bench_sampling.py, N = 100,000, d = 16) measured half the CPU time on one
thread of the previous version (2^19-entry chunks, ``z`` squared by ``pow``, the bias by
a concatenated row of ones): 54 against 105 ms and 70 against 142 ms, medians of
interleaved calls in two sessions on a busy machine. The score's sign is folded into
the second product, and a block product's mixture blocks write their columns of the
result in place (``score_into``: no copy per block and no concatenation of chunks);
results are bit-identical. When every
``Σ_k`` is diagonal a fast path works with the
standard deviations alone (``O(K n)`` per point instead of ``O(K n²)``). Exponentials
never underflow into subnormals: shifted logits are clamped at ``log(tiny)`` of the
dtype, where they contribute below the dtype's resolution anyway (subnormal ``exp`` in
float32 measured 15–50× slower than normal on an AMD EPYC). Large CPU scores with full
covariances (``FUSED_ELEMENTS``) run instead in one fused pass where numba is installed
(numerics.laws.fused: the same formula, every intermediate in cache).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from functools import cache, cached_property

import torch

from numerics.laws.base import (
    DEFAULT_DTYPE,
    Distribution,
    check_coords,
    check_full_row_rank,
    conversion_target,
    noise_matrix,
)
from numerics.laws.fused import KernelArgs, mixture_score_into

# Weights must sum to 1 up to this (absolute): JSON round-trips of decimal weights lose
# ~1e-16 per entry, so 1e-9 only rejects real mistakes.
WEIGHT_SUM_TOL = 1e-9
# Symmetry of covariances, relative to their largest entry: round-off in A Σ Aᵀ is
# ~n·1e-16; 1e-8 leaves room for user-written decimals.
SYMMETRY_TOL = 1e-8
# Entries of the (K, n, rows) work arrays per chunk of points on a CPU: 2^18 (1 MiB in
# float32, 8192 points at K n = 32) keeps them near a core's L2 cache. CPU time of one
# block of the sampling benchmark on 100,000 points (one thread, busy machine, median of
# 8): 13.6 ms at 2^17, 14.7 ms at 2^18, 22.6 ms at 2^19, 17.0 ms at 2^16; 2^18 rather
# than 2^17 halves the number of parallel regions when torch runs several threads. On an
# accelerator 2^24 (64 MiB in float32): chunks large enough that no kernel is
# launch-bound.
WORK_ELEMENTS = 2**18
DEVICE_WORK_ELEMENTS = 2**24
# Work (N K n entries) from which a CPU score with full covariances runs in the fused kernel
# (numerics.laws.fused) when numba is installed: its first use in a process costs the
# import of numba and the load of the compiled kernel (~0.5 s), repaid at this size within
# a few dozen calls (a sampler's); smaller calls, the exact checks' and most tests', stay
# in torch.
FUSED_ELEMENTS = 2**19
# Isotropic noise variances up to this are added to finite covariances without a
# finiteness check (``GaussianMixture.convolved``): below half an ulp of the float64
# maximum (2^970 ≈ 9.98e291), ``Σ_ii + s²`` rounds to at most the maximum for any finite
# ``Σ_ii``. Real noise variances are at most ~1e4 (VE's σ_max² = 2500).
MAX_TRUSTED_NOISE = 1e291


class GaussianMixture(Distribution):
    """``Σ_k w_k N(μ_k, Σ_k)``; ``weights (K,)``, ``means (K, n)``, ``covs (K, n, n)``."""

    def __init__(
        self,
        weights,
        means,
        covs,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        validate: bool = True,
        scale_tril: torch.Tensor | None = None,
    ) -> None:
        """``scale_tril``: the Cholesky factors of ``½ (covs + covsᵀ)`` ``(K, n, n)`` as
        ``torch.linalg.cholesky_ex`` gives them, when the caller has them already (the spec
        reader's certificate, projcomp.spec); they are then not computed again."""
        ref = means if isinstance(means, torch.Tensor) else None
        self.dtype = dtype or (ref.dtype if ref is not None else DEFAULT_DTYPE)
        self.device = torch.device(device) if device else (ref.device if ref is not None else
                                                           torch.device("cpu"))
        w = self._as_tensor(weights, "weights")
        mu = self._as_tensor(means, "means")
        cov = self._as_tensor(covs, "covs")
        if mu.dim() != 2:
            raise ValueError(f"means must have shape (K, n), got {tuple(mu.shape)}")
        k, n = mu.shape
        if w.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {tuple(w.shape)}")
        if cov.shape != (k, n, n):
            raise ValueError(f"covs must have shape ({k}, {n}, {n}), got {tuple(cov.shape)}")
        if validate:
            _validate_weights(w)
            _validate_covs(cov)
        self.dim = n
        self.weights = w
        self.means = mu
        self.covs = 0.5 * (cov + cov.transpose(-1, -2))
        self.log_weights = torch.log(w)
        if scale_tril is not None:
            self._factor = scale_tril, torch.zeros(k, dtype=torch.int32, device=self.device)
        if validate:
            if self.is_diagonal and not (self.variances > 0).all():
                raise ValueError("covs must be positive definite (a diagonal entry is <= 0)")
            if not self.is_diagonal and (self._factor[1] != 0).any():
                bad = int(torch.nonzero(self._factor[1])[0])
                raise ValueError(f"covs[{bad}] is not positive definite")

    # The factorization is computed on first use (validation forces it): a mixture made by
    # an operation (noising, marginals; ``validate=False``) and only compared in closed form
    # (numerics.checks.metrics uses weights, means and covariances) never factorizes.
    @cached_property
    def is_diagonal(self) -> bool:
        off = self.covs - torch.diag_embed(torch.diagonal(self.covs, dim1=-2, dim2=-1))
        return bool((off == 0).all())

    @cached_property
    def variances(self) -> torch.Tensor:
        """Diagonal covariances: their diagonals ``(K, n)``."""
        return torch.diagonal(self.covs, dim1=-2, dim2=-1)

    @cached_property
    def _factor(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``cholesky_ex`` of the covariances: factors ``(K, n, n)`` and ``info`` ``(K,)``."""
        return torch.linalg.cholesky_ex(self.covs)

    @property
    def scale_tril(self) -> torch.Tensor:
        """Cholesky factors ``L_k`` ``(K, n, n)``, ``Σ_k = L_k L_kᵀ`` (full covariances)."""
        return self._factor[0]

    @cached_property
    def log_dets(self) -> torch.Tensor:
        """``log det Σ_k`` ``(K,)``."""
        if self.is_diagonal:
            return torch.log(self.variances).sum(-1)
        return 2.0 * torch.log(torch.diagonal(self.scale_tril, dim1=-2, dim2=-1)).sum(-1)

    @classmethod
    def gaussian(cls, mean, cov, **kw) -> GaussianMixture:
        """A single Gaussian ``N(mean, cov)`` as a one-component mixture."""
        mean = torch.as_tensor(mean, dtype=kw.get("dtype") or DEFAULT_DTYPE)
        cov = torch.as_tensor(cov, dtype=mean.dtype)
        return cls(torch.ones(1, dtype=mean.dtype), mean[None], cov[None], **kw)

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.num_components}, dim={self.dim})"

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    # densities ----------------------------------------------------------------------
    @cached_property
    def _whitening(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c, A, ℓ₀)`` for ``z = (x − c) W − b`` (module docstring): the centre ``c``
        ``(n,)``; ``A = [W; −b]`` ``(n + 1, K n)`` with ``W[j, k n + i] = (L_k⁻¹)_ij`` and
        ``b[k n + i] = (L_k⁻¹ (μ_k − c))_i``, or in the diagonal case ``A`` ``(2, K, n)``:
        inverse standard deviations and ``b``; and ``ℓ₀ = log w − ½ log det Σ − (n/2) log 2π``
        ``(K,)``."""
        k, n = self.means.shape
        centre = self.mean
        log_norm = self.log_weights - 0.5 * (n * math.log(2 * math.pi) + self.log_dets)
        if self.is_diagonal:
            inv_sd = self.variances.rsqrt()
            return centre, torch.stack([inv_sd, (self.means - centre) * inv_sd]), log_norm
        eye = torch.eye(n, dtype=self.dtype, device=self.device).expand(k, n, n)
        inv_tril = torch.linalg.solve_triangular(self.scale_tril, eye, upper=False)
        bias = (inv_tril @ (self.means - centre)[..., None])[..., 0]
        affine = torch.cat([inv_tril.permute(2, 0, 1).reshape(n, k * n), -bias.reshape(1, -1)])
        return centre, affine, log_norm

    @cached_property
    def _products(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Full covariances: the whitening's factors laid out for the two products of
        the score, ``Wᵀ`` ``(K n, n)``, ``−b`` ``(K n, 1)`` and ``−W`` ``(n, K n)`` (the
        score's sign folded in: negation is exact), each contiguous."""
        affine = self._whitening[1]
        weight = affine[:-1].contiguous()
        return weight.T.contiguous(), affine[-1:].T.contiguous(), -weight

    def _terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For points ``x`` ``(N, n)``: logits ``ℓ_k = log w_k N(x; μ_k, Σ_k)`` ``(K, N)`` and
        whitened residuals ``z_k = L_k⁻¹ (x − μ_k)`` ``(K, n, N)``, points last: every
        elementwise step and every reduction over ``k`` or ``i`` then runs along contiguous
        rows of length ``N`` (broadcasting over a last axis of length ``n`` measured 1.6×
        slower). ``z`` is one matrix product ``Wᵀ (x − c)ᵀ − b`` (the bias added by
        ``addmm``)."""
        centre, affine, log_norm = self._whitening
        k, n = self.means.shape
        lifted = (x - centre).T
        if self.is_diagonal:
            z = lifted[None] * affine[0, :, :, None] - affine[1, :, :, None]
        else:
            weight_t, neg_bias, _ = self._products
            z = torch.addmm(neg_bias, weight_t, lifted).view(k, n, -1)
        return torch.sub(log_norm[:, None], (z * z).sum(1), alpha=0.5), z

    def _flat(self, x: torch.Tensor) -> tuple[torch.Tensor, int, torch.Size]:
        """Points as ``(N, n)`` rows, the rows per chunk (``_chunk_rows``) and the batch
        shape."""
        x = self._check_points(torch.as_tensor(x))
        flat = x.reshape(-1, self.dim)
        return flat, self._chunk_rows(flat.device), x.shape[:-1]

    def _chunk_rows(self, device: torch.device) -> int:
        """Points per chunk, ``WORK_ELEMENTS // (K n)`` on a CPU: the ``(K, n, rows)`` work
        arrays stay cache-sized."""
        work = WORK_ELEMENTS if device.type == "cpu" else DEVICE_WORK_ELEMENTS
        return max(1, work // (self.num_components * self.dim))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        flat, rows, batch = self._flat(x)
        out = []
        for c in flat.split(rows):
            logits = self._terms(c)[0]
            top = logits.amax(0)
            out.append(top + _exp_shifted(logits, top).sum(0).log())
        return torch.cat(out).reshape(batch) if out else flat.new_empty(batch)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """``−Σ_k r_k(x) Σ_k⁻¹ (x − μ_k)`` with responsibilities ``r = softmax(log w_k N_k)``:
        ``(..., n) -> (..., n)``."""
        flat, rows, batch = self._flat(x)
        if self._differentiated(flat):  # e.g. Jacobians of C19: no in-place steps
            parts = [self._score_chunk(c).T for c in flat.split(rows)]
            return torch.cat(parts).reshape(*batch, self.dim) if parts else \
                flat.new_empty(*batch, self.dim)
        out = torch.empty_like(flat)
        self.score_into(flat, out)
        return out.reshape(*batch, self.dim)

    def score_into(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """``score`` of points ``x`` ``(N, n)`` written into ``out`` ``(N, n)`` (any
        strides: a block's columns of a product's result, ``BlockProduct.score``), chunk
        by chunk, in place (not for autograd: ``_differentiated``)."""
        if self._fuses(x) and mixture_score_into(x, self._kernel_params, out):
            return
        rows = self._chunk_rows(x.device)
        for c, o in zip(x.split(rows), out.split(rows), strict=True):
            o.copy_(self._score_chunk(c).T)

    def _fuses(self, x: torch.Tensor) -> bool:
        """Whether ``score_into(x, ·)`` goes to the fused kernel: full covariances, a
        float32 or float64 CPU tensor of the mixture's dtype, ``FUSED_ELEMENTS`` of work."""
        return (x.device.type == "cpu" and x.dtype == self.dtype
                and x.dtype in (torch.float32, torch.float64) and not self.is_diagonal
                and x.shape[0] * self.num_components * self.dim >= FUSED_ELEMENTS)

    @cached_property
    def _kernel_params(self) -> KernelArgs:
        """The whitening as numerics.laws.fused takes it: ``c`` ``(n,)``, ``L_k⁻¹``
        ``(K, n, n)``, ``−b`` ``(K, n)`` and ``ℓ₀`` ``(K,)``, contiguous."""
        centre, affine, log_norm = self._whitening
        k, n = self.means.shape
        inv_tril = affine[:-1].reshape(n, k, n).permute(1, 2, 0)  # [k, i, j] = (L_k⁻¹)_ij
        return (centre.contiguous(), inv_tril.contiguous(),
                affine[-1].reshape(k, n).contiguous(), log_norm.contiguous())

    def _differentiated(self, x: torch.Tensor) -> bool:
        """Whether autograd records the score of ``x`` (through ``x`` or the parameters):
        then no step may run in place."""
        return torch.is_grad_enabled() and (x.requires_grad or self._whitening[1].requires_grad)

    def _score_chunk(self, x: torch.Tensor) -> torch.Tensor:
        """The score of the points ``x`` ``(rows, n)`` of one chunk, points last:
        ``(n, rows)``. In place unless autograd differentiates through ``x``."""
        logits, z = self._terms(x)
        if self._differentiated(x):
            e = _exp_shifted(logits, logits.amax(0))
            z = z * e[:, None, :]
        else:
            e = _exp_shifted_(logits)
            z.mul_(e[:, None, :])
        if self.is_diagonal:
            return (z * self._whitening[1][0, :, :, None]).sum(0) / -e.sum(0)
        grad = torch.mm(self._products[2], z.flatten(0, 1))
        return grad / e.sum(0) if self._differentiated(x) else grad.div_(e.sum(0))

    def to(self, dtype: torch.dtype | None = None,
           device: torch.device | str | None = None) -> GaussianMixture:
        """This mixture in ``dtype`` on ``device``. Every stored tensor, including the
        Cholesky factors and the whitening, is computed in the current dtype first and then
        cast, so a float32 copy of a float64 mixture carries correctly rounded factors
        rather than a float32 factorization."""
        dtype, device = conversion_target(self, dtype, device)
        if dtype == self.dtype and device == self.device:
            return self
        self._whitening  # noqa: B018 -- computed in the source dtype before the cast
        if not self.is_diagonal:
            self._factor  # noqa: B018 -- likewise
        out = copy.copy(self)
        for derived in ("_products", "_kernel_params"):  # rebuilt from the converted whitening
            out.__dict__.pop(derived, None)
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(out, name, value.to(dtype=dtype, device=device))
        out._whitening = tuple(v.to(dtype=dtype, device=device) for v in self._whitening)
        if "_factor" in vars(self):
            factor, info = self._factor
            out._factor = factor.to(dtype=dtype, device=device), info.to(device=device)
        out.dtype, out.device = dtype, out.means.device
        return out

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.dtype, device=self.device)
        if self.is_diagonal:
            return self.means[idx] + eps * self.variances[idx].sqrt()
        return self.means[idx] + (self.scale_tril[idx] @ eps[..., None])[..., 0]

    # closure operations -------------------------------------------------------------
    def _like(self, weights, means, covs) -> GaussianMixture:
        return GaussianMixture(weights, means, covs, dtype=self.dtype, device=self.device,
                               validate=False)

    def _derived(self, means: torch.Tensor, covs: torch.Tensor) -> GaussianMixture:
        """A mixture with this one's weights (and log-weights, dtype, device) and the
        means ``(K, m)`` and covariances ``(K, m, m)`` of an operation that keeps every
        entry finite and every covariance exactly symmetric (this mixture's covariances
        are: the constructor symmetrizes them). The constructor's conversions, finiteness
        checks and symmetrization would return these tensors unchanged, so they are
        skipped: noising an FC family builds ~100 small mixtures per time."""
        out = object.__new__(GaussianMixture)
        out.dtype, out.device, out.dim = self.dtype, self.device, means.shape[-1]
        out.weights, out.log_weights = self.weights, self.log_weights
        out.means, out.covs = means, covs
        return out

    def convolved(self, a: float, noise_cov) -> GaussianMixture:
        """``a X + η``: means ``a μ_k``, covariances ``a² Σ_k + Cov(η)``. Isotropic noise
        ``s² I`` with ``|a| ≤ 1`` and ``0 ≤ s² ≤ MAX_TRUSTED_NOISE`` keeps every entry
        finite and every covariance exactly symmetric: the result is ``_derived``."""
        scaled = a * a * self.covs
        if isinstance(noise_cov, (int, float)) and abs(a) <= 1.0 \
                and 0.0 <= noise_cov <= MAX_TRUSTED_NOISE:
            noise = torch.add(scaled, _identity(self.dim, self.dtype, self.device),
                              alpha=float(noise_cov))
            return self._derived(a * self.means, noise)
        return self._like(self.weights, a * self.means,
                          scaled + noise_matrix(noise_cov, self.dim, self.means))

    def marginal(self, coords: Sequence[int]) -> GaussianMixture:
        """The mixture of ``x|coords``: means ``μ_k[coords]``, covariances
        ``Σ_k[coords, coords]`` (entries of this mixture's: ``_derived``)."""
        idx = torch.as_tensor(check_coords(coords, self.dim), dtype=torch.long,
                              device=self.device)
        return self._derived(self.means[:, idx], self.covs[:, idx][:, :, idx])

    def pushforward(self, matrix, offset=None) -> GaussianMixture:
        """``A♯p`` for ``x ↦ A x + c``: means ``A μ_k + c``, covariances ``A Σ_k Aᵀ``.

        ``A`` must have full row rank, or the image is degenerate (no density).
        """
        a = torch.as_tensor(matrix, dtype=self.dtype, device=self.device)
        c = torch.zeros(a.shape[0], dtype=self.dtype, device=self.device) if offset is None \
            else torch.as_tensor(offset, dtype=self.dtype, device=self.device)
        check_full_row_rank(a)
        return self._like(self.weights, self.means @ a.T + c, a @ self.covs @ a.T)

    def to_mixture(self) -> GaussianMixture:
        return self

    def merged(self, rtol: float = 1e-10) -> GaussianMixture:
        """Identical components (equal mean and covariance up to ``rtol`` relative) merged,
        weights added. Marginals of expanded products repeat components; merging restores
        the small mixture they came from."""
        scale = float(self.means.abs().max()) + float(self.covs.abs().max()) + 1e-300
        keep: list[int] = []
        weights: list[torch.Tensor] = []
        for j in range(self.num_components):
            for slot, i in enumerate(keep):
                if (torch.allclose(self.means[j], self.means[i], rtol=0, atol=rtol * scale)
                        and torch.allclose(self.covs[j], self.covs[i], rtol=0, atol=rtol * scale)):
                    weights[slot] = weights[slot] + self.weights[j]
                    break
            else:
                keep.append(j)
                weights.append(self.weights[j])
        if len(keep) == self.num_components:
            return self
        idx = torch.as_tensor(keep, device=self.device)
        return self._like(torch.stack(weights), self.means[idx], self.covs[idx])

    @property
    def mean(self) -> torch.Tensor:
        return self.weights @ self.means

    @property
    def covariance(self) -> torch.Tensor:
        """Law of total variance: ``E[Σ_k] + Cov(μ_k)`` over the component index."""
        m = self.mean
        centered = self.means - m
        within = torch.einsum("k,kij->ij", self.weights, self.covs)
        between = torch.einsum("k,ki,kj->ij", self.weights, centered, centered)
        return within + between


@cache
def _identity(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The ``(n, n)`` identity, made once per shape, dtype and device (never written to:
    ``convolved`` only reads it)."""
    return torch.eye(n, dtype=dtype, device=device)


def _exp_shifted(logits: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """``exp(ℓ − top)`` with arguments clamped at ``log(tiny) + 1`` of the dtype: terms
    below it are under the dtype's resolution next to the largest (which is 1), and the
    clamp keeps ``exp`` out of its slow subnormal range."""
    floor = math.log(torch.finfo(logits.dtype).tiny) + 1.0
    return torch.exp((logits - top).clamp_(min=floor))


def _exp_shifted_(logits: torch.Tensor) -> torch.Tensor:
    """``_exp_shifted(ℓ, max_k ℓ)`` of logits ``(K, N)``, computed in place in ``logits``."""
    floor = math.log(torch.finfo(logits.dtype).tiny) + 1.0
    return logits.sub_(logits.amax(0)).clamp_(min=floor).exp_()


def _validate_weights(w: torch.Tensor) -> None:
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got minimum {float(w.min()):.3g}")
    total = float(w.sum())
    if abs(total - 1.0) > WEIGHT_SUM_TOL:
        raise ValueError(f"weights must sum to 1, they sum to {total:.12g}")


def _validate_covs(cov: torch.Tensor) -> None:
    scale = cov.abs().amax(dim=(-1, -2)).clamp_min(1e-300)
    asym = (cov - cov.transpose(-1, -2)).abs().amax(dim=(-1, -2)) / scale
    if (asym > SYMMETRY_TOL).any():
        bad = int(torch.nonzero(asym > SYMMETRY_TOL)[0])
        raise ValueError(f"covs[{bad}] is not symmetric "
                         f"(relative asymmetry {float(asym[bad]):.2g})")
    _, info = torch.linalg.cholesky_ex(0.5 * (cov + cov.transpose(-1, -2)))
    if (info != 0).any():
        bad = int(torch.nonzero(info)[0])
        raise ValueError(f"covs[{bad}] is not positive definite")
