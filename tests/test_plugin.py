"""A third-party model benchmarked as itself: the example plugin under examples/, registered
through the entry point (a dist-info on the path, as an installed distribution provides), run
through bench models, efficiency, train and denoise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cunet-bench-example"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    """What installing the example would put on sys.path: its package and its dist-info."""
    site = tmp_path_factory.mktemp("site")
    dist_info = site / "cunet_bench_example-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cunet-bench-example\nVersion: 0.1.0\n")
    entry_points = (EXAMPLE / "pyproject.toml").read_text().split('[project.entry-points."cunet_bench.models"]')[1]
    line = entry_points.split("\n\n")[0].strip().replace('"', "")
    (dist_info / "entry_points.txt").write_text(f"[cunet_bench.models]\n{line}\n")
    return os.pathsep.join([str(site), str(EXAMPLE)])


def bench(plugin_path: str, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": plugin_path}
    done = subprocess.run(
        [sys.executable, "-m", "cunet_bench.cli", *args], capture_output=True, text=True, timeout=600, env=environment
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_example_plugin_runs_through_every_command_as_itself(plugin_path, tmp_path):
    models = {row["name"]: row for row in json.loads(bench(plugin_path, "models", "--format", "json").stdout)}
    assert models["example-backbone"]["parameters"] == (1 * 32 * 9 + 32) + 1000 * 32 + (32 * 9 + 1)
    wide = int(
        bench(plugin_path, "train", "--model", "example-backbone", "--preset", "smoke", "--dry-run").stdout.count(
            '"width": 8'
        )
    )
    assert wide == 1  # the smoke preset trains the plugin at its own tiny scale
    assert models["example-blur"]["parameters"] == 0

    efficiency = json.loads(
        bench(
            plugin_path,
            "efficiency",
            "--preset",
            "smoke",
            "--models",
            "example-backbone",
            "--no-memory",
            "--out",
            str(tmp_path),
            "--format",
            "json",
        ).stdout
    )
    assert {row.get("model") for row in efficiency} == {None, "example-backbone"}
    assert any(row["metric"] == "latency_median_s" for row in efficiency)

    bench(
        plugin_path,
        "train",
        "--model",
        "example-backbone",
        "--preset",
        "smoke",
        "--checkpoint",
        str(tmp_path / "example-backbone-mnist5k-smoke-seed0.safetensors"),
        "--out",
        str(tmp_path),
    )
    rows = json.loads(
        bench(
            plugin_path,
            "denoise",
            "--preset",
            "smoke",
            "--models",
            "example-backbone,example-blur,bm3d",
            "--checkpoints",
            str(tmp_path),
            "--out",
            str(tmp_path),
            "--format",
            "json",
        ).stdout
    )
    psnr = {
        (row["method"], row["noise_step"]): row["mean"]
        for row in rows
        if row["kind"] == "summary" and row["metric"] == "psnr"
    }
    assert {method for method, _ in psnr} == {"noisy input", "example-backbone", "example-blur", "bm3d"}
    assert all(psnr[("example-blur", level)] != psnr[("bm3d", level)] for level in (3, 6))

    sys.path.insert(0, str(EXAMPLE))
    try:
        from cunet_bench.benchmarks.denoise import DenoiseConfig, measure
        from cunet_bench.benchmarks.denoise_methods import Method, clean_test_images
        from cunet_bench.config.presets import get_preset
        from cunet_bench.diffusion.process import DiffusionConfig, GaussianDiffusion
        from cunet_bench_example import ExampleBlur

        smoke = get_preset("smoke")  # the noise of each level follows the trained backbone's schedule
        schedule = GaussianDiffusion(DiffusionConfig(smoke.train["schedule"], smoke.train["objective"]))
        methods = [Method("schedule", lambda x, t: x * 0, schedule), Method("example-blur", ExampleBlur())]
        config = DenoiseConfig.from_preset(smoke)
        expected = {
            (row["method"], row["noise_step"]): row["mean"]
            for row in measure(config, methods, clean_test_images("mnist5k", 32, 4))
            if row["kind"] == "summary" and row["metric"] == "psnr"
        }
    finally:
        sys.path.remove(str(EXAMPLE))
        sys.modules.pop("cunet_bench_example", None)
    for level in (3, 6):
        assert psnr[("example-blur", level)] == pytest.approx(expected[("example-blur", level)], rel=1e-9)
