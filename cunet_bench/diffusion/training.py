"""Training of diffusion backbones (diffusion loss) and of the learned denoising baselines
(denoising loss), resumable bit-exactly on CPU and distributed with torchrun. Training receives
a built model (``cunet_bench.diffusion.loading`` builds it from the registry) and knows nothing of names.

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
import hashlib
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from cunet_bench.config.resolve import as_record, from_record
from cunet_bench.config.seeding import check_seed, derived_seed, generator
from cunet_bench.config.settings import DATA, DATA_ROOT, noise_range, setting
from cunet_bench.data import check_source, dataset_channels, load_dataset
from cunet_bench.diffusion.process import DiffusionConfig, GaussianDiffusion
from cunet_bench.errors import UserError
from cunet_bench.files import check_creatable, create_file, describe_path, exclusive_lock, file_digest
from cunet_bench.host.interrupts import deferred_interrupts
from cunet_bench.records.checkpoints import (
    DEFAULT_TIMESTEPS,
    MAX_RUNGS,
    MAX_TIMESTEPS,
    MAX_TRAIN_STEPS,
    SHIPPED,
    Checkpoint,
    LadderEntry,
    checkpoint_bytes,
    load_state,
    read_checkpoint,
    restore_optimizer,
)
from cunet_bench.records.ladder import is_rung_name, ladder_steps, rung_path
from cunet_bench.registry.contracts import TrainedDenoiser, denoiser_inputs

LIMITS = {
    "train_steps": MAX_TRAIN_STEPS,
    "batch_size": 65_536,
    "grad_accumulation": 1024,
    "checkpoint_every": 10_000_000,
    "log_every": 10_000_000,
    "timesteps": MAX_TIMESTEPS,
}
"""Upper bounds of the integer settings (each at least 1): far beyond any real run, so that a typo
or a forged checkpoint is refused before anything is allocated."""
LR_DECAYS = ("constant", "cosine", "linear")
MAX_SNR_GAMMA = 1e4
MAX_EMA_POWER = 10.0
MIN_LR = 1e-10
MIN_SIGMA = 1e-6
MIN_RECIPE_NUMBER = 1e-6
MAX_CHECKPOINT_MINUTES = 10_000.0
"""Below these a learning rate, a noise level or a recipe's γ or EMA power changes nothing a
float32 model can show (a subnormal one is a typo)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What a checkpoint records about how it was trained (and what ``--resume`` must repeat)."""

    model: str = field(metadata=setting("a registered backbone or learned denoiser", required=True))
    data: str = field(metadata=DATA)
    resolution: int = field(metadata=setting("image size", kind=int))
    train_steps: int = field(metadata=setting("optimizer steps", kind=int))
    batch_size: int = field(metadata=setting("images per optimizer step (per micro-batch)", kind=int))
    lr: float = field(metadata=setting("Adam learning rate", kind=float))
    grad_accumulation: int
    ema_decay: float = field(metadata=setting("decay of the weights' exponential moving average", kind=float))
    schedule: str = field(metadata=setting("β schedule: linear, cosine, sigmoid"))
    objective: str = field(metadata=setting("eps, v or x0"))
    sigma: tuple[float, float] = field(
        metadata=setting("denoisers: noise level in [0,1] units, or LOW:HIGH", read=noise_range)
    )
    """Denoisers: the noise level of [0, 1] images, drawn uniformly per image from (low, high)."""
    checkpoint_every: int
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)
    adam_betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    timesteps: int = DEFAULT_TIMESTEPS
    mixed_precision: bool = True
    log_every: int = 25
    data_root: str | None = field(default=None, metadata=DATA_ROOT)
    lr_warmup: int = field(default=0, metadata=setting("steps of linear learning-rate warm-up from 0", kind=int))
    lr_decay: str = field(
        default="constant", metadata=setting("learning rate after warm-up: constant, or cosine or linear to 0")
    )
    min_snr_gamma: float = field(
        default=0.0, metadata=setting("min-SNR-γ loss weighting of backbones (Hang et al. 2023), 0: none", kind=float)
    )
    rungs: int = field(
        default=1, metadata=setting("checkpoints kept on a doubling ladder ending at the last step", kind=int)
    )
    ema_warmup_power: float = field(
        default=0.0,
        metadata=setting(
            "EMA warm-up: 0 none; p grows the EMA's decay as 1 - (1 + step)^-p up to --ema-decay", kind=float
        ),
    )
    """The defaults of these five are the recipe every checkpoint written before they existed was
    trained with (constant learning rate, uniform weighting, no ladder, a constant EMA decay), so
    such a checkpoint reads as what it is."""
    checkpoint_minutes: float = field(
        default=10.0,
        metadata=setting("also checkpoint after this many minutes of training (a kill loses at most that)", kind=float),
    )

    def validate(self) -> None:
        for name, highest in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= highest:
                raise UserError(
                    f"{name.replace('_', '-')} must be an integer from 1 to {highest:,}, got {str(value)[:40]}"
                )
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and MIN_LR <= self.lr <= 10):
            raise UserError(f"learning rate must be a positive number from {MIN_LR:g} to 10, got {self.lr}")
        check_seed(self.seed)
        if len(self.adam_betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.adam_betas):
            raise UserError(f"Adam betas must be two numbers in [0, 1), got {self.adam_betas}")
        if not (isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1):
            raise UserError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if not (isinstance(self.grad_clip, (int, float)) and math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise UserError(f"gradient clipping must be a positive number, got {self.grad_clip}")
        low, high = self.sigma if len(self.sigma) == 2 else (None, None)
        if low is None or not (math.isfinite(low) and math.isfinite(high) and MIN_SIGMA <= low <= high <= 1):
            raise UserError(
                f"--sigma needs 0 < LOW <= HIGH <= 1 (noise of [0, 1] images, LOW at least {MIN_SIGMA:g}), "
                f"got {self.sigma}"
            )
        DiffusionConfig(self.schedule, self.objective, self.timesteps)
        check_source(self.data, self.data_root)
        self._validate_recipe()

    def _validate_recipe(self) -> None:
        if not isinstance(self.lr_warmup, int) or isinstance(self.lr_warmup, bool) or not 0 <= self.lr_warmup:
            raise UserError(f"lr-warmup must be a whole number of steps, got {str(self.lr_warmup)[:40]}")
        if self.lr_warmup >= self.train_steps and self.lr_decay != "constant":
            raise UserError(
                f"lr-warmup ({self.lr_warmup:,} steps) leaves nothing to decay in {self.train_steps:,} training steps"
            )
        if self.lr_warmup > self.train_steps:
            raise UserError(
                f"lr-warmup ({self.lr_warmup:,} steps) is longer than the run ({self.train_steps:,} training steps): "
                "the learning rate would never reach --lr"
            )
        if self.lr_decay not in LR_DECAYS:
            raise UserError(f"unknown lr-decay {str(self.lr_decay)[:40]!r}; choose {', '.join(LR_DECAYS)}")
        gamma = self.min_snr_gamma
        if not _zero_or_between(gamma, MIN_RECIPE_NUMBER, MAX_SNR_GAMMA):
            raise UserError(
                f"min-snr-gamma must be 0 (uniform weighting) or from {MIN_RECIPE_NUMBER:g} to {MAX_SNR_GAMMA:g}, "
                f"got {gamma}"
            )
        power = self.ema_warmup_power
        if not _zero_or_between(power, MIN_RECIPE_NUMBER, MAX_EMA_POWER):
            raise UserError(
                f"ema-warmup-power must be 0 (no warm-up) or from {MIN_RECIPE_NUMBER:g} to {MAX_EMA_POWER:g}, "
                f"got {power}"
            )
        if not isinstance(self.rungs, int) or isinstance(self.rungs, bool) or not 1 <= self.rungs <= MAX_RUNGS:
            raise UserError(f"rungs must be an integer from 1 to {MAX_RUNGS}, got {str(self.rungs)[:40]}")
        minutes = self.checkpoint_minutes
        if not (
            isinstance(minutes, (int, float))
            and not isinstance(minutes, bool)
            and math.isfinite(minutes)
            and 0.01 <= minutes <= MAX_CHECKPOINT_MINUTES
        ):
            raise UserError(
                f"checkpoint-minutes must be a number from 0.01 to {MAX_CHECKPOINT_MINUTES:,g}, got {str(minutes)[:40]}"
            )

    def diffusion(self) -> GaussianDiffusion:
        """The forward process this configuration trains (and samples) with."""
        return GaussianDiffusion(DiffusionConfig(self.schedule, self.objective, self.timesteps))

    @property
    def channels(self) -> int:
        return dataset_channels(self.data)

    @classmethod
    def from_record(cls, values: Any, source: Path | str) -> "TrainConfig":
        """The configuration a checkpoint records, checked field by field: names, types and values
        (the checkpoint is untrusted input)."""
        return from_record(cls, values, f"checkpoint {source}", "training configuration")


def _zero_or_between(value: Any, low: float, high: float) -> bool:
    """0, or a number from ``low`` to ``high`` (a subnormal 1e-320 is a typo, not a setting)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and (value == 0 or low <= value <= high)


def kept_rung_steps(config: TrainConfig) -> tuple[int, ...]:
    """The steps whose checkpoint a run keeps a copy of (:func:`ladder_steps` of its ``rungs``):
    none when the ladder is one rung, the checkpoint alone."""
    steps = ladder_steps(config.train_steps, config.rungs)
    return steps if len(steps) > 1 else ()


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of the optimizer step after ``step`` steps: rising linearly over the first
    ``lr_warmup`` steps, then constant or falling (cosine or linear) towards 0 after the last step."""
    if step < config.lr_warmup:
        return config.lr * (step + 1) / config.lr_warmup
    if config.lr_decay == "constant":
        return config.lr
    progress = (step - config.lr_warmup) / (config.train_steps - config.lr_warmup)
    if config.lr_decay == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * (1 - progress)


def loss_weights(diffusion: GaussianDiffusion, t: torch.Tensor, gamma: float, like: torch.Tensor) -> torch.Tensor:
    """Min-SNR-γ weights of the per-image losses (Hang et al. 2023): ``min(SNR, γ)`` expressed for
    the objective's target — ``/SNR`` for ε, ``/(SNR + 1)`` for v, as is for x0 — with
    ``SNR = ᾱ / (1 − ᾱ)``. They cap the weight of the nearly clean timesteps, whose gradients
    otherwise dominate and conflict with the noisy ones."""
    alpha_bar = diffusion.alpha_bar_at(t, like.double()).reshape(-1)
    snr = alpha_bar / (1 - alpha_bar)
    capped = snr.clamp(max=gamma)
    divisor = {"eps": snr, "v": snr + 1, "x0": torch.ones_like(snr)}[diffusion.config.objective]
    return (capped / divisor).to(like.dtype)


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


MAX_WORLD_SIZE = 4096


def _environment_integer(name: str, low: int, high: int) -> int:
    text = os.environ[name]
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise UserError(
            f"environment variable {name}={text[:40]!r} must be an integer from {low} to {high} (torchrun "
            "sets it; unset it for a single process)"
        )
    return int(text)


def check_distributed_environment() -> int:
    """The world size torchrun's environment asks for, checked before any work: ``WORLD_SIZE`` a
    whole number, and above 1 a ``RANK`` below it."""
    if "WORLD_SIZE" not in os.environ:
        if "RANK" in os.environ:
            raise UserError(
                f"environment variable RANK={os.environ['RANK'][:40]!r} is set without WORLD_SIZE (torchrun sets "
                "both); unset it for a single process"
            )
        return 1
    world_size = _environment_integer("WORLD_SIZE", 1, MAX_WORLD_SIZE)
    if world_size > 1:
        if "RANK" not in os.environ:
            raise UserError(
                f"WORLD_SIZE={world_size} asks for a distributed run, but RANK is not set (start it with torchrun)"
            )
        _environment_integer("RANK", 0, world_size - 1)
    return world_size


def distributed_from_environment() -> Distributed:
    """torchrun's RANK / WORLD_SIZE; initialises the process group (NCCL on GPUs, gloo on CPU)."""
    world_size = check_distributed_environment()
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
    return order[position * config.batch_size : (position + 1) * config.batch_size]


def _sample_draws(
    config: TrainConfig, indices: range, shape: tuple[int, ...], timesteps: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise, diffusion timestep and noise level of each sample, from its own global index."""
    noise, steps, levels = [], [], []
    for index in indices:
        draws = generator(config.seed, 2, index)
        noise.append(torch.randn(shape, generator=draws))
        steps.append(int(torch.randint(0, timesteps, (1,), generator=draws)))
        levels.append(float(torch.rand(1, generator=draws)))
    low, high = config.sigma
    sigma = torch.tensor(levels) * (high - low) + low
    return torch.stack(noise), torch.tensor(steps), sigma


def loss_on_batch(
    model: nn.Module,
    diffusion: GaussianDiffusion | None,
    images: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    sigma: torch.Tensor,
    min_snr_gamma: float = 0.0,
    noise_level: bool = False,
) -> torch.Tensor:
    """Diffusion loss (MSE to the ε / v / x0 target, Ho et al. 2020; per image weighted by
    :func:`loss_weights` when ``min_snr_gamma`` is set) for backbones; for denoisers
    the MSE in [0, 1] units at noise level σ of their clean estimate (for DnCNN, its residual
    noise-prediction loss), or the binary cross-entropy of the logits a denoiser returns in
    training mode when it ``trains_on_logits`` (the ConvAE). A non-blind denoiser (``noise_level``)
    is also given each image's σ."""
    if diffusion is not None:
        x_t = diffusion.q_sample(images, t, noise)
        target = diffusion.training_target(images, noise, t)
        if not min_snr_gamma:
            return F.mse_loss(model(x_t, t), target)
        per_image = F.mse_loss(model(x_t, t), target, reduction="none").flatten(1).mean(1)
        return (loss_weights(diffusion, t, min_snr_gamma, per_image) * per_image).mean()
    clean = (images + 1) / 2
    sigma = sigma.to(clean)
    noisy = clean + sigma.reshape(-1, 1, 1, 1) * noise
    network = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    estimate = model(*denoiser_inputs(noisy, sigma, noise_level))
    if getattr(network, "trains_on_logits", False):
        return F.binary_cross_entropy_with_logits(estimate, clean)
    return F.mse_loss(estimate, clean)


def ema_decay_after(config: TrainConfig, steps_done: int) -> float:
    """The EMA's decay after ``steps_done`` optimizer steps. A constant decay d keeps a share d^n
    of the initial, random weights after n steps (0.995: 32% after 225 steps), so the early rungs
    of a short run average noise; a warm-up of power p grows the decay as 1 - (1 + n)^-p (p = 2/3:
    0.973 after 225 steps, 0.993 after 1,800), the average's horizon growing with the run, up to
    ``ema_decay``."""
    if not config.ema_warmup_power:
        return config.ema_decay
    return min(config.ema_decay, 1 - (1 + steps_done) ** -config.ema_warmup_power)


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


def training_record(config: TrainConfig) -> dict[str, Any]:
    """The configuration as a checkpoint records it."""
    return as_record(config)


RESUMABLE_CHANGES = ("train_steps", "checkpoint_every", "log_every", "rungs", "checkpoint_minutes")
"""Options a resumed run may change: it may train for longer, log and save more often, and keep
another ladder — except that a decaying learning rate fixes the length (its schedule ends there)."""


def resume_identity(config: TrainConfig) -> dict[str, Any]:
    """The options a resumed run must repeat exactly."""
    changeable = set(RESUMABLE_CHANGES) - ({"train_steps"} if config.lr_decay != "constant" else set())
    return {k: v for k, v in training_record(config).items() if k not in changeable}


class TrainingRun:
    """One training run of a built ``model`` into ``checkpoint``: :meth:`steps` trains, yields a
    :class:`StepLog` every ``log_every`` steps (and at the last step, and at a stop), and leaves
    ``resumed_from``, ``steps_done`` and ``seconds`` behind.

    ``resume`` continues from the checkpoint when it exists (its configuration must match);
    without it an existing checkpoint is refused. ``pause_at`` ends the run at that step with a
    full checkpoint, short of ``train_steps`` (whose ladder it keeps): a resume goes on from there.
    Each optimizer step averages ``grad_accumulation`` micro-batches of ``batch_size`` images,
    split evenly over the processes of a distributed run. The main process holds the checkpoint's
    lock for the whole run, so a second run on the same file is refused; Ctrl-C or SIGTERM stop the
    run at the end of the current step, after a checkpoint of every finished step is written and
    its log entry given.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module,
        diffusion: GaussianDiffusion | None,
        checkpoint: Path,
        device: str = "cpu",
        resume: bool = False,
        distributed: Distributed = Distributed(),
        pause_at: int | None = None,
        noise_level: bool = False,
    ) -> None:
        config.validate()
        if config.batch_size % distributed.world_size:
            raise UserError(f"batch size {config.batch_size} does not split over {distributed.world_size} processes")
        self.config, self.model, self.diffusion = config, model.to(device), diffusion
        self.checkpoint, self.device, self.resume = Path(checkpoint), device, resume
        self.distributed, self.pause_at, self.noise_level = distributed, pause_at, noise_level
        self.resumed_from = self.steps_done = 0
        self.seconds = 0.0
        self.cpu_seconds: float | None = 0.0
        """Training CPU-seconds up to ``steps_done``, over every run of this checkpoint (None when
        it was resumed from a checkpoint that did not record them)."""
        self.run_id = secrets.token_hex(8)
        """The run's identity, kept from its fresh start through every resume and shared by its rungs."""
        self.ladder: list[LadderEntry] = []
        self._replaces_legacy = False

    def steps(self) -> Iterator[StepLog]:
        lock = exclusive_lock(self.checkpoint, "checkpoint") if self.distributed.is_main else contextlib.nullcontext()
        with lock:
            if self.checkpoint.exists() and not self.resume:
                raise UserError(
                    f"checkpoint {self.checkpoint} exists; pass --resume to continue it or --checkpoint for a new one"
                )
            yield from self._train()

    def _is_this_runs_checkpoint(self, path: Path) -> bool:
        """Whether ``path`` holds a checkpoint this run may replace: one of its own (or the
        checkpoint it resumed, written before runs had an identity)."""
        try:
            saved = read_checkpoint(path, tensors=False)
        except UserError:
            return False
        own = saved.run_id == self.run_id or (saved.run_id is None and self._replaces_legacy)
        return saved.role == "checkpoint" and own

    def _is_this_runs_rung(self, path: Path, step: int) -> bool:
        """Whether ``path`` holds this run's own rung of ``step`` (written before a stop that came
        before the checkpoint listing it): the same state, so it may be written again."""
        try:
            saved = read_checkpoint(path, tensors=False)
        except UserError:
            return False
        return saved.role == "rung" and saved.run_id == self.run_id and saved.step == step

    def _check_before_the_first_step(self, start: int) -> None:
        """Refuse, before the first step, a run with nothing left to do, and (on the main process)
        a checkpoint path or a rung path that holds anything but this run's own files: another
        run's rungs are never replaced."""
        if start >= self.config.train_steps:
            raise UserError(
                f"checkpoint {self.checkpoint} is already at step {start:,}, not before --train-steps "
                f"{self.config.train_steps:,}; pass more --train-steps to train on"
            )
        if not self.distributed.is_main:
            return
        check_creatable(self.checkpoint, self._is_this_runs_checkpoint, what="checkpoint")
        for step in kept_rung_steps(self.config):
            path = rung_path(self.checkpoint, step)
            if step > start and (path.exists() or path.is_symlink()):
                if not self._is_this_runs_rung(path, step):
                    raise UserError(
                        f"{path} is in the way of this run's rung at step {step:,} ({describe_path(path)}"
                        f"{', of another run' if path.is_file() else ''}); the harness never replaces it: move it "
                        "away or train into another --checkpoint"
                    )

    def _restore(self, ema: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str) -> int:
        """Load the checkpoint to resume from; returns its step (0 when there is none)."""
        config, checkpoint = self.config, self.checkpoint
        if not (self.resume and checkpoint.exists()):
            return 0
        saved = read_checkpoint(checkpoint)
        if saved.role == "rung" or is_rung_name(checkpoint):
            raise UserError(
                f"{checkpoint} is a rung of a run's ladder, kept as it was at step {saved.step:,}; resume the run's "
                "checkpoint instead (a rung is never trained over)"
            )
        if saved.role == SHIPPED:
            raise UserError(f"{checkpoint} holds shipped EMA weights alone (no optimizer state): it cannot be resumed")
        before = resume_identity(TrainConfig.from_record(saved.config, checkpoint))
        now = resume_identity(config)
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        if changed:
            raise UserError(
                f"checkpoint {checkpoint} was written with other training options ({', '.join(changed)}); "
                "train into a new --checkpoint or repeat the original options"
            )
        if saved.data_fingerprint != fingerprint:
            raise UserError(f"checkpoint {checkpoint} was trained on other data (fingerprint differs)")
        load_state(self.model, saved.model_state, checkpoint, f"model {config.model}")
        load_state(ema, saved.ema_state, checkpoint, f"EMA of model {config.model}")
        restore_optimizer(optimizer, saved, checkpoint)
        self.cpu_seconds = saved.cpu_seconds
        if saved.run_id is None:
            self._replaces_legacy = True
            self.ladder = self._adopted_rungs(saved, before)
        else:
            self.run_id, self.ladder = saved.run_id, list(saved.ladder)
        return saved.step

    def _adopted_rungs(self, saved: Checkpoint, identity: dict[str, Any]) -> list[LadderEntry]:
        """The rungs beside a checkpoint written before rungs were tied to their run, adopted into
        this run's ladder when each is a rung of the same training at its step (the checks such a
        ladder was read with); their digests are recorded from now on."""
        adopted = []
        per_step = self.config.batch_size * self.config.grad_accumulation
        for step in kept_rung_steps(self.config):
            path = rung_path(self.checkpoint, step)
            if step > saved.step or not path.is_file() or path.is_symlink():
                continue
            rung = read_checkpoint(path, tensors=False)
            same = resume_identity(TrainConfig.from_record(rung.config, path)) == identity
            if rung.step != step or not same or rung.data_fingerprint != saved.data_fingerprint:
                raise UserError(f"rung {path} is not step {step:,} of the run of checkpoint {self.checkpoint}")
            adopted.append(LadderEntry(step, step * per_step, rung.cpu_seconds, file_digest(path)))
        return adopted

    def _train(self) -> Iterator[StepLog]:
        config, model, distributed = self.config, self.model, self.distributed
        dataset = load_dataset(config.data, "train", config.resolution, config.data_root)
        fingerprint = dataset.fingerprint()
        ema = copy.deepcopy(model).eval().requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=config.lr, betas=config.adam_betas)
        start = self.resumed_from = self.steps_done = self._restore(ema, optimizer, fingerprint)
        self._check_before_the_first_step(start)
        wrapped = self._distributed(model)
        last = config.train_steps if self.pause_at is None else min(config.train_steps, max(start, self.pause_at))
        began = last_save = time.perf_counter()
        rung_steps = kept_rung_steps(config)
        model.train()
        with deferred_interrupts() as interrupts:
            for step in range(start, last):
                tick, cpu_tick = time.perf_counter(), time.process_time()
                total = self._step(wrapped, dataset, optimizer, trainable, step)
                update_ema(ema, model, ema_decay_after(config, step + 1))
                if self.cpu_seconds is not None:
                    self.cpu_seconds += (time.process_time() - cpu_tick) * distributed.world_size
                done = self.steps_done = step + 1
                self.seconds = time.perf_counter() - began
                rate = config.batch_size * config.grad_accumulation / (time.perf_counter() - tick)
                saved = logged = False
                while True:  # a stop that arrives during the bookkeeping still gets this step saved and logged
                    stopping = interrupts.pending is not None
                    overdue = time.perf_counter() - last_save >= 60 * config.checkpoint_minutes
                    due = done % config.checkpoint_every == 0 or done in rung_steps or done == last or overdue
                    if not saved and (due or stopping):
                        if distributed.is_main:
                            self._save(done, ema, optimizer, fingerprint, rung=done in rung_steps)
                        saved, last_save = True, time.perf_counter()
                    if not logged and (done % config.log_every == 0 or done == last or stopping):
                        yield StepLog(done, _mean_over_processes(total, distributed), rate, learning_rate(config, step))
                        logged = True
                    if stopping:
                        interrupts.check()
                    if interrupts.pending is None:
                        break

    def _distributed(self, model: nn.Module) -> nn.Module:
        """The model as each step calls it: wrapped for a distributed run, itself otherwise."""
        if self.distributed.world_size == 1:
            return model
        device_ids = [torch.device(self.device).index] if self.device.startswith("cuda") else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def _save(self, done: int, ema: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str, rung: bool) -> None:
        """The checkpoint of ``done`` steps; at a rung of the ladder first a copy of it beside the
        checkpoint (:func:`rung_path`, never touched again), whose digest the checkpoint records."""
        _check_finite(done, model=self.model, EMA=ema)
        images = done * self.config.batch_size * self.config.grad_accumulation
        state = Checkpoint(
            {}, {}, {}, done, training_record(self.config), fingerprint, self.cpu_seconds, self.run_id, "rung", images
        )
        if rung:
            data = checkpoint_bytes(self.model, ema, optimizer, state)
            path = rung_path(self.checkpoint, done)
            create_file(path, data, replaces=lambda existing: self._is_this_runs_rung(existing, done))
            entry = LadderEntry(done, images, self.cpu_seconds, hashlib.sha256(data).hexdigest())
            self.ladder = [*(kept for kept in self.ladder if kept.step < done), entry]
        state = dataclasses.replace(state, role="checkpoint", ladder=tuple(self.ladder))
        create_file(
            self.checkpoint, checkpoint_bytes(self.model, ema, optimizer, state), replaces=self._is_this_runs_checkpoint
        )

    def _step(
        self,
        wrapped: nn.Module,
        dataset: Any,
        optimizer: torch.optim.Optimizer,
        trainable: list[nn.Parameter],
        step: int,
    ) -> float:
        """One optimizer step over ``grad_accumulation`` micro-batches; returns the mean loss."""
        config, distributed, device = self.config, self.distributed, self.device
        share = config.batch_size // distributed.world_size
        torch.manual_seed(derived_seed(config.seed, 3, step))
        optimizer.zero_grad(set_to_none=True)
        autocast = device.startswith("cuda") and config.mixed_precision
        total = 0.0
        for micro in range(config.grad_accumulation):
            global_micro = step * config.grad_accumulation + micro
            indices = micro_batch_indices(config, len(dataset), global_micro)
            first = global_micro * config.batch_size + distributed.rank * share
            mine = indices[distributed.rank * share : (distributed.rank + 1) * share]
            images = dataset.batch(mine).to(device)
            noise, t, sigma = _sample_draws(
                config, range(first, first + share), tuple(images.shape[1:]), config.timesteps
            )
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                loss = loss_on_batch(
                    wrapped,
                    self.diffusion,
                    images,
                    noise.to(device),
                    t.to(device),
                    sigma,
                    config.min_snr_gamma,
                    self.noise_level,
                )
            (loss / config.grad_accumulation).backward()
            total += loss.item() / config.grad_accumulation
        if not math.isfinite(total):
            raise UserError(f"training diverged at step {step + 1}: the loss is {total}; lower the learning rate")
        torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        optimizer.step()
        return total


@torch.no_grad()
def denoising_check(
    model: nn.Module,
    config: TrainConfig,
    diffusion: GaussianDiffusion | None,
    device: str = "cpu",
    count: int = 256,
    noise_step: int = 50,
    noise_level: bool = False,
) -> dict[str, float]:
    """Does the trained model denoise? Mean PSNR (dB, [0, 1] units) on the test split of the
    noisy input and of the model's estimate. Backbones: forward-noise to ``noise_step`` (index
    ``noise_step − 1``), estimate x0 in one call, against the noisy image rescaled by 1/√ᾱ
    (docs/architecture.md); denoisers: Gaussian noise at the highest training σ."""
    from cunet_bench.measure.metrics import psnr

    test = load_dataset(config.data, "test", config.resolution, config.data_root)
    images = test.batch(torch.arange(min(count, len(test)))).to(device)
    noise = torch.randn(images.shape, generator=generator(config.seed, 4, noise_step)).to(device)
    model.eval()
    clean = (images + 1) / 2
    if diffusion is not None:
        t = torch.full((len(images),), noise_step - 1, device=device)
        x_t = diffusion.q_sample(images, t, noise)
        _, x0 = diffusion.predictions(model(x_t, t), x_t, t, clip=True)
        noisy = ((x_t / diffusion.alpha_bar_at(t, x_t).sqrt()).clamp(-1, 1) + 1) / 2
        estimate = (x0 + 1) / 2
    else:
        noisy = clean + config.sigma[1] * noise
        estimate = TrainedDenoiser(model, noise_level).denoise(noisy, config.sigma[1]).clamp(0, 1)
        noisy = noisy.clamp(0, 1)
    return {"psnr_noisy_db": float(psnr(noisy, clean).mean()), "psnr_model_db": float(psnr(estimate, clean).mean())}


def _check_finite(step: int, **modules: nn.Module) -> None:
    """Refuse to checkpoint non-finite weights: the file keeps the last finite step instead."""
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise UserError(
                    f"training diverged at step {step}: the {name}'s {key} is not finite; the checkpoint "
                    "keeps the last finite step (lower the learning rate)"
                )


def _mean_over_processes(value: float, distributed: Distributed) -> float:
    if distributed.world_size == 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor) / distributed.world_size


def checkpoint_config(path: Path | str) -> TrainConfig:
    """The checked training configuration a checkpoint records."""
    return TrainConfig.from_record(read_checkpoint(path).config, path)
