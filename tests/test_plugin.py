"""A third-party model benchmarked as itself: the example plugin under examples/, registered
through the entry point (a dist-info on the path, as an installed distribution provides), run
through bench models, efficiency, train and denoise."""

import json
import os
import shlex
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


def bench(plugin_path: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": plugin_path}
    done = subprocess.run(
        [sys.executable, "-m", "cunet_bench.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        cwd=cwd,
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


DOCUMENT = ROOT / "docs" / "plugins.md"
PLUGIN_MODELS = ("example-backbone", "example-residual", "example-noise-map", "example-blur")


def documented_commands() -> list[list[str]]:
    """The ``$ …`` lines of docs/plugins.md's console block, in order."""
    block = DOCUMENT.read_text().split("```console\n")[1].split("```")[0]
    return [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]


def _section(report: str, heading: str) -> str:
    return report.split(f"## {heading}")[1].split("\n## ")[0]


def test_the_documented_walkthrough_puts_every_plugin_model_in_every_table_and_leaves_the_claims_alone(
    plugin_path, tmp_path
):
    """docs/plugins.md's commands as written (the install is what the fixture puts on the path);
    then every table of the report holds the plugin's models by role, and the paper's claims read
    from the results are the same with the plugin's rows as without them."""
    from cunet_bench.report import claims_of
    from cunet_bench.report.results import Results

    install, *commands = documented_commands()
    assert install == ["pip", "install", "-e", "examples/cunet-bench-example"]
    outputs = [bench(plugin_path, *command[1:], cwd=tmp_path).stdout for command in commands]
    assert all(name in outputs[0] for name in PLUGIN_MODELS) and "cunet-bench-example 0.1.0" in outputs[0]
    report = (tmp_path / "reports" / "REPORT.md").read_text()
    mine = "yours (cunet-bench-example 0.1.0)"
    networks = PLUGIN_MODELS[:3]
    for heading, models in (
        ("Parameters, compute and memory", networks),
        ("Inference speed", networks),
        ("Sample quality versus sampling steps", ("example-backbone",)),
        ("Denoising through the reverse process", PLUGIN_MODELS),
    ):
        section = _section(report, heading)
        assert mine in section and all(f"| {model} |" in section or f"`{model}`" in section for model in models)
    denoising = _section(report, "Denoising through the reverse process")
    assert "ssim example-backbone" in denoising.split("Table 3")[0]  # Table 2 holds every backbone
    assert all(f"(`{model}`" in denoising.split("Table 4 (every method")[1] for model in PLUGIN_MODELS)
    assert "| example-noise-map | 0 |" in denoising.split("Perception–distortion")[1]
    against = (tmp_path / "reports-vs-residual" / "REPORT.md").read_text()
    assert "ΔSSIM 3 vs example-residual" in against and "× example-residual" in against

    class WithoutThePlugin(Results):
        def runs(self, bench: str):
            frame = super().runs(bench)
            if "source" not in frame:
                return frame
            return frame[frame.source.isna() | (frame.source == "built-in")]

    assert claims_of(WithoutThePlugin(tmp_path / "results")) == claims_of(Results(tmp_path / "results"))
