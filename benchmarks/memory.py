"""Memory: the static training footprint (the paper's Table 5 "MB") and measured peaks.

CPU peaks are read in a fresh subprocess (``python -m cunet_bench.benchmarks.memory``): after building
the model and its input the process resets its resident-set high-water mark
(``/proc/self/clear_refs``), runs one inference forward or one training step, and reports the
high-water mark above the resident set it started from. GPU peaks use
``torch.cuda.max_memory_allocated`` above the allocation before the call.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cunet_bench.errors import UserError

BYTES_PER_MIB = 2**20


def static_training_bytes(model: nn.Module) -> int:
    """fp32 weights of every parameter + gradient and two Adam moments of each trainable one.

    For the released U-Net (no frozen parameters) this is 35,710,339 × 16 B = 544.9 MiB,
    the paper's 545.5 "MB" (REFERENCE §2)."""
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


def probe(name: str, channels: int, image_size: int, batch: int, mode: str, device: str, options: dict[str, Any]) -> dict:
    """Run in the probe subprocess: peak memory of one ``mode`` call above the set-up state."""
    from cunet_bench.contracts import example_inputs
    from cunet_bench.registry import get_model

    spec = get_model(name)
    model = spec.instantiate(channels, image_size, **options).to(device)
    model.train(mode == "train")
    inputs = example_inputs(spec.family, batch, channels, image_size, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        _step(model, inputs, mode)
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - before, "method": "cuda.max_memory_allocated"}
    exact = _reset_peak_rss()
    before_kib = _status_kib("VmRSS") or 0
    _step(model, inputs, mode)
    peak_kib = _status_kib("VmHWM") if exact else None
    if peak_kib is None:
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_bytes": max(0, peak_kib - before_kib) * 1024, "method": "VmHWM" if exact else "ru_maxrss"}


def measure_peak(
    name: str, channels: int, image_size: int, batch: int, mode: str, device: str = "cpu",
    options: dict[str, Any] | None = None, timeout_s: float = 900,
) -> dict:
    """Peak memory of one inference forward (``mode='inference'``) or one training step
    (``'train'``: forward, backward, Adam step) above the built model, in a fresh process."""
    command = [
        sys.executable, "-m", "cunet_bench.benchmarks.memory", name, "--channels", str(channels), "--image-size",
        str(image_size), "--batch", str(batch), "--mode", mode, "--device", device,
        "--options", json.dumps({k: dataclasses.asdict(v) if k == "solver" else v for k, v in (options or {}).items()}),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=environment)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"memory probe for {name} ({mode}, batch {batch}) failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main() -> None:
    parser = argparse.ArgumentParser(description="peak-memory probe (run by the efficiency benchmark)")
    parser.add_argument("name")
    parser.add_argument("--channels", type=int, required=True)
    parser.add_argument("--image-size", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--mode", choices=("inference", "train"), required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--options", default="{}")
    args = parser.parse_args()
    options = json.loads(args.options)
    if "solver" in options:
        from cunet_bench.models.ode import SolverConfig

        options["solver"] = SolverConfig(**options["solver"])
    result = probe(args.name, args.channels, args.image_size, args.batch, args.mode, args.device, options)
    print(json.dumps(result))


if __name__ == "__main__":
    _main()
