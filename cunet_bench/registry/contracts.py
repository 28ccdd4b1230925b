"""The model contracts of the harness (docs/plugins.md) and the probe that checks a model keeps
its contract before any work: a backbone's ``forward(x, t)``, a trainable denoiser's ``forward(y)``
(blind) or ``forward(y, sigma)`` (non-blind, ``supports`` "noise-level"), and a one-shot
denoiser's ``denoise(y, sigma)``."""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

import torch
from torch import nn

if TYPE_CHECKING:
    from cunet_bench.registry.spec import ModelSpec

PROBE_BATCH = 2
PROBE_SIGMA = 0.1
"""The noise level of the probe's input, and of a non-blind denoiser's example inputs."""


@runtime_checkable
class Backbone(Protocol):
    """A diffusion denoiser: ``x`` ``[B,C,H,W]`` in [-1, 1], ``t`` integer timesteps ``[B]``."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Denoiser(Protocol):
    """A one-shot denoiser: ``y`` ``[B,C,H,W]`` in [0, 1] (noisy, may leave the range) and the
    noise standard deviation ``sigma`` in the same units; returns the estimate of the clean image."""

    def denoise(self, y: torch.Tensor, sigma: float) -> torch.Tensor: ...


def takes_noise_level(spec: "ModelSpec") -> bool:
    """Whether a trainable denoiser is non-blind: its ``forward(y, sigma)`` receives each image's σ."""
    return "noise-level" in spec.supports


class TrainedDenoiser:
    """A trained denoiser network seen through the one-shot contract ``denoise(y, sigma)``: a blind
    network is called on ``y`` alone, a non-blind one also on σ (one value per image)."""

    def __init__(self, network: nn.Module, noise_level: bool) -> None:
        self.network = network
        self.noise_level = noise_level

    def denoise(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        return self.network(*denoiser_inputs(y, sigma, self.noise_level))


def denoiser_inputs(y: torch.Tensor, sigma: float | torch.Tensor, noise_level: bool) -> tuple[torch.Tensor, ...]:
    """What a trainable denoiser's ``forward`` is called with: ``(y,)``, or ``(y, sigma)`` with σ
    a ``[B]`` tensor when it is non-blind."""
    if not noise_level:
        return (y,)
    sigma = torch.as_tensor(sigma, dtype=y.dtype, device=y.device)
    return y, sigma.expand(len(y)) if sigma.dim() == 0 else sigma.reshape(len(y))


def example_inputs(
    spec: "ModelSpec", batch: int, channels: int, image_size: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Inputs of one ``forward`` call under the model's contract: ``(x, t)`` for backbones (x in
    [-1, 1], t spread over the 1000 training steps), ``(y,)`` in [0, 1] for blind denoisers and
    ``(y, sigma)`` for non-blind ones."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, channels, image_size, image_size, generator=generator)
    if not spec.is_backbone:
        return denoiser_inputs(image.to(device), PROBE_SIGMA, takes_noise_level(spec))
    t = torch.randint(0, 1000, (batch,), generator=generator).to(device)
    return image.mul(2).sub(1).to(device), t


def probe_size(spec: "ModelSpec") -> int:
    """The probe's image size: the smallest multiple of the model's downsampling factor from 32 px."""
    factor = spec.downsampling_factor
    return factor * max(1, math.ceil(32 / factor))


def contract_problem(spec: "ModelSpec") -> str | None:
    """Build the model at its tiny scale and call it once on a small input of its family; None
    when it keeps its contract, else what was expected against what it did (one line)."""
    channels, size = spec.default_channels, probe_size(spec)
    try:
        model = spec.instantiate(channels, size, **spec.options_at("tiny"))
    except Exception as error:  # noqa: BLE001 - a plugin's builder may raise anything
        return f"it cannot be built at {size} px, {channels} channel(s): {_one_line(error)}"
    called = _contract_call(spec, model)
    if isinstance(called, str):
        return called
    call, signature = called
    if spec.is_one_shot:
        inputs: tuple[Any, ...] = (torch.rand(PROBE_BATCH, channels, size, size), PROBE_SIGMA)
    else:
        inputs = example_inputs(spec, PROBE_BATCH, channels, size)
    try:
        with torch.no_grad():
            output = call(*inputs)
    except Exception as error:  # noqa: BLE001 - the plugin's own code
        return f"{signature} raised {_one_line(error)} on an input of shape {list(inputs[0].shape)}"
    return _output_problem(signature, inputs[0], output)


def _contract_call(spec: "ModelSpec", model: Any) -> tuple[Callable[..., Any], str] | str:
    """The callable the contract names and how it is written, or why the model has none."""
    if spec.is_one_shot:
        signature = "denoise(y, sigma)"
        if not callable(getattr(model, "denoise", None)):
            return f"a one-shot denoiser needs {signature}; {type(model).__name__} has none"
        return model.denoise, signature
    if spec.is_backbone:
        signature, arguments = "forward(x, t)", 2
    elif takes_noise_level(spec):
        signature, arguments = "forward(y, sigma)", 2
    else:
        signature, arguments = "forward(y)", 1
    if not isinstance(model, nn.Module):
        return f"a trainable model must be a torch.nn.Module with {signature}; got {type(model).__name__}"
    if type(model).forward is nn.Module.forward:
        return f"a trainable model needs {signature}; {type(model).__name__} defines no forward"
    try:
        inspect.signature(model.forward).bind(*range(arguments))
    except TypeError:
        return f"its forward must take {signature[len('forward') :]}; it is forward{inspect.signature(model.forward)}"
    model.eval()
    return model, signature


def _output_problem(signature: str, given: torch.Tensor, output: Any) -> str | None:
    if not isinstance(output, torch.Tensor):
        return f"{signature} must return a tensor; it returned {type(output).__name__}"
    if output.shape != given.shape:
        return f"{signature} must return the input's shape {list(given.shape)}; it returned {list(output.shape)}"
    if output.dtype != given.dtype:
        return f"{signature} must return the input's dtype {given.dtype}; it returned {output.dtype}"
    if not bool(torch.isfinite(output).all()):
        return f"{signature} returned values that are not finite on an input of shape {list(given.shape)}"
    return None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__
