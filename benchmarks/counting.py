"""Counting compute the two ways the field does (docs/protocol.md §5).

* fvcore ``FlopCountAnalysis`` counts one multiply-add as one "flop", i.e. MACs, traced once.
  Its convolution + linear subtotal is the paper's "GFLOPs" convention (thop MACs).
* ``torch.utils.flop_counter.FlopCounterMode`` counts what actually runs: 2 FLOPs per MAC of
  matrix products and convolutions only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from torch import nn

CONV_LINEAR_OPERATORS = ("conv", "linear", "matmul", "addmm", "bmm")
"""fvcore operator names that make up the paper's convention (thop counts conv and linear
layers; einsum attention products are reported separately)."""


@dataclass(frozen=True)
class MacCount:
    total: int
    conv_linear: int
    by_operator: dict[str, int]
    by_module: dict[str, int]


def count_macs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> MacCount:
    """fvcore multiply-accumulates of one forward call on ``inputs``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        logging.getLogger("fvcore").setLevel(logging.ERROR)
        analysis = FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with torch.no_grad():
            total = analysis.total()
            by_operator = dict(analysis.by_operator())
            by_module = dict(analysis.by_module())
    conv_linear = sum(v for k, v in by_operator.items() if k in CONV_LINEAR_OPERATORS)
    return MacCount(int(total), int(conv_linear), by_operator, by_module)


def count_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one forward call as executed (FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return int(counter.get_total_flops())
