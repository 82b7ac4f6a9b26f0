"""Claims: the evidence behind each claim of THEORY.md, and the families it runs on.

Above ``checks``: exact instances (``exact``), calibrated sampler runs (``sampled``),
named families (``named_families``) and Hypothesis strategies that draw random
families (``strategies``, public: use them in your own tests). The claims themselves
are declared once each in ``projcomp.claims``.
"""
