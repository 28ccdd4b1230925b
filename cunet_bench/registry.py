"""The one list of every model the harness knows.

Each model module registers its variants at import through :func:`register`; third-party
packages add theirs through the ``cunet_bench.models`` entry-point group, whose entries
name a :class:`ModelSpec` or a sequence of them, e.g. in the third party's pyproject.toml::

    [project.entry-points."cunet_bench.models"]
    my-denoiser = "my_package.bench:SPEC"
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from torch import nn

from cunet_bench.errors import UnknownModelError, UserError

FAMILIES = ("unet", "cunet", "denoiser")
ENTRY_POINT_GROUP = "cunet_bench.models"
BUILTIN_MODULES = (
    "cunet_bench.models.unet",
    "cunet_bench.models.cunet",
    "cunet_bench.baselines.dncnn",
    "cunet_bench.baselines.conv_ae",
    "cunet_bench.baselines.bm3d",
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model.

    ``build(channels, image_size, **options)`` returns an ``nn.Module`` following the
    backbone contract ``forward(x, t)`` (families ``unet``/``cunet``) or an object with
    ``denoise(y, sigma)`` (family ``denoiser``); ``options`` are ``config`` updated by the
    caller's overrides. ``downsampling_factor`` is what the image size must be divisible by;
    ``supports`` names optional capabilities (``solver``: accepts ODE solver settings;
    ``trainable``: has learned parameters). ``description`` is one short line for listings;
    ``notes`` carries what a user should know beyond it (shown by ``bench models NAME``).
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

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")

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


class Registry:
    """Name → :class:`ModelSpec`, loading the built-in modules and entry points on first use."""

    def __init__(self, builtin_modules: tuple[str, ...] = BUILTIN_MODULES) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._builtin_modules = builtin_modules
        self._loaded = False

    def register(self, spec: ModelSpec) -> ModelSpec:
        existing = self._specs.get(spec.name)
        if existing is not None and existing is not spec:
            raise ValueError(f"model {spec.name!r} is registered twice")
        self._specs[spec.name] = spec
        return spec

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry_point.load()
            specs = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
            for spec in specs:
                if not isinstance(spec, ModelSpec):
                    raise UserError(
                        f"entry point {entry_point.name!r} ({entry_point.value}) must name a ModelSpec "
                        f"or a sequence of ModelSpecs, got {type(spec).__name__}"
                    )
                self.register(spec)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return list(self._specs)

    def __iter__(self) -> Iterator[ModelSpec]:
        self._ensure_loaded()
        return iter(list(self._specs.values()))

    def get(self, name: str) -> ModelSpec:
        self._ensure_loaded()
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs)
            raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None

    def build(self, name: str, channels: int | None = None, image_size: int | None = None, **overrides: Any) -> Any:
        return self.get(name).instantiate(channels, image_size, **overrides)


REGISTRY = Registry()


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the harness's registry (called by model modules at import)."""
    return REGISTRY.register(spec)


def get_model(name: str) -> ModelSpec:
    return REGISTRY.get(name)


def build_model(name: str, channels: int | None = None, image_size: int | None = None, **overrides: Any) -> Any:
    return REGISTRY.build(name, channels, image_size, **overrides)


def parameter_count(model: Any, trainable_only: bool = False) -> int:
    """Every parameter, trainable or frozen (the released cU-Net's frozen time table counts),
    or only the trainable ones; 0 for a model that is not a network (BM3D)."""
    if isinstance(model, nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    return 0
