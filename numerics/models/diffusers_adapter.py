"""diffusers' ``UNet2DModel`` with a scheduler's ``alphas_cumprod`` as a score callable.

    from diffusers import DDPMScheduler, UNet2DModel
    score = unet_score(UNet2DModel.from_pretrained(...), DDPMScheduler.from_pretrained(...))
    score(x, 999)        # x (N, C·H·W) flattened channel-major, t an integer timestep

The scheduler fixes the noise schedule (``alphas_cumprod``: a
:class:`~numerics.models.schedules.DiscreteSchedule`) and the parameterization
(``config.prediction_type``: ``epsilon`` → ``eps``, ``sample`` → ``x0``, ``v_prediction`` →
``v``). The UNet is called as diffusers calls it in its pipelines: ``unet(images (N, C, H,
W), timesteps (N,) long).sample``, in the UNet's own dtype and on its device; the
flattened result is converted to the score in the dtype and on the device of ``x``
(:class:`~numerics.models.score_model.ScoreModel`). diffusers is imported by the caller,
not here: any module with that call signature works.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from numerics.models.schedules import DiscreteSchedule
from numerics.models.score_model import ScoreModel

PREDICTION_TYPES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}

def unet_score(unet: Any, scheduler: Any) -> ScoreModel:
    """A :class:`ScoreModel` of ``unet`` (a ``UNet2DModel``) under ``scheduler``'s
    ``alphas_cumprod`` and ``prediction_type`` (module docstring)."""
    kind = scheduler.config.prediction_type
    if kind not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type {kind!r} is not one of {', '.join(PREDICTION_TYPES)}")
    config = unet.config
    shape = (config.in_channels, *_size(config.sample_size))
    if config.out_channels != config.in_channels:
        raise ValueError(f"the UNet maps {config.in_channels} channels to "
                         f"{config.out_channels}: a prediction needs as many as the input")

    def predict(x: Tensor, timesteps: Tensor) -> Tensor:
        images = x.reshape(-1, *shape)
        out = unet(images, timesteps.reshape(-1).round().long()).sample
        return out.reshape(x.shape)

    return ScoreModel(predict, PREDICTION_TYPES[kind],
                      DiscreteSchedule(scheduler.alphas_cumprod),
                      dtype=unet.dtype, device=unet.device)

def _size(sample_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(sample_size, int):
        return sample_size, sample_size
    return int(sample_size[0]), int(sample_size[1])

def dimension(unet: Any) -> int:
    """``n = C·H·W`` of the flattened points the score of ``unet`` takes."""
    h, w = _size(unet.config.sample_size)
    return int(unet.config.in_channels) * h * w
