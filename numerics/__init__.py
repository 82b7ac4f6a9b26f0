"""Exact numerical core of projcomp: distributions, processes, composition, checks."""
