"""The diffusers adapter (issue 12): a tiny randomly initialized ``UNet2DModel`` with a
``DDPMScheduler``'s ``alphas_cumprod`` as a score callable — shapes, the timestep each
call passes, dtype and device."""

from __future__ import annotations

import pytest
import torch

from numerics.models.diffusers_adapter import dimension, unet_score
from numerics.models.parameterization import to_score
from numerics.models.schedules import DiscreteSchedule

diffusers = pytest.importorskip("diffusers")


def tiny_unet(channels: int = 3, size: int = 8) -> diffusers.UNet2DModel:
    torch.manual_seed(0)
    return diffusers.UNet2DModel(
        sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D")).eval()


@pytest.mark.parametrize(("prediction_type", "kind"),
                         [("epsilon", "eps"), ("sample", "x0"), ("v_prediction", "v")])
def test_unet_score_maps_timesteps_and_converts_exactly(prediction_type, kind):
    unet = tiny_unet()
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000,
                                        prediction_type=prediction_type)
    score = unet_score(unet, scheduler)
    assert isinstance(score.process, DiscreteSchedule) and score.parameterization == kind
    n = dimension(unet)
    assert n == 3 * 8 * 8
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, n, generator=g, dtype=torch.float64)
    seen = []
    hook = unet.register_forward_pre_hook(lambda m, args: seen.append(args), with_kwargs=False)
    try:
        for t in (0, 1, 500, 999):
            with torch.no_grad():
                out = score(x, float(t))
            images, timesteps = seen[-1]
            assert images.shape == (5, 3, 8, 8) and images.dtype == torch.float32
            assert timesteps.dtype == torch.long and timesteps.tolist() == [t] * 5
            assert out.shape == x.shape and out.dtype == torch.float64
            assert out.device == x.device and bool(torch.isfinite(out).all())
            # the score is the diffusers prediction converted at ᾱ_t of the scheduler
            with torch.no_grad():
                raw = unet(x.float().reshape(5, 3, 8, 8), t).sample.reshape(5, n).double()
            abar = float(scheduler.alphas_cumprod[t])
            want = to_score(raw, x, abar**0.5, (1 - abar) ** 0.5, kind)
            assert torch.allclose(out, want, rtol=1e-12, atol=0)
    finally:
        hook.remove()


def test_unet_score_on_the_zero_terminal_snr_schedule_is_finite():
    """diffusers' ``rescale_betas_zero_snr``: ᾱ_999 = 0, v-prediction at s = 1."""
    unet = tiny_unet(channels=1)
    scheduler = diffusers.DDPMScheduler(prediction_type="v_prediction",
                                        rescale_betas_zero_snr=True)
    assert float(scheduler.alphas_cumprod[-1]) < 1e-6
    score = unet_score(unet, scheduler)
    x = torch.randn(2, dimension(unet), dtype=torch.float64)
    with torch.no_grad():
        assert bool(torch.isfinite(score(x, 999.0)).all())
        assert bool(torch.isfinite(score(x, 0.0)).all())


def test_unet_score_follows_the_unet_device_and_refuses_bad_calls():
    unet = tiny_unet(channels=1)
    score = unet_score(unet, diffusers.DDPMScheduler())
    assert score.device == unet.device and score.dtype == torch.float32
    with pytest.raises(ValueError, match="integer timesteps"):
        score(torch.zeros(1, dimension(unet), dtype=torch.float64), 10.5)
    with pytest.raises(ValueError, match="prediction_type"):
        unet_score(unet, diffusers.DDPMScheduler(prediction_type="flow"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_unet_score_on_cuda_returns_on_the_caller_device():
    unet = tiny_unet(channels=1).cuda()
    score = unet_score(unet, diffusers.DDPMScheduler())
    x = torch.randn(2, dimension(unet), dtype=torch.float64)
    with torch.no_grad():
        out = score(x, 10.0)
    assert out.device == x.device and out.dtype == torch.float64
