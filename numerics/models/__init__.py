"""Learned score models plugged into the exact machinery (issue 12).

A network predicts one of ``eps``, ``x0``, ``v`` or the score at a noise level; every
sampler and check takes a score callable ``(x (N, n), t) -> (N, n)``. This package
converts between the two (:mod:`~numerics.models.parameterization`), wraps a predictor
under a continuous process or a discrete ``alphas_cumprod`` schedule
(:mod:`~numerics.models.score_model`, :mod:`~numerics.models.schedules`), adapts diffusers'
``UNet2DModel`` (:mod:`~numerics.models.diffusers_adapter`), loads weights from
safetensors files with their names and shapes checked (:mod:`~numerics.models.weights`),
holds families of score callables (:mod:`~numerics.models.family`) and the clevr-lite
denoisers and their training (:mod:`~numerics.models.networks`,
:mod:`~numerics.models.training`). It needs only ``numerics.laws`` (and ``threads``).
"""
