"""The ODE solver setting of the cU-Nets and its one text form, ``METHOD[:key=value,…]``: what
``--solver`` parses and what every result records, so a recorded label parses back into the same
setting (``rk4:steps=1``, ``dopri5:rtol=0.001,atol=0.0001``). Torch-free: the command line parses
it before anything heavy is imported."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any

FIXED_STEP_STAGES = {"euler": 1, "midpoint": 2, "rk4": 4}
"""Function evaluations per step of the harness's own fixed-step methods."""
TORCHDIFFEQ_METHODS = (
    "dopri8",
    "dopri5",
    "bosh3",
    "fehlberg2",
    "adaptive_heun",
    "euler",
    "midpoint",
    "heun2",
    "heun3",
    "rk4",
    "explicit_adams",
    "implicit_adams",
    "fixed_adams",
)
"""torchdiffeq's methods, less ``scipy_solver``: it hands the whole batch's state to SciPy as one
flat float64 vector, and SciPy's default (LSODA) forms a dense Jacobian of it — gigabytes for a
batch of 32-px images."""
ADAPTIVE_METHODS = ("dopri8", "dopri5", "bosh3", "fehlberg2", "adaptive_heun")
BACKENDS = ("harness", "torchdiffeq")
MAX_STEPS = 10_000
"""More fixed steps per ODE block than any study needs (the release takes 1); beyond it a typo."""
MAX_ADAPTIVE_EVALUATIONS = 2_000
"""The evaluations an adaptive method may spend on one ODE block call (dopri5 at the default
tolerances takes tens): tolerances near 1e-12 would otherwise shrink the step without end."""
TOLERANCE_RANGE = (1e-12, 1.0)
T_END_MAX = 1e6
_BOOLEANS = {"true": True, "false": False}
_NUMBER = re.compile(r"[0-9.eE+-]{1,32}")


@dataclass(frozen=True)
class SolverConfig:
    """How every ODE block integrates its interval ``[0, t_end]``.

    ``backend='harness'`` runs ``euler``/``midpoint``/``rk4`` as the harness's own loop with
    ``steps`` equal steps; ``backend='torchdiffeq'`` runs any torchdiffeq method (adaptive ones
    with ``rtol``/``atol``; fixed-grid ones with ``steps``). ``adjoint`` backpropagates with the
    adjoint method (torchdiffeq only). The released model is ``rk4`` with one step (docs/protocol.md §2).
    """

    method: str = "rk4"
    steps: int = 1
    rtol: float = 1e-3
    atol: float = 1e-4
    adjoint: bool = False
    backend: str = "harness"
    t_end: float = 1.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"solver backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        known = FIXED_STEP_STAGES if self.backend == "harness" else TORCHDIFFEQ_METHODS
        if self.method not in known:
            raise ValueError(
                f"unknown solver {self.method!r} for backend {self.backend}; known: {', '.join(known)}"
                + ("; adaptive methods need backend=torchdiffeq" if self.method in ADAPTIVE_METHODS else "")
            )
        if self.adjoint and self.backend != "torchdiffeq":
            raise ValueError("the adjoint method needs backend=torchdiffeq")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"solver steps must be an integer from 1 to {MAX_STEPS:,}, got {self.steps!r}")
        low, high = TOLERANCE_RANGE
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"solver {name} must be a finite number from {low:g} to {high:g}, got {value!r}")
        if not (isinstance(self.t_end, (int, float)) and math.isfinite(self.t_end) and 0 < self.t_end <= T_END_MAX):
            raise ValueError(f"integration interval end t_end must be in (0, {T_END_MAX:g}], got {self.t_end!r}")

    @property
    def adaptive(self) -> bool:
        return self.method in ADAPTIVE_METHODS

    @property
    def label(self) -> str:
        """The setting in the grammar :meth:`parse` reads: the method, then every option the
        method uses (steps for fixed grids, tolerances for adaptive ones) and every other option
        that differs from its default. ``SolverConfig.parse(c.label) == c``."""
        options: dict[str, Any] = {"rtol": self.rtol, "atol": self.atol} if self.adaptive else {"steps": self.steps}
        if self.adjoint:
            options["adjoint"] = True
        if self.backend != _backend_of(self.method, self.adjoint):
            options["backend"] = self.backend
        if self.t_end != 1.0:
            options["t_end"] = self.t_end
        return self.method + ":" + ",".join(f"{key}={_text(value)}" for key, value in options.items())

    @classmethod
    def parse(cls, text: str) -> "SolverConfig":
        """Parse ``METHOD[:key=value,...]``, e.g. ``rk4:steps=2``, ``dopri5:rtol=1e-4,atol=1e-5``.
        Adaptive methods (and ``adjoint=true``) select the torchdiffeq backend on their own; a key
        given twice, a non-number, a boolean other than true/false is refused."""
        method, _, options = str(text).strip().partition(":")
        given: dict[str, Any] = {}
        for item in options.split(",") if options else ():
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in _CONVERTERS:
                raise ValueError(f"bad solver option {item!r} in {text!r}; options: {', '.join(_CONVERTERS)}")
            if key in given:
                raise ValueError(f"solver option {key!r} is given twice in {text!r}")
            given[key] = _CONVERTERS[key](key, value)
        given.setdefault("backend", _backend_of(method, bool(given.get("adjoint"))))
        return cls(method=method, **given)

    def with_options(self, **changes: Any) -> "SolverConfig":
        return replace(self, **changes)

    def as_record(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def _backend_of(method: str, adjoint: bool) -> str:
    """The backend a method runs on unless one is named: torchdiffeq for what the harness's own
    loop does not implement (adaptive and multistep methods) and for the adjoint."""
    return "torchdiffeq" if adjoint or method not in FIXED_STEP_STAGES else "harness"


def _integer(key: str, value: str) -> int:
    if not (value.isdigit() and value.isascii() and len(value) <= 6):
        raise ValueError(f"solver option {key} must be an integer from 1 to {MAX_STEPS:,}, got {value[:40]!r}")
    return int(value)


def _number(key: str, value: str) -> float:
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"solver option {key} must be a finite number, got {value[:40]!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"solver option {key} must be a finite number, got {value!r}") from None


def _boolean(key: str, value: str) -> bool:
    if value.lower() not in _BOOLEANS:
        raise ValueError(f"solver option {key} must be true or false, got {value[:40]!r}")
    return _BOOLEANS[value.lower()]


def _backend(key: str, value: str) -> str:
    if value not in BACKENDS:
        raise ValueError(f"solver option {key} must be one of {', '.join(BACKENDS)}, got {value[:40]!r}")
    return value


_CONVERTERS = {
    "steps": _integer,
    "rtol": _number,
    "atol": _number,
    "t_end": _number,
    "adjoint": _boolean,
    "backend": _backend,
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


RELEASED = SolverConfig()
"""The released cU-Net's setting: rk4, one step per block (4 evaluations per block, 36 per call)."""
