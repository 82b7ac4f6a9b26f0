"""No verdict by ``assert``: ``python -O`` strips assert statements, so a verdict decided
by one would turn a failing instance into a passing one. The verify path raises
``projcomp.evidence.InstanceFailed`` instead; checked here in a subprocess with and
without ``-O`` on deliberately failing instances, and by a scan of the package sources
for ``assert`` statements.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("numerics", "projcomp", "theory")

# C6 through run_claim (exact evidence only) with every instance's grid gap set to 1
# (far above GRID_TOL), and C1's exact runner with every pointwise comparison off by a
# spread of 1 (far above POINTWISE_RTOL): both must come out "fails".
SCRIPT = """
import numerics.claims.exact as ev
from projcomp.claims import spec
from projcomp.verify import run_claim
from theory.catalogue import claim

ev.c6_instance = lambda family, diffeo: 1.0
ev.c1_instance = lambda family, generator: ev.Pointwise(spread=1.0, offset=0.0, scale=0.0)
result, _ = run_claim(claim("C6"))
print(__debug__, result.outcome, result.as_predicted, spec("C1").exact().outcome)
"""


@pytest.mark.parametrize("flags", [["-O"], []], ids=["optimized", "plain"])
def test_failing_instances_are_reported_fails(flags: list[str]) -> None:
    done = subprocess.run([sys.executable, *flags, "-c", SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    debug = str(not flags)  # -O sets __debug__ to False
    assert done.stdout.split() == [debug, "fails", "False", "fails"], done.stdout


def test_no_assert_statement_outside_tests() -> None:
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
             if isinstance(node, ast.Assert)]
    assert not found, f"assert statements (stripped by python -O): {found}"
