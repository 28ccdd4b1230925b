"""The one list of every model the harness knows: the built-in catalogue plus third-party
models registered through the ``cunet_bench.models`` entry-point group, whose entries name a
:class:`ModelSpec` or a sequence of them, e.g. in the third party's pyproject.toml::

    [project.entry-points."cunet_bench.models"]
    my-denoiser = "my_package.bench:SPEC"

Default model lists are derived from the specs' tags (:func:`Registry.tagged`); no other module
keeps a list of model names.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from typing import Any, Callable, Iterable, Iterator

from torch import nn

from cunet_bench.errors import UnknownModelError, UserError
from cunet_bench.registry.contracts import contract_problem
from cunet_bench.registry.spec import FAMILIES, PAPER_TAGS, TAGS, ModelSpec, Source

__all__ = ["FAMILIES", "TAGS", "ModelSpec", "Registry", "REGISTRY", "get_model", "build_model", "parameter_count"]
ENTRY_POINT_GROUP = "cunet_bench.models"


def _builtin_specs() -> Iterable[ModelSpec]:
    from cunet_bench.registry.catalogue import BUILTIN

    return BUILTIN


def _plugin_problem(specs: list[Any]) -> str:
    """Why an entry point's specs cannot be registered: not specs, or carrying the tags that mark
    the paper's models (a plugin's model must never enter a claim about the paper)."""
    wrong = [type(spec).__name__ for spec in specs if not isinstance(spec, ModelSpec)]
    if wrong:
        return f"must name a ModelSpec or a sequence of ModelSpecs, got {', '.join(wrong)}"
    for spec in specs:
        paper = sorted(spec.tags & PAPER_TAGS)
        if paper:
            return (
                f"gives model {spec.name!r} the tags {', '.join(paper)}, which mark the paper's own models; a "
                "plugin's model joins the pipeline with bench all --models +NAME"
            )
    return ""


def _source_of(entry_point: importlib.metadata.EntryPoint) -> Source:
    distribution = getattr(entry_point, "dist", None)
    package = f"{distribution.name} {distribution.version}" if distribution is not None else "(unknown)"
    return Source(entry_point.name, entry_point.value, package)


class Registry:
    """Name → :class:`ModelSpec`, loading the built-in catalogue and entry points on first use.

    A plugin is never trusted to keep its contract: the first time a command asks for one of its
    models, :func:`contract_problem` probes it, and a broken one is a one-line error before any
    work. A name given twice (a plugin named like a built-in or like another plugin's model) is
    refused for every command that names it, both sources named; an entry point that cannot be
    loaded is refused alone. The rest of the registry keeps working, and :meth:`problems` lists
    what was refused (``bench models`` shows it)."""

    def __init__(self, builtin: Callable[[], Iterable[ModelSpec]] = _builtin_specs) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._refused: dict[str, str] = {}
        self._broken: dict[str, str] = {}
        self._checked: set[str] = set()
        self._builtin = builtin
        self._loaded = False

    def register(self, spec: ModelSpec) -> ModelSpec:
        """Add a model; a name already taken by another spec is refused, naming both sources."""
        existing = self._specs.get(spec.name)
        if existing is not None and existing is not spec:
            if spec.source.is_builtin and existing.source.is_builtin:
                raise ValueError(f"model {spec.name!r} is registered twice in the built-in catalogue")
            self._refused[spec.name] = (
                f"model {spec.name!r} is registered twice, by {existing.source} and by {spec.source}: "
                "rename the plugin's model (its ModelSpec name)"
            )
            return spec
        self._specs[spec.name] = spec
        return spec

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for spec in self._builtin():
            self.register(spec)
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            source = _source_of(entry_point)
            try:
                loaded = entry_point.load()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not break every command
                self._broken[entry_point.name] = f"{source} cannot be loaded: {type(error).__name__}: {error}"
                continue
            specs = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
            problem = _plugin_problem(specs)
            if problem:
                self._broken[entry_point.name] = f"{source} {problem}"
                continue
            for spec in specs:
                self.register(dataclasses.replace(spec, source=source))

    def names(self) -> list[str]:
        self._ensure_loaded()
        return [name for name in self._specs if name not in self._refused]

    def __iter__(self) -> Iterator[ModelSpec]:
        """Every usable model (refused names are in :meth:`problems`)."""
        self._ensure_loaded()
        return iter([spec for name, spec in self._specs.items() if name not in self._refused])

    def problems(self) -> list[str]:
        """One line per refused name and per entry point that could not be loaded."""
        self._ensure_loaded()
        return [*self._refused.values(), *self._broken.values()]

    def get(self, name: str) -> ModelSpec:
        """The model's spec; a refused name, an unknown one or a plugin that breaks its contract
        is a one-line error."""
        self._ensure_loaded()
        if name in self._refused:
            raise UserError(self._refused[name])
        spec = self._specs.get(name)
        if spec is None:
            broken = "".join(f"; {problem}" for problem in self._broken.values())
            raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(self.names())}{broken}")
        if name not in self._checked and not spec.source.is_builtin:
            problem = contract_problem(spec)
            if problem is not None:
                raise UserError(f"model {name!r} ({spec.source}) breaks the {spec.family} contract: {problem}")
            self._checked.add(name)
        return spec

    def tagged(self, *tags: str) -> tuple[str, ...]:
        """Names of the models carrying any of ``tags``, in registration order (a refused name too:
        a default list that needs it fails with its one line rather than dropping it silently)."""
        unknown = sorted(set(tags) - set(TAGS))
        if unknown:
            raise UserError(f"unknown model tags {unknown}; tags: {', '.join(TAGS)}")
        self._ensure_loaded()
        return tuple(spec.name for spec in self._specs.values() if spec.tags & set(tags))

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
