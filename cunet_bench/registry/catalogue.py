"""The built-in models: every network of the paper, its release and its baselines, with the
tags from which the default model lists are derived. The model modules themselves stay plain
network code; this is the one place that names them."""

from __future__ import annotations

from typing import Any

from cunet_bench.baselines.bm3d import Bm3dDenoiser
from cunet_bench.baselines.conv_ae import ConvAutoencoder
from cunet_bench.baselines.dncnn import DnCNN
from cunet_bench.models.cunet import FIVE_ATTENTION, LEVELS, ContinuousUNet
from cunet_bench.models.unet import HoUNet, ReleaseUNet
from cunet_bench.registry.spec import ModelSpec

CUNET_RELEASE = dict(time_conditioning=False, dynamics="augmented", residual_attention=False)
CUNET_PAPER = dict(time_conditioning=True, dynamics="second-order", residual_attention=True)
RELEASED_ABLATION_COUNTS = {"wo-r": 6_138_083, "wo-a-r": 5_874_915}
"""Counts printed in the released notebook for a variant not in the released code (docs/protocol.md §2)."""
CUNET_ABLATIONS = {
    "": ("", "", {}),
    "-wo-a": (", wo/A: no attention", " wo/A", {"attention": ()}),
    "-wo-r": (", wo/R: no residual in the ODE function", " wo/R", {"ode_residual": False}),
    "-wo-a-r": (", wo/A/R: neither", " wo/A/R", {"attention": (), "ode_residual": False}),
}
WO_R_NOTE = (
    "Table 5's wo/R is defined here as the paper's Appendix C states it: the ODE function without its "
    "residual connection, which has no parameters. The released notebook prints {released:,} parameters for "
    "this ablation, from a variant that is not in the released code and cannot be derived from it "
    "(it removes 2,673,792 parameters)."
)
CUNET_SUPPORTS = frozenset({"trainable", "solver"})
WIDTH = (1, 4096)
HEADS = {"heads": (1, 64), "dim_head": (1, 1024)}
UNET_RANGES = {"dim": WIDTH, "dim_mults": (1, 64), "groups": (1, 256), **HEADS}
HO_RANGES = {
    "ch": WIDTH,
    "ch_mult": (1, 64),
    "num_res_blocks": (1, 16),
    "attn_resolutions": (1, 1024),
    "dropout": (0.0, 1.0),
    "groups": (1, 256),
}
CUNET_RANGES = {"nf": WIDTH, "time_steps": (1, 100_000), "time_dim": (4, 4096), **HEADS}
CUNET_SCALES = {"tiny": {"nf": 2}, "cpu": {"nf": 4}}
"""The release's width rule at CPU scale: cU-Net nf = U-Net dim / 4 (16 vs 64 as released)."""


def _release_unet(channels: int, image_size: int, **options: Any):
    return ReleaseUNet(channels=channels, **options)


def _ho_unet(channels: int, image_size: int, **options: Any):
    return HoUNet(channels=channels, image_size=image_size, **options)


def _cunet(channels: int, image_size: int, **options: Any):
    return ContinuousUNet(channels=channels, **options)


def _dncnn(channels: int, image_size: int, depth: int | None = None, **options: Any):
    """Zhang et al.'s depths: 17 layers for grayscale, 20 for colour, unless overridden."""
    return DnCNN(channels=channels, depth=(17 if channels == 1 else 20) if depth is None else depth, **options)


def _conv_ae(channels: int, image_size: int, **options: Any):
    return ConvAutoencoder(channels=channels, **options)


def _bm3d(channels: int, image_size: int, **options: Any):
    return Bm3dDenoiser(**options)


def _cunet_family(
    prefix: str, flavour: dict[str, Any], summary: str, notes: str, paper_name: str, tags: dict[str, frozenset[str]]
) -> list[ModelSpec]:
    specs = []
    for suffix, (what, paper_suffix, ablation) in CUNET_ABLATIONS.items():
        released = RELEASED_ABLATION_COUNTS.get(suffix.lstrip("-"))
        specs.append(
            ModelSpec(
                name=prefix + suffix,
                family="cunet",
                description=summary + what,
                build=_cunet,
                config={**flavour, **ablation},
                default_channels=3,
                default_image_size=64,
                downsampling_factor=2**LEVELS,
                supports=CUNET_SUPPORTS,
                option_ranges=CUNET_RANGES,
                scales=CUNET_SCALES,
                notes=" ".join(filter(None, (notes, WO_R_NOTE.format(released=released) if released else ""))),
                paper_name=paper_name + paper_suffix,
                tags=tags.get(suffix, frozenset()),
            )
        )
    return specs


TABLE5 = frozenset({"table5", "efficiency"})

BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="unet",
        family="unet",
        description="paper's baseline as released (v1.8.3 Unet, dim 64, mults 1,2,4,8)",
        notes="denoising_diffusion_pytorch v1.8.3 Unet(dim=64, dim_mults=(1, 2, 4, 8)), the network the "
        "released code trains as 'U-Net' (not Ho et al.'s; that is unet-ddpm). Linear attention on levels "
        "1-3, softmax attention on level 4 and in the middle.",
        build=_release_unet,
        default_channels=3,
        default_image_size=64,
        downsampling_factor=8,
        supports=frozenset({"trainable"}),
        option_ranges=UNET_RANGES,
        scales={"tiny": {"dim": 8}, "cpu": {"dim": 16}},
        paper_name="U-Net",
        tags=TABLE5 | {"paper-unet", "quality"},
    ),
    ModelSpec(
        name="unet-ddpm",
        family="unet",
        description="Ho et al. (2020) DDPM U-Net (CIFAR-10: ch 128, mults 1,2,2,2)",
        build=_ho_unet,
        default_channels=3,
        default_image_size=32,
        downsampling_factor=8,
        supports=frozenset({"trainable"}),
        option_ranges=HO_RANGES,
        scales={scale: {"ch": 32, "attn_resolutions": (8,)} for scale in ("tiny", "cpu")},
        paper_name="U-Net of Ho et al. (the paper's text)",
        tags=frozenset({"efficiency"}),
    ),
    *_cunet_family(
        "cunet-release",
        CUNET_RELEASE,
        "cU-Net as released (ConvSODEUNet, rk4, t unused)",
        "The released ConvSODEUNet (nf=16, softplus): rk4 with one step per block (4 NFE per block, 36 per "
        "call), frozen sinusoidal time table built but never used, augmented first-order dynamics, attention "
        "that replaces the features.",
        "cU-Net",
        {suffix: TABLE5 | ({"paper-cunet", "quality"} if not suffix else set()) for suffix in CUNET_ABLATIONS},
    ),
    *_cunet_family(
        "cunet",
        CUNET_PAPER,
        "cU-Net as the paper describes it (t-conditioned, 2nd order)",
        "The paper's text (section 3.1, eq. 4): the released trunk with a SiLU→Linear scale/shift of the time "
        "embedding in all nine ODE functions, true second-order dynamics (dx/dt = v, dv/dt = a; the "
        "acceleration output is half the state width, hence 7,604,739 parameters rather than the 9,568,483 "
        "of the same trunk with augmented first-order dynamics, selectable with dynamics='augmented') and "
        "residual attention.",
        "cU-Net as described",
        {"": frozenset({"quality"})},
    ),
    ModelSpec(
        name="cunet-5attn",
        family="cunet",
        description="released cU-Net with 5 attention blocks, GroupNorm (Table 5's 2.90 G)",
        build=_cunet,
        config={**CUNET_RELEASE, "attention": FIVE_ATTENTION, "norm": "group"},
        default_channels=3,
        default_image_size=64,
        downsampling_factor=2**LEVELS,
        supports=CUNET_SUPPORTS,
        option_ranges=CUNET_RANGES,
        scales=CUNET_SCALES,
        notes="A notebook variant of the release with attention at 32x32 (64 ch) in encoder and decoder, "
        "at 8x8 (256 ch) as released and at the 512-ch bottleneck, GroupNorm in the ODE functions. Its cost, "
        "not the released model's, is the paper's 2.90 GFLOPs; the paper's 8.8M parameters are the release's.",
        paper_name="cU-Net (5 attention)",
        tags=TABLE5,
    ),
    ModelSpec(
        name="dncnn",
        family="denoiser",
        description="DnCNN (Zhang et al. 2017): 17 layers gray, 20 RGB",
        build=_dncnn,
        default_channels=1,
        default_image_size=64,
        supports=frozenset({"trainable"}),
        option_ranges={"depth": (3, 200), "width": WIDTH},
        scales={"tiny": {"depth": 5, "width": 16}, "cpu": {"depth": 10, "width": 32}},
        paper_name="DnCNN",
        tags=frozenset({"efficiency", "table4"}),
    ),
    ModelSpec(
        name="conv-ae",
        family="denoiser",
        description="convolutional autoencoder of the release",
        build=_conv_ae,
        default_channels=3,
        default_image_size=64,
        downsampling_factor=16,
        supports=frozenset({"trainable"}),
        option_ranges={"widths": WIDTH},
        scales={"tiny": {"widths": (8, 16, 32, 64)}},
        paper_name="Conv AE",
        tags=frozenset({"efficiency", "table4"}),
    ),
    ModelSpec(
        name="bm3d",
        family="denoiser",
        description="BM3D (Dabov et al. 2007), one image per process",
        build=_bm3d,
        default_channels=3,
        default_image_size=64,
        option_ranges={"workers": (1, 1024)},
        paper_name="BM3D",
        tags=frozenset({"table4"}),
    ),
)
