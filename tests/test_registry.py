import sys
import textwrap

import pytest
from cunet_bench.errors import UnknownModelError, UserError
from cunet_bench.registry.suite import REGISTRY, ModelSpec, Registry, parameter_count

EXPECTED_MODELS = {
    "unet",
    "unet-ddpm",
    "cunet-release",
    "cunet-release-wo-a",
    "cunet-release-wo-r",
    "cunet-release-wo-a-r",
    "cunet",
    "cunet-wo-a",
    "cunet-wo-r",
    "cunet-wo-a-r",
    "cunet-5attn",
    "dncnn",
    "conv-ae",
    "bm3d",
}


def test_every_builtin_model_is_registered_once():
    names = REGISTRY.names()
    assert set(names) == EXPECTED_MODELS
    assert len(names) == len(set(names))


def test_unknown_model_error_lists_known_names():
    with pytest.raises(UnknownModelError) as caught:
        REGISTRY.get("unett")
    message = str(caught.value)
    assert message.startswith("unknown model 'unett'")
    assert "unet-ddpm" in message and "bm3d" in message
    assert "\n" not in message


def test_duplicate_registration_is_refused():
    spec = REGISTRY.get("unet")
    twin = ModelSpec(name="unet", family="unet", description="twin", build=spec.build)
    with pytest.raises(ValueError, match="registered twice"):
        REGISTRY.register(twin)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family"):
        ModelSpec(name="x", family="gan", description="", build=lambda c, s: None)


def test_image_size_must_fit_downsampling():
    with pytest.raises(UserError, match="divisible by 16"):
        REGISTRY.build("cunet-release", image_size=28)
    with pytest.raises(UserError, match="divisible by 8"):
        REGISTRY.build("unet", image_size=30)


def test_unknown_build_option_is_a_user_error():
    with pytest.raises(UserError, match="does not accept"):
        REGISTRY.build("dncnn", wings=2)


def test_third_party_model_through_entry_point(tmp_path, monkeypatch):
    package = tmp_path / "thirdparty_denoiser.py"
    package.write_text(
        textwrap.dedent(
            """
            from torch import nn
            from cunet_bench.registry.suite import ModelSpec

            class Tiny(nn.Module):
                def __init__(self, channels):
                    super().__init__()
                    self.conv = nn.Conv2d(channels, channels, 3, padding=1)
                def forward(self, y):
                    return self.conv(y)
                def denoise(self, y, sigma):
                    return self(y)

            SPEC = ModelSpec(name="tiny-thirdparty", family="denoiser", description="a third-party model",
                             build=lambda channels, image_size: Tiny(channels))
            """
        )
    )
    dist_info = tmp_path / "thirdparty_denoiser-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-denoiser\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[cunet_bench.models]\ntiny = thirdparty_denoiser:SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(builtin=tuple)
    assert registry.names() == ["tiny-thirdparty"]
    model = registry.build("tiny-thirdparty", channels=1, image_size=8)
    assert parameter_count(model) == 1 * 1 * 9 + 1
    sys.modules.pop("thirdparty_denoiser", None)


def test_entry_point_that_is_not_a_spec_fails_clearly(tmp_path, monkeypatch):
    (tmp_path / "bad_plugin.py").write_text("SPEC = 42\n")
    dist_info = tmp_path / "bad_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[cunet_bench.models]\nbad = bad_plugin:SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match="must name a ModelSpec"):
        Registry(builtin=tuple).names()
    sys.modules.pop("bad_plugin", None)


def test_default_lists_come_from_tags():
    assert REGISTRY.tagged("table5") == (
        "unet",
        "cunet-release",
        "cunet-release-wo-a",
        "cunet-release-wo-r",
        "cunet-release-wo-a-r",
        "cunet-5attn",
    )
    assert REGISTRY.only("paper-unet") == "unet" and REGISTRY.only("paper-cunet") == "cunet-release"
    assert set(REGISTRY.tagged("table4")) == {"dncnn", "conv-ae", "bm3d"}
    with pytest.raises(UserError, match="unknown model tags"):
        REGISTRY.tagged("fast")
    with pytest.raises(ValueError, match="unknown tags"):
        ModelSpec(name="x", family="unet", description="", build=lambda c, s: None, tags=frozenset({"fast"}))
