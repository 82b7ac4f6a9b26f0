"""Symbolic statements of the theory (sympy only)."""
