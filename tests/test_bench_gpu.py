"""benchmarks/bench_gpu.py without CUDA: exit status 2, one line, nothing written."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_without_cuda_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench_gpu = importlib.import_module("bench_gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0]
    assert not list(tmp_path.iterdir())
    for name in ("bench_gpu", "bench_sampling"):
        sys.modules.pop(name, None)
