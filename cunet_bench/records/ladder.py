"""A training run's ladder: copies of its checkpoint kept at doubling steps (``bench train
--rungs``), the learning curve the quality measurements read. The ladder has one home: the
checkpoint records each rung it kept (step, images seen, training CPU-seconds, the SHA-256 of
the rung file) under its run's identity, and a rung file records that identity too. A ladder is
read only when every rung it lists is there, holds exactly the bytes recorded, belongs to the
checkpoint's run and data, and steps and CPU-seconds grow along it within the checkpoint's own;
anything else is one line naming the rung. Which steps a run keeps is :func:`ladder_steps`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

import torch

from cunet_bench.errors import UserError
from cunet_bench.files import describe_path, file_digest
from cunet_bench.records.checkpoints import Checkpoint, LadderEntry, read_checkpoint

RUNG_NAME = re.compile(r"\.step\d{7,}\.safetensors$")
EntryT = TypeVar("EntryT")


def ladder_steps(train_steps: int, count: int) -> tuple[int, ...]:
    """The steps of a ladder of ``count`` rungs ending at ``train_steps``: each double the one before
    (rounded down) — for 1,800 steps and 4 rungs 225, 450, 900, 1,800. A run too short for its
    ladder keeps the rungs that fall on a step (2 steps, 4 rungs: 1 and 2)."""
    return tuple(sorted({train_steps >> k for k in range(count)} - {0}))


def rung_path(checkpoint: Path, step: int) -> Path:
    """Where a training run keeps its rung at ``step``: beside the checkpoint,
    ``MODEL-DATA-PRESET-seedS.step0000450.safetensors``."""
    return Path(checkpoint).with_name(f"{Path(checkpoint).stem}.step{step:07d}.safetensors")


def is_rung_name(path: Path) -> bool:
    """Whether ``path`` is named like a rung file (a rung written before rungs recorded their role)."""
    return bool(RUNG_NAME.search(Path(path).name))


def highest_below_top(below: Sequence[EntryT], highest: int | None) -> list[EntryT]:
    """Of a ladder's rungs below its top (lowest first), those among its ``highest`` rungs when the
    top is counted as one of them (all of them when ``highest`` is None): ``highest=2`` keeps the
    rung the last doubling starts from."""
    return list(below[max(0, len(below) - highest + 1) :] if highest else below)


@dataclass(frozen=True)
class Rung:
    """One checkpoint of a training run's ladder: how far training had gone when it was kept."""

    step: int
    path: Path
    images_seen: int
    cpu_seconds: float | None
    """Training CPU-seconds up to ``step`` (None: the run did not record them)."""


def _images_seen(top: Checkpoint, checkpoint: Path) -> int:
    """The images the top has seen: recorded, or for a checkpoint written before that was
    recorded, its step times the images of one step its configuration records."""
    if top.images_seen is not None:
        return top.images_seen
    per_step = top.config.get("batch_size"), top.config.get("grad_accumulation", 1)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in per_step):
        raise UserError(f"checkpoint {checkpoint} records no batch size to count its images by")
    return top.step * per_step[0] * per_step[1]


def _recorded_entries(top: Checkpoint, checkpoint: Path) -> tuple[LadderEntry, ...]:
    """The rungs a checkpoint records below its own step (the ladder may end at the checkpoint's
    step, a copy of the checkpoint itself), checked against each other and against the checkpoint."""
    if top.role != "checkpoint":
        raise UserError(f"{checkpoint} is a rung of a ladder, not a run's checkpoint; measure the run's checkpoint")
    if top.run_id is None:
        if top.config.get("rungs", 1) in (1, None):
            return ()
        raise UserError(
            f"checkpoint {checkpoint} was written before rungs were tied to their run; resume it once (bench "
            "train --resume with more --train-steps) to adopt its rungs, or measure without --curves"
        )
    previous = LadderEntry(0, 0, 0.0, "")
    for entry in top.ladder:
        rising = entry.step > previous.step and entry.images_seen > previous.images_seen
        if entry.cpu_seconds is not None and previous.cpu_seconds is not None:
            rising = rising and entry.cpu_seconds >= previous.cpu_seconds
        if not rising:
            raise UserError(
                f"checkpoint {checkpoint} records rung {entry.step:,} out of order (steps, images and CPU-seconds "
                "must grow along a ladder)"
            )
        previous = entry
    within = previous.step <= top.step and previous.images_seen <= _images_seen(top, checkpoint)
    if top.ladder and previous.cpu_seconds is not None and top.cpu_seconds is not None:
        within = within and previous.cpu_seconds <= top.cpu_seconds
    if top.ladder and not within:
        raise UserError(
            f"checkpoint {checkpoint} records rung {previous.step:,} beyond its own step {top.step:,} or CPU-seconds"
        )
    return tuple(entry for entry in top.ladder if entry.step < top.step)


def _checked_rung(entry: LadderEntry, top: Checkpoint, checkpoint: Path) -> Rung:
    """A rung the checkpoint lists, read and checked: its bytes, its run, its step, its weights."""
    path = rung_path(checkpoint, entry.step)
    if not (path.is_file() and not path.is_symlink()):
        raise UserError(
            f"checkpoint {checkpoint} keeps a rung at step {entry.step:,} ({path.name}), but it is "
            f"{'missing' if describe_path(path) == 'missing' else describe_path(path)}; measure without the curve "
            "or train the run again"
        )
    try:
        digest = file_digest(path)
    except (OSError, ValueError) as error:
        raise UserError(f"rung {path} cannot be read ({error})") from None
    if digest != entry.sha256:
        raise UserError(f"rung {path} is not the file its run recorded (its SHA-256 differs)")
    saved = read_checkpoint(path)
    adopted = saved.run_id is None  # written before run ids: its digest, recorded when its run adopted it, ties it
    same_run = adopted or (saved.role == "rung" and saved.run_id == top.run_id)
    same_run = same_run and saved.data_fingerprint == top.data_fingerprint
    if not same_run or saved.step != entry.step or saved.cpu_seconds != entry.cpu_seconds:
        raise UserError(f"rung {path} is not step {entry.step:,} of the run of checkpoint {checkpoint}")
    for key, value in saved.ema_state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserError(f"rung {path}: tensor {key} of its EMA weights holds non-finite values")
    return Rung(entry.step, path, entry.images_seen, entry.cpu_seconds)


def _rung_at(top: Checkpoint, checkpoint: Path, step: int) -> LadderEntry:
    """The rung a checkpoint records at ``step`` (where its run stood then), or one line."""
    entries = {entry.step: entry for entry in _recorded_entries(top, checkpoint)}
    if step not in entries:
        kept = ", ".join(f"{s:,}" for s in entries) or "none"
        raise UserError(
            f"checkpoint {checkpoint} keeps no rung at step {step:,} (its rungs below step {top.step:,}: {kept})"
        )
    return entries[step]


def _measured_entries(
    top: Checkpoint, checkpoint: Path, highest: int | None, at_step: int | None
) -> tuple[list[LadderEntry], LadderEntry | None]:
    """The recorded rungs a measurement reads below its top, and its top: the rung at ``at_step``,
    or None for the checkpoint itself."""
    entries = _recorded_entries(top, checkpoint)
    if at_step is None or at_step == top.step:
        return highest_below_top(entries, highest), None
    chosen = _rung_at(top, checkpoint, at_step)
    return highest_below_top([entry for entry in entries if entry.step < at_step], highest), chosen


def read_ladder(checkpoint: Path | str, highest: int | None = None, at_step: int | None = None) -> list[Rung]:
    """The rungs of a checkpoint's ladder, lowest first, its top the checkpoint itself — or, with
    ``at_step``, the run as it stood at that rung (a doubling of a run still training) — only the
    ``highest`` rungs, the top among them, when given: each checked as the module says, before
    anything is measured."""
    checkpoint = Path(checkpoint)
    top = read_checkpoint(checkpoint, tensors=False)
    below, chosen = _measured_entries(top, checkpoint, highest, at_step)
    rungs = [_checked_rung(entry, top, checkpoint) for entry in below]
    if chosen is not None:
        return [*rungs, _checked_rung(chosen, top, checkpoint)]
    return [*rungs, Rung(top.step, checkpoint, _images_seen(top, checkpoint), top.cpu_seconds)]


def ladder_files(checkpoint: Path, highest: int | None, at_step: int | None = None) -> list[Path]:
    """The files a measurement of a checkpoint's ladder reads (for its done key): the rungs it
    records up to ``at_step`` and the checkpoint (or its rung at ``at_step``), read from its
    metadata alone; a checkpoint not there yet is itself."""
    try:
        top = read_checkpoint(checkpoint, tensors=False)
        _recorded_entries(top, checkpoint)
    except UserError:  # missing or unreadable: the measurement itself says so in one line
        return [Path(checkpoint)]
    below, chosen = _measured_entries(top, checkpoint, highest, at_step)
    top_file = rung_path(checkpoint, chosen.step) if chosen is not None else Path(checkpoint)
    return [*(rung_path(checkpoint, entry.step) for entry in below), top_file]
