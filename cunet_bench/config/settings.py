"""The command-line face of a configuration field, declared once in the field's metadata:
``field(metadata=setting("help", read=integers()))``. The command line builds every benchmark's
options from them (``cunet_bench.cli.commands``): the option is named after the field
(``noise_steps`` → ``--noise-steps``), its text is read by ``read`` and the configuration's
``validate()`` checks the value, once, for the command, ``--dry-run`` and ``bench all`` alike.
Also the readers of option text that several settings share. Torch-free."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cunet_bench.errors import UserError
from cunet_bench.files import check_output_folder

Reader = Callable[[Any, str], Any]
"""Option value (as the command line parsed it: text, a number, a path) and option name → the
field's value; one-line errors name the option."""
MAX_DIGITS = 12
"""No count the harness takes has more digits than this; a longer one is a typo."""
SETTING = "cunet_bench.setting"


@dataclass(frozen=True)
class Setting:
    """How a field is set from the command line. ``kind`` is what the command line parses the
    text as first (``str``, ``int``, ``float``, ``Path``); ``read`` turns that into the field's
    value (None: as parsed); ``repeat``: the option may be given several times (a tuple);
    ``switch``: ``--name/--no-name``; ``flag``: ``--name`` alone sets True."""

    help: str
    read: Reader | None = None
    kind: type = str
    option: str | None = None
    required: bool = False
    repeat: bool = False
    switch: bool = False
    flag: bool = False
    metavar: str | None = None


def setting(help: str, **how: Any) -> dict[str, Setting]:
    """Field metadata declaring the field's option (see :class:`Setting`)."""
    return {SETTING: Setting(help, **how)}


def settings_of(config: type) -> list[tuple[str, Setting]]:
    """The fields of a configuration class that the command line sets, in declaration order."""
    return [(field.name, field.metadata[SETTING]) for field in dataclasses.fields(config) if SETTING in field.metadata]


def option_name(field: str, declared: Setting) -> str:
    return declared.option or "--" + field.replace("_", "-")


def plain(parse: Callable[[str], Any]) -> Reader:
    """A reader from a parser of the text alone (its ``ValueError`` is worded by the command line)."""
    return lambda text, option: parse(text)


def numbers(kind: Callable[[str], Any] = int, minimum: float | None = 1) -> Reader:
    """A reader of comma-separated numbers: ``"1,64"`` → ``(1, 64)``. One-line error for
    non-numbers, numbers that are not finite, integers below ``minimum`` (None: the configuration
    checks the range) or of more than :data:`MAX_DIGITS` digits, and duplicates."""

    def read(text: str, option: str) -> tuple:
        values = []
        what = "integers" if kind is int else "numbers"
        for item in text.split(","):
            item = item.strip()
            try:
                value = kind(item)
            except ValueError:
                raise UserError(f"{option} takes comma-separated {what}, got {item[:40]!r}") from None
            if kind is int and (len(item.lstrip("+-")) > MAX_DIGITS or (minimum is not None and value < minimum)):
                raise UserError(
                    f"{option} values must be integers from {minimum} with at most {MAX_DIGITS} digits, got {item[:40]}"
                )
            if kind is float and not (value == value and abs(value) != float("inf")):
                raise UserError(f"{option} values must be finite numbers, got {item[:40]}")
            values.append(value)
        if len(set(values)) != len(values):
            raise UserError(f"{option} has duplicated values: {text[:80]}")
        return tuple(values)

    return read


def names(text: str, option: str) -> tuple[str, ...]:
    """``"unet, cunet"`` → ``("unet", "cunet")``; one-line error for an empty list, an empty item
    (``unet,,cunet``) or duplicates."""
    listed = tuple(item.strip() for item in text.split(","))
    if not any(listed):
        raise UserError(f"{option} needs at least one name, got {text!r}")
    if not all(listed):
        raise UserError(f"{option} has an empty name between commas: {text[:80]!r}")
    if len(set(listed)) != len(listed):
        raise UserError(f"{option} has duplicated names: {text[:80]}")
    return listed


def noise_range(text: str, option: str) -> tuple[float, float]:
    """``0.1`` → (0.1, 0.1); ``0.02:0.3`` → a range sampled uniformly per image."""
    low, colon, high = text.partition(":")
    try:
        return float(low), float(high if colon else low)
    except ValueError:
        raise UserError(f"{option} takes a number or a range LOW:HIGH, got {text[:40]!r}") from None


def path_text(value: Path, option: str) -> str:
    return str(value)


def folder(value: Path, option: str) -> str:
    """A folder the command writes to, checked before any work."""
    return str(check_output_folder(value, option))


def file_to_write(value: Path, option: str) -> str:
    """A file the command writes, its folder checked before any work."""
    check_output_folder(value.parent, option)
    return str(value)


DATA = setting("mnist5k, lfw25, mnist, celeba, lsun-church or folder")
DATA_ROOT = setting("folder of a dataset that is not embedded", kind=Path, read=path_text)
MODELS = setting("comma-separated model names (default: the preset's, by registry tag)", read=names)
