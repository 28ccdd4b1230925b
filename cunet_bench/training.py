"""Training of diffusion backbones (diffusion loss) and of the learned denoising baselines
(denoising loss), resumable bit-exactly on CPU and distributed with torchrun.

Determinism does not rest on saved random-number-generator states: the data order of epoch
``e`` is a permutation seeded by ``(seed, e)``, the noise and timesteps of every sample are
drawn from a generator seeded by ``(seed, global sample index)``, and the global generator
(dropout) is re-seeded from ``(seed, step)`` before each step. A run resumed from a
checkpoint therefore continues exactly as the uninterrupted run would, and a sample's noise
does not depend on which process of a distributed run draws it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from cunet_bench.checkpoints import load_state, read_checkpoint, restore_optimizer, save_checkpoint
from cunet_bench.data import dataset_channels, load_dataset
from cunet_bench.diffusion import DiffusionConfig, GaussianDiffusion
from cunet_bench.errors import UserError
from cunet_bench.files import exclusive_lock
from cunet_bench.interrupts import deferred_interrupts
from cunet_bench.registry import get_model
from cunet_bench.seeding import check_seed, derived_seed, generator


@dataclass(frozen=True)
class TrainConfig:
    model: str
    data: str = "mnist5k"
    resolution: int = 32
    steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.99)
    grad_accumulation: int = 1
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    schedule: str = "sigmoid"
    objective: str = "v"
    timesteps: int = 1000
    sigma_min: float = 0.1
    sigma_max: float = 0.1
    mixed_precision: bool = True
    checkpoint_every: int = 500
    log_every: int = 25
    seed: int = 0
    data_root: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        spec = get_model(self.model)
        if "trainable" not in spec.supports:
            raise UserError(f"model {self.model!r} has nothing to train")
        spec.check_image_size(self.resolution)
        for name in ("steps", "batch_size", "grad_accumulation", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"learning rate must be a positive number, got {self.lr}")
        check_seed(self.seed)
        if len(self.adam_betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.adam_betas):
            raise UserError(f"Adam betas must be two numbers in [0, 1), got {self.adam_betas}")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if not 0 < self.sigma_min <= self.sigma_max:
            raise UserError(f"need 0 < sigma-min <= sigma-max, got {self.sigma_min}, {self.sigma_max}")
        DiffusionConfig(self.schedule, self.objective, self.timesteps)

    def diffusion(self) -> GaussianDiffusion:
        """The forward process this configuration trains (and samples) with."""
        return GaussianDiffusion(DiffusionConfig(self.schedule, self.objective, self.timesteps))

    @property
    def is_backbone(self) -> bool:
        return get_model(self.model).family != "denoiser"

    @property
    def channels(self) -> int:
        return dataset_channels(self.data)


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_from_environment() -> Distributed:
    """torchrun's RANK / WORLD_SIZE; initialises the process group (NCCL on GPUs, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def micro_batch_indices(config: TrainConfig, dataset_size: int, micro_batch: int) -> torch.Tensor:
    """Dataset indices of global micro-batch ``micro_batch`` (epochs drop their last partial batch)."""
    per_epoch = dataset_size // config.batch_size
    if per_epoch == 0:
        raise UserError(f"batch size {config.batch_size} is larger than the dataset ({dataset_size} images)")
    epoch, position = divmod(micro_batch, per_epoch)
    order = torch.randperm(dataset_size, generator=generator(config.seed, 1, epoch))
    return order[position * config.batch_size:(position + 1) * config.batch_size]


def _sample_draws(config: TrainConfig, indices: range, shape: tuple[int, ...], timesteps: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise, diffusion timestep and noise level of each sample, from its own global index."""
    noise, steps, levels = [], [], []
    for index in indices:
        draws = generator(config.seed, 2, index)
        noise.append(torch.randn(shape, generator=draws))
        steps.append(int(torch.randint(0, timesteps, (1,), generator=draws)))
        levels.append(float(torch.rand(1, generator=draws)))
    sigma = torch.tensor(levels) * (config.sigma_max - config.sigma_min) + config.sigma_min
    return torch.stack(noise), torch.tensor(steps), sigma


def loss_on_batch(model: nn.Module, diffusion: GaussianDiffusion | None, images: torch.Tensor,
                  noise: torch.Tensor, t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Diffusion loss (MSE to the ε / v / x0 target, Ho et al. 2020) for backbones; for denoisers
    the MSE in [0, 1] units at noise level σ of their clean estimate (for DnCNN, its residual
    noise-prediction loss), or the binary cross-entropy of the logits a denoiser returns in
    training mode when it ``trains_on_logits`` (the ConvAE)."""
    if diffusion is not None:
        x_t = diffusion.q_sample(images, t, noise)
        return F.mse_loss(model(x_t, t), diffusion.training_target(images, noise, t))
    clean = (images + 1) / 2
    noisy = clean + sigma.reshape(-1, 1, 1, 1).to(clean) * noise
    network = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    if getattr(network, "trains_on_logits", False):
        return F.binary_cross_entropy_with_logits(model(noisy), clean)
    return F.mse_loss(model(noisy), clean)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for ema_parameter, parameter in zip(ema.parameters(), model.parameters()):
        ema_parameter.lerp_(parameter, 1 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


@dataclass
class StepLog:
    step: int
    loss: float
    images_per_s: float
    lr: float


@dataclass
class TrainResult:
    checkpoint: Path
    steps_done: int
    resumed_from: int
    log: list[StepLog]
    seconds: float
    data_fingerprint: str


def build_for_training(config: TrainConfig) -> nn.Module:
    return get_model(config.model).instantiate(config.channels, config.resolution, **config.model_options)


def train(config: TrainConfig, checkpoint: Path, device: str = "cpu", resume: bool = False,
          distributed: Distributed = Distributed(), progress: Callable[[StepLog], None] = lambda _: None,
          stop_after: int | None = None) -> TrainResult:
    """Train ``config.model`` to ``config.steps`` optimizer steps, checkpointing to ``checkpoint``.

    ``resume`` continues from the checkpoint when it exists (its configuration must match);
    without it an existing checkpoint is refused. ``stop_after`` ends the run after that many
    steps of this call (a deliberate interruption, for tests). Each optimizer step averages
    ``grad_accumulation`` micro-batches of ``batch_size`` images, split evenly over the
    processes of a distributed run. The main process holds the checkpoint's lock for the whole
    run, so a second run on the same file is refused; Ctrl-C or SIGTERM stop the run at the end
    of the current step, after a checkpoint of every finished step is written.
    """
    config.validate()
    if config.batch_size % distributed.world_size:
        raise UserError(f"batch size {config.batch_size} does not split over {distributed.world_size} processes")
    lock = exclusive_lock(checkpoint, "checkpoint") if distributed.is_main else contextlib.nullcontext()
    with lock:
        if checkpoint.exists() and not resume:
            raise UserError(f"checkpoint {checkpoint} exists; pass --resume to continue it or --checkpoint for a new one")
        return _train_locked(config, checkpoint, device, resume, distributed, progress, stop_after)


def _train_locked(config: TrainConfig, checkpoint: Path, device: str, resume: bool, distributed: Distributed,
                  progress: Callable[[StepLog], None], stop_after: int | None) -> TrainResult:
    dataset = load_dataset(config.data, "train", config.resolution, config.data_root)
    fingerprint = dataset.fingerprint()
    torch.manual_seed(config.seed)
    model = build_for_training(config).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.lr, betas=config.adam_betas)
    start = 0
    if resume and checkpoint.exists():
        saved = read_checkpoint(checkpoint)
        changed = sorted(k for k in resume_identity(saved.config).keys() | resume_identity(training_record(config)).keys()
                         if resume_identity(saved.config).get(k) != resume_identity(training_record(config)).get(k))
        if changed:
            raise UserError(f"checkpoint {checkpoint} was written with other training options ({', '.join(changed)}); "
                            "train into a new --checkpoint or repeat the original options")
        if saved.data_fingerprint != fingerprint:
            raise UserError(f"checkpoint {checkpoint} was trained on other data (fingerprint differs)")
        load_state(model, saved.model_state, checkpoint, f"model {config.model}")
        load_state(ema, saved.ema_state, checkpoint, f"EMA of model {config.model}")
        restore_optimizer(optimizer, saved, checkpoint)
        start = saved.step
    diffusion = config.diffusion() if config.is_backbone else None
    wrapped: nn.Module = model
    if distributed.world_size > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[torch.device(device).index]
                                                      if device.startswith("cuda") else None)
    autocast = device.startswith("cuda") and config.mixed_precision
    share = config.batch_size // distributed.world_size
    shape = dataset[0][0].shape
    log: list[StepLog] = []
    began = time.perf_counter()
    model.train()
    last = config.steps if stop_after is None else min(config.steps, start + stop_after)
    saved_step = start

    def save(done: int) -> int:
        if distributed.is_main and done != saved_step:
            save_checkpoint(checkpoint, model, ema, optimizer, done, training_record(config), fingerprint)
        return done

    with deferred_interrupts() as interrupts:
        for step in range(start, last):
            tick = time.perf_counter()
            torch.manual_seed(derived_seed(config.seed, 3, step))
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for micro in range(config.grad_accumulation):
                global_micro = step * config.grad_accumulation + micro
                indices = micro_batch_indices(config, len(dataset), global_micro)
                first = global_micro * config.batch_size + distributed.rank * share
                mine = indices[distributed.rank * share:(distributed.rank + 1) * share]
                images = torch.stack([dataset[int(i)][0] for i in mine]).to(device)
                noise, t, sigma = _sample_draws(config, range(first, first + share), shape, config.timesteps)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    loss = loss_on_batch(wrapped, diffusion, images, noise.to(device), t.to(device), sigma)
                (loss / config.grad_accumulation).backward()
                total += loss.item() / config.grad_accumulation
            if not math.isfinite(total):
                raise UserError(f"training diverged at step {step + 1}: the loss is {total}; lower the learning rate")
            torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            update_ema(ema, model, config.ema_decay)
            done = step + 1
            rate = config.batch_size * config.grad_accumulation / (time.perf_counter() - tick)
            if done % config.log_every == 0 or done == last:
                entry = StepLog(done, _mean_over_processes(total, distributed), rate, config.lr)
                log.append(entry)
                progress(entry)
            if done % config.checkpoint_every == 0 or done == last or interrupts.pending:
                saved_step = save(done)
            interrupts.check()
    return TrainResult(checkpoint, last, start, log, time.perf_counter() - began, fingerprint)


@torch.no_grad()
def denoising_check(model: nn.Module, config: TrainConfig, device: str = "cpu", count: int = 256,
                    noise_step: int = 50) -> dict[str, float]:
    """Does the trained model denoise? Mean PSNR (dB, [0, 1] units) on the test split of the
    noisy input and of the model's estimate. Backbones: forward-noise to ``noise_step`` (index
    ``noise_step − 1``), estimate x0 in one call, against the noisy image rescaled by 1/√ᾱ
    (DESIGN.md); denoisers: Gaussian noise at ``sigma_max``."""
    from cunet_bench.metrics import psnr

    test = load_dataset(config.data, "test", config.resolution, config.data_root)
    images = torch.stack([test[i][0] for i in range(min(count, len(test)))]).to(device)
    noise = torch.randn(images.shape, generator=generator(config.seed, 4, noise_step)).to(device)
    model.eval()
    clean = (images + 1) / 2
    if config.is_backbone:
        diffusion = config.diffusion()
        t = torch.full((len(images),), noise_step - 1, device=device)
        x_t = diffusion.q_sample(images, t, noise)
        _, x0 = diffusion.predictions(model(x_t, t), x_t, t, clip=True)
        noisy = ((x_t / diffusion.alpha_bar_at(t, x_t).sqrt()).clamp(-1, 1) + 1) / 2
        estimate = (x0 + 1) / 2
    else:
        noisy = clean + config.sigma_max * noise
        estimate = model(noisy).clamp(0, 1)
        noisy = noisy.clamp(0, 1)
    return {"psnr_noisy_db": float(psnr(noisy, clean).mean()), "psnr_model_db": float(psnr(estimate, clean).mean())}


def _mean_over_processes(value: float, distributed: Distributed) -> float:
    if distributed.world_size == 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor) / distributed.world_size


RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every")
"""Options a resumed run may change: it may train for longer or log and save more often."""


def resume_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The recorded options a resumed run must repeat exactly."""
    return {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}


def training_record(config: TrainConfig) -> dict[str, Any]:
    """The configuration as a checkpoint records it (JSON values)."""
    import json

    return json.loads(json.dumps(asdict(config), sort_keys=True, default=str))


def _config_from_record(values: dict[str, Any], checkpoint: Path | str) -> TrainConfig:
    """The training configuration recorded in a checkpoint, checked field by field: names, types
    and values (the checkpoint is untrusted input)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown or "model" not in values:
        detail = f"unknown fields {', '.join(unknown)[:120]}" if unknown else "no model name"
        raise UserError(f"checkpoint {checkpoint} has an unusable training configuration ({detail})")
    defaults = TrainConfig(model="unet")
    for name, value in values.items():
        expected = type(getattr(defaults, name))
        allowed = {float: (int, float), tuple: (list,), type(None): (str, type(None))}.get(expected, (expected,))
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, allowed):
            raise UserError(f"checkpoint {checkpoint} records {name} = {str(value)[:40]!r}, not a {expected.__name__}")
    values = dict(values)
    if "adam_betas" in values:
        values["adam_betas"] = tuple(values["adam_betas"])
    config = TrainConfig(**values)
    try:
        config.validate()
    except UserError as error:
        raise UserError(f"checkpoint {checkpoint} has an unusable training configuration: {error}") from None
    return config


def load_trained(checkpoint: Path | str, expect_model: str | None = None, use_ema: bool = True,
                 device: str = "cpu") -> tuple[nn.Module, TrainConfig, int]:
    """The trained model of a checkpoint (its EMA weights by default), its configuration and step."""
    saved = read_checkpoint(checkpoint)
    config = _config_from_record(saved.config, checkpoint)
    if expect_model is not None and config.model != expect_model:
        raise UserError(f"checkpoint {checkpoint} holds model {config.model!r}, not {expect_model!r}")
    try:
        model = build_for_training(config)
    except (TypeError, ValueError) as error:
        raise UserError(f"checkpoint {checkpoint}: model {config.model!r} cannot be built from its options ({error})") from None
    load_state(model, saved.ema_state if use_ema else saved.model_state, checkpoint, f"model {config.model}")
    return model.to(device).eval(), config, saved.step
