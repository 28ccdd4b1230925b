"""Where a forward pass spends its time: ``torch.profiler``'s self CPU time of every operator,
grouped into convolution & linear, normalisation, activation & elementwise, attention, the ODE
solver's own bookkeeping and other — so a reader sees why the cU-Net's MAC advantage does or
does not turn into time on a machine (docs/protocol.md §7).

Solver bookkeeping is told apart with markers put around every ODE block and every evaluation of
its vector field (forward hooks, only while profiling): an operator inside a block but outside
the field is the solver's.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

GROUPS = (
    "convolution & linear",
    "normalisation",
    "activation & elementwise",
    "attention",
    "solver bookkeeping",
    "other",
)
BLOCK_MARK, FIELD_MARK = "cunet_bench.ode_block", "cunet_bench.ode_field"
_KEYWORDS = (
    ("attention", ("bmm", "softmax", "einsum", "baddbmm", "scaled_dot_product", "matmul")),
    ("convolution & linear", ("conv", "linear", "addmm", "aten::mm")),
    ("normalisation", ("norm",)),
    (
        "activation & elementwise",
        (
            "softplus",
            "silu",
            "gelu",
            "relu",
            "sigmoid",
            "tanh",
            "add",
            "mul",
            "sub",
            "div",
            "cat",
            "clamp",
            "copy",
            "upsample",
            "pixel",
            "pad",
            "exp",
            "sqrt",
            "pow",
            "neg",
            "fill",
            "zero",
            "where",
            "chunk",
            "split",
        ),
    ),
)


def operator_group(name: str) -> str:
    """The group of one operator by its name (``aten::mkldnn_convolution`` → convolution & linear)."""
    lowered = name.lower()
    for group, keywords in _KEYWORDS:
        if any(keyword in lowered for keyword in keywords):
            return group
    return "other"


@contextmanager
def _ode_markers(model: nn.Module) -> Iterator[None]:
    """Profiler ranges around every ODE block and every evaluation of its field."""
    handles, open_ranges = [], []
    for block in getattr(model, "ode_blocks", ()):
        for module, mark in ((block, BLOCK_MARK), (block.field, FIELD_MARK)):
            handles.append(
                module.register_forward_pre_hook(
                    lambda _m, _a, mark=mark: open_ranges.append(torch.ops.profiler._record_function_enter_new(mark))
                )
            )
            handles.append(
                module.register_forward_hook(
                    lambda _m, _a, _o: torch.ops.profiler._record_function_exit._RecordFunction(open_ranges.pop())
                )
            )
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _group_of(event) -> str:
    parent, inside_field, inside_block = event.cpu_parent, False, False
    while parent is not None:
        inside_field |= parent.name == FIELD_MARK
        inside_block |= parent.name == BLOCK_MARK
        parent = parent.cpu_parent
    if inside_block and not inside_field:
        return "solver bookkeeping"
    return operator_group(event.name)


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """The profiler's native library prints start/stop notices straight to file descriptor 2;
    they are not the user's business."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Seconds of self CPU time per group in one forward call (after one unprofiled call)."""
    from torch.profiler import ProfilerActivity, profile

    seconds = dict.fromkeys(GROUPS, 0.0)
    with torch.no_grad():
        model(*inputs)
        with _ode_markers(model), _quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU]) as profiler:
            model(*inputs)
    for event in profiler.events():
        if event.name in (BLOCK_MARK, FIELD_MARK) or event.self_cpu_time_total <= 0:
            continue
        seconds[_group_of(event)] += event.self_cpu_time_total / 1e6
    return seconds
