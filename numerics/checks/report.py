"""Records of the ``check`` report (``numerics.checks.judge.check_family``; DESIGN.md,
"Command line").

Field names are the JSON keys that DESIGN.md names as a contract and README.md documents;
``numerics.records.to_json`` is their one conversion. A field declared ``optional()`` is
in the JSON only where it applies; the sections that did not run (``projective``,
``noise_commutation``, ``sampling``) are written as ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from numerics.checks.fc import Partition
from numerics.composition.properties import PropertyResult
from numerics.records import optional
from numerics.sampling.report import SamplingSection, SamplingSkipped

Verdict = Literal["works", "fails-at-t0", "fails-in-sampling", "non-normalizable", "undecided"]


@dataclass(frozen=True, kw_only=True)
class FCResult:
    """Factorized Conditionals (Definition 5.2) in ``space`` (coordinates, or features of
    the feature map): ``violation`` is the largest of the ``conditions`` (the three exact
    normalized-L2 discrepancies of ``numerics.checks.fc.fc_violation``), ``holds`` when it
    is at most ``tolerance``. ``partition`` is the blocks ``M_1..M_k`` it was judged on
    (``None`` when inferred blocks overlap: then ``violation`` is 1, ``reason`` says why
    and ``candidate_blocks`` are the overlapping ones). ``holds`` and ``violation`` are
    ``None`` when FC is not decidable (a member lacks closed-form marginals; ``reason``)."""

    holds: bool | None
    partition: Partition | None
    violation: float | None
    conditions: Mapping[str, float] | None = optional()
    reason: str | None = optional()
    tolerance: float
    partition_inferred: bool
    candidate_blocks: Partition
    metric: str | None = optional()
    tolerance_reason: str | None = optional()
    space: str


@dataclass(frozen=True, kw_only=True)
class Heuristic:
    """Lemma 8.1 (C10): ``cosines[i][j] = cos(δ_i, δ_j)`` (``k × k``) between mean
    differences ``δ_i = E_{p_i}[x] − E_{p_b}[x]``; ``predicts_success`` when every
    off-diagonal ``|cos|`` is at most ``tolerance``."""

    cosines: list[list[float]]
    predicts_success: bool
    tolerance: float


@dataclass(frozen=True, kw_only=True)
class Locality:
    """C20's locality statistic at time ``t``, from the noisy members' score callables only
    (``numerics.checks.locality``): per conditional, ``statistic[j]`` = off-block Jacobian
    mass of ``d_j = ∇log p_j^t − ∇log p_b^t`` outside ``blocks[j] × blocks[j]`` over the
    Jacobian mass of the two scores (0 under FC; in ``space``), estimated by
    Jacobian–vector products with ``probes`` probe pairs at ``points`` exact draws of
    ``p_b^t`` and ``p_j^t``, with its standard error ``stderr[j]``; ``largest`` is the
    largest ``statistic``. ``method`` says how it was obtained: estimated, or exactly 0
    without estimation when FC holds exactly (C19; then ``points = probes = 0``)."""

    statistic: list[float]
    stderr: list[float]
    largest: float
    t: float
    blocks: Partition
    space: str
    points: int
    probes: int
    method: str


@dataclass(frozen=True, kw_only=True)
class GapSummary:
    """Gaps that the theory says vanish, one per lens (projective, Definition 4.1) or per
    time (noise commutation, C2): ``holds`` when none exceeds ``tolerance`` by three
    standard errors (``numerics.checks.gaps.Gap.exceeds``). ``metric`` is the common
    metric of the ``metrics`` (``"mixed"`` otherwise), ``tolerance`` the loosest one's;
    ``effective_sample_size`` appears when a gap was estimated by importance sampling,
    ``notes`` when a gap carries one."""

    holds: bool
    gaps: list[float]
    stderr: list[float]
    metric: str
    metrics: list[str]
    tolerance: float
    tolerance_reason: str
    effective_sample_size: Sequence[float | None] | None = optional()
    notes: Sequence[str] | None = optional()


@dataclass(frozen=True, kw_only=True)
class NoiseCommutation(GapSummary):
    """``D(C[p⃗^t], N_t[C[p⃗]])`` at each of ``times`` (C2, C7–C9): the gap summary, and
    its largest gap ``max_gap`` at ``worst_t``."""

    max_gap: float
    worst_t: float
    times: list[float]


@dataclass(frozen=True, kw_only=True)
class OperatorReport:
    """A user operator (``--operator``) by ``name``: which properties of ``C`` it keeps
    (C1, C2, C4; ``numerics.composition.properties``), each lost one with its
    counterexample."""

    name: str
    properties: list[PropertyResult]


@dataclass(frozen=True, kw_only=True)
class Undecided:
    """A section that cannot be decided: a law of the family lacks a closed form the check
    needs (``numerics.checks.fc.NotDecidable``); ``undecided`` says which and why."""

    holds: None = None
    undecided: str


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """Every check of ``check`` on one family (``name``, dimension ``dim``, ``k``
    conditionals). Sections run in the verdict's order: ``normalizable`` (``Z < ∞``,
    THEORY §2; else ``reason``), ``projective`` (not run when ``C[p⃗]`` is not
    normalizable), ``noise_commutation`` (run only when projective), ``sampling`` (with
    sampling options, when it can decide the verdict). ``composition`` names the class of
    ``C[p⃗]``; ``normalizability`` and ``operator`` appear with a user operator. A section
    the verdict needs that is :class:`Undecided` makes the verdict ``"undecided"``.
    ``locality`` (C20, :class:`Locality`) is informative, not part of the verdict; it is
    left out when a member cannot draw."""

    name: str
    dim: int
    k: int
    factorized_conditionals: FCResult
    heuristic: Heuristic
    normalizable: bool
    reason: str | None = optional()
    composition: str | None = optional()
    normalizability: str | None = optional()
    projective: GapSummary | Undecided | None = None
    noise_commutation: NoiseCommutation | Undecided | None = None
    sampling: SamplingSection | SamplingSkipped | None = None
    verdict: Verdict
    operator: OperatorReport | None = optional()
    locality: Locality | None = optional()
