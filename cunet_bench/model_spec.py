"""How one model is built and what it is for (DESIGN.md, "Registry"): the record the built-in
catalogue and third-party entry points hand to the registry."""

from __future__ import annotations

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


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model.

    ``build(channels, image_size, **options)`` returns an ``nn.Module`` following the
    backbone contract ``forward(x, t)`` (families ``unet``/``cunet``) or an object with
    ``denoise(y, sigma)`` (family ``denoiser``); ``options`` are ``config`` updated by the
    caller's overrides. ``downsampling_factor`` is what the image size must be divisible by;
    ``supports`` names optional capabilities (``solver``: accepts ODE solver settings;
    ``trainable``: has learned parameters). ``description`` is one short line for listings;
    ``notes`` carries what a user should know beyond it (shown by ``bench models NAME``);
    ``paper_name`` is what the paper calls the model; ``tags`` (see :data:`TAGS`) say which
    default lists it belongs to.
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
    notes: str = ""
    paper_name: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        unknown = sorted(set(self.tags) - set(TAGS))
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown tags {unknown}; tags: {', '.join(TAGS)}")

    @property
    def is_backbone(self) -> bool:
        return self.family != "denoiser"

    def check_image_size(self, image_size: int) -> None:
        """Raise a one-line error when the image size does not fit the model's downsampling."""
        if image_size <= 0:
            raise UserError(f"model {self.name!r}: the image size must be positive, got {image_size}")
        if image_size % self.downsampling_factor:
            raise UserError(
                f"model {self.name!r} needs an image size divisible by {self.downsampling_factor}, "
                f"got {image_size} (pad or resize the images, e.g. MNIST 28 -> 32)"
            )

    def instantiate(self, channels: int | None = None, image_size: int | None = None, **overrides: Any) -> Any:
        """Build the model at the given (or default) channels and image size."""
        channels = self.default_channels if channels is None else channels
        image_size = self.default_image_size if image_size is None else image_size
        if channels <= 0:
            raise UserError(f"model {self.name!r}: channels must be positive, got {channels}")
        self.check_image_size(image_size)
        try:
            return self.build(channels, image_size, **{**self.config, **overrides})
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
            raise UserError(f"model {self.name!r} does not accept that option: {error}") from None

    def row_fields(self) -> dict[str, str]:
        """What result rows record about the model, so the report can name and group models
        without importing the registry."""
        return {"paper_name": self.paper_name or self.name, "tags": ";".join(sorted(self.tags))}
