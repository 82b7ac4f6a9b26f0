"""Family specs with learned members (issue 12): ``{"type": "model", ...}`` read through
safetensors with names and shapes checked, ``projcomp check`` on them, and every bad
model spec answered by exit status 2 and one line naming the field."""

from __future__ import annotations

import contextlib
import io
import json
import math
import textwrap
from pathlib import Path

import pytest
import torch

from numerics.models.weights import save_weights
from projcomp.cli import main

# A network whose prediction is E[x_0 | x_t] of N(mean, I) data under VP (a² + s² = 1):
# μ + a (x − a μ); the weights file holds the mean, so a family of them is an exact
# Gaussian FC family seen only through its networks.
MODULE = textwrap.dedent('''
    import math
    import torch

    class GaussianDenoiser(torch.nn.Module):
        def __init__(self, dim, beta_min=0.1, beta_max=20.0):
            super().__init__()
            self.mean = torch.nn.Parameter(torch.zeros(dim))
            self.beta_min, self.beta_max = beta_min, beta_max

        def forward(self, x, t):
            b = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t
            a = torch.exp(-0.5 * b)[:, None]
            return self.mean + a * (x - a * self.mean)

    def build(dim, **kw):
        return GaussianDenoiser(dim, **kw)

    def wrong_shape(dim):
        class Bad(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.mean = torch.nn.Parameter(torch.zeros(dim))
            def forward(self, x, t):
                return x[:, :1]
        return Bad()

    def not_a_module(dim):
        return 3
''')
MEANS = {"bg": [0.0, 0.0, 0.0, 0.0], "c1": [2.0, 0.0, 0.0, 0.0], "c2": [0.0, 0.0, 2.0, 0.0]}


def member(weights: str, **changes) -> dict:
    doc = {"type": "model", "entry": "gauss_net:build", "weights": weights,
           "parameterization": "x0", "config": {"dim": 4}}
    return {**doc, **changes}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "gauss_net.py").write_text(MODULE)
    for name, mean in MEANS.items():
        net = torch.nn.Module()
        net.mean = torch.nn.Parameter(torch.tensor(mean))
        save_weights(net, tmp_path / f"{name}.safetensors")
    return tmp_path


def spec(folder: Path, background: dict | None = None, first: dict | None = None) -> Path:
    doc = {"format": "projcomp.family/1", "name": "gaussian networks", "dim": 4,
           "background": background or member("bg.safetensors"),
           "conditionals": [first or member("c1.safetensors"), member("c2.safetensors")],
           "projections": [[0, 1], [2, 3]]}
    path = folder / "family.json"
    path.write_text(json.dumps(doc))
    return path


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_check_runs_the_density_free_sections(folder):
    code, out, err = run(["check", str(spec(folder)), "--json", "--samples", "400",
                          "--steps", "40"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "undecided" and "no densities" in doc["reason"]
    sampling = doc["sampling"]
    assert "no oracle" in sampling["oracle"] and sampling["finite_fraction"] == 1.0
    # composed = N((2, 0, 2, 0), I): rms per block sqrt((4 + 1 + 1) / 2) = sqrt(3); 400
    # samples give it a standard deviation of 0.032, so 0.16 is 5 of them (p < 1e-6)
    for value in sampling["block_rms"]:
        assert abs(value - math.sqrt(3)) < 0.16
    # exact denoisers: the mean differences (2,0,0,0) and (0,0,2,0) are orthogonal; the
    # estimate's bias at t = T is O(a_T) = 0.0066 relative
    assert doc["heuristic"]["largest"] < 0.05 and doc["heuristic"]["predicts_success"]
    # Gaussian scores with one covariance: ∇d_j = 0 exactly, the statistic is round-off
    assert max(doc["locality"]["statistic"]) < 1e-12
    code, text, _ = run(["check", str(spec(folder)), "--samples", "0"])
    assert code == 0 and "sampling        skipped" in text and "verdict         undecided" in text


def test_exact_members_mix_with_model_members(folder):
    background = {"type": "gaussian", "mean": [0.0] * 4,
                  "cov": [[float(i == j) for j in range(4)] for i in range(4)]}
    code, out, err = run(["check", str(spec(folder, background=background)), "--json",
                          "--samples", "0"])
    assert code == 0, err
    assert json.loads(out)["members"][0] == "exact"


def bad(folder: Path, **changes) -> str:
    code, out, err = run(["check", str(spec(folder, first=member("c1.safetensors") | changes)),
                          "--samples", "0"])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_missing_weights(folder):
    assert "conditionals[0].weights: no file" in bad(folder, weights="absent.safetensors")


def test_corrupt_weights(folder):
    (folder / "junk.safetensors").write_bytes(b"\x00\x01 not a safetensors file" * 10)
    err = bad(folder, weights="junk.safetensors")
    assert "conditionals[0].weights:" in err and "not a readable safetensors" in err


def test_truncated_weights(folder):
    data = (folder / "c1.safetensors").read_bytes()
    (folder / "cut.safetensors").write_bytes(data[: len(data) - 5])
    assert "conditionals[0].weights:" in bad(folder, weights="cut.safetensors")


def test_mismatched_shapes(folder):
    net = torch.nn.Module()
    net.mean = torch.nn.Parameter(torch.zeros(7))
    save_weights(net, folder / "wide.safetensors")
    err = bad(folder, weights="wide.safetensors")
    assert "conditionals[0].weights: tensor 'mean' has shape (7,), the module expects (4,)" in err


def test_mismatched_names(folder):
    net = torch.nn.Module()
    net.average = torch.nn.Parameter(torch.zeros(4))
    save_weights(net, folder / "renamed.safetensors")
    err = bad(folder, weights="renamed.safetensors")
    assert "conditionals[0].weights: tensor names do not match" in err and "'mean'" in err


@pytest.mark.parametrize(("entry", "message"), [
    ("no_such_module:build", "conditionals[0].entry: cannot import"),
    ("gauss_net:absent", "conditionals[0].entry: 'gauss_net' has no callable 'absent'"),
    ("gauss_net:not_a_module", "conditionals[0].entry: gauss_net:not_a_module returned a int"),
    ("gauss_net:wrong_shape", "returned shape (2, 1) for points of shape (2, 4)"),
    ("not an entry", "conditionals[0].entry:"),
])
def test_bad_entry(folder, entry, message):
    assert message in bad(folder, entry=entry)


def test_bad_config(folder):
    assert "conditionals[0].config:" in bad(folder, config={"dim": 4, "colour": 1})


def test_unknown_parameterization(folder):
    err = bad(folder, parameterization="epsilon")
    assert "conditionals[0].parameterization: unknown parameterization 'epsilon'" in err


def test_model_inside_a_product_is_refused(folder):
    doc = json.loads(spec(folder).read_text())
    doc["conditionals"][1] = {"type": "product", "blocks": [
        {"coords": [0, 1, 2, 3], "dist": member("c2.safetensors")}]}
    (folder / "family.json").write_text(json.dumps(doc))
    code, _, err = run(["check", str(folder / "family.json"), "--samples", "0"])
    assert code == 2 and "conditionals[1].blocks[0].dist: a model member is allowed only" in err


def test_samplers_that_need_densities_are_refused(folder):
    code, _, err = run(["check", str(spec(folder)), "--sampler", "pc-mala"])
    assert code == 2 and "--sampler: pc-mala needs densities" in err
