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

ROOT = Path(__file__).resolve().parents[1]


def _write(bench, rows, out, command, **meta):
    return records.write_run(bench, rows, {"bench": bench, "command": command, "seed": 0, "git_commit": "abc1234def",
                                           "device_name": "test CPU", "cpu_threads": 2, "complete": True,
                                           "machine_fingerprint": "f00dfeed0001",
                                           "machine": {"cpu_model": "test CPU", "cpu_id": "family 1"}, **meta}, out)


TABLE5 = (("unet", "U-Net", 35_710_339, 7.205, 544.9, 900.0), ("cunet-release", "cU-Net", 8_811_875, 2.823, 131.5, 460.0),
          ("cunet-5attn", "cU-Net (5 attention)", 9_146_723, 2.894, 136.6, None),
          ("cunet-release-wo-a", "cU-Net wo/A", 8_548_707, 2.806, 127.5, None))
TAGS = {"unet": "efficiency;paper-unet;quality;table5", "cunet-release": "efficiency;paper-cunet;quality;table5",
        "cunet": "quality", "dncnn": "table4", "conv-ae": "table4"}


def _efficiency(rng, ratio_at):
    """One efficiency run: Table 5 counts, latencies interleaved over rounds, CPU time, profile."""
    rows = []
    for model, name, params, macs, mib, peak in TABLE5:
        base = {"model": model, "paper_name": name, "tags": TAGS.get(model, "efficiency;table5"), "variant": "eager",
                "resolution": 64, "unit": "", "solver": "rk4/1" if "cunet" in model else None}
        rows += [{**base, "metric": "parameters", "value": params}, {**base, "metric": "gmacs_conv_linear", "value": macs},
                 {**base, "metric": "static_training_mib", "value": mib}]
        if peak:
            rows.append({**base, "metric": "peak_train_mib", "value": peak, "batch": 1})
    for batch, ratio in ratio_at.items():
        for round_index in range(8):
            unet = 0.1 * batch * (1 + 0.02 * rng.normal())
            for model, seconds in (("unet", unet), ("cunet-release", unet * ratio * (1 + 0.01 * rng.normal()))):
                common = {"model": model, "paper_name": "U-Net" if model == "unet" else "cU-Net", "tags": TAGS[model],
                          "resolution": 64, "batch": batch, "round": round_index, "unit": "s", "contended": False}
                rows.append({**common, "variant": "eager", "metric": "latency_s", "value": seconds,
                             "measurement": f"forward b={batch} wall"})
                rows.append({**common, "variant": "eager", "metric": "cpu_time_1thread_s", "value": seconds * 1.5,
                             "measurement": f"forward b={batch} cpu 1 thread"})
                rows.append({**common, "variant": "compiled", "metric": "latency_s", "value": seconds * 0.8,
                             "measurement": f"forward b={batch} wall"})
        for model in ("unet", "cunet-release"):
            for group, share in (("convolution & linear", 0.7), ("normalisation", 0.1), ("solver bookkeeping", 0.2)):
                rows.append({"model": model, "paper_name": model, "tags": TAGS[model], "variant": "eager",
                             "resolution": 64, "batch": batch, "metric": "profile_s", "group": group,
                             "value": share * 0.1, "share": share, "unit": "s"})
            rows.append({"model": model, "tags": TAGS[model], "variant": "compiled", "resolution": 64, "batch": batch,
                         "metric": "first_call_s", "value": 40.0, "unit": "s"})
    return rows


def _fid(rng):
    rows = []
    for model in ("unet", "cunet-release", "cunet"):
        for seed in (0, 1):
            points = []
            for steps, distance in zip((5, 10, 30), (9.0, 7.0, 8.0) if model == "unet" else (8.0, 7.1, 7.5)):
                points.append({"kind": "point", "model": model, "tags": TAGS[model], "train_seed": seed,
                               "parameters": 1000, "steps": steps, "distance": distance + 0.1 * seed,
                               "distance_ci_low": distance - 0.5, "distance_ci_high": distance + 0.5,
                               "bootstrap_bias": 0.2, "bootstrap_replicates": 200, "kid_mean": -0.001, "kid_std": 0.01,
                               "confident_fraction": 0.85, "confident_classes": 10, "seconds_per_sample": 0.01 * steps,
                               "samples": 128, "sampler": "ddim", "reference_count": 4500, "features": "classifier-x",
                               "distance_name": "FD-classifier", "kernel_name": "KD-classifier"})
            best = min(points, key=lambda r: r["distance"])
            rows += points + [{**best, "kind": "best"}]
            rows += [{"kind": "best_replicate", "model": model, "train_seed": seed, "steps": best["steps"],
                      "replicate": i, "distance": best["distance"] + rng.normal(0.2, 0.2)} for i in range(200)]
        rows += [{"kind": "sample_time", "model": model, "tags": TAGS[model], "steps": 10, "round": i,
                  "seconds_per_sample": (0.5 if model == "unet" else 0.2) * (1 + 0.01 * i), "contended": False}
                 for i in range(6)]
    return rows


def _denoise(rng, images=32):
    methods = (("unet", "x0", 0.9), ("cunet-release", "x0", 0.8), ("cunet", "x0", 0.82), ("dncnn", "output", 0.7),
               ("conv-ae", "output", 0.2))
    rows = [{"kind": "method", "method": m, "tags": TAGS[m], "paper_name": m, "parameters": 1000, "train_seed": seed}
            for m, _, _ in methods for seed in (0, 1)]
    for level in (50, 400):
        rows.append({"kind": "input", "method": "noisy input", "level": level, "target": "input", "metric": "sigma01",
                     "mean": level / 1000, "schedule": "sigmoid", "sigma01_ho_linear": level / 800, "images": images})
        noisy = rng.uniform(20, 21, images)
        rows += [{"kind": "image", "method": "noisy input", "level": level, "target": "input", "metric": "psnr",
                  "image": i, "mean": float(v)} for i, v in enumerate(noisy)]
        rows.append({"kind": "summary", "method": "noisy input", "level": level, "target": "input", "metric": "psnr",
                     "mean": float(noisy.mean()), "images": images})
        rows += [{"kind": "image", "method": "noisy input", "level": level, "target": "input", "metric": "ssim",
                  "image": i, "mean": 0.5} for i in range(images)]
        for method, target, ssim in methods:
            targets = ("iterate", "x0") if target == "x0" else ("output",)
            for seed in (0, 1):
                values = np.clip(ssim - level / 4000 + rng.normal(0, 0.01, images), 0, 1)
                steps = np.full(images, 40.0 if method == "unet" else 20.0)
                for tgt in targets:
                    for metric, numbers in (("ssim", values), ("psnr", 20 + 10 * values if method != "conv-ae"
                                                                else np.full(images, 11.0)),
                                            ("feature_distance", 1 - values)):
                        rows.append({"kind": "summary", "method": method, "level": level, "target": tgt,
                                     "metric": metric, "mean": float(numbers.mean()), "images": images, "train_seed": seed})
                        rows += [{"kind": "image", "method": method, "level": level, "target": tgt, "metric": metric,
                                  "image": i, "mean": float(v), "best_step": float(steps[i]),
                                  "time_to_best_s": float(steps[i] / 10), "train_seed": seed}
                                 for i, v in enumerate(numbers)]
                    rows.append({"kind": "summary", "method": method, "level": level, "target": tgt, "metric": "lpips",
                                 "mean": None, "status": "weights not installed", "train_seed": seed})
                rows.append({"kind": "perception", "method": method, "level": level, "target": targets[0],
                             "metric": "FD-classifier", "mean": 50.0 if method == "conv-ae" else 1 - ssim,
                             "kid_mean": 0.1, "ssim_final": ssim, "mse_final": 0.01, "train_seed": seed})
                if target == "x0":
                    rows += [{"kind": "curve", "method": method, "level": level, "target": t, "metric": m, "step": s,
                              "mean": ssim * s / 10, "train_seed": seed} for t in ("x0", "iterate")
                             for m in ("ssim", "psnr", "feature_distance") for s in range(1, 11)]
    return rows


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    """A small, fully specified set of results: every section has what it needs — three quick
    efficiency runs of one configuration, two training seeds, the paper's pair and the variant."""
    out = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(1)
    for ratio_at in ({1: 0.5, 8: 0.74}, {1: 0.52, 8: 0.80}, {1: 0.49, 8: 0.78}):
        _write("efficiency", _efficiency(rng, ratio_at), out, "bench efficiency --preset quick", preset="quick",
               config_hash="c0ffee")
    _write("fid", _fid(rng), out, "bench fid --preset quick", preset="quick")
    _write("denoise", _denoise(rng), out, "bench denoise --preset quick", preset="quick")
    for model in ("unet", "cunet-release", "cunet", "dncnn"):
        for seed in (0, 1):
            _write("training", [{"model": model, "step": s, "loss": 1.0 / s, "checkpoint": f"{model}-{seed}"}
                                for s in (100, 200, 300)]
                   + [{"model": model, "step": 300, "images_per_s": 10.0, "seconds": 1.0, "psnr_noisy_db": 26.0,
                       "psnr_model_db": 30.0, "checkpoint": f"{model}-{seed}"}], out,
                   f"bench train --model {model}", config={"training": {"model": model, "seed": seed, "steps": 300,
                                                                        "data": "mnist5k", "resolution": 32}})
    return out


def _summary(text):
    return {line.split("|")[1].strip(): line.split("|")[4].strip().strip("*") for line in text.splitlines()
            if line.startswith("| [")}


def test_report_has_every_section_figure_and_verdict(fixture_results, tmp_path):
    path = build_report(fixture_results, tmp_path / "reports")
    text = path.read_text()
    for anchor in ("setup", "efficiency", "speed", "fid", "denoising", "samples", "deviations", "conclusion"):
        assert f'<a id="{anchor}"></a>' in text, anchor
    for figure in ("efficiency.png", "latency.png", "fid_steps.png", "denoise_ssim_curves.png", "denoise_psnr_curves.png",
                   "denoise_proxy_curves.png", "perception_distortion.png", "training.png"):
        assert (tmp_path / "reports" / "figures" / figure).stat().st_size > 1000, figure
        assert f"figures/{figure}" in text
    summary = _summary(text)
    assert text.index("## How to read the verdicts") < text.index("## Summary of the paper's claims")
    assert summary["[~4× fewer parameters](#efficiency)"] == "matches by construction"
    assert summary["[~30% of the FLOPs (abstract)](#efficiency)"] == "not reproduced"  # 0.39, Table 5 says 0.40
    assert summary["[Table 5: 2.90 vs 7.21 GFLOPs (0.40×)](#efficiency)"] == "matches by construction"
    assert summary["[less memory: measured peak training memory](#efficiency)"] == "reproduced"  # 460 vs 900 MiB
    assert summary["[30–80% faster inference](#speed)"] == "reproduced"  # 0.2 vs 0.5 s per sample at the best steps
    assert summary["[faster per network evaluation, batch 1](#speed)"] == "reproduced"  # three runs at ~0.5
    assert summary["[faster per network evaluation, batch 8](#speed)"] == "unstable"  # runs at 0.74, 0.80, 0.78
    flavour = " — cU-Net as released"
    assert summary[f"[comparable FID (FD-classifier){flavour}](#fid)"] == "reproduced"
    assert summary[f"[best FID in fewer sampling steps{flavour}](#fid)"] == "inconclusive"  # 10 vs 10 steps
    assert summary[f"[worse SSIM at high noise{flavour}](#denoising)"] == "reproduced"  # 0.8 vs 0.9
    assert summary[f"[best result in fewer reverse steps, consistently{flavour}](#denoising)"] == "reproduced"
    assert summary[f"[better perceptual quality (LPIPS){flavour}](#denoising)"] == "not measured"
    assert summary[f"[better perceptual quality (proxy: classifier-feature distance){flavour}](#denoising)"] == (
        "not reproduced")  # the proxy is 1 − SSIM here, higher for the cU-Net
    assert summary[f"[beats DnCNN, ConvAE and BM3D at low noise{flavour}](#denoising)"] == "reproduced"  # 0.8 vs 0.7
    assert " — cU-Net as the paper describes it (variant)" in text
    assert "failed: does not beat the noisy input on SSIM" in text  # the ConvAE at 0.19 against 0.5
    assert "FD-classifier is not FID" in text and "LPIPS is not measured" in text
    assert "machine `f00dfeed0001`" in text and "0.74, 0.8, 0.78" not in text
    assert "`bench efficiency --preset quick`; commit abc1234def" in text
    assert "## Conclusion" in text and "*30–80% faster inference*: the evidence supports it" in text


def test_smoke_sized_runs_give_no_verdict(tmp_path):
    out = tmp_path / "results"
    rng = np.random.default_rng(2)
    _write("denoise", _denoise(rng, images=4), out, "bench denoise --preset smoke", preset="smoke")
    _write("fid", [{**row, "samples": 64} if "samples" in row else row for row in _fid(rng)], out, "bench fid")
    text = build_report(out, tmp_path / "reports").read_text()
    verdicts = {claim: verdict for claim, verdict in _summary(text).items() if "#denoising" in claim or "#fid" in claim}
    measured = [verdict for verdict in verdicts.values() if verdict != "not measured"]
    assert measured and set(measured) == {"pipeline check"}


def test_table1_speed_at_a_best_step_on_the_grids_edge_is_at_the_edge(tmp_path):
    out = tmp_path / "results"
    rows = [{**row, "steps": 30} if row["kind"] == "sample_time" else row for row in _fid(np.random.default_rng(3))]
    _write("fid", rows, out, "bench fid --preset quick", preset="quick")
    text = build_report(out, tmp_path / "reports").read_text()
    assert _summary(text)["[30–80% faster inference](#speed)"] == "at the edge of the grid"  # 30 of (5, 10, 30)
    assert "step grid [5, 10, 30]" in text


def test_an_outlier_cannot_squash_the_perception_distortion_plot(tmp_path):
    import pandas as pd

    from cunet_bench.report.figures import perception_distortion

    points = pd.DataFrame({"method": ["a", "b", "c"], "level": [50, 50, 50], "ssim_final": [0.9, 0.8, 0.2],
                           "mean": [0.5, 0.6, 5000.0]})
    path = perception_distortion(points, "mean", "perception", tmp_path / "p.png")
    import matplotlib.image

    assert matplotlib.image.imread(path).shape[0] > 100  # drawn; the log axis keeps 0.5 and 0.6 apart
    figure_source = Path(perception_distortion.__code__.co_filename).read_text()
    assert 'set_yscale("log")' in figure_source


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
    assert text.count("**Not measured yet**") == 6  # efficiency, speed, FID, denoising, sample grids, training
    for command in ("bench efficiency --preset quick", "bench fid --preset quick", "bench denoise --noise-steps"):
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
    changed_default = plan(replace(preset, denoise_images=5), results, tmp_path / "c", 0, "cpu")
    assert [done_key(a.benchmark, a.config) == done_key(b.benchmark, b.config)
            for a, b in zip(steps, changed_default)] == [step.label != "denoise" for step in steps]
    assert is_done(changed_default[0], results)
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


def test_the_paper_preset_runs_end_to_end_at_64px_with_tiny_sizes(tmp_path):
    """The paper preset is a GPU job; its path (64×64 data, gradient accumulation, every benchmark)
    runs here on the CPU with every size overridden to tiny values."""
    from dataclasses import replace

    from cunet_bench.pipeline import plan, run_steps
    from cunet_bench.presets import SMALL_TRAIN_OPTIONS, get_preset

    paper = get_preset("paper")
    tiny = replace(paper, efficiency_tags=("paper-unet", "paper-cunet"), batches=(1,), sampling_steps=(1,), repeats=1,
                   speed_budget_s=0.1, speed_variants=(), model_options={"unet": {"dim": 8}, "cunet-release": {"nf": 2}},
                   train_steps=2, train_batch=2, checkpoint_every=1, train_options=SMALL_TRAIN_OPTIONS,
                   denoise_noise_steps=(2,), denoise_images=2, fid_steps=(1,), fid_samples=64, fid_batch=64,
                   classifier_steps=2, sample_steps=1, sample_count=2)
    assert (tiny.resolution, tiny.train_resolution, tiny.grad_accumulation) == (64, 64, 2)
    steps = plan(tiny, tmp_path / "results", tmp_path / "checkpoints", 0, "cpu")
    summary = run_steps(steps, tmp_path / "results", "paper")
    assert [row["status"] for row in summary] == ["ran"] * len(steps)
    text = build_report(tmp_path / "results", tmp_path / "reports").read_text()
    assert "pipeline check" in text
    from cunet_bench.checkpoints import read_checkpoint

    trained = read_checkpoint(next((tmp_path / "checkpoints").glob("unet-mnist5k-paper-seed0.safetensors")))
    assert trained.config["resolution"] == 64 and trained.config["grad_accumulation"] == 2 and trained.step == 2
