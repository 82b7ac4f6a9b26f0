"""Checks of a family at the distribution level, and the judge (THEORY §3–§10).

Above ``sampling``: Factorized Conditionals and partition inference (``fc``), projective
and noise-commutation gaps (``gaps``) with closed-form metrics (``metrics``) and
estimators (``estimators``), the mean-difference heuristic (``heuristic``), and the
one-word verdict of ``projcomp check`` with its typed report (``judge``, ``report``), which
runs the sampling section of ``numerics.sampling``.
"""
