"""The paper's experiments in miniature (THEORY §8): computations only; the reports are
written by ``projcomp.experiments``."""
