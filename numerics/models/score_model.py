"""A network (or any callable) as the score callable ``(x, t) -> ∇log p_t(x)``.

A *predictor* maps points ``x (N, n)`` and a time input ``τ (N,)`` to a prediction
``(N, n)`` of ``eps``, ``x0``, ``v`` or the score (:mod:`numerics.models.parameterization`).
:class:`ScoreModel` evaluates it at the process coefficients of ``t`` — a continuous
:class:`~numerics.laws.processes.VP`/``VE`` time, or an integer timestep of a
:class:`~numerics.models.schedules.DiscreteSchedule` — and converts the prediction to the
score exactly. The predictor runs in its own dtype and device (``dtype``/``device``,
e.g. a float32 network on cuda); the conversion runs in the dtype and on the device of
``x``, so a float64 caller gets float64 scores with the network's own precision and no
more round-off.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from numerics.laws.processes import ForwardProcess
from numerics.models.parameterization import check_parameterization, to_score
from numerics.models.schedules import DiscreteSchedule

#: ``(x (N, n), τ (N,)) -> prediction (N, n)``.
Predictor = Callable[[Tensor, Tensor], Tensor]


def continuous_time(process: ForwardProcess, t: float) -> float:
    """The default time input: ``t`` itself (the timestep under a discrete schedule)."""
    if isinstance(process, DiscreteSchedule):
        return float(process.timestep(t))
    return t


class ScoreModel:
    """``score(x, t)`` of a predictor of ``parameterization`` under ``process``.

    ``time_input(process, t)`` is what the network is conditioned on (default
    :func:`continuous_time`: ``t``, or the integer timestep of a discrete schedule);
    ``dtype``/``device`` are the predictor's (default: those of ``x``). ``ValueError`` at
    ``s_t = 0``, at non-integer timesteps of a discrete schedule and for a prediction
    whose shape is not the points'.
    """

    def __init__(self, predictor: Predictor, parameterization: str, process: ForwardProcess,
                 *, time_input: Callable[[ForwardProcess, float], float] = continuous_time,
                 dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        self.predictor = predictor
        self.parameterization = check_parameterization(parameterization)
        self.process, self.time_input = process, time_input
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)

    def __repr__(self) -> str:
        return f"ScoreModel({self.parameterization}, {self.process!r})"

    def __call__(self, x: Tensor, t: float) -> Tensor:
        a, s = self.process.coefficients(float(t))
        tau = self.time_input(self.process, float(t))
        inputs = x.to(dtype=self.dtype or x.dtype, device=self.device or x.device)
        times = torch.full(x.shape[:-1], tau, dtype=inputs.dtype, device=inputs.device)
        prediction = self.predictor(inputs, times)
        if prediction.shape != x.shape:
            raise ValueError(f"the predictor returned shape {tuple(prediction.shape)} for "
                             f"points of shape {tuple(x.shape)}")
        prediction = prediction.to(dtype=x.dtype, device=x.device)
        return to_score(prediction, x, a, s, self.parameterization)
