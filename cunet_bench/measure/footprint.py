"""The memory one call of a network needs, estimated without allocating it: the network is built
on PyTorch's ``meta`` device (shapes, no storage) and every tensor its forward pass creates is
counted while it lives; the peak of that count is the bytes the call holds at once. The weights
are counted as they are built. Used to refuse a batch that would not fit before any work."""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of the storages the dispatched operations create, while they live."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.holders: dict[int, int] = {}
        self.live = self.peak = 0

    def _release(self, key: int) -> None:
        self.holders[key] -= 1
        if not self.holders[key]:
            self.live -= self.sizes.pop(key)
            del self.holders[key]

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                key = tensor.untyped_storage()._cdata
                if key not in self.sizes:
                    self.sizes[key], self.holders[key] = tensor.untyped_storage().nbytes(), 0
                    self.live += self.sizes[key]
                    self.peak = max(self.peak, self.live)
                self.holders[key] += 1
                weakref.finalize(tensor, self._release, key)
        return out


def call_peak_bytes(build: Callable[[], nn.Module], inputs: tuple, training: bool = False) -> int:
    """The most bytes one call of the network ``build()`` on ``inputs`` (meta tensors) holds at once: its
    weights and the tensors of its forward pass (with ``training``, also those autograd keeps for
    the backward pass, the gradients and Adam's two moments). Raises whatever the network raises
    on the meta device (an operation that needs values)."""
    with torch.device("meta"):
        model = build()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    weights += sum(b.numel() * b.element_size() for b in model.buffers())
    counter = _LiveBytes()
    with torch.set_grad_enabled(training), counter:
        output = model.train(training)(*inputs)
        if training:
            output.float().mean().backward()
    state = 3 * sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad) if training else 0
    return weights + state + counter.peak
