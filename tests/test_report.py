"""bench report: every section from a fixture of results whose verdicts are known by construction,
the seed-level rule recomputed by hand from the raw rows, pipeline checks, determinism, the README
copy, the run beside the reference, and bench compare."""

import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cunet_bench.errors import UserError
from cunet_bench.report import build_report
from cunet_bench.report.readme import END_MARKER, START_MARKER, summary_table, update_readme
from scipy import stats

from report_fixture import SEEDS, denoise, efficiency, fid, write, write_fixture


@pytest.fixture(scope="module")
def fixture_results(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def fixture_report(fixture_results, tmp_path_factory):
    """The report of the fixture, built once for the tests that only read it."""
    return build_report(fixture_results, tmp_path_factory.mktemp("reports"))


RELEASED, VARIANT = " — cU-Net as released", " — cU-Net as the paper describes it (variant)"


def _summary(text):
    """Claim → verdict, from every claim table of the report: one row per claim, the described
    variant's verdict in its own column (keyed here with the cU-Net it judges)."""
    verdicts = {}
    for line in text.splitlines():
        if not line.startswith("| ["):
            continue
        cells = [cell.strip() for cell in line.split("|")]
        verdicts[cells[1]] = cells[4].split("**")[1]
        if cells[6] != "—":
            title, anchor = cells[1][1:].split("](")
            verdicts[f"[{title}{RELEASED}]({anchor}"] = verdicts[cells[1]]
            verdicts[f"[{title}{VARIANT}]({anchor}"] = cells[6].split("**")[1]
    return verdicts


def _row(text, title):
    """The claim's first row in full: in the table of the section that reads it (the Summary's cells are short)."""
    return next(line for line in text.splitlines() if line.startswith(f"| {title}"))


EXPECTED = {
    "[~4× fewer parameters](#efficiency)": "matches by construction",
    "[~30% of the FLOPs (abstract)](#efficiency)": "not reproduced",  # 0.39; Table 5 says 0.40
    "[Table 5: the cU-Net's GFLOPs](#efficiency)": "matches by construction",
    "[less memory (Table 5's 'MB')](#efficiency)": "matches by construction",
    "[less memory: measured peak training memory](#efficiency)": "reproduced",  # 700 vs 900 MiB at batch 8
    "[30–80% faster inference](#speed)": "reproduced",  # 0.2 vs 0.5 s per sample at the best steps
    "[faster per network evaluation, batch 1](#speed)": "reproduced",  # three runs at ~0.5
    "[faster per network evaluation, batch 8](#speed)": "unstable",  # runs at 0.68, 0.80, 0.78 against 0.70
    f"[comparable FID (FD-classifier){RELEASED}](#fid)": "reproduced",
    f"[best FID in fewer sampling steps{RELEASED}](#fid)": "inconclusive",  # 10 vs 10 steps
    "[worse samples without attention or residual connections (Appendix C)](#fid)": "not measured",
    f"[better perceptual quality (LPIPS) at every noise level{RELEASED}](#denoising)": "not measured",
    # the proxy is 1 − SSIM here, higher for the cU-Net
    f"[better perceptual quality (proxy: classifier-feature distance) at every noise level{RELEASED}]"
    "(#denoising)": "not reproduced",
    f"[better SSIM at low noise{RELEASED}](#denoising)": "not reproduced",
    f"[worse SSIM at high noise{RELEASED}](#denoising)": "reproduced",  # 0.8 vs 0.9
    f"[the cU-Net trades distortion for perception (§4.2, Figures 10–11){RELEASED}](#denoising)": "not reproduced",
    f"[best result in fewer reverse steps, consistently{RELEASED}](#denoising)": "reproduced",  # 20 vs 40
    f"[less time to the best result{RELEASED}](#denoising)": "reproduced",
    f"[no elbow: the cU-Net's perceptual score does not deteriorate after its best (Figure 11; proxy){RELEASED}]"
    "(#denoising)": "reproduced",
    f"[outperforms the others at low noise in SSIM and perceptually (Table 4){RELEASED}](#denoising)": "not reproduced",
    # 0.9 and 0.8 against DnCNN's 0.7; the ConvAE fails the noisy-input check
    f"[diffusion U-Nets generalise better across noise than the learned baselines (§4.2){RELEASED}]"
    "(#denoising)": "reproduced",
}


def test_report_has_every_section_figure_and_verdict(fixture_report):
    text = fixture_report.read_text()
    for anchor in ("setup", "efficiency", "speed", "fid", "denoising", "samples", "deviations", "conclusion"):
        assert f'<a id="{anchor}"></a>' in text, anchor
    for figure in (
        "efficiency.png",
        "latency.png",
        "fid_steps.png",
        "denoise_ssim_curves.png",
        "denoise_psnr_curves.png",
        "denoise_proxy_curves.png",
        "perception_distortion.png",
        "training.png",
    ):
        assert (fixture_report.parent / "figures" / figure).stat().st_size > 1000, figure
        assert f"figures/{figure}" in text
    assert all(line.endswith("  ") for line in text.splitlines() if line.startswith("![")), "every figure has a caption"
    summary = _summary(text)
    for claim, verdict in EXPECTED.items():
        assert summary[claim] == verdict, claim
    assert summary[f"[comparable FID (FD-classifier){VARIANT}](#fid)"] == "reproduced"
    assert text.index("## How to read the verdicts") < text.index("## Summary of the paper's claims")
    assert (
        text.index("## Summary of the paper's claims")
        < text.index("### What the paper concedes")
        < text.index("### Our own measurements (not claims of the paper)")
    )
    assert "failed: does not beat the noisy input on SSIM" in text  # the ConvAE at 0.2 against 0.5
    assert "FD-classifier is not FID" in text and "LPIPS is not measured" in text
    assert "machine `f00dfeed0001`" in text and "`bench efficiency --preset quick`; commit abc1234def" in text
    conclusion = text.split("## Conclusion")[1]
    assert "claims tested here (each counted once, by the released cU-Net's verdict): 3 hold by construction" in (
        conclusion
    )
    assert "**Hold by construction** (3) — exact counts" in conclusion and "**Fail** (" in conclusion
    assert "**The paper contradicts itself** (1)" in conclusion
    assert "- [~30% of the FLOPs (abstract)](#efficiency) — not reproduced" in conclusion
    assert all(line.startswith("- [") for line in conclusion.splitlines() if line.startswith("- ") and "`" not in line)
    assert "'1.3× the speed' reading" in text and "aim ≥ 86%, 90% of real test images' 95%" in text
    assert "Its cU-Net row (2.9 G, 137.9 MB) is closest to `cunet-5attn` (cU-Net (5 attention))" in text


def test_the_claims_follow_the_papers_order_and_concessions_are_apart(fixture_report):
    from cunet_bench.report.claims import statements

    text = fixture_report.read_text()
    main = text.split("## Summary of the paper's claims")[1].split("### What the paper concedes")[0]
    titles = [line.split("](#")[0][3:] for line in main.splitlines() if line.startswith("| [")]
    order = {statement.title: index for index, statement in enumerate(statements().values())}
    positions = [next(order[title] for title in order if row.startswith(title)) for row in titles]
    assert positions == sorted(positions) and "worse SSIM at high noise" not in main


def test_the_seed_level_interval_of_the_report_recomputes_from_the_raw_rows(fixture_results, fixture_report):
    """ΔSSIM at the highest level (cU-Net as released − U-Net): the t-interval on the seed means
    plus the paired variation over images with the fewest df, by hand from the image rows."""
    from cunet_bench.records import runs

    text = fixture_report.read_text()
    rows = runs.load_runs("denoise", fixture_results)
    images = rows[
        (rows.kind == "image") & (rows.noise_step == 400) & (rows.metric == "ssim") & (rows.target == "iterate")
    ]

    def per_seed(method):
        return [
            images[(images.method == method) & (images.train_seed == s)].sort_values("image")["mean"].to_numpy()
            for s in SEEDS
        ]

    a, b = per_seed("cunet-release"), per_seed("unet")
    means_a, means_b = np.array([x.mean() for x in a]), np.array([x.mean() for x in b])
    per_image = np.mean(a, axis=0) - np.mean(b, axis=0)
    parts = [
        (means_a.var(ddof=1) / 2, 1),
        (means_b.var(ddof=1) / 2, 1),
        (per_image.var(ddof=1) / len(per_image), len(per_image) - 1),
    ]
    error = math.sqrt(sum(v for v, _ in parts))
    half = stats.t.ppf(0.975, min(d for v, d in parts if v > 0)) * error
    estimate = means_a.mean() - means_b.mean()
    expected = f"ΔSSIM {estimate:.3g} [{estimate - half:.3g}, {estimate + half:.3g}] at step 400"
    assert expected in text


def test_undertrained_models_get_no_quality_verdict(tmp_path):
    rng = np.random.default_rng(4)
    rows = [dict(row, confident_fraction=0.46) if row["kind"] in ("point", "best") else row for row in fid(rng)]
    write("fid", rows, tmp_path / "r", "bench fid --preset quick", preset="quick")
    write("denoise", denoise(rng), tmp_path / "r", "bench denoise --preset quick", preset="quick")
    text = build_report(tmp_path / "r", tmp_path / "reports").read_text()
    quality = {claim: verdict for claim, verdict in _summary(text).items() if "#denoising" in claim or "#fid" in claim}
    gated = [claim for claim in quality if "less time" not in claim and "not measured" != quality[claim]]
    assert gated and all(quality[claim] == "inconclusive" for claim in gated)
    curves = text.split("## Learning curves")[1]
    assert "recognisable at each model's best step count: " in curves and "aim ≥ 86%" in curves
    assert "U-Net 46%" in curves and "cU-Net 46%" in curves
    assert "past the aim: none" in curves and "undertrained ([§ Learning curves](#learning-curves))" in text


def test_smoke_sized_runs_give_no_verdict_and_the_report_says_so_first(tmp_path, fixture_results):
    out = tmp_path / "results"
    rng = np.random.default_rng(2)
    write("denoise", denoise(rng, images=4), out, "bench denoise --preset smoke", preset="smoke")
    write(
        "fid",
        [{**row, "samples": 64} if "samples" in row else row for row in fid(rng)],
        out,
        "bench fid",
        preset="smoke",
    )
    text = build_report(out, tmp_path / "reports").read_text()
    assert set(_summary(text).values()) == {"pipeline check"}
    assert "> **Pipeline check: the smoke preset's sizes are too small for any verdict.**" in text
    assert "Pipeline check: the smoke preset" not in build_report(fixture_results, tmp_path / "full").read_text()


def test_table1_speed_at_a_best_step_on_the_grids_edge_is_at_the_edge(tmp_path):
    out = tmp_path / "results"
    rows = [
        {**row, "sampling_steps": 30} if row["kind"] == "sample_time" else row for row in fid(np.random.default_rng(3))
    ]
    write("fid", rows, out, "bench fid --preset quick", preset="quick")
    text = build_report(out, tmp_path / "reports").read_text()
    assert _summary(text)["[30–80% faster inference](#speed)"] == "at the edge of the grid"  # 30 of (5, 10, 30)
    assert "step grid [5, 10, 30]" in text


def test_runs_that_each_time_one_model_of_the_pair_give_no_ratio(tmp_path):
    """`bench fid --models unet` and `--models cunet-release` run apart (another configuration
    each, the cU-Net's the more numerous): a time ratio needs both models in one run."""
    out, rng = tmp_path / "results", np.random.default_rng(8)
    fid_rows, efficiency_rows = fid(rng), efficiency(rng, {1: 0.6})
    for model in ("unet", "cunet-release", "cunet-release"):
        write(
            "fid",
            [row for row in fid_rows if row.get("model") in (None, model)],
            out,
            f"bench fid --models {model}",
            preset="quick",
            config_hash=model,
        )
        write(
            "efficiency",
            [row for row in efficiency_rows if row["kind"] == "count" or row["model"] == model],
            out,
            f"bench efficiency --models {model}",
            preset="quick",
            config_hash=model,
        )
    summary = _summary(build_report(out, tmp_path / "reports").read_text())
    assert summary["[30–80% faster inference](#speed)"] == "not measured"
    assert summary["[faster per network evaluation](#speed)"] == "not measured"


def test_a_time_from_a_busy_machine_is_not_measured(tmp_path):
    rng = np.random.default_rng(5)
    rows = [{**row, "contended": True} if row["kind"] == "chain" else row for row in denoise(rng)]
    write("denoise", rows, tmp_path / "r", "bench denoise --preset quick", preset="quick")
    write("fid", fid(rng), tmp_path / "r", "bench fid --preset quick", preset="quick")
    text = build_report(tmp_path / "r", tmp_path / "reports").read_text()
    assert "**not measured** (busy machine)" in _row(text, "less time to the best result")


def test_a_best_at_the_chains_end_is_the_grids_edge_and_the_time_row_says_per_step(tmp_path):
    rng = np.random.default_rng(6)
    rows = [
        {**row, "best_step": float(row["noise_step"])} if row["kind"] == "image" and "best_step" in row else row
        for row in denoise(rng)
    ]
    write("denoise", rows, tmp_path / "r", "bench denoise --preset quick", preset="quick")
    write("fid", fid(rng), tmp_path / "r", "bench fid --preset quick", preset="quick")
    text = build_report(tmp_path / "r", tmp_path / "reports").read_text()
    summary = _summary(text)
    assert (
        summary[f"[best result in fewer reverse steps, consistently{RELEASED}](#denoising)"]
        == "at the edge of the grid"
    )
    assert "best at the chain's end for 100% / 100% of images" in text
    time_row = _row(text, "less time to the best result")
    assert "whole-chain time for the batch, i.e. per-step speed" in time_row
    assert summary[f"[less time to the best result{RELEASED}](#denoising)"] == "at the edge of the grid"


def test_a_baseline_the_paper_scored_below_the_noisy_input_is_named_in_the_deviations(tmp_path):
    rng = np.random.default_rng(7)
    noisy = {"kind": "summary", "method": "noisy input", "target": "input", "metric": "ssim", "std": 0.0, "images": 32}
    rows = [
        row
        for row in denoise(rng)
        if {k: row.get(k) for k in ("kind", "method", "metric")} != {k: noisy[k] for k in ("kind", "method", "metric")}
    ]  # the noisy input's SSIM is set below (one row per level: a second would be a duplicated row)
    levels = sorted({row["noise_step"] for row in rows if row["kind"] == "summary"})
    extra = [{**noisy, "noise_step": level, "mean": 0.5} for level in levels]
    extra += [{**noisy, "method": "bm3d", "target": "output", "noise_step": level, "mean": 0.9} for level in levels]
    extra.append({"kind": "method", "method": "bm3d", "paper_name": "BM3D", "tags": "denoiser;table4"})
    write("denoise", rows + extra, tmp_path / "r", "bench denoise --preset quick", preset="quick")
    text = build_report(tmp_path / "r", tmp_path / "reports").read_text()
    bm3d = next(line for line in text.splitlines() if line.startswith("- **BM3D.**"))
    assert "step 400: paper 0.06, ours 0.9, noisy input 0.5" in bm3d  # Table 4's 0.06 at step 400
    assert "below even this run's noisy input" in bm3d and "misconfigured" in bm3d


def test_the_similar_fid_reading_times_each_model_at_the_steps_that_reach_a_common_quality():
    """The U-Net reaches the cU-Net's best distance (2.0, at 100 steps) at 10 steps; at 0.01 and
    0.004 s per step the ratio is (100 × 0.004) / (10 × 0.01) = 4, whichever seeds are drawn."""
    import pandas as pd
    from cunet_bench.report.sections.speed import similar_quality

    rows = []
    for model, distances, per_step in (("u", (5.0, 2.0, 1.5, 1.4), 0.01), ("c", (9.0, 6.0, 3.0, 2.0), 0.004)):
        for seed in (0, 1, 2):
            rows += [
                {
                    "model": model,
                    "train_seed": seed,
                    "sampling_steps": steps,
                    "distance": distance,
                    "seconds_per_sample": steps * per_step,
                    "contended": False,
                }
                for steps, distance in zip((5, 10, 30, 100), distances)
            ]
    interval, text = similar_quality(pd.DataFrame(rows), "u", "c")
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((4.0, 4.0, 4.0))
    assert "distance 2: U-Net 10 steps, cU-Net 100" in text


def test_table3_has_two_readings_and_differing_ones_depend_on_the_reading(tmp_path):
    """The iterate's best at the chain's end (the grid's edge) while the x0 estimate's best comes
    earlier for the cU-Net: each reading gets its verdict and the row depends on the reading."""
    rng = np.random.default_rng(6)
    rows = [
        {**row, "best_step": float(row["noise_step"])}
        if row["kind"] == "image" and "best_step" in row and row["target"] == "iterate"
        else row
        for row in denoise(rng)
    ]
    write("denoise", rows, tmp_path / "r", "bench denoise --preset quick", preset="quick")
    write("fid", fid(rng), tmp_path / "r", "bench fid --preset quick", preset="quick")
    text = build_report(tmp_path / "r", tmp_path / "reports").read_text()
    row = _row(text, "best result in fewer reverse steps, consistently")
    assert "iterate scoring: at 50: best at the chain's end" in row and "x0 scoring: Δ" in row
    assert (
        _summary(text)[f"[best result in fewer reverse steps, consistently{RELEASED}](#denoising)"]
        == "depends on the reading"
    )
    assert "the rule's reading: at the edge of the grid; the other reading: reproduced" in row


def test_an_outlier_cannot_squash_the_perception_distortion_plot_and_methods_have_their_colours(tmp_path):
    import matplotlib.image
    import pandas as pd
    from cunet_bench.report.figures import perception_distortion

    points = pd.DataFrame(
        {
            "method": ["a", "b", "c"],
            "noise_step": [50, 50, 400],
            "ssim_final": [0.9, 0.8, 0.2],
            "mean": [0.5, 0.6, 5000.0],
        }
    )
    colours = {"a": "tab:blue", "b": "tab:orange", "c": "tab:gray"}
    path = perception_distortion(points, "mean", "perception", tmp_path / "p.png", {}, colours)
    pixels = (matplotlib.image.imread(path)[..., :3] * 255).round().reshape(-1, 3)
    for colour in ((31, 119, 180), (255, 127, 14)):  # each method in its own colour, not one for all
        assert (np.abs(pixels - colour).max(axis=1) < 40).sum() > 20, colour
    linear = perception_distortion(
        points.assign(kid=[-0.01, 0.02, 3.0]), "kid", "KID", tmp_path / "k.png", {}, colours, log_scale=False
    )
    assert matplotlib.image.imread(linear).shape[0] > 100


def test_the_report_never_imports_torch(fixture_results, tmp_path):
    script = (
        "import sys; from pathlib import Path; from cunet_bench.report import build_report; "
        f"build_report(Path({str(fixture_results)!r}), Path({str(tmp_path / 'r')!r})); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_report_is_deterministic(fixture_results, fixture_report, tmp_path):
    def digest(folder):
        return {
            p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    build_report(fixture_results, tmp_path / "again")
    assert digest(tmp_path / "again") == digest(fixture_report.parent)


def test_missing_results_name_the_command(tmp_path):
    (tmp_path / "results").mkdir()
    write(
        "training",
        [{"kind": "log", "model": "unet", "step": 1, "loss": 1.0}],
        tmp_path / "results",
        "bench train",
        preset="quick",
    )
    text = build_report(tmp_path / "results", tmp_path / "reports").read_text()
    assert text.count("**Not measured yet**") == 6  # efficiency, speed, FID, denoising, learning curves, sample grids
    for command in ("bench efficiency --preset quick", "bench fid --preset quick", "bench denoise --noise-steps"):
        assert command in text
    assert set(_summary(text).values()) == {"not measured"}


def test_readme_summary_is_copied_from_the_report_between_markers(fixture_results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\nintro\n\n{START_MARKER}\nstale table\n{END_MARKER}\n\nafter\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunet_bench.cli",
            "report",
            "--results",
            str(fixture_results),
            "--out",
            str(tmp_path / "reports"),
            "--readme",
            str(readme),
            "--no-reference",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report_table = summary_table((tmp_path / "reports" / "REPORT.md").read_text())
    text = readme.read_text()
    copied = text.split(START_MARKER)[1].split(END_MARKER)[0].strip().splitlines()
    assert len(copied) == len(report_table) > 2 and "stale table" not in text
    assert copied == [line.replace("](#", "](reports/REPORT.md#") for line in report_table]
    assert text.startswith("# project\n\nintro\n\n") and text.endswith("\n\nafter\n")
    update_readme(readme, tmp_path / "reports" / "REPORT.md")
    assert readme.read_text() == text


def test_readme_without_markers_is_refused_before_any_report_is_written(fixture_results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n{END_MARKER}\n{START_MARKER}\n")
    with pytest.raises(UserError, match="needs one"):
        update_readme(readme, tmp_path / "REPORT.md")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunet_bench.cli",
            "report",
            "--results",
            str(fixture_results),
            "--out",
            str(tmp_path / "reports"),
            "--readme",
            str(readme),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()


def test_this_run_is_shown_beside_the_reference(fixture_results, tmp_path):
    mine = tmp_path / "mine"
    rng = np.random.default_rng(7)
    rows = [
        {**row, "seconds_per_sample": row["seconds_per_sample"] * (3 if row["model"] != "unet" else 1)}
        if row["kind"] == "sample_time"
        else row
        for row in fid(rng)
    ]
    write(
        "fid",
        rows,
        mine,
        "bench fid --preset quick",
        preset="quick",
        machine_fingerprint="beefbeef0002",
        config={"num_samples": 64},
    )
    text = build_report(mine, tmp_path / "reports", fixture_results).read_text()
    beside = text.split('<a id="beside"></a>')[1].split('<a id="conclusion"></a>')[0]
    assert "| [30–80% faster inference](#speed)" not in beside
    line = next(line for line in beside.splitlines() if line.startswith("| 30–80% faster inference"))
    assert "differs" in line  # 0.6 here against 0.4 in the reference
    assert "agrees" in beside and "`beefbeef0002`" in beside and "`f00dfeed0001`" in beside
    assert "samples per point 64 vs 128" in beside


def test_the_committed_reference_is_found_in_the_checkout_and_its_absence_is_said(fixture_results, tmp_path):
    """The checkout is found by what it holds (so the report of a fresh run shows the reference
    beside it); an installed copy without one says so in the section's place rather than dropping it."""
    from cunet_bench.records.provenance import source_checkout
    from cunet_bench.report import NO_REFERENCE, default_reference

    checkout = Path(__file__).resolve().parents[1]
    assert source_checkout() == checkout and default_reference() == checkout / "reference" / "results"
    installed = tmp_path / "site-packages" / "cunet_bench" / "records"
    installed.mkdir(parents=True)
    assert source_checkout(installed) is None
    text = build_report(fixture_results, tmp_path / "alone", None, NO_REFERENCE).read_text()
    beside = text.split('<a id="beside"></a>')[1].split('<a id="conclusion"></a>')[0]
    assert "## Your run beside the reference run" in beside and "No committed reference run was found" in beside
    assert '<a id="beside"></a>' not in build_report(fixture_results, tmp_path / "asked", None).read_text()


def _compare(*args):
    return subprocess.run(
        [sys.executable, "-m", "cunet_bench.cli", "compare", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bench_compare_reports_verdict_changes_and_regressions_with_its_exit_code(fixture_results, tmp_path):
    new = tmp_path / "new"
    shutil.copytree(fixture_results, new)
    rng = np.random.default_rng(8)
    slower = [
        {**row, "seconds_per_sample": row["seconds_per_sample"] * (2.5 if row["model"] != "unet" else 1)}
        if row["kind"] == "sample_time"
        else row
        for row in fid(rng)
    ]
    for path in (new / "fid").iterdir():
        path.unlink()
    write("fid", slower, new, "bench fid --preset quick", preset="quick")
    done = _compare(fixture_results, new, "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    changed = [row for row in result["verdicts"] if row["change"] == "differs"]
    assert [row["claim"] for row in changed] == ["30–80% faster inference"]
    regressions = [m for m in result["metrics"] if m["status"] == "regression"]
    assert {m["what"] for m in regressions} == {"cunet-release", "cunet"} and all(m["low"] > 1.05 for m in regressions)
    unchanged = [m for m in result["metrics"] if m["metric"] == "latency_s"]
    assert unchanged and all(m["status"] in ("unchanged", "better", "worse (within tolerance)") for m in unchanged)
    assert _compare(fixture_results, new, "--fail-on", "verdict-change").returncode == 1
    assert _compare(fixture_results, new, "--fail-on", "regression").returncode == 1
    same = _compare(fixture_results, fixture_results, "--fail-on", "verdict-change,regression")
    assert same.returncode == 0 and "0 verdict(s) changed, 0 regression(s)" in same.stdout


def test_bench_compare_fails_on_a_vanished_model_and_lists_stopped_runs(fixture_results, tmp_path):
    new = tmp_path / "new"
    shutil.copytree(fixture_results, new)
    for path in (new / "fid").iterdir():
        path.unlink()
    write(
        "fid",
        [row for row in fid(np.random.default_rng(8)) if row.get("model") != "cunet"],
        new,
        "bench fid --preset quick",
        preset="quick",
    )
    sidecar = next((new / "efficiency").glob("*.json"))
    sidecar.write_text(sidecar.read_text().replace('"complete": true', '"complete": false'))
    result = json.loads(_compare(fixture_results, new, "--format", "json").stdout)
    assert result["one_side"] == [{"benchmark": "fid", "model": "cunet", "only in": "BASE"}]
    assert [row["side"] for row in result["stopped"]] == ["NEW"] and result["regressions"] >= 1
    assert _compare(fixture_results, new, "--fail-on", "regression").returncode == 1


@pytest.mark.parametrize("damage", ["a negative latency", "an infinite distance"])
def test_bench_compare_refuses_impossible_numbers_as_damage(fixture_results, tmp_path, damage):
    damaged = tmp_path / "damaged"
    shutil.copytree(fixture_results, damaged)
    bench, column = ("efficiency", "value") if damage == "a negative latency" else ("fid", "distance")
    path = next(p for p in (damaged / bench).glob("*.csv") if "latency_s" in p.read_text() or bench == "fid")
    import pandas as pd

    frame = pd.read_csv(path, dtype=str)
    rows = frame.metric == "latency_s" if bench == "efficiency" else frame.kind == "best"
    frame.loc[rows.idxmax(), column] = "-0.5" if bench == "efficiency" else "inf"
    frame.to_csv(path, index=False)
    done = _compare(fixture_results, damaged)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert ("is negative" if bench == "efficiency" else "is infinite") in done.stderr


def test_bench_compare_refuses_a_damaged_side(fixture_results, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(fixture_results, damaged)
    next((damaged / "fid").glob("*.json")).write_text("{}")
    done = _compare(fixture_results, damaged)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "NEW" in done.stderr and "do not fit the schema or their provenance" in done.stderr


def test_the_setup_names_the_recorded_recipe_and_its_ema():
    from cunet_bench.report.sections.setup import ema, recipe

    assert recipe({}) == "constant; uniform weighting"
    assert recipe({"lr_warmup": 90, "lr_decay": "cosine", "min_snr_gamma": 5}) == (
        "90-step warm-up, then cosine; min-SNR-5 weighting"
    )
    assert ema({"ema_decay": 0.995}) == "0.995"
    assert ema({"ema_decay": 0.995, "ema_warmup_power": 0.6667}) == "0.995, warming up as 1 − (1 + step)^−0.6667"
    assert ema({"ema_decay": "0.995"}) == ema({}) == "unrecorded"  # a record is untrusted input
