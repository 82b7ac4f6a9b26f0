"""The paper's experiments in miniature (THEORY §9): computations only; the reports are
written by ``projcomp.experiments``. ``clevr_lite``: Fig. 3 and Table 1 (length
generalization, with the Fig. 3C clutter); ``colours``: Fig. 5 (coordinate FC in the B
channel), with ``colour_amounts``: THEORY C7–C9 illustrated in colour amounts; ``fig12``:
Fig. 12 (8-D vectors, Bayes composition with and without independent clutter)."""
