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


def _installed_plugin(tmp_path, monkeypatch, module: str, source: str, entry_points: str) -> None:
    """What installing a plugin puts on sys.path: its module and a dist-info naming its entry points."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = tmp_path / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[cunet_bench.models]\n{entry_points}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_an_entry_point_that_is_not_a_spec_is_refused_alone(tmp_path, monkeypatch):
    _installed_plugin(tmp_path, monkeypatch, "bad_plugin", "SPEC = 42\n", "bad = bad_plugin:SPEC")
    registry = Registry()
    assert "unet" in registry.names() and registry.get("dncnn").name == "dncnn"
    assert registry.problems() == [
        "entry point 'bad' = bad_plugin:SPEC of package bad-plugin 1.0 must name a ModelSpec or a sequence of "
        "ModelSpecs, got int"
    ]
    with pytest.raises(UserError, match="unknown model 'bad'; .* of package bad-plugin 1.0 must name a ModelSpec"):
        registry.get("bad")


CLASHING = """
    from cunet_bench.registry.spec import ModelSpec

    def one_shot(channels, image_size):
        return type("Identity", (), {"denoise": lambda self, y, sigma: y})()

    BUILT_IN = ModelSpec(name="dncnn", family="denoiser", description="mine", build=one_shot)
    TWICE = [ModelSpec(name="mine", family="denoiser", description="one", build=one_shot)]
    AGAIN = ModelSpec(name="mine", family="denoiser", description="two", build=one_shot)
    FINE = ModelSpec(name="fine", family="denoiser", description="fine", build=one_shot)
    PAPER = ModelSpec(name="claims", family="denoiser", description="x", build=one_shot, tags=frozenset({"table4"}))
"""


def test_a_name_given_twice_is_refused_naming_both_sources_and_the_rest_keeps_working(tmp_path, monkeypatch):
    _installed_plugin(
        tmp_path,
        monkeypatch,
        "clashing",
        CLASHING,
        "a = clashing:BUILT_IN\nb = clashing:TWICE\nc = clashing:AGAIN\nd = clashing:FINE",
    )
    registry = Registry()
    with pytest.raises(UserError) as refused:
        registry.get("dncnn")
    assert str(refused.value) == (
        "model 'dncnn' is registered twice, by the built-in catalogue and by entry point 'a' = clashing:BUILT_IN of "
        "package clashing 1.0: rename the plugin's model (its ModelSpec name)"
    )
    with pytest.raises(
        UserError,
        match="'mine' is registered twice, by entry point 'b' = clashing:TWICE of package "
        "clashing 1.0 and by entry point 'c' = clashing:AGAIN",
    ):
        registry.get("mine")
    assert len(registry.problems()) == 2
    assert "dncnn" in registry.tagged("table4")  # a default list that needs it fails with its line, never drops it
    assert "dncnn" not in registry.names() and "mine" not in registry.names()
    assert registry.get("fine").source.package == "clashing 1.0" and registry.get("unet").source.is_builtin
    assert registry.get("fine").row_fields()["source"] == "clashing 1.0"


def test_a_plugin_may_not_carry_the_tags_of_the_papers_models(tmp_path, monkeypatch):
    _installed_plugin(tmp_path, monkeypatch, "clashing", CLASHING, "e = clashing:PAPER")
    registry = Registry()
    assert registry.problems() == [
        "entry point 'e' = clashing:PAPER of package clashing 1.0 gives model 'claims' the tags table4, which mark "
        "the paper's own models; a plugin's model joins the pipeline with bench all --models +NAME"
    ]


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


BROKEN = """
    import torch
    from torch import nn
    from cunet_bench.registry.spec import ModelSpec

    class Halving(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        def forward(self, y):
            return self.conv(y)

    class OneChannelTooMany(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels + 1, 3, padding=1)
        def forward(self, x, t):
            return self.conv(x)

    class OnlyDenoise(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        def denoise(self, y, sigma):
            return self.conv(y)

    class Blind(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        def forward(self, y):
            return self.conv(y)

    class NonBlind(Blind):
        def forward(self, y, sigma):
            return self.conv(y) * sigma[:, None, None, None]

    def spec(name, family, network, supports=("trainable",)):
        return ModelSpec(name=name, family=family, description=name, default_channels=1,
                         build=lambda channels, image_size: network(channels), supports=frozenset(supports))

    SPECS = [
        spec("halving", "denoiser", Halving),
        spec("too-many", "unet", OneChannelTooMany),
        spec("only-denoise", "denoiser", OnlyDenoise),
        spec("blind-as-non-blind", "denoiser", Blind, ("trainable", "noise-level")),
        spec("non-blind", "denoiser", NonBlind, ("trainable", "noise-level")),
        spec("blind", "denoiser", Blind),
    ]
    CLASH = spec("dncnn", "denoiser", Blind)
"""


@pytest.mark.parametrize(
    "name, problem",
    [
        ("halving", "forward(y) must return the input's shape [2, 1, 32, 32]; it returned [2, 1, 16, 16]"),
        ("too-many", "forward(x, t) must return the input's shape [2, 1, 32, 32]; it returned [2, 2, 32, 32]"),
        ("only-denoise", "a trainable model needs forward(y); OnlyDenoise defines no forward"),
        ("blind-as-non-blind", "its forward must take (y, sigma); it is forward(y)"),
    ],
)
def test_a_plugin_that_breaks_its_contract_is_one_line_naming_it_and_its_package(tmp_path, monkeypatch, name, problem):
    _installed_plugin(tmp_path, monkeypatch, "broken_models", BROKEN, "mine = broken_models:SPECS")
    registry = Registry()
    family = "unet" if name == "too-many" else "denoiser"
    with pytest.raises(UserError) as refused:
        registry.get(name)
    assert str(refused.value) == (
        f"model {name!r} (entry point 'mine' = broken_models:SPECS of package broken-models 1.0) breaks the "
        f"{family} contract: {problem}"
    )
    assert registry.get("blind").name == "blind" and registry.get("non-blind").name == "non-blind"
