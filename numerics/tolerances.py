"""Every tolerance and error budget of the project, each defined once with its reason.

Imported by every layer of ``numerics`` (it imports nothing of the project), by
``projcomp`` and by the tests. A verdict that compares against one of these reports its
reason beside it (``TOLERANCES``).
"""

from __future__ import annotations

# Round-off bound for exact identities measured with the closed-form normalized L2:
# D = 1 − 2⟨p,q⟩/(‖p‖²+‖q‖²) cancels two O(1) numbers, each a logsumexp of up to K² float64
# terms (relative error ~K²·1e-16 ≈ 1e-12 for K ≤ 100). 1e-9 leaves a thousandfold margin.
EXACT_TOL = 1e-9
# Grid quadrature: two grids of one smooth 2-D law on different nodes differ by ≤ 4.5e-8
# in normalized L2 (tests/test_grid.py), grid vs closed-form gaps by ≤ 5e-6
# (tests/test_checks.py); 1e-4 keeps a twentyfold margin over the latter.
GRID_TOL = 1e-4
# Importance-sampling MMD: relative MMD² below 0.01 is not resolved by 2,000 weighted points
# (its bootstrap error is ~1e-3 at ESS ≈ 1,000); failures of interest are ≳ 0.1.
ESTIMATE_TOL = 1e-2

# The metric names of every distribution-level gap, each with its tolerance and reason.
CLOSED_FORM = "normalized L2 (closed form)"
GRID = "normalized L2 (grid quadrature)"
IMPORTANCE = "relative MMD² (importance sampling)"
TOLERANCES: dict[str, tuple[float, str]] = {
    CLOSED_FORM: (EXACT_TOL, "float64 round-off of closed-form inner products "
                             "(≤ 1e-12 measured)"),
    GRID: (GRID_TOL, "quadrature and interpolation error of the grid (≤ 5e-6 measured)"),
    IMPORTANCE: (ESTIMATE_TOL, "resolution of 2,000 weighted points; a gap must exceed it "
                               "by 3 bootstrap standard errors"),
}

# The project's false-failure budget for one statistical verdict (DESIGN.md quality bars):
# every sampled claim, and a test that runs several, splits it (Bonferroni).
FALSE_ALARM_BUDGET = 1e-3

# A matrix counts as singular (a map as rank deficient) past this condition number: float64
# inverses then lose all their digits.
MAX_CONDITION = 1e12
