"""``projcomp train clevr-lite``: learned score models of the CLEVR-lite laws (issue 12).

Trains each architecture of :mod:`numerics.experiments.clevr_learned` (``--quick``: the
small recipe, a few minutes on 2 cores) and writes, for each, to ``--out`` (default
``models/clevr-lite`` or ``models/clevr-lite-quick``):

- ``<arch>.safetensors``: the EMA weights (safetensors, names checked on loading);
- ``<arch>.json``: ``entry`` and ``config`` (what a family spec's model member needs),
  ``parameterization``, the label table, the recipe, the loss curve, parameters, seconds;
- ``<arch>_empty_k3.json``: a family spec of three learned "object at ℓ" members over the
  learned empty background, for ``projcomp check``.

A progress line with the running loss goes to stderr (updated in place on a terminal).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from numerics.experiments import clevr_learned, clevr_lite
from numerics.laws.processes import VP
from numerics.laws.scenes import clevr_scene
from numerics.models.networks import Preconditioned, label_index, labels
from numerics.models.training import TrainLog
from numerics.models.weights import build_module, load_weights, save_weights
from projcomp import atomic

ENTRY = "numerics.models.networks:build"
CHECKPOINTS = {False: Path("models/clevr-lite"), True: Path("models/clevr-lite-quick")}


def architectures(quick: bool) -> tuple[clevr_learned.Architecture, ...]:
    return clevr_learned.QUICK_ARCHITECTURES if quick else clevr_learned.FULL_ARCHITECTURES


class Progress:
    """``[arch] step i/N loss L (s)`` on stderr: in place on a terminal, else every 10%."""

    def __init__(self, name: str, steps: int) -> None:
        self.name, self.steps, self.start = name, steps, time.perf_counter()
        self.tty, self.shown = sys.stderr.isatty(), 0

    def __call__(self, step: int, loss: float) -> None:
        line = (f"[{self.name}] step {step}/{self.steps} loss {loss:.4f} "
                f"({time.perf_counter() - self.start:.0f} s)")
        if self.tty:
            print("\r" + line, end="\n" if step == self.steps else "", file=sys.stderr,
                  flush=True)
        elif step * 10 >= (self.shown + 1) * self.steps or step == self.steps:
            self.shown = step * 10 // self.steps
            print(line, file=sys.stderr, flush=True)


def usable_device(name: str) -> torch.device:
    """The torch device ``name`` (``cpu``, ``cuda``, ``cuda:1``, ...) after allocating on
    it; ``ValueError`` naming ``--device`` when it does not exist here (e.g. ``cuda`` on a
    machine without CUDA)."""
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:
        raise ValueError(f"--device {name}: {' '.join(str(err).split())}") from None
    return device


def train(out: Path, quick: bool, names: tuple[str, ...],
          device: torch.device | str = "cpu") -> dict[str, dict[str, Any]]:
    """Train the architectures ``names`` on ``device`` and write their checkpoints to
    ``out``; the checkpoint documents (``<arch>.json``) by name."""
    scene, process = clevr_scene(), VP()
    docs = {}
    for arch in architectures(quick):
        if arch.name not in names:
            continue
        network, log = clevr_learned.train_architecture(
            arch, scene, process, device=device,
            progress=Progress(arch.name, arch.recipe.steps))
        docs[arch.name] = write_checkpoint(out, arch, network, log,
                                           clevr_learned.network_config(arch, scene, process))
    return docs


def write_checkpoint(out: Path, arch: clevr_learned.Architecture, network: Preconditioned,
                     log: TrainLog, config: dict[str, Any]) -> dict[str, Any]:
    """``<arch>.safetensors``, ``<arch>.json`` and ``<arch>_empty_k3.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    save_weights(network, out / f"{arch.name}.safetensors", {"entry": ENTRY,
                                                            "config": json.dumps(config)})
    scene = clevr_scene(network.rows, network.cols)
    doc = {"entry": ENTRY, "config": config, "parameterization": "x0",
           "weights": f"{arch.name}.safetensors",
           "labels": [dataclasses.asdict(lab) for lab in labels(scene.locations)],
           "recipe": dataclasses.asdict(arch.recipe), "losses": log.losses,
           "loss_every": log.every, "parameters": log.parameters, "seconds": log.seconds,
           "threads": arch.recipe.threads}
    atomic.write_json(out / f"{arch.name}.json", doc)
    atomic.write_json(out / f"{arch.name}_empty_k3.json", family_spec(arch.name, config, 3))
    return doc


def family_spec(name: str, config: dict[str, Any], k: int) -> dict[str, Any]:
    """A ``projcomp.family/1`` spec: ``k`` learned "object at ℓ" members (the first cells
    of ``clevr_lite.ORDER`` on the grid) over the learned empty background, projections
    the cells."""
    scene = clevr_scene(config["rows"], config["cols"])
    cells = [c for c in clevr_lite.ORDER if c < scene.locations][:k]

    def member(label: int) -> dict[str, Any]:
        return {"type": "model", "entry": ENTRY, "weights": f"{name}.safetensors",
                "parameterization": "x0", "config": {**config, "label": label}}

    return {"format": "projcomp.family/1", "name": f"clevr-lite {name} empty k={k}",
            "dim": scene.dim, "background": member(label_index(scene.locations, "empty")),
            "conditionals": [member(label_index(scene.locations, "at", c)) for c in cells],
            "projections": [scene.cells[c].tolist() for c in cells]}


def load(folder: Path, name: str) -> Preconditioned:
    """The network ``name`` of a checkpoint folder (its JSON config and safetensors)."""
    doc = json.loads((folder / f"{name}.json").read_text("utf-8"))
    network = build_module(doc["entry"], doc["config"])
    return load_weights(network, folder / doc["weights"])
