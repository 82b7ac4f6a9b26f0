"""The front door imports what its command needs (issue 15): ``check --samples 0`` no
sampler, SMC, plotting, optimizer or symbolic code, and ``--help`` not even torch.

Each command runs in a fresh interpreter, which then reports ``sys.modules``: a set of
modules, not a timing, so the test does not depend on the machine's load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
# Modules `check --samples 0` never runs: the samplers and the sampling section, SMC,
# plotting, sympy (the symbolic proofs; torch imports it for autograd given explicit
# output gradients, which the locality estimate avoids) and numba (the fused score kernel,
# for scores of FUSED_ELEMENTS or more, a sampler's).
NOT_FOR_CHECK = ("numerics.sampling.samplers", "numerics.sampling.smc",
                 "numerics.sampling.section", "matplotlib", "sympy", "numba",
                 "numerics.laws.fused_kernel")
# Needed only by some families or inputs: scipy's optimizer (the numerical tail-exponent
# search of a composition whose tail is not Gaussian, e.g. bayes.json) and the reference JSON Schema
# validator (it names the field of an invalid spec).
NOT_FOR_VALID_FC = ("scipy", "jsonschema")
REPORT = """
import json, runpy, sys
sys.argv = ["projcomp", *json.loads(sys.argv[1])]
try:
    runpy.run_module("projcomp.cli", run_name="__main__")
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported(*argv: str) -> tuple[int, set[str]]:
    """Exit status of ``projcomp ARGV`` and the modules it imported, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", REPORT, json.dumps(argv)],
                          capture_output=True, text=True, check=False, timeout=300)
    last = json.loads(proc.stderr.strip().splitlines()[-1])
    return last["code"], set(last["modules"])


def within(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.mark.parametrize("example", ["fc.json", "shear_mixture.json"])
def test_check_without_samples_imports_no_sampler(example: str) -> None:
    """FC (the C19 shortcut) and a family whose locality is estimated (JVPs)."""
    code, modules = imported("check", str(EXAMPLES / example), "--samples", "0")
    assert code == 0
    assert "numerics.checks.judge" in modules  # the check ran
    assert within(modules, NOT_FOR_CHECK) == []
    if example == "fc.json":
        assert within(modules, NOT_FOR_VALID_FC) == []


def test_help_imports_no_torch() -> None:
    code, modules = imported("--help")
    assert code == 0
    assert within(modules, ("torch", "numpy", *NOT_FOR_CHECK)) == []
