"""``bench all``: the whole pipeline for a preset as benchmark steps with resolved configurations
— efficiency at the preset's size, training of the quality backbones and the learned Table 4
baselines (once per training seed), samples, denoising, FID — followed by the report.

A step is skipped when its work is already done on this machine: training when the checkpoint
holds the configured steps of the same options; every other step when a complete run with the
same done key (resolved configuration, host and machine fingerprint, contents of the
checkpoints read; see :func:`cunet_bench.runner.done_key`) is recorded. A changed default,
another machine or a retrained model therefore re-runs exactly the steps it affects, and results
copied from elsewhere (the repository's reference results) never stand in for a measurement of
this machine. Training resumes an unfinished checkpoint and FID reuses its sample shards, so an
interrupted ``bench all`` continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cunet_bench.benchmarks import denoise, efficiency, fid, sample, train
from cunet_bench.presets import Preset
from cunet_bench.registry import REGISTRY, get_model
from cunet_bench.output import note
from cunet_bench.runner import Benchmark, completed_run, execute_with_display


@dataclass(frozen=True)
class Step:
    label: str
    benchmark: Benchmark
    config: Any


def trained_models() -> tuple[str, ...]:
    """The quality backbones and the learned Table 4 baselines."""
    return REGISTRY.tagged("quality") + tuple(name for name in REGISTRY.tagged("table4")
                                             if "trainable" in get_model(name).supports)


def plan(preset: Preset, results: Path, checkpoints: Path, seed: int, device: str) -> list[Step]:
    """The steps of ``bench all``: ``seed`` seeds the measurements (noise, samples); every trained
    model is trained once per seed of the preset's ``train_seeds``."""
    common: dict[str, Any] = {"seed": seed, "device": device}
    shared = {"checkpoints": str(checkpoints), **common}
    steps = [Step("efficiency", efficiency.BENCHMARK, efficiency.EfficiencyConfig.from_preset(preset, **common))]
    training = {(model, train_seed): train.TrainRunConfig.from_preset(
        preset, model, checkpoints=str(checkpoints), resume=True, device=device, seed=train_seed)
        for model in trained_models() for train_seed in preset.train_seeds}
    steps += [Step(f"train {model} (seed {train_seed})", train.BENCHMARK, config)
              for (model, train_seed), config in training.items()]
    for model in REGISTRY.tagged("quality"):
        steps.append(Step(f"sample {model}", sample.BENCHMARK, sample.SampleConfig.from_preset(
            preset, checkpoint=training[model, preset.train_seeds[0]].checkpoint, model=model, out=str(results),
            **common)))
    steps.append(Step("denoise", denoise.BENCHMARK, denoise.DenoiseConfig.from_preset(preset, out=str(results),
                                                                                       **shared)))
    steps.append(Step("fid", fid.BENCHMARK, fid.FidConfig.from_preset(preset, **shared)))
    return steps


def is_done(step: Step, results: Path) -> bool:
    if step.benchmark is train.BENCHMARK:
        return train.is_complete(step.config)
    return completed_run(step.benchmark, step.config, results) is not None


def run_steps(steps: list[Step], results: Path, preset: str) -> list[dict[str, Any]]:
    """Run every step that is not already done, in order; returns one summary line per step."""
    summary, started = [], time.perf_counter()
    for number, step in enumerate(steps, 1):
        if is_done(step, results):
            note(f"[{number}/{len(steps)}] {step.label}: already done on this machine, skipped")
            summary.append({"step": step.label, "status": "skipped", "seconds": 0.0})
            continue
        note(f"[{number}/{len(steps)}] {step.label} ({time.perf_counter() - started:.0f} s so far)")
        tick = time.perf_counter()
        execute_with_display(step.benchmark, step.config, results, preset, step.label)
        summary.append({"step": step.label, "status": "ran", "seconds": time.perf_counter() - tick})
    return summary
