"""Resolving a benchmark's configuration from a preset and overrides, and identifying it.

Every benchmark has a frozen ``Config`` whose ``from_preset(preset, **overrides)`` takes the
preset's defaults for it (``Preset.settings``, keyed by the configuration's own field names) and
calls :func:`resolve`; ``None`` means "not given" (a zero or an empty value is given and gets
checked, never silently replaced by the preset's). Validation happens once, in the
configuration's ``validate()``, which ``--dry-run`` runs too."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, TypeVar

from cunet_bench.errors import UserError

C = TypeVar("C")


def resolve(cls: type[C], defaults: dict[str, Any], overrides: dict[str, Any]) -> C:
    """``cls(**defaults)`` with every override that is not None applied, then ``validate()``."""
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted((set(overrides) | set(defaults)) - set(fields))
    if unknown:
        raise UserError(f"{cls.__name__} has no setting {', '.join(unknown)}")
    values = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    missing = [
        name
        for name, field in fields.items()
        if name not in values and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise UserError(f"{cls.__name__} needs {', '.join('--' + name.replace('_', '-') for name in missing)}")
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def from_record(cls: type[C], record: Any, source: str, what: str = "configuration", **overrides: Any) -> C:
    """The configuration ``source`` recorded (:func:`as_record`; a checkpoint's, a run's
    provenance — untrusted input), checked field by field — names, types, then ``validate()`` —
    with ``overrides`` applied as a command's options would be. Lists become the tuples the fields
    hold and recorded dataclasses (a solver) are rebuilt; anything else is one line naming ``source``."""
    if not isinstance(record, dict):
        raise UserError(f"{source} has no readable {what}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    unknown = sorted(set(record) - {f.name for f in fields})
    missing = sorted(
        f.name
        for f in fields
        if f.name not in record
        and f.name not in overrides
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if unknown or missing:
        detail = f"unknown fields {', '.join(unknown)[:120]}" if unknown else f"no {', '.join(missing)}"
        raise UserError(f"{source} has an unusable {what} ({detail})")
    for name, value in record.items():
        if not has_type(value, hints[name]):
            kind = getattr(hints[name], "__name__", str(hints[name]))
            raise UserError(f"{source} records {name} = {str(value)[:40]!r}, not a {kind}")
    try:
        return resolve(cls, {name: _typed(value, hints[name]) for name, value in record.items()}, overrides)
    except (UserError, TypeError, ValueError) as error:
        raise UserError(f"{source} has an unusable {what}: {error}") from None


def has_type(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's annotation (tuples come as lists, dataclasses as objects)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        return any(has_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is tuple:
        kinds = typing.get_args(hint)
        if len(kinds) == 2 and kinds[1] is Ellipsis:
            return isinstance(value, list) and all(has_type(item, kinds[0]) for item in value)
        return isinstance(value, list) and len(value) == len(kinds) and all(map(has_type, value, kinds))
    if origin is dict or dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    return isinstance(value, hint)


def _typed(value: Any, hint: Any) -> Any:
    """A recorded value as the field of type ``hint`` holds it."""
    if isinstance(value, list):
        kinds = typing.get_args(hint) if typing.get_origin(hint) is tuple else ()
        if len(kinds) == 2 and kinds[1] is Ellipsis:
            return tuple(_typed(item, kinds[0]) for item in value)
        return tuple(_typed(item, kind) for item, kind in zip(value, kinds)) if kinds else tuple(value)
    if isinstance(value, dict) and dataclasses.is_dataclass(hint):
        return hint(**value)
    return value


def as_record(config: Any) -> dict[str, Any]:
    """The configuration as JSON-compatible data (what provenance records and ``--dry-run`` prints)."""
    return json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True, default=str))


def config_hash(config: Any) -> str:
    """A digest of the resolved configuration: equal configurations, equal digests."""
    text = json.dumps({"type": type(config).__name__, "config": as_record(config)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
