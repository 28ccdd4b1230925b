"""Execution variants of a model timed beside eager execution: ``compiled`` (``torch.compile``,
inductor), ``frozen`` (inductor with weight freezing: parameters folded in as constants, which
lets it pre-pack convolution weights for oneDNN and fuse them with what follows — the usual CPU
inference recipe), ``channels-last`` (NHWC memory format) and ``release-layers`` (the
release's own normalisation and attention layers instead of ours,
:mod:`cunet_bench.models.release_layers`: what our layers save). A variant is optional evidence:
if it cannot be prepared, it is recorded as failed with its reason and the eager measurement
goes on.

A compile stopped half-way, or two compiling at once, can leave a damaged entry in inductor's
on-disk cache (a truncated shared library) that makes every later compile fail. The harness
therefore compiles into its own cache folder (:mod:`cunet_bench.host.compile_cache`), one process at
a time (a lock; a second process waits), and treats a failed compile like a damaged cache of its
own: the folder is wiped, with a warning, and the compile tried once more. A folder the user named
(``TORCHINDUCTOR_CACHE_DIR``) is never wiped: there a failed compile is recorded at once.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

import torch
from cunet_bench.errors import warn
from cunet_bench.files import exclusive_lock, remove_harness_made
from cunet_bench.host.compile_cache import compile_cache, owned_by_harness
from cunet_bench.measure.timing import synchronize
from cunet_bench.models.release_layers import with_release_layers

EAGER = "eager"
VARIANTS = (EAGER, "compiled", "frozen", "channels-last", "release-layers")
COMPILED = ("compiled", "frozen")


def _compiled(model: torch.nn.Module, freezing: bool) -> torch.nn.Module:
    torch._dynamo.reset()
    return torch.compile(model, options={"freezing": freezing})


def _channels_last(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def _first_call(
    model: torch.nn.Module, variant: str, inputs: tuple[torch.Tensor, ...], device: str
) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], torch.Tensor, float]:
    """The variant's model and inputs, its first output and the seconds of the first call
    (compilation included)."""
    tick = time.perf_counter()
    if variant == "channels-last":
        model = _channels_last(model)
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)
    elif variant == "release-layers":
        model = with_release_layers(model)
    else:
        model = _compiled(model, freezing=variant == "frozen")
    with torch.no_grad():
        output = model(*inputs)
    synchronize(device)
    return model, inputs, output, time.perf_counter() - tick


def _reason(error: BaseException) -> str:
    """One line naming the root cause (a compiler wraps the error that stopped it)."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {(lines[0] if lines else '')[:200]}"


def prepare_variant(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], variant: str, device: str
) -> tuple[Callable[[], Any] | None, list[dict[str, Any]]]:
    """The variant's timed call (None when it failed) and its rows: the first call's seconds and
    the largest deviation of its output from eager execution, or one ``failed`` row with the reason."""
    attempts = 2 if variant in COMPILED and owned_by_harness() else 1
    error: Exception | None = None
    for attempt in range(attempts):
        try:
            if variant in COMPILED:
                with exclusive_lock(compile_cache(), "compile cache", wait=True):
                    prepared = _first_call(model, variant, inputs, device)
            else:
                prepared = _first_call(model, variant, inputs, device)
            break
        except Exception as failure:  # noqa: BLE001 - a compiler can fail in any way; eager goes on
            error = failure
            if attempt + 1 < attempts:
                warn(
                    f"compiling failed ({_reason(failure)}); wiping the compile cache {compile_cache()} and "
                    "trying once more"
                )
                remove_harness_made(compile_cache())
    else:
        return None, [{"metric": "failed", "value": 1.0, "unit": "count", "status": "failed", "reason": _reason(error)}]
    variant_model, variant_inputs, output, first_call = prepared
    with torch.no_grad():
        difference = float((output - model(*inputs)).abs().max())
    return (lambda: variant_model(*variant_inputs)), [
        {"metric": "first_call_s", "value": first_call, "unit": "s", "status": "ok"},
        {"metric": "max_abs_difference_from_eager", "value": difference, "unit": "output units", "status": "ok"},
    ]
