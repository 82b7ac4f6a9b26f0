"""Scene laws (numerics.laws.scenes): exact densities, scores, samples and noising of the image
models of THEORY §8, against a brute-force sum over every occupancy pattern."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from numerics.composition.compose import compose, compose_exponents, weighted_exponents
from numerics.laws import BlockProduct, GaussianMixture
from numerics.laws.family import Family
from numerics.laws.processes import VP
from numerics.laws.scenes import (
    RATE_TOL,
    Scene,
    SceneComposition,
    SceneLaw,
    binomial_counts,
    clevr_scene,
    uniform_counts,
)
from numerics.laws.unnormalized import NonNormalizable

F64 = torch.float64
# float64 sums of a few hundred terms of size ≤ 1e3: round-off stays below 1e-10
ROUNDOFF = 1e-10


def tiny_scene() -> Scene:
    """2×2 cells of one RGB pixel, two templates, noise large enough that occupancy is
    ambiguous (every pattern contributes to the density)."""
    templates = torch.tensor([[1.0, 0.2, 0.0], [0.0, 0.5, 1.0]], dtype=F64)
    return Scene(2, 2, 1, 3, templates, ("a", "b"), noise=0.4)


LAWS = [
    ((), (1.0,)),                      # empty scene
    ((2,), (1.0,)),                    # one object at cell 2
    ((), (0.0, 1.0)),                  # one object somewhere
    ((1,), uniform_counts(2)),         # object at 1 plus 0..2 others
    ((), uniform_counts(3)),           # clutter 0..3
    ((0, 3), binomial_counts(2, 0.3)),  # required pair, independent clutter
]


def brute_log_prob(law: SceneLaw, x: torch.Tensor) -> torch.Tensor:
    """``log Σ_S π(S) Π_{j∈S} q1(x_j) Π_{j∉S} q0(x_j)`` by enumerating every pattern."""
    scene, d = law.scene, law.scene.cell_dim
    eye = law.variance * torch.eye(d, dtype=F64)
    t = len(scene.templates)
    q0 = GaussianMixture.gaussian(torch.zeros(d, dtype=F64), eye)
    q1 = GaussianMixture(torch.full((t,), 1.0 / t, dtype=F64), law.scale * scene.templates,
                         eye.expand(t, d, d))
    cells = scene.split(x)
    l0, l1 = q0.log_prob(cells), q1.log_prob(cells)
    free = [j for j in range(scene.locations) if j not in law.required]
    terms = []
    for m, w in enumerate(law.extra.tolist()):
        for extra in itertools.combinations(free, m):
            if w == 0.0:
                continue
            occupied = set(extra) | set(law.required)
            terms.append(math.log(w / math.comb(len(free), m)) + sum(
                l1[..., j] if j in occupied else l0[..., j] for j in range(scene.locations)))
    return torch.logsumexp(torch.stack(terms), 0)


def points(scene: Scene, n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.8 * torch.randn(n, scene.dim, generator=g, dtype=F64) + 0.3


@pytest.mark.parametrize(("required", "extra"), LAWS)
def test_log_prob_matches_the_sum_over_patterns(required, extra):
    scene = tiny_scene()
    for law in (SceneLaw(scene, required, extra),
                SceneLaw(scene, required, extra, scale=0.6, variance=0.3)):
        x = points(scene)
        assert torch.allclose(law.log_prob(x), brute_log_prob(law, x), atol=ROUNDOFF, rtol=0)


@pytest.mark.parametrize(("required", "extra"), LAWS)
def test_score_is_the_gradient_of_the_brute_force_density(required, extra):
    law = SceneLaw(tiny_scene(), required, extra, scale=0.9)
    x = points(law.scene, seed=1).requires_grad_(True)
    (grad,) = torch.autograd.grad(brute_log_prob(law, x).sum(), x)
    assert law.score(x.detach()).shape == x.shape
    assert torch.allclose(law.score(x.detach()), grad, atol=ROUNDOFF, rtol=0)


def test_batch_shapes():
    law = SceneLaw(tiny_scene(), (1,), uniform_counts(2))
    x = points(law.scene, n=12).reshape(3, 4, -1)
    assert law.log_prob(x).shape == (3, 4)
    assert law.score(x).shape == x.shape
    assert law.occupancy_posterior(x).shape == (3, 4, law.scene.locations)


def test_composition_is_the_weighted_sum_of_members():
    scene = tiny_scene()
    members = [SceneLaw(scene, (), uniform_counts(2)), SceneLaw(scene, (0,), uniform_counts(2)),
               SceneLaw(scene, (3,), uniform_counts(2))]
    exponents = [-1.0, 1.0, 1.0]
    composed = SceneComposition(members, exponents)
    x = points(scene, seed=2)
    assert torch.allclose(composed.log_prob(x),
                          sum(e * p.log_prob(x) for p, e in zip(members, exponents, strict=True)),
                          atol=ROUNDOFF, rtol=0)
    assert torch.allclose(composed.score(x),
                          sum(e * p.score(x) for p, e in zip(members, exponents, strict=True)),
                          atol=ROUNDOFF, rtol=0)


def test_composition_refuses_laws_at_different_noise():
    scene = tiny_scene()
    with pytest.raises(ValueError, match="share"):
        SceneComposition([SceneLaw(scene), SceneLaw(scene, (0,), variance=0.5)], [0.0, 1.0])


def test_noising_is_closed_form():
    """``N_t[p]``: scale ``a_t``, variance ``a_t² v + s_t²``; for a product law it is the
    block product's own noising (an independent closed form)."""
    law = SceneLaw(tiny_scene(), (1,), binomial_counts(3, 0.25))
    process = VP()
    a, s = process.coefficients(0.3)
    noisy = law.noised(0.3, process)
    assert math.isclose(noisy.scale, a) and math.isclose(noisy.variance, a * a * 0.16 + s * s)
    reference = law.as_block_product().noised(0.3, process)
    x = points(law.scene, seed=3)
    assert torch.allclose(noisy.log_prob(x), reference.log_prob(x), atol=1e-8, rtol=0)
    assert torch.allclose(noisy.score(x), reference.score(x), atol=1e-8, rtol=0)
    with pytest.raises(NotImplementedError):
        law.convolved(1.0, torch.eye(law.dim, dtype=F64))


def test_product_laws_are_block_products():
    scene = tiny_scene()
    assert SceneLaw(scene, (2,)).is_product
    assert SceneLaw(scene, (), binomial_counts(4, 0.2)).is_product
    assert not SceneLaw(scene, (), uniform_counts(2)).is_product
    with pytest.raises(ValueError, match="dependent"):
        SceneLaw(scene, (), (0.0, 1.0)).as_block_product()


# Occupancy frequencies of 20,000 draws: a binomial proportion's standard error is at most
# 0.0036; 6 of them bound a false failure by 2e-9 per cell.
DRAWS = 20_000
FREQUENCY_TOL = 6 * 0.5 / math.sqrt(DRAWS)


@pytest.mark.parametrize(("required", "extra"), LAWS)
def test_samples_have_the_law_of_the_patterns(required, extra):
    scene = clevr_scene(2, 2)
    law = SceneLaw(scene, required, extra)
    x = law.sample(DRAWS, torch.Generator().manual_seed(4))
    assert x.shape == (DRAWS, scene.dim)
    occupied = scene.occupied(x)
    assert torch.allclose(occupied.double().mean(0), law.occupation, atol=FREQUENCY_TOL)
    counts = torch.bincount(occupied.sum(1) - len(required), minlength=len(law.extra))
    assert torch.allclose(counts.double() / DRAWS, law.extra, atol=FREQUENCY_TOL)
    assert ((occupied[:, list(required)]).all() if required else True)


def test_mean_matches_samples():
    law = SceneLaw(clevr_scene(2, 2), (0,), uniform_counts(2), scale=0.7)
    x = law.sample(DRAWS, torch.Generator().manual_seed(5))
    # pixel means: |values| ≤ 1, noise 0.1; 6 standard errors of ≤ 0.5 / √N
    assert torch.allclose(x.mean(0), law.mean, atol=FREQUENCY_TOL)


def test_counting_rule_on_clean_images():
    scene = clevr_scene(2, 2)
    objects = torch.zeros(len(scene.templates), scene.locations, scene.cell_dim, dtype=F64)
    objects[:, 1] = scene.templates
    x = scene.join(objects)
    assert torch.allclose(scene.brightness(x)[:, 1], torch.ones(len(scene.templates), dtype=F64))
    assert scene.occupied(x).sum(1).tolist() == [1] * len(scene.templates)
    assert not scene.occupied(0.45 * x).any()


def test_float32_copy_agrees():
    law = SceneLaw(clevr_scene(2, 2), (1,), uniform_counts(2))
    x = law.sample(50, torch.Generator().manual_seed(6))
    low = law.to(torch.float32)
    assert low.dtype == torch.float32 and law.to(F64) is law
    # float32 scores of size ~1/v = 100: relative round-off ~1e-6 of the largest entry
    assert torch.allclose(low.score(x.float()).double(), law.score(x), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize(("required", "extra", "message"), [
    ((4,), (1.0,), "required"), ((0, 0), (1.0,), "required"),
    ((), (0.5, 0.4), "extra"), ((0, 1, 2), (0.2, 0.3, 0.5), "extra"),
])
def test_invalid_laws_are_refused(required, extra, message):
    with pytest.raises(ValueError, match=message):
        SceneLaw(tiny_scene(), required, extra)


def test_bayes_composition_dims_the_objects_to_one_over_k():
    """The report's t = 0 reading of Bayes composition (C11): along images with the k
    requested objects drawn as one template at brightness b (others empty), ``log C[p⃗]``
    peaks at b = 1/k. The plus templates are used: inside a square, the plus (a subset of
    its pixels) has the larger likelihood ratio at low brightness, which moves the peak
    along a square's direction to |plus|² / (k |square|²)."""
    scene = clevr_scene()
    background = SceneLaw(scene, (), (0.0, 1.0))
    brightness = torch.linspace(0.05, 1.2, 231, dtype=F64)
    for k in (2, 3, 5):
        members = [background, *(SceneLaw(scene, (c,)) for c in range(k))]
        composed = SceneComposition(members, [1.0 - k] + [1.0] * k)
        cells = torch.zeros(len(brightness), scene.locations, scene.cell_dim, dtype=F64)
        plus = scene.templates[scene.names.index("red plus")]
        cells[:, :k] = brightness[:, None, None] * plus
        best = brightness[composed.log_prob(scene.join(cells)).argmax()]
        # grid spacing 0.005: the peak is found to within half of it, plus round-up
        assert abs(float(best) - 1.0 / k) <= 0.005


# --- composing scene laws: the compose_with hook (THEORY §2, C1) -----------------------------
# (rows, cols) of clevr scenes composed below, from one cell pair to the experiment's 3×3
GRIDS = [(1, 2), (2, 2), (2, 3), (3, 3)]
# Independent clutter rate of the product backgrounds below.
RATE = 0.3
# Composed scores and log-densities of scene laws: float64 sums of k + 1 terms of size up
# to |x|²/v ~ 1e5 (log-densities) and |x|/v ~ 1e2 (scores); measured round-off ≤ 5.1e-11
# over the grids and seeds below, 1e-8 leaves a 200-fold margin.
COMPOSED_ROUNDOFF = 1e-8


def random_cells(scene: Scene, seed: int, least: int = 1) -> list[int]:
    """A random set of at least ``least`` cells of ``scene`` (the conditionals' objects)."""
    g = torch.Generator().manual_seed(seed)
    k = int(torch.randint(least, scene.locations + 1, (1,), generator=g))
    return sorted(torch.randperm(scene.locations, generator=g)[:k].tolist())


def scene_family(scene: Scene, background: str, cells: list[int],
                 weights: tuple[float, ...] | None = None) -> Family:
    """``(p_b, p_ℓ for ℓ in cells)``: an empty or independently cluttered background
    (product laws, FC with ``M_ℓ`` = cell ℓ), a Bayes one (one object anywhere) or a
    cluttered one (0..2 objects at distinct random cells, fewer where fewer cells are
    free), and "object at ℓ" conditionals that keep the background's law elsewhere where
    it is a product."""
    free = scene.locations - 1
    clutter = min(2, free)
    background_extra, conditional_extra = {
        "empty": ((1.0,), (1.0,)),
        "independent": (binomial_counts(scene.locations, RATE), binomial_counts(free, RATE)),
        "bayes": ((0.0, 1.0), (1.0,)),
        "cluttered": (uniform_counts(clutter), uniform_counts(clutter)),
    }[background]
    return Family(SceneLaw(scene, (), background_extra),
                  tuple(SceneLaw(scene, (c,), conditional_extra) for c in cells),
                  weights=weights)


def summed(members, exponents, method: str, x: torch.Tensor) -> torch.Tensor:
    """``Σ_m e_m p_m.method(x)``: the composed log-density or score, member by member."""
    return sum(e * getattr(p, method)(x) for p, e in zip(members, exponents, strict=True))


@pytest.mark.parametrize(("rows", "cols"), GRIDS)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("background", ["empty", "independent"])
def test_fc_scene_families_compose_to_the_product_scene_law(rows, cols, seed, background):
    """C1 through ``compose``: the scene law with the requested cells occupied and the
    others as in the background, with ``Z = 1`` (its log-density equals
    ``Σ e_m log p_m`` exactly), at ``t = 0`` and along the noisy path."""
    scene = clevr_scene(rows, cols)
    cells = random_cells(scene, seed)
    family = scene_family(scene, background, cells)
    exponents = weighted_exponents(family)
    for t in (0.0, 0.05, 0.5):
        noisy = family.noised(t) if t else family
        result = compose(noisy)
        assert isinstance(result, SceneLaw) and result.required == tuple(cells)
        free = scene.locations - len(cells)
        expected = (1.0,) if background == "empty" or not free else binomial_counts(free, RATE)
        assert torch.allclose(result.extra, torch.as_tensor(expected, dtype=F64),
                              atol=RATE_TOL, rtol=0)
        x = points(scene, n=8, seed=seed)
        for method in ("log_prob", "score"):
            assert torch.allclose(getattr(result, method)(x),
                                  summed(noisy.members, exponents, method, x),
                                  atol=COMPOSED_ROUNDOFF, rtol=0)


@pytest.mark.parametrize(("rows", "cols"), GRIDS)
@pytest.mark.parametrize("background", ["bayes", "cluttered"])
def test_dependent_scene_families_compose_to_a_scene_composition(rows, cols, background):
    """Without product members (or with exponents that do not cancel cell by cell: C_w,
    C14) ``compose`` gives the exact score ``Σ e_m ∇log p_m`` as a SceneComposition (with
    k ≥ 2: for k = 1 the background's exponent is 0 and ``C[p⃗] = p_1``)."""
    scene = clevr_scene(rows, cols)
    x = points(scene, n=8, seed=rows)
    for family in (scene_family(scene, background, random_cells(scene, rows * cols, least=2)),
                   scene_family(scene, "empty", [0], weights=(2.0,))):
        result = compose(family)
        assert isinstance(result, SceneComposition)
        assert torch.allclose(result.score(x), summed(family.members,
                                                      weighted_exponents(family), "score", x),
                              atol=COMPOSED_ROUNDOFF, rtol=0)


def test_scene_compositions_refuse_non_decaying_tails():
    """``Z < ∞`` iff ``Σ_g e_g > 0`` (SceneComposition's docstring): compose raises
    NonNormalizable for ``Σ e ≤ 0``, and scene laws at different noise levels are refused."""
    scene = tiny_scene()
    empty, one, clutter = SceneLaw(scene), SceneLaw(scene, (0,)), SceneLaw(scene, (),
                                                                          uniform_counts(2))
    for exponents in ([-1.0, 1.0, 0.0], [-2.0, 1.0, 0.5], [0.0, 0.0, -0.5]):
        with pytest.raises(NonNormalizable, match="Σ e_g"):
            compose_exponents([empty, one, clutter], exponents)
    assert isinstance(compose_exponents([empty, one, clutter], [-1.0, 1.0, 0.5]),
                      SceneComposition)
    with pytest.raises(ValueError, match="share"):
        compose_exponents([empty, SceneLaw(scene, (0,), variance=0.5)], [-1.0, 2.0])


# A one-pixel scene with one template: every member's density is a 1-D function, so
# ∫ Π p_g^{e_g} can be summed on a grid. Step 1e-3 on [−R, R]; nested windows share their
# nodes, so two windows differ only by the mass between them.
QUAD_STEP = 1e-3
QUAD_WINDOWS = (32.0, 64.0)
# A converged integral: the mass beyond |x| = 32 is below exp(−0.1·32²/(2·0.25)) ~ e^-204
# for Σe ≥ 0.1; float64 log-sum-exp of 1.3e5 terms agrees to ~1e-12.
QUAD_CONVERGED = 1e-9


@pytest.mark.parametrize(("exponents", "normalizable"), [
    ((-1.0, 1.0, 0.5), True), ((-2.0, 1.5, 1.0), True), ((0.1, 0.0, 0.0), True),
    ((1.0, -1.0, 0.5), True), ((-1.0, 1.0, 0.0), False), ((0.5, 0.0, -1.0), False),
    ((-1.5, 1.0, 0.0), False), ((1.0, -1.0, 0.0), False),
])
def test_normalizability_matches_quadrature_of_the_tails(exponents, normalizable):
    """The tail claim of SceneComposition, numerically: on a 1-pixel cell (template 1,
    variance 0.25) ``log ∫_{−R}^{R} Π p_g^{e_g}`` converges as ``R`` doubles when
    ``Σ e > 0`` and grows at least by ``log 2`` when ``Σ e ≤ 0`` (here ``Z = ∞``: one
    template does not span ``R`` in both directions), and the constructor agrees."""
    scene = Scene(1, 1, 1, 1, torch.ones(1, 1, dtype=F64), ("dot",), noise=0.5)
    members = [SceneLaw(scene), SceneLaw(scene, (0,)), SceneLaw(scene, (), (0.5, 0.5))]
    logs = []
    for radius in QUAD_WINDOWS:
        x = torch.arange(-radius, radius + QUAD_STEP / 2, QUAD_STEP, dtype=F64)[:, None]
        log_q = summed(members, exponents, "log_prob", x)
        logs.append(float(torch.logsumexp(log_q, 0)) + math.log(QUAD_STEP))
    if normalizable:
        assert math.isfinite(logs[1]) and abs(logs[1] - logs[0]) <= QUAD_CONVERGED
        SceneComposition(members, exponents)
    else:
        assert logs[1] - logs[0] >= math.log(2.0)
        with pytest.raises(NonNormalizable):
            SceneComposition(members, exponents)


def test_factorized_form_and_marginals():
    """A product law exposes its block product (the same law) and its cells' marginals;
    a law with dependent cells is its own factorized form and has no closed-form marginal."""
    scene = tiny_scene()
    product = SceneLaw(scene, (1,), binomial_counts(3, 0.25))
    blocks = product.factorized()
    x = points(scene, seed=7)
    assert isinstance(blocks, BlockProduct)
    assert torch.allclose(blocks.log_prob(x), product.log_prob(x), atol=ROUNDOFF, rtol=0)
    cell = scene.cells[1].tolist()
    own = product.marginal(cell)
    assert torch.allclose(own.log_prob(x[:, cell]), blocks.marginal(cell).log_prob(x[:, cell]),
                          atol=ROUNDOFF, rtol=0)
    dependent = SceneLaw(scene, (), uniform_counts(2))
    assert dependent.factorized() is dependent
    with pytest.raises(NotImplementedError, match="dependent"):
        dependent.marginal(cell)


def test_occupation_keeps_the_laws_dtype():
    """Rates in float64 (``torch.where`` with a python scalar would round them to float32)."""
    law = SceneLaw(clevr_scene(), (), binomial_counts(9, 1.5 / 9))
    assert law.occupation.dtype == F64
    assert float(law.occupation[0]) == law.free_rate
