"""ROC curves, AUC and stratified bootstrap intervals of a scalar predictor (THEORY C15).

Conventions: ``scores`` ``(N,)`` are a statistic that is *larger for the positive class*
(here: a composition that fails), ``labels`` ``(N,)`` booleans (True = positive). The
predictor "positive when score > threshold" has, at each threshold, the true-positive
rate ``TPR = P(score > c | positive)`` and the false-positive rate ``FPR = P(score > c |
negative)``; the ROC curve joins these points for every threshold between the distinct
scores, from ``(0, 0)`` to ``(1, 1)``.

The AUC is the Mann–Whitney probability ``P(S⁺ > S⁻) + ½ P(S⁺ = S⁻)`` for a random
positive ``S⁺`` and negative ``S⁻`` — the area under that curve, with ties counted half
(a constant predictor has AUC ½, a perfect one 1, an inverted one 0). It is computed from
mid-ranks: ``AUC = (R⁺ − n⁺(n⁺ + 1)/2) / (n⁺ n⁻)``, ``R⁺`` the sum of the positives'
ranks among all scores.

The 95 % interval is the percentile bootstrap stratified by class (positives and
negatives resampled separately with replacement, keeping ``n⁺`` and ``n⁻``: every
resample has both classes), its middle value the AUC of the data themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# Bootstrap resamples of an AUC interval: the Monte Carlo error of a 2.5 % percentile
# from B resamples is about sqrt(0.025 · 0.975 / B) in probability, 0.005 at B = 1000,
# well inside the widths reported (≥ 0.01 at the sweep sizes used).
RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class RocCurve:
    """The ROC points ``(fpr[i], tpr[i])``: ``(0, 0)`` for a threshold at the largest
    score, then one point as the threshold passes each distinct score, down to ``(1, 1)``
    below the smallest."""

    fpr: list[float]
    tpr: list[float]


@dataclass(frozen=True)
class OperatingPoint:
    """The predictor ``score > threshold``: its rates and confusion counts."""

    threshold: float
    tpr: float
    fpr: float
    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int


def _validated(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"scores and labels must be 1-D of one length, got shapes "
                         f"{s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if y.all() or not y.any():
        raise ValueError(f"need both classes, got {int(y.sum())} positives of {len(y)}")
    return s, y


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """``P(S⁺ > S⁻) + ½ P(S⁺ = S⁻)`` from mid-ranks (module docstring)."""
    s, y = _validated(scores, labels)
    return float(_auc_rows(s[None, :], y[None, :])[0])


def _auc_rows(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUC of each row of ``s`` ``(B, N)`` with labels ``y`` ``(B, N)`` (same counts)."""
    ranks = rankdata(s, axis=1)
    pos = y.sum(axis=1)
    neg = y.shape[1] - pos
    return ((ranks * y).sum(axis=1) - pos * (pos + 1) / 2.0) / (pos * neg)


def auc_interval(scores: Sequence[float], labels: Sequence[bool], seed: int,
                 resamples: int = RESAMPLES, level: float = LEVEL
                 ) -> tuple[float, float, float]:
    """``(lo, auc, hi)``: the stratified percentile bootstrap interval at ``level`` around
    the AUC of the data (module docstring), from ``resamples`` resamples drawn by a
    generator seeded with ``seed``."""
    s, y = _validated(scores, labels)
    if not 0.0 < level < 1.0 or resamples < 1:
        raise ValueError(f"need 0 < level < 1 and resamples >= 1, got {level}, {resamples}")
    rng = np.random.default_rng(seed)
    positives, negatives = s[y], s[~y]
    draws = np.concatenate(
        [rng.choice(positives, (resamples, len(positives))),
         rng.choice(negatives, (resamples, len(negatives)))], axis=1)
    marks = np.zeros_like(draws, dtype=bool)
    marks[:, :len(positives)] = True
    values = _auc_rows(draws, marks)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), auc(s, y), float(hi)


def roc_curve(scores: Sequence[float], labels: Sequence[bool]) -> RocCurve:
    """The ROC points (:class:`RocCurve`) of the predictor ``score > c`` for ``c`` at each
    distinct score (and below the smallest)."""
    s, y = _validated(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # last index of each run of equal scores: the points where the threshold passes a score
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[ends]
    fp = np.cumsum(~y)[ends]
    pos, neg = int(y.sum()), int((~y).sum())
    return RocCurve(fpr=[0.0, *(fp / neg).tolist()], tpr=[0.0, *(tp / pos).tolist()])


def operating_point(scores: Sequence[float], labels: Sequence[bool],
                    threshold: float) -> OperatingPoint:
    """The rates and counts of the predictor ``score > threshold``."""
    s, y = _validated(scores, labels)
    predicted = s > threshold
    tp, fn = int((predicted & y).sum()), int((~predicted & y).sum())
    fp, tn = int((predicted & ~y).sum()), int((~predicted & ~y).sum())
    return OperatingPoint(threshold=float(threshold), tpr=tp / (tp + fn), fpr=fp / (fp + tn),
                          true_positives=tp, false_negatives=fn, false_positives=fp,
                          true_negatives=tn)
