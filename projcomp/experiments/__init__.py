"""``projcomp experiment NAME``: the paper's experiments in miniature (THEORY §9).

Each experiment module has ``run(out: Path, quick: bool) -> dict`` (``quick``: a smaller
run, under 2 minutes on 2 cores, for tests and a first look): it computes, writes
``out/`` (figures, then ``results.json``, then ``index.md``, each file atomically) and
returns the results document (what ``results.json`` holds).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# name on the command line -> module under projcomp.experiments
EXPERIMENTS = {"clevr-lite": "clevr_lite", "colours": "colours", "fig12": "fig12"}


def run(name: str, out: Path, quick: bool = False) -> dict[str, Any]:
    """Run experiment ``name`` (a key of ``EXPERIMENTS``) and write its report to ``out``."""
    module = importlib.import_module(f"projcomp.experiments.{EXPERIMENTS[name]}")
    return module.run(out, quick)
