"""bench report and bench all: verdict rules, every section from a small fixture of results,
determinism, the pipeline plan, and the users' CI workflow."""

import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cunet_bench import records
from cunet_bench.errors import UserError
from cunet_bench.report import build_report
from cunet_bench.report.readme import END_MARKER, START_MARKER, summary_table, update_readme
from cunet_bench.report.verdicts import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Interval, paired_mean_difference,
                                         ratio_of_medians, verdict_above, verdict_below, verdict_exact, verdict_within)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("interval, expected", [
    (Interval(0.5, 0.4, 0.6), REPRODUCED), (Interval(1.0, 0.9, 1.1), NOT_REPRODUCED),
    (Interval(0.75, 0.6, 0.9), INCONCLUSIVE)])
def test_verdict_needs_the_whole_interval_on_one_side(interval, expected):
    assert verdict_below(interval, 0.77) == expected
    flipped = Interval(-interval.estimate, -interval.high, -interval.low)
    assert verdict_above(flipped, -0.77) == expected


def test_comparable_and_exact_verdicts():
    assert verdict_within(Interval(1.0, 0.9, 1.1), 0.8, 1.25) == REPRODUCED
    assert verdict_within(Interval(1.5, 1.3, 1.7), 0.8, 1.25) == NOT_REPRODUCED
    assert verdict_within(Interval(1.2, 1.1, 1.3), 0.8, 1.25) == INCONCLUSIVE
    assert verdict_exact(0.25, 0.3) == REPRODUCED and verdict_exact(0.31, 0.3) == NOT_REPRODUCED


def test_bootstrap_intervals_cover_the_estimate_and_collapse_without_spread():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.1, 50), rng.normal(0.0, 0.1, 50)
    difference = paired_mean_difference(a, b)
    assert difference.low < difference.estimate < difference.high
    assert difference.estimate == pytest.approx(float((a - b).mean()))
    assert 0.9 < difference.low and difference.high < 1.1
    constant = paired_mean_difference(np.full(5, 2.0), np.full(5, 1.0))
    assert (constant.estimate, constant.low, constant.high) == (1.0, 1.0, 1.0)
    ratio = ratio_of_medians(np.array([1.0, 1.1, 0.9]), np.array([2.0, 2.2, 1.8]))
    assert ratio.estimate == pytest.approx(0.5) and ratio.low <= 0.5 <= ratio.high


def _write(bench, rows, out, command, **meta):
    records.write_run(bench, rows, {"bench": bench, "command": command, "seed": 0, "git_commit": "abc1234def",
                                    "device_name": "test CPU", "cpu_threads": 2, **meta}, out)


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    """A small, fully specified set of results: every section has what it needs."""
    out = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(1)
    efficiency = []
    for model, params, macs, mib in (("unet", 35_710_339, 7.205, 544.9), ("cunet-release", 8_811_875, 2.823, 131.5),
                                     ("cunet-5attn", 9_146_723, 2.894, 136.6), ("cunet-release-wo-a", 8_548_707, 2.806, 127.5),
                                     ("cunet-release-wo-r", 8_811_875, 2.7, 131.5), ("cunet-release-wo-a-r", 8_548_707, 2.6, 127.5)):
        tags = "table5" + {"unet": ";paper-unet", "cunet-release": ";paper-cunet"}.get(model, "")
        base = {"model": model, "paper_name": model.upper(), "tags": tags, "resolution": 64, "unit": "",
                "solver": "rk4/1" if "cunet" in model else None}
        efficiency += [{**base, "metric": "parameters", "value": params}, {**base, "metric": "gmacs_conv_linear", "value": macs},
                       {**base, "metric": "static_training_mib", "value": mib}]
        if model in ("unet", "cunet-release"):
            centre = 0.12 if model == "unet" else 0.06
            efficiency += [{**base, "metric": "latency_s", "batch": 1, "repeat": i, "value": centre + 0.001 * i}
                           for i in range(5)]
    _write("efficiency", efficiency, out, "bench efficiency --preset quick", preset="quick")
    fid = []
    for model, distances in (("unet", (9.0, 7.0)), ("cunet", (8.0, 7.1))):
        tags = "quality" + (";paper-unet" if model == "unet" else "")
        for steps, distance in zip((5, 10), distances):
            fid.append({"kind": "point", "model": model, "tags": tags, "steps": steps, "distance": distance, "distance_ci_low": distance - 0.5,
                        "distance_ci_high": distance + 0.5, "kid_mean": 0.1, "kid_std": 0.01, "seconds_per_sample": 0.01 * steps,
                        "throughput_ratio": 0.97, "samples": 128, "sampler": "ddim", "reference_count": 4500,
                        "features": "classifier-x", "distance_name": "FD-classifier", "kernel_name": "KD-classifier"})
        best = min((r for r in fid if r["model"] == model), key=lambda r: r["distance"])
        fid.append({**best, "kind": "best"})
    fid.append({"kind": "ratio", "model": "cunet", "versus": "unet", "ratio": 7.1 / 7.0, "ratio_ci_low": 0.95,
                "ratio_ci_high": 1.08, "distance_name": "FD-classifier"})
    _write("fid", fid, out, "bench fid --preset quick", preset="quick")
    denoise = [{"kind": "method", "method": method, "tags": tags} for method, tags in (
        ("unet", "paper-unet;quality"), ("cunet", "quality"), ("dncnn", "table4"))]
    for level in (50, 400):
        for method, target, ssim in (("unet", "x0", 0.9), ("cunet", "x0", 0.8), ("dncnn", "output", 0.7),
                                     ("noisy input", "input", 0.3)):
            values = np.clip(ssim - level / 4000 + rng.normal(0, 0.01, 8), 0, 1)
            steps = np.full(8, 40.0 if method == "unet" else 20.0)
            for metric, numbers in (("ssim", values), ("psnr", 20 + 10 * values)):
                denoise.append({"kind": "summary", "method": method, "level": level, "target": target, "metric": metric,
                                "mean": float(numbers.mean()), "std": float(numbers.std()), "images": 8,
                                "best_step_mean": 30.0, "time_to_best_s_mean": 1.0})
                denoise += [{"kind": "image", "method": method, "level": level, "target": target, "metric": metric,
                             "image": i, "mean": float(v), "best_step": float(steps[i]), "time_to_best_s": float(steps[i] / 10)}
                            for i, v in enumerate(numbers)]
            denoise.append({"kind": "summary", "method": method, "level": level, "target": target, "metric": "lpips",
                            "mean": None, "status": "weights not installed"})
            denoise.append({"kind": "perception", "method": method, "level": level, "target": target,
                            "metric": "FD-classifier", "mean": 1 - ssim, "kid_mean": 0.1, "ssim_final": ssim,
                            "mse_final": 0.01})
            if method in ("unet", "cunet"):
                denoise += [{"kind": "curve", "method": method, "level": level, "target": t, "metric": m, "step": s,
                             "mean": ssim * s / 10} for t in ("x0", "iterate") for m in ("ssim", "psnr") for s in range(1, 11)]
    denoise.append({"kind": "meta", "method": "metrics", "metric": "metric_seconds", "mean": 5.0, "total_seconds": 100.0,
                    "metric_fraction": 0.05})
    _write("denoise", denoise, out, "bench denoise --preset quick", preset="quick")
    _write("training", [{"model": m, "step": s, "loss": 1.0 / s} for m in ("unet", "cunet") for s in (1, 2, 3)]
           + [{"model": "unet", "step": 3, "images_per_s": 10.0, "seconds": 1.0, "psnr_noisy_db": 26.0,
               "psnr_model_db": 30.0}], out, "bench train --model unet --preset quick")
    return out


def test_report_has_every_section_figure_and_verdict(fixture_results, tmp_path):
    path = build_report(fixture_results, tmp_path / "reports")
    text = path.read_text()
    for anchor in ("efficiency", "speed", "fid", "denoising", "samples"):
        assert f'<a id="{anchor}"></a>' in text
    for figure in ("efficiency.png", "latency.png", "fid_steps.png", "denoise_ssim_curves.png", "denoise_psnr_curves.png",
                   "perception_distortion.png", "training.png"):
        assert (tmp_path / "reports" / "figures" / figure).stat().st_size > 1000, figure
        assert f"figures/{figure}" in text
    summary = {line.split("|")[1].strip(): line.split("|")[4].strip() for line in text.splitlines()
               if line.startswith("| [")}
    assert summary["[~4× fewer parameters](#efficiency)"] == "**reproduced**"
    assert summary["[30–80% faster inference](#speed)"] == "**reproduced**"  # 0.5× with a tight interval
    assert summary["[comparable FID (FD-classifier)](#fid)"] == "**reproduced**"  # [0.95, 1.08]
    assert summary["[best FID in fewer sampling steps](#fid)"] == "**no significant difference**"  # 10 vs 10
    assert summary["[worse SSIM at high noise](#denoising)"] == "**reproduced**"  # cU-Net 0.1 lower
    assert summary["[best result in fewer reverse steps](#denoising)"] == "**reproduced**"  # 20 vs 40
    assert summary["[better perceptual quality (LPIPS)](#denoising)"] == "**not measured**"
    assert summary["[beats DnCNN, ConvAE and BM3D at low noise](#denoising)"] == "**reproduced**"  # 0.8 vs 0.7
    assert "FD-classifier is not FID" in text and "weights not installed" in text
    assert "`bench efficiency --preset quick`; commit abc1234def" in text


def test_the_report_never_imports_torch(fixture_results, tmp_path):
    script = ("import sys; from pathlib import Path; from cunet_bench.report import build_report; "
              f"build_report(Path({str(fixture_results)!r}), Path({str(tmp_path / 'r')!r})); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_report_is_deterministic(fixture_results, tmp_path):
    def digest(folder):
        build_report(fixture_results, folder)
        return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
                if p.is_file()}

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_missing_results_name_the_command(tmp_path):
    (tmp_path / "results").mkdir()
    text = build_report(tmp_path / "results", tmp_path / "reports").read_text()
    assert text.count("**Not measured yet**") == 6  # five sections, samples and training apart
    for command in ("bench efficiency --preset paper", "bench fid --models unet,cunet", "bench denoise --noise-steps"):
        assert command in text
    missing = subprocess.run([sys.executable, "-m", "cunet_bench.cli", "report", "--results", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_bench_all_resumes_by_configuration_machine_and_inputs(tmp_path, monkeypatch):
    from dataclasses import replace

    from cunet_bench import machine
    from cunet_bench.pipeline import is_done, plan
    from cunet_bench.presets import get_preset
    from cunet_bench.runner import done_key

    preset = get_preset("smoke")
    results = tmp_path / "r"
    steps = plan(preset, results, tmp_path / "c", 0, "cpu")
    assert [s.label for s in steps] == ["efficiency", *(f"train {m} (seed 0)" for m in (
        "unet", "cunet-release", "cunet", "dncnn", "conv-ae")), "sample unet", "sample cunet-release", "sample cunet",
        "denoise", "fid"]
    efficiency, denoise = steps[0], steps[-2]
    reference = plan(get_preset("reference"), results, tmp_path / "c", 0, "cpu")
    assert sum(s.label.startswith("train") for s in reference) == 5 * 3
    assert reference[0].config == efficiency_of_quick(results, tmp_path)
    assert denoise.config.noise_levels == preset.denoise_noise_steps and denoise.config.num_images == 4
    assert not is_done(efficiency, results)
    records.write_run("efficiency", [{"x": 1}], {"done_key": done_key(efficiency.benchmark, efficiency.config),
                                                 "complete": True}, results)
    assert is_done(efficiency, results)
    changed_default = plan(replace(preset, repeats=3), results, tmp_path / "c", 0, "cpu")
    assert not is_done(changed_default[0], results)
    assert [is_done(a, results) == is_done(b, results) for a, b in zip(steps[1:], changed_default[1:])]
    records.write_run("denoise", [{"x": 1}], {"done_key": done_key(denoise.benchmark, denoise.config),
                                              "complete": False}, results)
    assert not is_done(denoise, results)
    monkeypatch.setattr(machine, "host_id", lambda: "another-host")
    assert not is_done(efficiency, results)


def efficiency_of_quick(results, tmp_path):
    """The reference preset's speed runs pool with quick's: the same resolved configuration."""
    from cunet_bench.pipeline import plan
    from cunet_bench.presets import get_preset

    return plan(get_preset("quick"), results, tmp_path / "c", 0, "cpu")[0].config


def test_a_retrained_checkpoint_changes_the_done_key(tmp_path):
    from cunet_bench.pipeline import plan
    from cunet_bench.presets import get_preset
    from cunet_bench.runner import done_key

    steps = plan(get_preset("smoke"), tmp_path / "r", tmp_path / "c", 0, "cpu")
    fid = steps[-1]
    before = done_key(fid.benchmark, fid.config)
    (tmp_path / "c").mkdir()
    fid.config.checkpoint("unet", 0).write_bytes(b"weights")
    assert done_key(fid.benchmark, fid.config) != before


def test_bench_all_smoke_end_to_end(tmp_path):
    command = [sys.executable, "-m", "cunet_bench.cli", "all", "--preset", "smoke", "--out", str(tmp_path / "results"),
               "--checkpoints", str(tmp_path / "checkpoints"), "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "reports" / "REPORT.md").read_text()
    assert "## Summary of the paper's claims" in text and "FD-classifier" in text
    for bench in ("efficiency", "training", "sample", "denoise", "fid"):
        assert list((tmp_path / "results" / bench).glob("*.csv")), bench
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and again.stderr.count("already done on this machine, skipped") == 11


def test_the_users_ci_workflow_parses_and_calls_existing_commands():
    import typer

    from cunet_bench.cli import app

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "bench-report.yml").read_text())
    steps = workflow["jobs"]["report"]["steps"]
    assert any(step.get("uses", "").startswith("actions/upload-artifact") and "reports/" in step["with"]["path"]
               for step in steps)
    commands = typer.main.get_command(app).commands
    calls = [shlex.split(line) for step in steps for line in step.get("run", "").splitlines()
             if line.strip().startswith("bench ")]
    assert {call[1] for call in calls} >= {"all", "efficiency"}
    for call in calls:
        assert call[1] in commands, call
        options = {p for param in commands[call[1]].params for p in param.opts}
        assert {word for word in call[2:] if word.startswith("--")} <= options, call


def test_readme_summary_is_copied_from_the_report_between_markers(fixture_results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\nintro\n\n{START_MARKER}\nstale table\n{END_MARKER}\n\nafter\n")
    done = subprocess.run([sys.executable, "-m", "cunet_bench.cli", "report", "--results", str(fixture_results),
                           "--out", str(tmp_path / "reports"), "--readme", str(readme)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report_table = summary_table((tmp_path / "reports" / "REPORT.md").read_text())
    text = readme.read_text()
    copied = text.split(START_MARKER)[1].split(END_MARKER)[0].strip().splitlines()
    assert len(copied) == len(report_table) > 2 and "stale table" not in text
    assert copied == [line.replace("](#", "](reports/REPORT.md#") for line in report_table]
    assert text.startswith("# project\n\nintro\n\n") and text.endswith("\n\nafter\n")
    update_readme(readme, tmp_path / "reports" / "REPORT.md")
    assert readme.read_text() == text


def test_readme_without_markers_is_refused(fixture_results, tmp_path):
    report = build_report(fixture_results, tmp_path / "reports")
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n{END_MARKER}\n{START_MARKER}\n")
    with pytest.raises(UserError, match="needs one"):
        update_readme(readme, report)
    with pytest.raises(UserError, match="does not exist"):
        update_readme(tmp_path / "missing.md", report)
