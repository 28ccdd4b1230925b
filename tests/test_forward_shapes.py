"""Every registered model runs forward on CPU at a small size and keeps the image shape."""

import pytest
import torch
from cunet_bench.registry.contracts import Backbone, contract_problem
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


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda s: s.name)
def test_every_built_in_model_keeps_its_contract(spec):
    """The probe a plugin must pass before any work passes on every built-in model."""
    assert contract_problem(spec) is None
