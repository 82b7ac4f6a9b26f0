"""C15 (ext, THEORY §7): the predictive power of the Lemma 8.1 heuristic and of the C20
locality statistic, over random families of named classes whose truth is computable.

**Classes.** Every family has ``n ∈ [2, 6]`` coordinates, ``k ∈ [2, min(3, n)]``
conditionals, a random partition ``M_1..M_k`` (with a background block ``M_b`` of the
coordinates left over), *Gaussian* background blocks (so that ``C[p⃗]`` and ``C[p⃗^t]``
are exact mixtures for every class, THEORY §6) and conditionals that replace their own
block by a Gaussian mixture of 1–2 components (standard deviations in ``[0.5, 1.6]``,
means in ``[-2, 2]``). The classes (:data:`CLASSES`):

- ``coordinate``: FC in coordinate blocks (C1–C3);
- ``orthogonal``, ``block-orthogonal``, ``shear``, ``general linear``: the same family
  in the features ``z = A x`` of a Haar rotation (C7), of ``A = D Q`` with ``D``
  block-diagonal (C8), of a shear ``A = I + U`` (``U`` strictly upper triangular,
  entries in ``[-2, 2]``) and of ``A = U diag(σ) Vᵀ`` with ``cond A ≤ 10`` (C9);
- ``symmetric-mode shear``: THEORY C13's shear family made random — a narrow
  background (sd ``[0.05, 0.2]``) centred at 0 and conditionals whose block is two
  equal modes at ``±v`` (``|v| ∈ [0.3, 0.7]``, sd ``[0.1, 0.2]``), so every mean
  difference is exactly 0 (cosines 0), under a shear as above;
- each FC-violation kind of C16 (``numerics.claims.strategies.VIOLATION_KINDS``) on a
  coordinate family, with the partner another conditional's block, at the sizes
  :data:`SIZES` (cycled through the families of the kind).

**Truths**, each computed by ``projcomp check``'s own sections
(``numerics.checks.judge.check_family``):

- *projective*: ``C[p⃗]`` normalizable and its exact projective gaps (closed form)
  within tolerance;
- *works*: projective and reverse diffusion with the composed scores reaches ``C[p⃗]``
  — decided *exactly* when noise commutes at every time of check's grid (C2, C7, C8:
  the composed scores are then the target's), else by check's calibrated sampling
  verdict (the ODE sampler on the composed scores against an oracle run, Monte Carlo
  test at level :data:`LEVEL`, ``SAMPLES`` draws) when the task asks for it, else
  *undecided* (left out of the second ROC). A non-projective family does not work.

**Predictors** (larger means "predicts failure"): the heuristic ``max_{i≠j} |cos(δ_i,
δ_j)|`` as check reports it (12 digits), predicting failure above
``numerics.checks.heuristic.MAX_COSINE``; the locality statistic ``max_j L_j`` as
check reports it (C20: exactly 0 where FC holds and noise keeps it, else its JVP
estimate at check's smallest time), predicting failure when some ``L_j`` exceeds
:data:`LOCALITY_SE` standard errors; and ``either``, the binary predictor "one of the
two predicts failure" (score 1 or 0).

The sweep is ``mapper(evaluate, tasks)`` (``numerics.campaigns``): each
:class:`Task` carries its own seed, so any mapper gives the same outcomes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace

import torch

from numerics.campaigns import Mapper, serial_map
from numerics.checks.heuristic import MAX_COSINE
from numerics.checks.judge import check_family
from numerics.checks.report import CheckReport, GapSummary, NoiseCommutation
from numerics.claims import roc
from numerics.claims.strategies import (
    VIOLATION_KINDS,
    coupled,
    families_in_feature_space,
    haar_orthogonal,
    shifted,
)
from numerics.laws import BlockProduct, Distribution, GaussianMixture
from numerics.laws.family import Family
from numerics.sampling.report import SamplingSection
from numerics.sampling.section import SamplingOptions

F64 = torch.float64
Partition = list[list[int]]

FC_CLASSES = ("coordinate", "orthogonal", "block-orthogonal", "shear",
              "symmetric-mode shear", "general linear")
CLASSES = (*FC_CLASSES, *VIOLATION_KINDS)
#: Sizes of each FC violation (canonical correlations or shifts in standard deviations,
#: as in ``strategies.fc_violating_families``), cycled through a kind's families.
SIZES = (0.05, 0.2, 0.5, 0.9)
#: Truths and predictors, in the order of the report.
TRUTHS = ("projective", "sampling")
STATISTICS = ("heuristic", "locality", "either")
#: The families each ROC is measured over: the whole sweep, and the families whose FC is
#: judged in coordinates (coordinate FC and the violation kinds) — the only classes over
#: which "projective" varies, since every FC class under a map is projective (C6).
STRATA = {"all": CLASSES, "coordinate": ("coordinate", *VIOLATION_KINDS)}
# Sampled truth: check's sampling section with its own sampler and steps, fewer samples
# (the sweep runs it per family) and check's level 1e-2 (99 null runs): a working family
# is read as failing with probability 0.01 — a label noise that can only lower an AUC.
SAMPLES = 1000
LEVEL = 1e-2
# The locality statistic predicts failure when some L_j exceeds this many standard
# errors (README: "within a few stderr of 0 means local"); one-sided normal tail 1e-3.
LOCALITY_SE = 3.0
# Shear entries, general linear maps' condition number (strategies.linear_maps' default).
SHEAR = 2.0
MAX_CONDITION = 10.0


@dataclass(frozen=True)
class Task:
    """One family of the sweep: its class, violation size (0 for FC classes), seed,
    and whether the calibrated sampling verdict may run when noise does not commute."""

    cls: str
    seed: int
    size: float = 0.0
    sample: bool = False


@dataclass(frozen=True)
class Outcome:
    """One family's truths and predictors (module docstring). ``works`` is None when
    undecided; ``decided_by`` says how (``"not projective"``, ``"noise commutes"``,
    ``"sampling verdict"`` or ``"undecided"``)."""

    cls: str
    seed: int
    size: float
    dim: int
    k: int
    heuristic: float
    locality: float
    nonlocal_: bool
    projective: bool
    works: bool | None
    decided_by: str
    commutation_gap: float | None = None


# families -----------------------------------------------------------------------------
def _uniform(generator: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape or (1,), generator=generator, dtype=F64)


def _integer(generator: torch.Generator, lo: int, hi: int) -> int:
    """Uniform on ``{lo, .., hi}``."""
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def _layout(generator: torch.Generator, n: int, k: int) -> tuple[Partition, list[int]]:
    """``k`` non-empty blocks and the background coordinates, at random."""
    order = torch.randperm(n, generator=generator).tolist()
    rest = _integer(generator, 0, n - k)
    m = n - rest
    cuts = sorted((torch.randperm(m - 1, generator=generator)[:k - 1] + 1).tolist())
    ends = [0, *cuts, m]
    return [sorted(order[a:b]) for a, b in itertools.pairwise(ends)], sorted(order[m:])


def _covariance(generator: torch.Generator, d: int, lo: float, hi: float) -> torch.Tensor:
    """``Q diag(σ²) Qᵀ`` with ``Q`` Haar and standard deviations ``σ ∈ [lo, hi]``."""
    q = haar_orthogonal(d, generator)
    sd = _uniform(generator, lo, hi, d)
    return (q * sd * sd) @ q.T


def _gaussian(generator: torch.Generator, d: int) -> GaussianMixture:
    return GaussianMixture.gaussian(_uniform(generator, -2.0, 2.0, d),
                                    _covariance(generator, d, 0.5, 1.6))


def _mixture(generator: torch.Generator, d: int) -> GaussianMixture:
    """1–2 components: means in ``[-2, 2]``, sds in ``[0.5, 1.6]``, weights
    ``softmax(l)``, ``l ∈ [-2, 2]``."""
    c = _integer(generator, 1, 2)
    weights = torch.softmax(_uniform(generator, -2.0, 2.0, c), 0)
    covs = torch.stack([_covariance(generator, d, 0.5, 1.6) for _ in range(c)])
    return GaussianMixture(weights, _uniform(generator, -2.0, 2.0, c, d), covs)


def _symmetric(generator: torch.Generator, d: int) -> GaussianMixture:
    """Two equal modes at ``±v`` (``|v| ∈ [0.3, 0.7]``), sd ``[0.1, 0.2]``: mean exactly 0
    (the two halves cancel exactly in float64)."""
    v = haar_orthogonal(d, generator)[0] * _uniform(generator, 0.3, 0.7)
    cov = _covariance(generator, d, 0.1, 0.2)
    return GaussianMixture(torch.full((2,), 0.5, dtype=F64), torch.stack([v, -v]),
                           torch.stack([cov, cov]))


@dataclass(frozen=True)
class _Parts:
    """An FC family under construction: blocks, all parts (blocks then ``M_b``), the
    background's law per part and each conditional's own block law."""

    blocks: Partition
    parts: Partition
    background: list[GaussianMixture]
    own: list[GaussianMixture]

    def product(self, replaced: dict[int, Distribution]) -> BlockProduct:
        return BlockProduct([(p, replaced.get(j, d)) for j, (p, d) in
                             enumerate(zip(self.parts, self.background, strict=True))])

    def family(self, name: str) -> Family:
        members = [self.product({i: self.own[i]}) for i in range(len(self.blocks))]
        return Family(self.product({}), tuple(members),
                      projections=tuple(tuple(b) for b in self.blocks), name=name)


def _fc_parts(generator: torch.Generator, symmetric: bool = False) -> _Parts:
    n = _integer(generator, 2, 6)
    k = _integer(generator, 2, min(3, n))
    blocks, rest = _layout(generator, n, k)
    parts = [*blocks, rest] if rest else blocks
    if symmetric:
        background = [GaussianMixture.gaussian(torch.zeros(len(p), dtype=F64),
                                               _covariance(generator, len(p), 0.05, 0.2))
                      for p in parts]
        own = [_symmetric(generator, len(b)) for b in blocks]
    else:
        background = [_gaussian(generator, len(p)) for p in parts]
        own = [_mixture(generator, len(b)) for b in blocks]
    return _Parts(blocks, parts, background, own)


def _feature_map(cls: str, generator: torch.Generator, parts: Partition) -> torch.Tensor:
    """``A`` of the class (rows index feature coordinates)."""
    n = sum(len(p) for p in parts)
    if cls == "orthogonal":
        return haar_orthogonal(n, generator)
    if cls == "block-orthogonal":
        d = torch.zeros(n, n, dtype=F64)
        for part in parts:
            idx = torch.tensor(part)
            sd = MAX_CONDITION ** (_uniform(generator, 0.0, 1.0, len(part)) - 0.5)
            d[idx[:, None], idx[None, :]] = haar_orthogonal(len(part), generator) * sd
        return d @ haar_orthogonal(n, generator)
    if cls in ("shear", "symmetric-mode shear"):
        upper = torch.triu(_uniform(generator, -SHEAR, SHEAR, n, n), diagonal=1)
        return torch.eye(n, dtype=F64) + upper
    # general linear
    u, v = haar_orthogonal(n, generator), haar_orthogonal(n, generator)
    return (u * MAX_CONDITION ** (_uniform(generator, 0.0, 1.0, n) - 0.5)) @ v.T


def _violated(parts: _Parts, kind: str, size: float, generator: torch.Generator) -> Family:
    """The coordinate family of ``parts`` broken between block ``M_i`` and another
    conditional's block ``M_j`` by ``kind`` at ``size``: the constructions of
    ``strategies.fc_violating_families`` (partner ``"conditional"``)."""
    k, blocks = len(parts.blocks), parts.blocks
    i = _integer(generator, 0, k - 1)
    j = (i + _integer(generator, 1, k - 1)) % k
    bg: Distribution = parts.product({})
    members: list[Distribution] = [parts.product({m: parts.own[m]}) for m in range(k)]

    def pick(block: list[int]) -> int:
        return block[_integer(generator, 0, len(block) - 1)]

    if kind == "cross_block_dependence":
        members[i] = coupled(members[i].to_mixture(), pick(blocks[i]), pick(blocks[j]), size)
    elif kind == "off_block_mismatch":
        b = _integer(generator, 0, len(blocks[j]) - 1)
        members[i] = parts.product({i: parts.own[i], j: shifted(parts.background[j], b, size)})
    elif kind == "background_dependence":
        bg = coupled(bg.to_mixture(), pick(blocks[i]), pick(blocks[j]), size)
        n = sum(len(p) for p in parts.parts)
        members = []
        for m, block in enumerate(blocks):
            comp = [c for c in range(n) if c not in block]
            members.append(BlockProduct([(block, parts.own[m]),
                                         (comp, bg.marginal(comp).merged())]))
    else:  # overlapping_blocks: p_i and p_j both move the mean of s ∈ M_i
        s = _integer(generator, 0, len(blocks[i]) - 1)
        own, base = parts.own[i], parts.background[i]
        target = float(base.mean[s]) + size * float(base.covariance[s, s]) ** 0.5
        means = own.means.clone()
        means[:, s] += target - float(own.mean[s])
        members[i] = parts.product({i: GaussianMixture(own.weights, means, own.covs)})
        members[j] = parts.product({j: parts.own[j], i: shifted(base, s, size)})
    return Family(bg, tuple(members), projections=tuple(tuple(b) for b in blocks),
                  name=f"{kind}(size={size:g})")


def family(task: Task) -> Family:
    """The random family of ``task`` (module docstring), from its seed alone."""
    if task.cls not in CLASSES:
        raise ValueError(f"unknown class {task.cls!r}; choose from {', '.join(CLASSES)}")
    generator = torch.Generator().manual_seed(task.seed)
    parts = _fc_parts(generator, symmetric=task.cls == "symmetric-mode shear")
    if task.cls in VIOLATION_KINDS:
        return _violated(parts, task.cls, task.size, generator)
    features = parts.family(task.cls)
    if task.cls == "coordinate":
        return features
    matrix = _feature_map(task.cls, generator, parts.parts)
    return _replace(families_in_feature_space(features, matrix), name=task.cls)


# truths and predictors ----------------------------------------------------------------
def evaluate(task: Task) -> Outcome:
    """Truths and predictors of one family (module docstring), by ``check``'s sections;
    module-level and of one picklable argument, for any ``Mapper``."""
    fam = family(task)
    report = check_family(fam, seed=task.seed)
    if report.verdict == "undecided" and not isinstance(report.projective, GapSummary):
        # every class here has closed forms: an undecided projectivity is a bug, never a
        # label
        raise ValueError(f"{fam.name} (seed {task.seed}): projectivity undecided")
    projective = isinstance(report.projective, GapSummary) and bool(report.projective.holds)
    commutation = report.noise_commutation
    gap = commutation.max_gap if isinstance(commutation, NoiseCommutation) else None
    if not projective:
        works, how = False, "not projective"
    elif isinstance(commutation, NoiseCommutation) and commutation.holds:
        works, how = True, "noise commutes"
    elif task.sample:
        works, how = _sampled(fam, task.seed), "sampling verdict"
    else:
        works, how = None, "undecided"
    heuristic, locality, nonlocal_ = _predictors(report)
    return Outcome(cls=task.cls, seed=task.seed, size=task.size, dim=fam.dim, k=fam.k,
                   heuristic=heuristic, locality=locality, nonlocal_=nonlocal_,
                   projective=projective, works=works, decided_by=how, commutation_gap=gap)


def _sampled(fam: Family, seed: int) -> bool:
    """check's calibrated sampling verdict (ODE, composed against oracle run)."""
    options = SamplingOptions(samples=SAMPLES, level=LEVEL)
    section = check_family(fam, seed=seed, sampling=options).sampling
    if not isinstance(section, SamplingSection):
        raise ValueError(f"{fam.name}: no sampling section ({section})")
    return bool(section.holds)


def _predictors(report: CheckReport) -> tuple[float, float, bool]:
    """``max |cos|`` off the diagonal, ``max_j L_j`` and whether some ``L_j`` exceeds
    :data:`LOCALITY_SE` standard errors, as ``check`` reports them."""
    cos = report.heuristic.cosines
    heuristic = max(abs(cos[a][b]) for a in range(len(cos)) for b in range(len(cos)) if a != b)
    loc = report.locality
    if loc is None:
        raise ValueError(f"{report.name}: no locality section")
    nonlocal_ = any(s > LOCALITY_SE * e for s, e in zip(loc.statistic, loc.stderr, strict=True))
    return heuristic, loc.largest, nonlocal_


# the sweep ----------------------------------------------------------------------------
def tasks(per_class: int, sampled_per_class: int, seed: int = 0) -> list[Task]:
    """``per_class`` tasks of every class (a violation kind's sizes cycle through
    :data:`SIZES`), the first ``sampled_per_class`` of each allowed to sample; seeds
    ``seed + index``, distinct across the sweep."""
    out = []
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            size = SIZES[i % len(SIZES)] if cls in VIOLATION_KINDS else 0.0
            out.append(Task(cls, seed + c * per_class + i, size, i < sampled_per_class))
    return out


@dataclass(frozen=True)
class Predictor:
    """One statistic against one truth over the families of one stratum: the ROC, the
    AUC ``[lo, mid, hi]`` (95 % stratified bootstrap), the operating point the project
    uses, and per class the share of its families the predictor calls failures
    (``flagged``) and that fail (``failing``). ``false_negative_classes`` are the
    classes where at least half the families fail and the predictor passes most failing
    ones; ``false_positive_classes`` where at least half work and it flags most working
    ones."""

    statistic: str
    truth: str
    stratum: str
    families: int
    failures: int
    auc: list[float]
    curve: roc.RocCurve
    operating: roc.OperatingPoint
    flagged: dict[str, float]
    failing: dict[str, float]
    false_negative_classes: list[str]
    false_positive_classes: list[str]


@dataclass(frozen=True)
class PowerReport:
    """C15's measurement: per statistic and truth a :class:`Predictor`, the outcomes
    counted by how ``works`` was decided, and the sweep's size."""

    families: int
    per_class: int
    sampled_per_class: int
    decided_by: dict[str, int]
    predictors: list[Predictor] = field(default_factory=list)

    def predictor(self, statistic: str, truth: str, stratum: str = "all") -> Predictor:
        return next(p for p in self.predictors if (p.statistic, p.truth, p.stratum)
                    == (statistic, truth, stratum))


def sweep(per_class: int, sampled_per_class: int, mapper: Mapper = serial_map,
          seed: int = 0) -> list[Outcome]:
    """Every outcome of :func:`tasks`, computed by ``mapper``."""
    return mapper(evaluate, tasks(per_class, sampled_per_class, seed))


def measure(outcomes: Sequence[Outcome], per_class: int, sampled_per_class: int,
            seed: int = 0) -> PowerReport:
    """The :class:`PowerReport` of a sweep's outcomes (bootstrap seeded by ``seed``)."""
    how: dict[str, int] = {}
    for o in outcomes:
        how[o.decided_by] = how.get(o.decided_by, 0) + 1
    report = PowerReport(len(outcomes), per_class, sampled_per_class, how)
    for stratum, classes in STRATA.items():
        inside = [o for o in outcomes if o.cls in classes]
        for statistic in STATISTICS:
            for truth in TRUTHS:
                report.predictors.append(_predictor(inside, statistic, truth, stratum, seed))
    return report


def _failed(o: Outcome, truth: str) -> bool | None:
    return (not o.projective) if truth == "projective" else \
        (None if o.works is None else not o.works)


def _flags(o: Outcome, statistic: str) -> bool:
    if statistic == "heuristic":
        return o.heuristic > MAX_COSINE
    return o.nonlocal_ if statistic == "locality" else o.heuristic > MAX_COSINE or o.nonlocal_


def _score(o: Outcome, statistic: str) -> float:
    return float(_flags(o, statistic)) if statistic == "either" else getattr(o, statistic)


def _predictor(outcomes: Sequence[Outcome], statistic: str, truth: str, stratum: str,
               seed: int) -> Predictor:
    decided = [o for o in outcomes if _failed(o, truth) is not None]
    labels = [bool(_failed(o, truth)) for o in decided]
    scores = [_score(o, statistic) for o in decided]
    flags = [_flags(o, statistic) for o in decided]
    point = roc.operating_point([float(f) for f in flags], labels, 0.5)
    threshold = {"heuristic": MAX_COSINE, "locality": LOCALITY_SE, "either": 0.5}[statistic]
    flagged, failing, fn, fp = {}, {}, [], []
    for cls in CLASSES:
        rows = [(f, y) for o, f, y in zip(decided, flags, labels, strict=True) if o.cls == cls]
        if not rows:
            continue
        flagged[cls] = sum(f for f, _ in rows) / len(rows)
        failing[cls] = sum(y for _, y in rows) / len(rows)
        bad = [f for f, y in rows if y]
        good = [f for f, y in rows if not y]
        if len(bad) >= len(rows) / 2 and sum(bad) < len(bad) / 2:
            fn.append(cls)
        if len(good) >= len(rows) / 2 and sum(good) > len(good) / 2:
            fp.append(cls)
    return Predictor(statistic=statistic, truth=truth, stratum=stratum,
                     families=len(decided),
                     failures=sum(labels),
                     auc=[round(v, 4) for v in roc.auc_interval(scores, labels, seed)],
                     curve=roc.roc_curve(scores, labels),
                     operating=_replace(point, threshold=threshold), flagged=flagged,
                     failing=failing, false_negative_classes=fn, false_positive_classes=fp)
