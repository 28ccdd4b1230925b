"""Memory: the static training footprint (the paper's Table 5 "MB") and measured peaks.

CPU peaks are read in a fresh subprocess (``python -m cunet_bench.benchmarks.memory PROBE``, the
probe's configuration as JSON): after building the model and its input the process resets its
resident-set high-water mark (``/proc/self/clear_refs``), runs one inference forward or one
training step, and reports the high-water mark above the resident set it started from. GPU peaks use
``torch.cuda.max_memory_allocated`` above the allocation before the call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from cunet_bench.errors import UserError
from cunet_bench.models.solver import SolverConfig
from torch import nn

BYTES_PER_MIB = 2**20


def static_training_bytes(model: nn.Module) -> int:
    """fp32 weights of every parameter + gradient and two Adam moments of each trainable one.

    For the released U-Net (no frozen parameters) this is 35,710,339 × 16 B = 544.9 MiB,
    the paper's 545.5 "MB" (docs/protocol.md §2)."""
    everything = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return everything + 3 * trainable


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _step(model: nn.Module, inputs: tuple[torch.Tensor, ...], mode: str) -> None:
    if mode == "inference":
        with torch.no_grad():
            model(*inputs)
        return
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss = model(*inputs).square().mean()
    loss.backward()
    optimizer.step()


@dataclass(frozen=True)
class PeakProbe:
    """One peak-memory measurement: what ``measure_peaks`` hands to the fresh process, as JSON."""

    model: str
    channels: int
    resolution: int
    batch: int
    mode: str
    """``inference``: one forward without gradients; ``train``: forward, backward and an Adam step."""
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        options = {k: v.label if isinstance(v, SolverConfig) else v for k, v in self.options.items()}
        return json.dumps({**dataclasses.asdict(self), "options": options})


def probe(config: PeakProbe) -> dict:
    """Run in the probe subprocess: peak memory of one ``mode`` call above the set-up state."""
    from cunet_bench.registry.contracts import example_inputs
    from cunet_bench.registry.suite import get_model

    spec = get_model(config.model)
    model = spec.instantiate(config.channels, config.resolution, **config.options).to(config.device)
    model.train(config.mode == "train")
    inputs = example_inputs(spec, config.batch, config.channels, config.resolution, config.device)
    if config.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        _step(model, inputs, config.mode)
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - before, "method": "cuda.max_memory_allocated"}
    exact = _reset_peak_rss()
    before_kib = _status_kib("VmRSS") or 0
    _step(model, inputs, config.mode)
    peak_kib = _status_kib("VmHWM") if exact else None
    if peak_kib is None:
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_bytes": max(0, peak_kib - before_kib) * 1024, "method": "VmHWM" if exact else "ru_maxrss"}


def measure_peaks(probes: list[PeakProbe], threads: int | None, timeout_s: float = 900) -> list[dict]:
    """Peak memory of each probe (one inference forward or one training step above the built
    model) in a fresh process of its own (``python -m cunet_bench.benchmarks.memory PROBE_JSON``),
    twice as many at a time as the command's ``threads`` (a probe mostly waits for its imports): a
    peak is its own process's, so running them side by side changes none of them, only the wait."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    results: list[dict] = []
    at_once = 2 * max(1, threads or 1)
    for first in range(0, len(probes), at_once):
        running = [
            (
                probe,
                subprocess.Popen(
                    [sys.executable, "-m", "cunet_bench.benchmarks.memory", probe.as_json()],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=environment,
                ),
            )
            for probe in probes[first : first + at_once]
        ]
        for probe, process in running:
            try:
                out, err = process.communicate(timeout=timeout_s)
            finally:
                process.kill()
            if process.returncode != 0:
                last = (err.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"memory probe for {probe.model} ({probe.mode}, batch {probe.batch}) failed: {last}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    return results


if __name__ == "__main__":
    print(json.dumps(probe(PeakProbe(**json.loads(sys.argv[1])))))
