import pytest
import torch
from cunet_bench.baselines import bm3d as bm3d_module
from cunet_bench.baselines.bm3d import Bm3dDenoiser


def _smooth_images(batch: int, channels: int, size: int = 32) -> torch.Tensor:
    grid = torch.linspace(0, 1, size)
    base = 0.5 + 0.3 * torch.sin(6 * grid)[None, :] * torch.cos(4 * grid)[:, None]
    return base.expand(batch, channels, size, size).clone()


@pytest.mark.parametrize("channels, mode", [(1, "auto"), (3, "auto"), (3, "per-channel")])
def test_bm3d_reduces_the_error_of_a_noisy_image(channels, mode):
    clean = _smooth_images(2, channels)
    sigma = 0.1
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    denoised = Bm3dDenoiser(mode=mode, workers=2).denoise(noisy, sigma)
    assert denoised.shape == clean.shape and denoised.dtype == clean.dtype
    noisy_mse = ((noisy - clean) ** 2).mean().item()
    denoised_mse = ((denoised - clean) ** 2).mean().item()
    assert denoised_mse < noisy_mse / 4


def test_bm3d_pool_gives_the_same_result_as_one_process():
    clean = _smooth_images(2, 1, 16)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    one = Bm3dDenoiser(workers=1).denoise(noisy, 0.1)
    pool = Bm3dDenoiser(workers=2).denoise(noisy, 0.1)
    assert torch.equal(one, pool)


def test_bm3d_bad_input():
    with pytest.raises(ValueError, match="positive"):
        Bm3dDenoiser().denoise(torch.rand(1, 1, 8, 8), 0.0)
    with pytest.raises(ValueError, match="3 channels"):
        Bm3dDenoiser(mode="rgb").denoise(torch.rand(1, 1, 8, 8), 0.1)
    with pytest.raises(ValueError, match="mode"):
        Bm3dDenoiser(mode="fast")


def test_bm3d_missing_binary_gives_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "bm3d":
            raise OSError("libbm4d.so: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(bm3d_module.Bm3dUnavailable) as caught:
        bm3d_module.Bm3dDenoiser().denoise(torch.rand(1, 1, 8, 8), 0.1)
    assert "BM3D is unavailable on this platform" in str(caught.value)
    assert "\n" not in str(caught.value)
