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


def from_record(cls: type[C], record: Any, **overrides: Any) -> C:
    """The configuration a run recorded (:func:`as_record`, read back from untrusted provenance),
    with ``overrides`` applied and validated as a command's would be: lists become the tuples the
    fields hold, recorded dataclasses (a solver) are rebuilt; a malformed record is one line."""
    if not isinstance(record, dict):
        raise UserError(f"the recorded configuration is not a mapping of settings: {str(record)[:60]}")
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    try:
        values = {name: _typed(value, hints[name]) for name, value in record.items() if name in known}
        return resolve(cls, values, overrides)
    except (TypeError, ValueError) as error:
        raise UserError(f"the recorded configuration cannot be run again ({error})") from None


def _typed(value: Any, hint: Any) -> Any:
    """A recorded value as the field of type ``hint`` holds it."""
    if isinstance(value, list) and typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_typed(one, item) for one in value)
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
