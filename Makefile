# Set-up is idempotent: the virtual environment is rebuilt only when
# pyproject.toml changes. torch is installed first, pinned to the build that
# lies on local disk when one is there, so the `torch>=2.1` range of the
# project never pulls a multi-GB CUDA build.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: setup bytecode verify test lint bench bench-gpu clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)" || $(PY) -m pip install -q "torch>=2.1"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# These machines set PYTHONDONTWRITEBYTECODE, so Python never caches the project's
# bytecode and every command recompiles its ~100 modules (~0.16 s of each start);
# compileall writes the caches explicitly and skips files already up to date.
bytecode: setup
	$(PY) -m compileall -q theory numerics projcomp

verify: bytecode
	$(VENV)/bin/projcomp verify

test: bytecode
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n auto --dist loadfile

bench: bytecode
	$(PY) -m pip install -q -e ".[dev,bench]"
	$(PY) benchmarks/bench_check.py
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_calibration.py

# One run (<= 5 minutes) on a CUDA device: score throughput against the measured float32
# matmul peak and the at-floor sampler time (benchmarks/results/gpu.{md,json}); without
# CUDA it exits 2 and says so.
bench-gpu: setup
	$(PY) benchmarks/bench_gpu.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
