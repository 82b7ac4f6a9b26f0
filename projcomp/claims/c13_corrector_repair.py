"""C13 (ext): path-following correctors cannot repair a C9 failure; tempered SMC at
``t = 0`` can.

Sampled: on ``shear_family`` the annealed MALA/HMC correctors and SMC along ``C[p⃗^t]``
stay rejected against exact draws of ``C[p⃗]``, while tempered SMC at ``t = 0`` passes;
each with the share of the plain sampler's gap it closes and its cost. Figure: each
sampler's composed run in the feature coordinates, with its mode masses.
"""

from __future__ import annotations

from pathlib import Path

from numerics.claims import sampled as sc
from numerics.claims.named_families import shear_family
from projcomp.claims.base import ClaimSpec, ReportFigure
from projcomp.claims.sampled import shear_line
from projcomp.evidence import Evidence
from theory.catalogue import claim


def sampled() -> Evidence:
    found = sc.repairs(shear_family())
    details = [shear_line(r) + f"; closes {100 * r['gap_closed']:.0f}% of the plain gap"
               for r in found["runs"].values()]
    return Evidence("holds" if found["holds"] else "fails", methods=["sampled"],
                    instances=len(found["runs"]), details=details, sampling=found)


def samplers_figure(evidence: Evidence, path: Path) -> None:
    """Each sampler's composed run ``z = A x + c`` (``(N, 2)``) in the shear family's
    feature coordinates, titled with its mode masses (target ¼ each)."""
    import matplotlib.pyplot as plt

    from projcomp import atomic

    runs = evidence.sampling["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(2.6 * len(runs), 2.9), sharex=True,
                             sharey=True)
    for ax, (name, run) in zip(axes, runs.items(), strict=True):
        z = run["features"].numpy()
        ax.scatter(z[:, 0], z[:, 1], s=1, alpha=0.3)
        masses = run["composed_masses"]
        ax.set_title(f"{name}\n" + " ".join(f"{m:.2f}" for m in masses), fontsize=8)
        ax.set_xlabel("z₁")
    axes[0].set_ylabel("z₂")
    fig.suptitle("C13: composed runs on the shear family (mode masses −−, −+, +−, ++)",
                 fontsize=9)
    fig.subplots_adjust(top=0.74, bottom=0.16)
    atomic.save_figure(path, fig)


SPEC = ClaimSpec(claim("C13"), sampled=sampled,
                 figures=(ReportFigure("c13_samplers.png", samplers_figure),))
