"""How one model is built and what it is for (docs/architecture.md, "Registry"): the record the built-in
catalogue and third-party entry points hand to the registry — its builder, the ranges of its
options, the narrower widths the CPU presets train it at, and the tags that put it in default
lists. Every build goes through :meth:`ModelSpec.instantiate`, which checks the image size, the
channels and every option against those ranges before anything is allocated (options also come
from checkpoint metadata, which is untrusted input)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from cunet_bench.errors import UserError

FAMILIES = ("unet", "cunet", "denoiser")
TAGS = {
    "table5": "a row of the paper's Table 5 (the U-Net, the cU-Net and its ablations)",
    "efficiency": "measured by the paper preset's bench efficiency (Table 5 and the baselines' networks)",
    "paper-unet": "the paper's U-Net: the baseline every speed and quality ratio divides by",
    "paper-cunet": "the paper's cU-Net as its numbers were produced (the release): the candidate of every ratio",
    "quality": "a diffusion backbone bench all trains, samples, denoises with and measures FID of",
    "table4": "a one-shot denoising baseline of the paper's Table 4",
}
"""Every tag a model can carry; every default list of models is derived from them."""
PAPER_TAGS = frozenset({"table5", "paper-unet", "paper-cunet", "quality", "table4"})
"""The tags that make a model one the paper's claims read: only the built-in catalogue gives them."""
SUPPORTS = {
    "trainable": "has learned parameters: bench train trains it, and the other commands load its checkpoint",
    "solver": "a cU-Net that accepts the ODE solver settings",
    "noise-level": "a non-blind trainable denoiser: forward(y, sigma) receives each image's noise level",
}
SCALES = ("tiny", "cpu")
"""Named widths a preset trains models at: ``tiny`` (the smoke preset: seconds) and ``cpu`` (the quick and
reference presets: the release's 4:1 width rule at a size a 2-core CPU trains in minutes)."""
MAX_IMAGE_SIZE = 1024
MAX_CHANNELS = 16
MAX_PARAMETERS = 2_000_000_000
"""A model of more parameters than this (8 GB of fp32 weights) is a typo in an option, not a study."""
Range = tuple[float, float]


@dataclass(frozen=True)
class Source:
    """Where a model comes from: the built-in catalogue, or a plugin's entry point and package."""

    entry_point: str = ""
    value: str = ""
    package: str = ""

    @property
    def is_builtin(self) -> bool:
        return not self.entry_point

    def __str__(self) -> str:
        if self.is_builtin:
            return "the built-in catalogue"
        return f"entry point {self.entry_point!r} = {self.value} of package {self.package}"


BUILTIN_SOURCE = Source()


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model.

    ``build(channels, image_size, **options)`` returns an ``nn.Module`` following the
    backbone contract ``forward(x, t)`` (families ``unet``/``cunet``), a trainable denoiser's
    ``forward(y)`` or ``forward(y, sigma)``, or a one-shot denoiser with ``denoise(y, sigma)``
    (registry/contracts.py); ``options`` are ``config`` updated by the
    caller's overrides. ``option_ranges`` bounds every numeric option (each element of a
    sequence option); an option without a range is checked by the builder itself.
    ``downsampling_factor`` is what the image size must be divisible by; ``supports`` names
    optional capabilities (:data:`SUPPORTS`). ``scales`` maps a scale of :data:`SCALES` to the
    options that narrow the model for it (a scale it does not name builds the default width).
    ``description`` is one short line for listings; ``notes`` carries what a user should know
    beyond it (shown by ``bench models NAME``); ``paper_name`` is what the paper calls the model;
    ``tags`` (see :data:`TAGS`) say which default lists it belongs to; a plugin may not carry
    :data:`PAPER_TAGS`.
    """

    name: str
    family: str
    description: str
    build: Callable[..., Any]
    default_channels: int = 3
    default_image_size: int = 64
    downsampling_factor: int = 1
    supports: frozenset[str] = field(default_factory=frozenset)
    config: Mapping[str, Any] = field(default_factory=dict)
    option_ranges: Mapping[str, Range] = field(default_factory=dict)
    scales: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: str = ""
    paper_name: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    source: Source = BUILTIN_SOURCE
    """Set by the registry: a plugin's entry point and package."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        unknown = sorted(set(self.tags) - set(TAGS))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown tags {unknown}; tags: {', '.join(TAGS)}")
        unknown = sorted(set(self.supports) - set(SUPPORTS))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown supports {unknown}; supports: {', '.join(SUPPORTS)}")
        if "noise-level" in self.supports and (self.family != "denoiser" or "trainable" not in self.supports):
            raise ValueError(f"model {self.name!r}: only a trainable denoiser supports 'noise-level'")
        unknown = sorted(set(self.scales) - set(SCALES))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown scales {unknown}; scales: {', '.join(SCALES)}")

    @property
    def is_backbone(self) -> bool:
        return self.family != "denoiser"

    @property
    def is_one_shot(self) -> bool:
        """A denoiser with nothing to train: called through ``denoise(y, sigma)`` as it is built."""
        return self.family == "denoiser" and "trainable" not in self.supports

    @property
    def samples(self) -> bool:
        """Whether it generates images once trained: a trainable diffusion backbone."""
        return self.is_backbone and "trainable" in self.supports

    def options_at(self, scale: str | None) -> dict[str, Any]:
        """The options of the model at a preset's scale (none: the model's default width)."""
        if scale is not None and scale not in SCALES:
            raise UserError(f"unknown model scale {scale!r}; scales: {', '.join(SCALES)}")
        return dict(self.scales.get(scale, {})) if scale else {}

    def check_image_size(self, image_size: Any) -> None:
        """Raise a one-line error when the image size is not a whole number of pixels within
        range or does not fit the model's downsampling."""
        if not isinstance(image_size, int) or isinstance(image_size, bool) or not 1 <= image_size <= MAX_IMAGE_SIZE:
            raise UserError(
                f"model {self.name!r}: the image size must be a whole number of pixels from 1 to "
                f"{MAX_IMAGE_SIZE}, got {str(image_size)[:40]}"
            )
        if image_size % self.downsampling_factor:
            raise UserError(
                f"model {self.name!r} needs an image size divisible by {self.downsampling_factor}, "
                f"got {image_size} (pad or resize the images, e.g. MNIST 28 -> 32)"
            )

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Every option with a range must be a number (or a sequence of numbers) within it."""
        for name, value in options.items():
            bounds = self.option_ranges.get(name)
            if bounds is None:
                continue
            values = value if isinstance(value, (list, tuple)) else (value,)
            low, high = bounds
            for item in values:
                if (
                    not isinstance(item, (int, float))
                    or isinstance(item, bool)
                    or not math.isfinite(item)
                    or not low <= item <= high
                    or (isinstance(low, int) and not float(item).is_integer())
                ):
                    raise UserError(
                        f"model {self.name!r}: option {name} must be "
                        f"{'whole numbers' if isinstance(low, int) else 'numbers'} from {low:g} to "
                        f"{high:g}, got {str(value)[:40]}"
                    )

    def instantiate(self, channels: int | None = None, image_size: int | None = None, **overrides: Any) -> Any:
        """Build the model at the given (or default) channels and image size, every input checked
        first; options outside their ranges, or a model beyond :data:`MAX_PARAMETERS`, are one-line
        errors, never an allocation failure."""
        channels = self.default_channels if channels is None else channels
        image_size = self.default_image_size if image_size is None else image_size
        if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= MAX_CHANNELS:
            raise UserError(
                f"model {self.name!r}: channels must be a whole number from 1 to {MAX_CHANNELS}, "
                f"got {str(channels)[:40]}"
            )
        self.check_image_size(image_size)
        options = {**self.config, **overrides}
        self.check_options(options)
        if "trainable" in self.supports:
            self._check_size(channels, image_size, options)
        return self._build(channels, image_size, options)

    def _build(self, channels: int, image_size: int, options: dict[str, Any]) -> Any:
        try:
            return self.build(channels, image_size, **options)
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
            raise UserError(f"model {self.name!r} does not accept that option: {error}") from None
        except ValueError as error:
            raise UserError(f"model {self.name!r} cannot be built with {options}: {error}") from None

    def _check_size(self, channels: int, image_size: int, options: dict[str, Any]) -> None:
        """Count the parameters on PyTorch's meta device (nothing allocated) before a real build."""
        import torch

        with torch.device("meta"):
            model = self._build(channels, image_size, options)
        count = sum(p.numel() for p in model.parameters())
        if count > MAX_PARAMETERS:
            raise UserError(
                f"model {self.name!r} with {options} would have {count:,} parameters, more than "
                f"{MAX_PARAMETERS:,}: check its options"
            )

    def row_fields(self) -> dict[str, str]:
        """What result rows record about the model, so the report can name and group models
        without importing the registry."""
        return {
            "paper_name": self.paper_name or self.name,
            "tags": ";".join(sorted(self.tags)),
            "source": "built-in" if self.source.is_builtin else self.source.package,
            "family": self.family,
        }
