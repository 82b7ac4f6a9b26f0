"""Networks from an entry point and a safetensors file, with every tensor checked.

:func:`build_module` imports ``"module:function"`` and calls it with a config mapping to
get a ``torch.nn.Module``; :func:`load_weights` reads a ``.safetensors`` file (never a
pickle: safetensors files hold only named tensors, so loading runs no code) and copies it
into the module after checking that the file's tensor names are exactly the module's
``state_dict`` names and every shape matches. Each problem raises :class:`ModelError`,
whose ``field`` says which of ``entry``, ``config`` or ``weights`` is wrong.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

# Names listed in an error message about missing or unexpected tensors.
SHOWN = 3


class ModelError(ValueError):
    """A model that cannot be built or loaded; ``field`` names the spec field at fault."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


@contextmanager
def _importable_from(folder: Path | None):
    """``folder`` on ``sys.path`` for the duration (a spec's own folder, so that an entry
    module beside the spec imports without ``PYTHONPATH``)."""
    if folder is None:
        yield
        return
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


def build_module(entry: str, config: Mapping[str, Any],
                 folder: Path | None = None) -> torch.nn.Module:
    """``function(**config)`` for ``entry = "module:function"``; ``ModelError`` for an
    entry that is malformed, does not import or is not callable (field ``entry``), a
    config it rejects (``config``), or a result that is not a ``torch.nn.Module``."""
    module_name, sep, attr = entry.partition(":")
    if not sep or not module_name or not attr:
        raise ModelError("entry", f"{entry!r} is not of the form 'module:function'")
    try:
        with _importable_from(folder):
            module = importlib.import_module(module_name)
    except Exception as err:  # any import failure of user code is a bad entry
        raise ModelError("entry", f"cannot import {module_name!r} "
                                  f"({type(err).__name__}: {err})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ModelError("entry", f"{module_name!r} has no callable {attr!r}")
    try:
        network = function(**dict(config))
    except Exception as err:  # user code rejecting its config
        raise ModelError("config", f"{entry}(**config) failed "
                                   f"({type(err).__name__}: {err})") from None
    if not isinstance(network, torch.nn.Module):
        raise ModelError("entry", f"{entry} returned a {type(network).__name__}, not a "
                                  "torch.nn.Module")
    return network


def load_weights(network: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Copy the tensors of the safetensors file ``path`` into ``network`` (in eval mode),
    after checking names and shapes against its ``state_dict``; ``ModelError`` (field
    ``weights``) for a missing, unreadable or corrupt file and any mismatch."""
    if not path.is_file():
        raise ModelError("weights", f"no file {str(path)!r}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ModelError("weights", f"{str(path)!r} is not a readable safetensors file "
                                    f"({' '.join(str(err).split())[:120]})") from None
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {missing[:SHOWN]}" + (" ..." if len(missing) > SHOWN else "")]
                 if missing else []) + \
                ([f"unexpected {unexpected[:SHOWN]}" + (" ..." if len(unexpected) > SHOWN
                                                       else "")] if unexpected else [])
        raise ModelError("weights", f"tensor names do not match the module: "
                                    f"{'; '.join(parts)}")
    for name, tensor in expected.items():
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise ModelError("weights", f"tensor {name!r} has shape "
                                        f"{tuple(tensors[name].shape)}, the module expects "
                                        f"{tuple(tensor.shape)}")
        if tensors[name].is_floating_point() and not bool(torch.isfinite(tensors[name]).all()):
            raise ModelError("weights", f"tensor {name!r} holds NaN or infinity")
    network.load_state_dict(tensors)
    return network.eval()


def save_weights(network: torch.nn.Module, path: Path,
                 metadata: Mapping[str, str] | None = None) -> None:
    """Write ``network``'s ``state_dict`` to ``path`` as safetensors (contiguous CPU copies;
    ``metadata``: string pairs stored in the header), atomically: a partial file is never
    left under ``path``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=dict(metadata or {}))
    os.replace(partial, path)
