"""What a family spec may hold and how a spec is refused (``projcomp.spec``).

Kept apart from the reader so that the command line can name the limits and catch
``SpecError`` without importing torch (``projcomp --help`` stays instant).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Structural limits of a spec, each raised by ``check --limit NAME=VALUE``.

    - ``bytes``: file size, 64 MiB — ten times the largest benchmark spec (n = 256,
      k = 32, ~6 MB); reading and parsing it takes about a second.
    - ``depth``: JSON nesting, 64 — a distribution nests 3 levels per product or
      pushforward, so 20 nested laws fit; Python's parser recurses per level.
    - ``dim``: the dimension n, 1024 — dense n × n linear algebra per member (``O(n³)``,
      ~0.1 s per factorization at 1024 on 2 cores); block products beyond it belong in
      Python, where nothing is limited.
    - ``members``: conditionals k, 256 — four times the largest benchmark (k = 64); FC
      and gap checks are ``O(k²)`` in the worst case.
    - ``components``: mixture components over the whole spec, 100,000 — the benchmark
      spec holds 4,224; each is factorized when read (one batched Cholesky per mixture,
      repeated blocks once).
    """

    bytes: int = 64 * 2**20
    depth: int = 64
    dim: int = 1024
    members: int = 256
    components: int = 100_000


def exceeds(field: str, what: str, value: int, limits: Limits, name: str) -> SpecError:
    """The error for a size past a limit, naming the option that raises it."""
    return SpecError(field, f"{what} {value} exceeds the limit {getattr(limits, name)} "
                            f"(raise it with --limit {name}=N)")


class SpecError(ValueError):
    """An invalid family spec; ``str()`` is one line, ``<field path>: <problem>``."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(" ".join(f"{field}: {problem}".split()))
