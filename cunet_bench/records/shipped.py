"""Shipped weights: a trained model's EMA weights, stored in fp16, with a manifest that vouches for
each file (docs/protocol.md §8). A shipped file is a checkpoint of role
``shipped`` holding the EMA tensors alone — no raw weights, no optimizer state — with the run's
step, images seen, training CPU-seconds and configuration as metadata. Every number computed
from it is computed from this stored form (the fp16 values, cast back to fp32 to run).

The manifest (``MANIFEST.json`` beside the files) lists each file's SHA-256, model, training seed,
step, images seen and training CPU-seconds. It is untrusted input like every file the harness
reads: :func:`verified` checks the manifest, then each file's bytes against its digest and its
metadata against its entry, before anything is loaded; a damaged, swapped or missing file is one
line."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cunet_bench.errors import UserError
from cunet_bench.files import bounded_json, create_file, file_digest, read_regular_text
from cunet_bench.records.checkpoints import (
    FORMAT,
    MAX_CPU_SECONDS,
    MAX_TRAIN_STEPS,
    SHIPPED,
    Checkpoint,
    read_checkpoint,
    tensor_bytes,
)
from cunet_bench.records.ladder import Rung, highest_below_top
from cunet_bench.records.shipped_names import shipped_name

MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = "cunet-bench-shipped-v1"
MAX_SHIPPED_BYTES = 100 * 2**20
"""What the shipped weights may add to the repository, all files together."""
MAX_FILES = 200
FILE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,120}\.safetensors")
DIGEST = re.compile(r"[0-9a-f]{64}")
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class ShippedFile:
    """One manifest entry: a shipped file and what it holds."""

    file: str
    sha256: str
    bytes: int
    model: str
    seed: int
    step: int
    images_seen: int
    train_cpu_seconds: float | None


def stored_form(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors as they are shipped: floating-point ones in fp16, the others as they are."""
    return {key: value.half() if value.is_floating_point() else value for key, value in state.items()}


def as_run(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Shipped fp16 tensors cast to fp32, the dtype every model computes in."""
    return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}


def ship(checkpoint: Checkpoint, source: Path, folder: Path) -> ShippedFile:
    """Write the stored form of ``checkpoint``'s EMA weights (read from ``source``) into
    ``folder`` and return its manifest entry; an earlier shipped file of the same model, seed and
    step is replaced, anything else at that name refused."""
    config = checkpoint.config
    model, seed = config.get("model"), config.get("seed")
    if checkpoint.role == SHIPPED:
        raise UserError(f"{source} is already a shipped file")
    if checkpoint.images_seen is None:
        raise UserError(f"{source} does not record the images it was trained on; resume it once to record them")
    metadata = {
        "format": FORMAT,
        "role": SHIPPED,
        "step": str(checkpoint.step),
        "config": json.dumps(config, sort_keys=True, default=str),
        "data_fingerprint": checkpoint.data_fingerprint,
        "images_seen": str(checkpoint.images_seen),
    }
    if checkpoint.run_id is not None:
        metadata["run_id"] = checkpoint.run_id
    if checkpoint.cpu_seconds is not None:
        metadata["cpu_seconds"] = repr(float(checkpoint.cpu_seconds))
    data = tensor_bytes({f"ema.{k}": v for k, v in stored_form(checkpoint.ema_state).items()}, metadata)
    path = folder / shipped_name(str(model), int(seed), checkpoint.step)
    create_file(path, data, replaces=lambda existing: _is_shipped(existing, str(model), int(seed), checkpoint.step))
    return ShippedFile(
        path.name,
        file_digest(path),
        len(data),
        str(model),
        int(seed),
        checkpoint.step,
        checkpoint.images_seen,
        checkpoint.cpu_seconds,
    )


def _is_shipped(path: Path, model: str, seed: int, step: int) -> bool:
    """Whether ``path`` is a shipped file of this model, seed and step (one the harness may replace)."""
    try:
        existing = read_checkpoint(path, tensors=False)
    except UserError:
        return False
    return (existing.role, existing.config.get("model"), existing.config.get("seed"), existing.step) == (
        SHIPPED,
        model,
        seed,
        step,
    )


def write_manifest(folder: Path, entries: list[ShippedFile]) -> Path:
    """Write (or replace) ``folder``'s manifest listing ``entries``, ordered by model, seed and step."""
    ordered = sorted(entries, key=lambda entry: (entry.model, entry.seed, entry.step))
    total = sum(entry.bytes for entry in ordered)
    if total > MAX_SHIPPED_BYTES:
        raise UserError(f"the shipped weights would take {total / 2**20:.1f} MiB, more than {MAX_SHIPPED_BYTES >> 20}")
    text = json.dumps({"format": MANIFEST_FORMAT, "files": [asdict(entry) for entry in ordered]}, indent=1) + "\n"
    create_file(folder / MANIFEST, text.encode(), replaces=_is_manifest)
    return folder / MANIFEST


def _is_manifest(path: Path) -> bool:
    try:
        return json.loads(read_regular_text(path, 2**20)).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(folder: Path) -> list[ShippedFile]:
    """The manifest's entries, every field checked (names, digests, bounds, no file twice, the
    total within :data:`MAX_SHIPPED_BYTES`); an absent or malformed manifest is one line."""
    path = folder / MANIFEST
    try:
        record = bounded_json(read_regular_text(path, 2**20), "the manifest")
    except FileNotFoundError:
        raise UserError(f"{folder} has no {MANIFEST}: no shipped weights there") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path} cannot be read ({error})") from None
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path} is not a manifest of shipped weights (format {MANIFEST_FORMAT})")
    files = record.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise UserError(f"{path} must list from 1 to {MAX_FILES} files")
    entries = [_entry(item, path) for item in files]
    names = [entry.file for entry in entries]
    if len(set(names)) != len(names):
        raise UserError(f"{path} lists a file twice")
    if sum(entry.bytes for entry in entries) > MAX_SHIPPED_BYTES:
        raise UserError(f"{path} lists more than {MAX_SHIPPED_BYTES >> 20} MiB of weights")
    return entries


def _entry(item: Any, path: Path) -> ShippedFile:
    """One manifest entry, checked field by field."""
    fields = {name: field.type for name, field in ShippedFile.__dataclass_fields__.items()}
    if not isinstance(item, dict) or set(item) != set(fields):
        raise UserError(f"{path}: an entry must have exactly the fields {', '.join(fields)}")
    checks = {
        "file": isinstance(item["file"], str) and FILE_NAME.fullmatch(item["file"]) is not None,
        "sha256": isinstance(item["sha256"], str) and DIGEST.fullmatch(item["sha256"]) is not None,
        "bytes": _whole(item["bytes"], MAX_SHIPPED_BYTES),
        "model": isinstance(item["model"], str) and MODEL_NAME.fullmatch(item["model"]) is not None,
        "seed": _whole(item["seed"], 2**32 - 1),
        "step": _whole(item["step"], MAX_TRAIN_STEPS) and item["step"] > 0,
        "images_seen": _whole(item["images_seen"], 2**53),
        "train_cpu_seconds": item["train_cpu_seconds"] is None
        or (
            isinstance(item["train_cpu_seconds"], (int, float))
            and not isinstance(item["train_cpu_seconds"], bool)
            and math.isfinite(item["train_cpu_seconds"])
            and 0 <= item["train_cpu_seconds"] <= MAX_CPU_SECONDS
        ),
    }
    wrong = [name for name, good in checks.items() if not good]
    if wrong:
        shown = str(item.get(wrong[0]))[:40]
        raise UserError(f"{path}: entry {str(item.get('file'))[:60]!r} has a malformed {wrong[0]} ({shown})")
    return ShippedFile(**item)


def _whole(value: Any, highest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= highest


def verified(folder: Path) -> list[tuple[ShippedFile, Path]]:
    """Every shipped file of ``folder`` with its path, after checking its bytes against the
    manifest's digest and its metadata against its entry: a missing, damaged or swapped file is
    one line naming it, before anything is loaded."""
    checked = []
    for entry in read_manifest(folder):
        path = folder / entry.file
        try:
            digest = file_digest(path)
        except FileNotFoundError:
            raise UserError(f"{path} is listed in {MANIFEST} but missing") from None
        except (OSError, ValueError) as error:
            raise UserError(f"{path} cannot be read ({error})") from None
        if digest != entry.sha256:
            raise UserError(
                f"{path} is not the file {MANIFEST} lists (SHA-256 {digest[:12]}…, listed {entry.sha256[:12]}…)"
            )
        held = read_checkpoint(path, tensors=False)
        recorded = (held.role, held.config.get("model"), held.config.get("seed"), held.step, held.images_seen)
        if recorded != (SHIPPED, entry.model, entry.seed, entry.step, entry.images_seen):
            raise UserError(
                f"{path} holds {recorded[1]} seed {recorded[2]} step {recorded[3]}, not what {MANIFEST} lists"
            )
        checked.append((entry, path))
    return checked


def shipped_steps(folder: Path, model: str, seed: int) -> dict[int, Path]:
    """Step → file of what ``folder``'s manifest lists for ``model``'s training seed ``seed`` (read
    from the manifest alone; each file is checked when its ladder is read, :func:`shipped_ladder`)."""
    return {
        entry.step: folder / entry.file for entry in read_manifest(folder) if (entry.model, entry.seed) == (model, seed)
    }


def shipped_seeds(folder: Path) -> tuple[int, ...]:
    """The training seeds ``folder``'s manifest ships any model of, in order (from the manifest alone)."""
    return tuple(sorted({entry.seed for entry in read_manifest(folder)}))


def shipped_ladder(
    folder: Path, model: str, seed: int, data: str, highest: int | None = None, at_step: int | None = None
) -> list[Rung]:
    """The shipped files of ``model``'s training seed ``seed`` as the ladder a measurement reads,
    lowest step first, after :func:`verified` vouched for every file of ``folder``: its top the
    highest shipped step (or the one at ``at_step``), with the ``highest`` steps up to it (all when
    None). A model, seed or step not shipped, or weights trained on other data, is one line."""
    mine = [(e, p) for e, p in verified(folder) if (e.model, e.seed) == (model, seed)]
    if not mine:
        shipped = sorted({f"{e.model} seed {e.seed}" for e, _ in verified(folder)})
        raise UserError(f"{folder} ships no weights of {model} seed {seed} (it ships {', '.join(shipped)})")
    mine.sort(key=lambda pair: pair[0].step)
    if at_step is not None:
        if at_step not in {e.step for e, _ in mine}:
            steps = ", ".join(f"{e.step:,}" for e, _ in mine)
            raise UserError(f"{folder} ships {model} seed {seed} at steps {steps}, not at {at_step:,}")
        mine = [(e, p) for e, p in mine if e.step <= at_step]
    trained_on = read_checkpoint(mine[-1][1], tensors=False).config.get("data")
    if trained_on != data:
        raise UserError(f"{mine[-1][1]} was trained on {trained_on}, not on {data}")
    chosen = [*highest_below_top(mine[:-1], highest), mine[-1]]
    return [Rung(e.step, p, e.images_seen, e.train_cpu_seconds) for e, p in chosen]
