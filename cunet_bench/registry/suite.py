"""The one list of every model the harness knows: the built-in catalogue plus third-party
models registered through the ``cunet_bench.models`` entry-point group, whose entries name a
:class:`ModelSpec` or a sequence of them, e.g. in the third party's pyproject.toml::

    [project.entry-points."cunet_bench.models"]
    my-denoiser = "my_package.bench:SPEC"

Default model lists are derived from the specs' tags (:func:`Registry.tagged`); no other module
keeps a list of model names.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable, Iterable, Iterator

from torch import nn

from cunet_bench.errors import UnknownModelError, UserError
from cunet_bench.registry.spec import FAMILIES, TAGS, ModelSpec

__all__ = ["FAMILIES", "TAGS", "ModelSpec", "Registry", "REGISTRY", "get_model", "build_model", "parameter_count"]
ENTRY_POINT_GROUP = "cunet_bench.models"


def _builtin_specs() -> Iterable[ModelSpec]:
    from cunet_bench.registry.catalogue import BUILTIN

    return BUILTIN


class Registry:
    """Name → :class:`ModelSpec`, loading the built-in catalogue and entry points on first use."""

    def __init__(self, builtin: Callable[[], Iterable[ModelSpec]] = _builtin_specs) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._builtin = builtin
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
        for spec in self._builtin():
            self.register(spec)
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry_point.load()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not break every command
                raise UserError(
                    f"entry point {entry_point.name!r} ({entry_point.value}) of the "
                    f"{ENTRY_POINT_GROUP} group cannot be loaded: {type(error).__name__}: {error}"
                ) from None
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

    def tagged(self, *tags: str) -> tuple[str, ...]:
        """Names of the models carrying any of ``tags``, in registration order."""
        unknown = sorted(set(tags) - set(TAGS))
        if unknown:
            raise UserError(f"unknown model tags {unknown}; tags: {', '.join(TAGS)}")
        return tuple(spec.name for spec in self if spec.tags & set(tags))

    def only(self, tag: str) -> str:
        """The one model carrying ``tag`` (``paper-unet``, ``paper-cunet``)."""
        names = self.tagged(tag)
        if len(names) != 1:
            raise UserError(f"exactly one model must carry the tag {tag!r}, found {list(names)}")
        return names[0]

    def build(self, name: str, channels: int | None = None, image_size: int | None = None, **overrides: Any) -> Any:
        return self.get(name).instantiate(channels, image_size, **overrides)


REGISTRY = Registry()


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
