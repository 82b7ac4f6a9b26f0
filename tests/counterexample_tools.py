"""Shared by the tests of the negative claims (C9, C11, C12, C14): the derandomized
counterexample search settings and ``projcomp check`` run in-process on a family."""

from __future__ import annotations

import contextlib
import io
import json

import torch

from numerics.laws.family import Family
from projcomp.cli import main
from projcomp.evidence import search_settings
from projcomp.spec import family_to_dict

# Derandomized search with the runner's settings (no explain phase, see SEARCH_PHASES).
SEARCH = search_settings(25)


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def check_verdict(family: Family, tmp_path_factory) -> str:
    """``projcomp check <spec> --json --samples 0`` run in-process on ``family``; its
    distribution-level verdict (the sampling section is tested on named families)."""
    path = tmp_path_factory.mktemp("spec") / "family.json"
    path.write_text(json.dumps(family_to_dict(family)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["check", str(path), "--json", "--samples", "0"])
    assert status == 0
    return json.loads(out.getvalue())["verdict"]
