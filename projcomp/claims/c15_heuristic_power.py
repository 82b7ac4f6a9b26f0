"""C15 (ext, THEORY §7): the predictive power of the Lemma 8.1 heuristic ``max |cos|``,
beside the C20 locality statistic, on random families whose truth is computable.

Exact (``numerics.claims.power``: random families of named classes, truths from
``check``'s exact sections and, where noise does not commute, its calibrated sampling
verdict on the first families of each class): ROC curves and AUCs with 95 % stratified
bootstrap intervals of both statistics (and of ``either``: one of the two flags) for both
truths, over the whole sweep and over the coordinate families, the project's operating
points, and the false-negative and false-positive classes by name. As THEORY predicts:

- the heuristic's AUC for *projective at t = 0* is above 0.5 (the interval's lower end)
  over the families whose FC is judged in coordinates — coordinate FC and the C16
  violation kinds, the only classes over which projectivity varies (every FC class
  under a linear map is projective, C6). Over the whole sweep the AUC is reported too;
  it is lower, because non-orthogonal maps move the cosines of projective families
  (false positives by class: ``shear``, ``general linear``);
- the heuristic is blind to C9: some family with every cosine 0 is projective and its
  sampling fails (the class ``symmetric-mode shear``).

The sweep's size is the profile's (``projcomp verify --profile``, :data:`SWEEPS`); the
sweep is ``mapper(evaluate, tasks)``, so :func:`exact` takes any ``numerics.campaigns``
mapper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from numerics.campaigns import Mapper, serial_map
from numerics.checks.heuristic import MAX_COSINE
from numerics.claims import power
from numerics.claims.roc import RocCurve
from projcomp import profiles
from projcomp.claims.base import ClaimSpec, ReportFigure
from projcomp.evidence import Evidence
from theory.catalogue import claim


@dataclass(frozen=True)
class Sweep:
    """Families per class, and how many of each class may run the sampling verdict."""

    per_class: int
    sampled_per_class: int


SWEEPS = {"default": Sweep(per_class=10, sampled_per_class=3),
          "thorough": Sweep(per_class=1000, sampled_per_class=100)}
# ROC points kept in results.json and the figure per curve (evenly spaced along it, ends
# kept): a 10,000-family curve has thousands of steps.
CURVE_POINTS = 101


@dataclass(frozen=True)
class PowerCurve:
    """What ``results.json`` keeps of the measurement: the sweep, how each ``works`` truth
    was decided, and per statistic and truth the AUC, the operating point, the classes it
    gets wrong and its (thinned) ROC curve."""

    profile: str
    families: int
    per_class: int
    sampled_per_class: int
    decided_by: dict[str, int]
    predictors: list[power.Predictor]


def _thinned(curve: RocCurve) -> RocCurve:
    n = len(curve.fpr)
    if n <= CURVE_POINTS:
        return curve
    keep = sorted({round(i * (n - 1) / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)})
    return RocCurve(fpr=[curve.fpr[i] for i in keep], tpr=[curve.tpr[i] for i in keep])


def _line(p: power.Predictor) -> str:
    lo, mid, hi = p.auc
    op = p.operating
    rule = {"heuristic": f"|cos| > {MAX_COSINE}",
            "locality": f"some L_j > {power.LOCALITY_SE:g} se",
            "either": "either of the two"}[p.statistic]
    return (f"{p.statistic} vs {p.truth} ({p.stratum} families): AUC {mid:.3f} "
            f"[{lo:.3f}, {hi:.3f}] over {p.families} families ({p.failures} failing); "
            f"at {rule}: TPR {op.tpr:.2f}, FPR {op.fpr:.2f}; false-negative classes: "
            f"{', '.join(p.false_negative_classes) or 'none'}; false-positive classes: "
            f"{', '.join(p.false_positive_classes) or 'none'}")


def exact(mapper: Mapper = serial_map) -> Evidence:
    """The sweep of the active profile, its ROC measurement and C15's two predictions."""
    name = profiles.active()
    sweep = SWEEPS[name]
    outcomes = power.sweep(sweep.per_class, sweep.sampled_per_class, mapper)
    report = power.measure(outcomes, sweep.per_class, sweep.sampled_per_class)
    judged = report.predictor("heuristic", "projective", "coordinate")
    overall = report.predictor("heuristic", "projective")
    blind = [o for o in outcomes
             if o.heuristic == 0.0 and o.projective and o.works is False]
    checks = [(judged.auc[0] > 0.5,
               f"heuristic AUC for projective at t = 0 on coordinate families: lower end "
               f"{judged.auc[0]:.3f} > 0.5 (over the whole sweep: {overall.auc[1]:.3f} "
               f"[{overall.auc[0]:.3f}, {overall.auc[2]:.3f}]"
               + (", not clearly above chance)" if overall.auc[0] <= 0.5 else ")")),
              (bool(blind),
               f"heuristic blind to C9: {len(blind)} projective families with every "
               f"cosine 0 whose sampling fails ({', '.join(sorted({o.cls for o in blind}))})")]
    details = [f"profile {name}: {report.families} families ({sweep.per_class} per class "
               f"of {len(power.CLASSES)}; sampled verdict on up to {sweep.sampled_per_class} "
               "per class where noise does not commute); sampling truth decided by "
               + ", ".join(f"{how} {n}" for how, n in sorted(report.decided_by.items()))]
    details += [_line(p) for p in report.predictors]
    details += [line for _, line in checks]
    details += [f"not as predicted: {line}" for ok, line in checks if not ok]
    curve = PowerCurve(name, report.families, sweep.per_class, sweep.sampled_per_class,
                       report.decided_by,
                       [_with_thinned(p) for p in report.predictors])
    auc = {truth: report.predictor("heuristic", truth).auc for truth in power.TRUTHS}
    locality_auc = {truth: report.predictor("locality", truth).auc for truth in power.TRUTHS}
    outcome = "holds" if all(ok for ok, _ in checks) else "fails"
    return Evidence(outcome, methods=["exact"], instances=report.families, details=details,
                    curve=curve, auc=auc, locality_auc=locality_auc)


def _with_thinned(p: power.Predictor) -> power.Predictor:
    return replace(p, curve=_thinned(p.curve))


def roc_figure(evidence: Evidence, path: Path) -> None:
    """Both statistics' ROC curves, one panel per truth, operating points marked."""
    import matplotlib.pyplot as plt

    from projcomp import atomic

    curve: PowerCurve = evidence.curve
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
    for ax, truth in zip(axes, power.TRUTHS, strict=True):
        # the coordinate stratum's two truths coincide: drawn once, in the first panel
        strata = ("all", "coordinate") if truth == "projective" else ("all",)
        for statistic, colour in zip(power.STATISTICS, ("C0", "C1", "C2"), strict=True):
            for stratum, style in zip(strata, ("-", "--"), strict=False):
                if statistic == "either" and stratum != "all":
                    continue
                p = next(q for q in curve.predictors
                         if (q.statistic, q.truth, q.stratum) == (statistic, truth, stratum))
                lo, mid, hi = p.auc
                ax.plot(p.curve.fpr, p.curve.tpr, style, color=colour,
                        label=f"{statistic}, {stratum}: AUC {mid:.2f} [{lo:.2f}, {hi:.2f}]")
                ax.plot([p.operating.fpr], [p.operating.tpr], "o", color=colour)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlabel("false-positive rate (working families flagged)")
        ax.set_ylabel("true-positive rate (failing families flagged)")
        title = "projective at t = 0" if truth == "projective" else "works (reverse diffusion)"
        ax.set_title(f"truth: {title}", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"C15: ROC of max|cos|, of the locality statistic and of either "
                 f"({curve.families} families, profile {curve.profile}; dots: operating "
                 "points)", fontsize=10)
    atomic.save_figure(path, fig)


SPEC = ClaimSpec(claim("C15"), exact=exact,
                 figures=(ReportFigure("c15_roc.png", roc_figure),))
