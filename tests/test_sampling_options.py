"""``check``'s sampling options (issue 11, item 7): values that cannot work exit 2 with one
line naming the option; the same spec, seed and options give byte-identical ``--json``
output, for a path sampler and for the tempered SMC."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from projcomp.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FC = str(EXAMPLES / "fc.json")
SHEAR = str(EXAMPLES / "shear_mixture.json")


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


BAD = [("--samples", "-1"), ("--samples", "1"), ("--samples", "lots"), ("--steps", "0"),
       ("--steps", "-3"), ("--steps", "2.5"), ("--seed", "-1"), ("--seed", "x"),
       ("--sampler", "euler"), ("--sampler", ""), ("--device", "gpu7"),
       ("--device", "cuda:banana")]
if not torch.cuda.is_available():
    BAD.append(("--device", "cuda"))


@pytest.mark.parametrize(("option", "value"), BAD)
def test_unworkable_sampling_options_exit_2_naming_the_option(option: str, value: str) -> None:
    status, out, err = run_main(["check", FC, "--json", "--samples", "50", option, value])
    assert status == 2 and out == "", (status, err)
    assert len(err.splitlines()) == 1 and option in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("spec", "options"), [
    (FC, ["--samples", "200", "--steps", "8"]),
    (SHEAR, ["--samples", "200", "--steps", "8", "--sampler", "smc"]),
])
def test_same_spec_seed_and_options_give_byte_identical_json(spec: str,
                                                             options: list[str]) -> None:
    argv = ["check", spec, "--json", "--seed", "3", *options]
    first, second = run_main(argv), run_main(argv)
    assert first[0] == 0 and first[2] == "", first[2]
    assert first == second
    other = run_main([*argv[:-len(options) - 2], "--seed", "4", *options])
    sampling = json.loads(first[1])["sampling"]
    assert json.loads(other[1])["sampling"]["test"]["value"] != sampling["test"]["value"]
