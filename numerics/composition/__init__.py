"""Composition: ``C``, ``C_w``, the simple product and user operators (THEORY §1–§2).

Above ``laws``: ``compose`` routes a family to the most exact composed law (block
products, exact mixtures, a law's own composition rule, else an unnormalized law);
``operators`` holds the shipped and user-supplied operators, ``properties`` the suite
that measures which of the theory's properties an operator keeps.
"""
