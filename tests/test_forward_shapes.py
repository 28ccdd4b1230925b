"""Every registered model runs forward on CPU at a small size and keeps the image shape."""

import pytest
import torch
from cunet_bench.registry.contracts import Backbone, Denoiser
from cunet_bench.registry.suite import REGISTRY

SMALL = {"unet": dict(dim=8, dim_mults=(1, 2, 4, 8)), "unet-ddpm": dict(ch=32, attn_resolutions=(8,))}


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.family in ("unet", "cunet")], ids=lambda s: s.name)
@pytest.mark.parametrize("channels", [1, 3])
def test_backbone_forward_shape(spec, channels):
    overrides = SMALL.get(spec.name, dict(nf=4) if spec.family == "cunet" else {})
    model = spec.instantiate(channels=channels, image_size=32, **overrides).eval()
    assert isinstance(model, Backbone)
    x = torch.randn(2, channels, 32, 32)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["dncnn", "conv-ae"])
def test_learned_denoiser_shape(name):
    model = REGISTRY.build(name, channels=1, image_size=32).eval()
    assert isinstance(model, Denoiser)
    y = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        out = model.denoise(y, 0.1)
    assert out.shape == y.shape
